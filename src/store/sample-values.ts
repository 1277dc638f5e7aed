import { compareLabelNames } from '../domain/push-rules.js';
import { flattenMetric } from '../exposition/samples.js';
import type { LabelPair, MetricFamily } from '../exposition/types.js';
import { sortSmall } from '../util/small-sort.js';
import type { SampleValue } from './dialect/store-dialect.js';
import { labelsJsonWriter } from './metrics-json.js';

/** A family's metric_sample rows (identity and value), series after series, as a push writes or updates them. */
export function familySamples(family: MetricFamily): SampleValue[] {
  const json = labelsJsonWriter();
  const out: SampleValue[] = [];
  const plain = family.type === 'counter' || family.type === 'gauge' || family.type === 'untyped';
  for (const metric of family.metrics) {
    if (plain) {
      out.push(sampleValue(family.name, json(sortedByName(metric.labels)), metric.value ?? 0));
      continue;
    }
    for (const s of flattenMetric(family, metric)) out.push(sampleValue(s.name, json(sortedByName(s.labels)), s.value));
  }
  return out;
}

function sampleValue(metric_name: string, labels_json: string, value: number): SampleValue {
  return { metric_name, labels_json, value: Number.isNaN(value) ? null : value };
}

/** Labels sorted by name: sanitized series come sorted; a summary's quantile and a histogram's le come last and may not sort there. */
export function sortedByName(labels: readonly LabelPair[]): readonly LabelPair[] {
  for (let i = 1; i < labels.length; i++) if (!(labels[i - 1]!.name < labels[i]!.name)) return sortSmall([...labels], compareLabelNames);
  return labels;
}
