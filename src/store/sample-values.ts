import { compareLabelNames } from '../domain/push-rules.js';
import { jsonString } from '../exposition/json-string.js';
import { flattenMetric } from '../exposition/samples.js';
import type { LabelPair, MetricFamily } from '../exposition/types.js';
import { sortSmall } from '../util/small-sort.js';
import type { SampleValue } from './dialect/store-dialect.js';

/**
 * A family's metric_sample rows (identity and value), series after series, as a push writes or
 * updates them. A family's series mostly share their leading labels (the grouping labels sort
 * among them), so each series' labels JSON starts from the text the previous series had up to
 * the last label they share: a push of many series builds each label's text about once, where
 * building every series' text anew makes most of a large re-push's garbage.
 */
export function familySamples(family: MetricFamily): SampleValue[] {
  const json = new LabelsJsonBuilder();
  const out: SampleValue[] = [];
  const plain = family.type === 'counter' || family.type === 'gauge' || family.type === 'untyped';
  for (const metric of family.metrics) {
    if (plain) {
      out.push(sampleValue(family.name, json.of(sortedByName(metric.labels)), metric.value ?? 0));
      continue;
    }
    for (const s of flattenMetric(family, metric)) out.push(sampleValue(s.name, json.of(sortedByName(s.labels)), s.value));
  }
  return out;
}

function sampleValue(metric_name: string, labels_json: string, value: number): SampleValue {
  return { metric_name, labels_json, value: Number.isNaN(value) ? null : value };
}

/**
 * labelsJson (metrics-json.ts) of one label set after another, each reusing the text of the
 * labels it shares, in the same positions, with the one before.
 */
class LabelsJsonBuilder {
  private previous: readonly LabelPair[] = [];
  /** prefixes[i]: the JSON of the previous labels 0..i, without the closing brace. */
  private readonly prefixes: string[] = [];

  of(labels: readonly LabelPair[]): string {
    const previous = this.previous;
    let shared = 0;
    while (shared < labels.length && shared < previous.length && sameLabel(labels[shared]!, previous[shared]!)) shared++;
    let out = shared > 0 ? this.prefixes[shared - 1]! : '{';
    for (let i = shared; i < labels.length; i++) {
      const l = labels[i]!;
      out += (i > 0 ? ',' : '') + jsonString(l.name) + ':' + jsonString(l.value);
      this.prefixes[i] = out;
    }
    this.previous = labels;
    return out + '}';
  }
}

function sameLabel(a: LabelPair, b: LabelPair): boolean {
  return a === b || (a.name === b.name && a.value === b.value);
}

/** Labels sorted by name: sanitized series come sorted; a summary's quantile and a histogram's le come last and may not sort there. */
export function sortedByName(labels: readonly LabelPair[]): readonly LabelPair[] {
  for (let i = 1; i < labels.length; i++) if (!(labels[i - 1]!.name < labels[i]!.name)) return sortSmall([...labels], compareLabelNames);
  return labels;
}
