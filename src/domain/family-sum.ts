/**
 * What a POST to a `sum` group (or a family pushed as a delta) does to a stored family, per type:
 * counters and untyped add; classic histograms add bucket by bucket when their bounds are the
 * stored ones; summaries add count and sum and keep no quantiles; native histograms add after
 * reducing both to the coarser schema and wider zero bucket; gauges take the pushed value, unless
 * pushed as deltas (OTLP's non-monotonic delta sums), which add. Series
 * new to the family start from the pushed value; stored series the push does not name stay.
 */

import type { Bucket, Histogram, LabelPair, Metric, MetricFamily, MetricType } from '../exposition/types.js';
import { AggregationError } from './aggregation.js';
import { addNativeHistograms } from './native-histogram-sum.js';

/** A stored family as the addition reads it. */
export interface FamilyValues {
  readonly type: MetricType;
  readonly metrics: readonly Metric[];
}

function seriesKey(labels: readonly LabelPair[]): string {
  let out = '';
  for (const l of labels) out += `${l.name}\u0000${l.value}\u0001`;
  return out;
}

function seriesName(family: string, labels: readonly LabelPair[]): string {
  return `${family}{${labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(',')}}`;
}

/** Refuses what a sum can never take, whether or not a stored series is there to add to. */
function checkIncrement(family: MetricFamily, m: Metric): void {
  const v = m.value;
  if (family.type === 'counter' && v !== undefined && (Number.isNaN(v) || v < 0)) {
    throw new AggregationError(`cannot add ${seriesName(family.name, m.labels)}: a counter increment must be a non-negative number, got ${v}`);
  }
  if (family.type === 'untyped' && v !== undefined && Number.isNaN(v)) {
    throw new AggregationError(`cannot add ${seriesName(family.name, m.labels)}: NaN cannot be added`);
  }
}

/** A pushed series new to the family: as pushed, except a summary's quantiles, which a sum cannot keep. */
function fresh(type: MetricType, m: Metric): Metric {
  if (type === 'summary' && m.summary && m.summary.quantiles.length > 0) return { ...m, summary: { ...m.summary, quantiles: [] } };
  return m;
}

function boundsText(buckets: readonly Bucket[]): string {
  return `[${buckets.map((b) => String(b.upperBound)).join(', ')}]`;
}

function sameBounds(a: readonly Bucket[], b: readonly Bucket[]): boolean {
  return a.length === b.length && a.every((bucket, i) => bucket.upperBound === b[i]!.upperBound);
}

function addHistograms(family: string, stored: Histogram, pushed: Histogram, what: string): Histogram {
  if (!sameBounds(stored.buckets, pushed.buckets)) {
    throw new AggregationError(
      `cannot add histogram ${family}: pushed bucket bounds ${boundsText(pushed.buckets)} differ from the stored ${boundsText(stored.buckets)} (buckets are added only when the bounds are equal)`,
    );
  }
  if ((stored.native === undefined) !== (pushed.native === undefined)) {
    throw new AggregationError(`cannot add ${what}: one of the stored and the pushed histogram is native and the other is not`);
  }
  const buckets = stored.buckets.map((b, i): Bucket => {
    const p = pushed.buckets[i]!;
    const exemplar = p.exemplar ?? b.exemplar;
    return { upperBound: b.upperBound, cumulativeCount: b.cumulativeCount + p.cumulativeCount, ...(exemplar ? { exemplar } : {}) };
  });
  const native = stored.native && pushed.native ? addNativeHistograms(family, stored, pushed, what) : undefined;
  const exemplars = pushed.exemplars ?? stored.exemplars;
  return {
    sampleCount: native ? native.sampleCount : stored.sampleCount + pushed.sampleCount,
    sampleSum: stored.sampleSum + pushed.sampleSum,
    buckets,
    ...(stored.createdTimestampMs !== undefined ? { createdTimestampMs: stored.createdTimestampMs } : {}),
    ...(native ? { native: native.native } : {}),
    ...(exemplars ? { exemplars } : {}),
  };
}

function addSeries(family: MetricFamily, stored: Metric, pushed: Metric, gaugeDeltas: boolean): Metric {
  const what = seriesName(family.name, pushed.labels);
  switch (family.type) {
    case 'counter':
    case 'untyped': {
      const exemplar = pushed.exemplar ?? stored.exemplar;
      return {
        labels: pushed.labels,
        value: (stored.value ?? 0) + (pushed.value ?? 0),
        ...(exemplar ? { exemplar } : {}),
        ...(stored.createdTimestampMs !== undefined ? { createdTimestampMs: stored.createdTimestampMs } : {}),
      };
    }
    case 'summary': {
      const s = stored.summary!;
      const p = pushed.summary!;
      return {
        labels: pushed.labels,
        summary: {
          sampleCount: s.sampleCount + p.sampleCount,
          sampleSum: s.sampleSum + p.sampleSum,
          quantiles: [],
          ...(s.createdTimestampMs !== undefined ? { createdTimestampMs: s.createdTimestampMs } : {}),
        },
      };
    }
    case 'histogram':
      return { labels: pushed.labels, histogram: addHistograms(family.name, stored.histogram!, pushed.histogram!, what) };
    case 'gauge':
      return gaugeDeltas ? { labels: pushed.labels, value: (stored.value ?? 0) + (pushed.value ?? 0) } : pushed;
    case 'gaugehistogram':
      return pushed;
  }
}

/**
 * `stored` + `pushed` for one family (undefined `stored`: the family is new to the group). Throws
 * AggregationError, naming the family, when the push cannot be added; the caller then writes
 * nothing of the push.
 */
export function addFamily(stored: FamilyValues | undefined, pushed: MetricFamily, gaugeDeltas = false): MetricFamily {
  for (const m of pushed.metrics) checkIncrement(pushed, m);
  if (stored && stored.type !== pushed.type) {
    throw new AggregationError(`cannot add ${pushed.name}: it is stored as a ${stored.type} and pushed as a ${pushed.type}`);
  }
  const byKey = new Map<string, Metric>();
  for (const m of pushed.metrics) byKey.set(seriesKey(m.labels), m);
  const metrics: Metric[] = [];
  for (const s of stored?.metrics ?? []) {
    const key = seriesKey(s.labels);
    const p = byKey.get(key);
    if (p === undefined) {
      metrics.push(s);
      continue;
    }
    byKey.delete(key);
    metrics.push(addSeries(pushed, s, p, gaugeDeltas));
  }
  for (const p of byKey.values()) metrics.push(fresh(pushed.type, p));
  return { ...pushed, metrics };
}
