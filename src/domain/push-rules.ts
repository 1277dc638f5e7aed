import { jsonString } from '../exposition/json-string.js';
import type { LabelPair, Metric, MetricFamily, MetricType } from '../exposition/types.js';
import { sortSmall } from '../util/small-sort.js';
import type { GroupingKey } from './grouping-key.js';
import { LabelSets } from './label-sets.js';
import { PushError } from './push-error.js';
import { isLegacyLabelName, isLegacyMetricName } from '../exposition/names.js';

/** The two gauges the gateway keeps per group; pushed families of these names are dropped. */
export const PUSH_TIME_METRIC = 'push_time_seconds';
export const PUSH_FAILURE_TIME_METRIC = 'push_failure_time_seconds';
export const PUSH_TIME_HELP = 'Last Unix time when changing this group in the Pushgateway succeeded.';
export const PUSH_FAILURE_TIME_HELP = 'Last Unix time when changing this group in the Pushgateway failed.';

export const INCONSISTENT_PREFIX = 'pushed metrics are invalid or inconsistent with existing metrics: ';

function inconsistent(reason: string): PushError {
  return new PushError('inconsistent', INCONSISTENT_PREFIX + reason);
}

export interface SanitizeOptions {
  readonly utf8Names: boolean;
}

/**
 * Turns parsed families into what the group stores, as the official gateway does before its
 * checks: grouping labels replace same-named series labels, `instance=""` is added when neither
 * has one, label pairs are sorted by name. Rejects (as a recorded failure, kind 'inconsistent')
 * timestamps, reserved or invalid names and duplicate series within the push. Families named like
 * the gateway's own timestamp gauges are dropped: the gauges always win.
 */
export function sanitizeFamilies(families: readonly MetricFamily[], key: GroupingKey, options: SanitizeOptions): MetricFamily[] {
  const keyNames = new Set(key.labels.map((l) => l.name));
  const keyHasInstance = keyNames.has('instance');
  const out: MetricFamily[] = [];
  const seen = new Set<string>();
  for (const family of families) {
    if (family.name === PUSH_TIME_METRIC || family.name === PUSH_FAILURE_TIME_METRIC) continue;
    if (family.name === '' || (!options.utf8Names && !isLegacyMetricName(family.name))) {
      throw inconsistent(`metric name ${JSON.stringify(family.name)} is invalid`);
    }
    if (seen.has(family.name)) throw inconsistent(`metric family "${family.name}" appears twice in the push`);
    seen.add(family.name);
    const seriesSeen = new LabelSets();
    const metrics: Metric[] = [];
    for (const metric of family.metrics) {
      if (metric.timestampMs !== undefined) throw inconsistent('pushed metrics must not have timestamps');
      let kept = 0;
      let hasInstance = false;
      for (const l of metric.labels) {
        if (keyNames.has(l.name)) continue;
        if (l.name.startsWith('__') || (!options.utf8Names && !isLegacyLabelName(l.name)) || l.name === '') {
          throw inconsistent(`metric "${family.name}" has a label with an invalid name: ${l.name}`);
        }
        if (l.name === 'instance') hasInstance = true;
        kept++;
      }
      // Sized up front: a push's label arrays live until its commit, and one grown by push()
      // holds several times the slots it uses.
      const addInstance = !keyHasInstance && !hasInstance;
      const labels = new Array<LabelPair>(kept + key.labels.length + (addInstance ? 1 : 0));
      let at = 0;
      for (const l of metric.labels) if (!keyNames.has(l.name)) labels[at++] = l;
      for (const l of key.labels) labels[at++] = l;
      if (addInstance) labels[at] = EMPTY_INSTANCE;
      sortSmall(labels, compareLabelNames);
      if (!seriesSeen.add(labels)) {
        throw inconsistent(`metric "${family.name}" has two series with the labels ${seriesIdentity(labels)}`);
      }
      checkShape(family.name, family.type, metric);
      metrics.push({ ...metric, labels });
    }
    out.push({ ...family, metrics });
  }
  return out;
}

function checkShape(name: string, type: MetricType, metric: Metric): void {
  const isHistogram = type === 'histogram' || type === 'gaugehistogram';
  if (type === 'summary' && !metric.summary) throw inconsistent(`metric "${name}" is not a SUMMARY`);
  if (isHistogram && !metric.histogram) throw inconsistent(`metric "${name}" is not a HISTOGRAM`);
  if (!isHistogram && type !== 'summary' && (metric.summary || metric.histogram || metric.value === undefined)) {
    throw inconsistent(`metric "${name}" is not a ${type.toUpperCase()}`);
  }
  if (metric.summary?.quantiles.some((q) => Number.isNaN(q.quantile))) {
    throw inconsistent(`metric "${name}" has a quantile that is not a number`);
  }
}

export function compareLabelNames(a: LabelPair, b: LabelPair): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** `{a="1",b="2"}` for sorted labels: a readable identity for messages and map keys. */
export function seriesIdentity(labels: readonly LabelPair[]): string {
  let out = '{';
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (i > 0) out += ',';
    out += l.name + '=' + jsonString(l.value);
  }
  return out + '}';
}

/** The `instance=""` a series gets when neither it nor its grouping key has an instance. */
const EMPTY_INSTANCE: LabelPair = Object.freeze({ name: 'instance', value: '' });

/** The labels of the group's timestamp gauges: the grouping labels plus `instance=""` if absent. */
export function groupSeriesLabels(key: GroupingKey): LabelPair[] {
  const labels = [...key.labels];
  if (!labels.some((l) => l.name === 'instance')) labels.push({ name: 'instance', value: '' });
  return labels.sort(compareLabelNames);
}
