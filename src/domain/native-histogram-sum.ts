/**
 * Adding native histograms as Prometheus' native-histogram specification says: both are first
 * brought to the coarser of their schemas (merging neighbouring buckets) and to the wider of their
 * zero buckets (moving the buckets inside it into the zero count, and widening it to a bucket
 * boundary where it would cut a bucket in two), then added bucket by bucket.
 */

import type { BucketSpan, Histogram, NativeHistogram } from '../exposition/types.js';
import { AggregationError } from './aggregation.js';

/** Schema of histograms with custom bucket bounds (customValues); they have no zero bucket and no schema to reduce. */
const CUSTOM_BUCKETS_SCHEMA = -53;

/** A native histogram as absolute bucket counts by index, in the coarse schema. */
interface Expanded {
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  positive: Map<number, number>;
  negative: Map<number, number>;
}

function isFloat(n: NativeHistogram): boolean {
  return n.positiveCounts.length > 0 || n.negativeCounts.length > 0 || n.sampleCountFloat > 0 || n.zeroCountFloat > 0;
}

function expandSide(spans: readonly BucketSpan[], deltas: readonly number[], counts: readonly number[], float: boolean): Map<number, number> {
  const out = new Map<number, number>();
  let index = 0;
  let position = 0;
  let running = 0;
  for (let s = 0; s < spans.length; s++) {
    const span = spans[s]!;
    index += span.offset;
    for (let i = 0; i < span.length; i++, index++, position++) {
      let count: number;
      if (float) count = counts[position] ?? 0;
      else count = running += deltas[position] ?? 0;
      out.set(index, count);
    }
  }
  return out;
}

function expand(n: NativeHistogram): Expanded {
  const float = isFloat(n);
  return {
    schema: n.schema,
    zeroThreshold: n.zeroThreshold,
    zeroCount: float ? n.zeroCountFloat : n.zeroCount,
    positive: expandSide(n.positiveSpans, n.positiveDeltas, n.positiveCounts, float),
    negative: expandSide(n.negativeSpans, n.negativeDeltas, n.negativeCounts, float),
  };
}

/** Merges neighbouring buckets down to `schema` (index i at schema s lands in ((i - 1) >> (s - schema)) + 1). */
function reduceSchema(h: Expanded, schema: number): void {
  const shift = h.schema - schema;
  if (shift <= 0) return;
  for (const side of ['positive', 'negative'] as const) {
    const merged = new Map<number, number>();
    for (const [i, c] of h[side]) {
      const target = ((i - 1) >> shift) + 1;
      merged.set(target, (merged.get(target) ?? 0) + c);
    }
    h[side] = merged;
  }
  h.schema = schema;
}

/** Bucket i covers (base^(i-1), base^i] in absolute value, base = 2^(2^-schema). */
function upperBound(schema: number, index: number): number {
  return Math.pow(2, index * Math.pow(2, -schema));
}

/**
 * The zero threshold `threshold` becomes on `h`: raised to the upper bound of any bucket it
 * would cut in two, until it cuts none.
 */
function fitThreshold(h: Expanded, threshold: number): number {
  let t = threshold;
  for (let changed = true; changed;) {
    changed = false;
    for (const side of [h.positive, h.negative]) {
      for (const [i, c] of side) {
        if (c === 0) continue;
        const upper = upperBound(h.schema, i);
        const lower = upperBound(h.schema, i - 1);
        if (lower < t && t < upper) {
          t = upper;
          changed = true;
        }
      }
    }
  }
  return t;
}

/** Moves the buckets inside the zero bucket [-threshold, threshold] into the zero count. */
function widenZeroBucket(h: Expanded, threshold: number): void {
  if (threshold <= h.zeroThreshold) return;
  for (const side of [h.positive, h.negative]) {
    for (const [i, c] of side) {
      if (upperBound(h.schema, i) <= threshold) {
        h.zeroCount += c;
        side.delete(i);
      }
    }
  }
  h.zeroThreshold = threshold;
}

function compact(side: ReadonlyMap<number, number>): { spans: BucketSpan[]; counts: number[] } {
  const indices = [...side.keys()].sort((a, b) => a - b);
  const spans: BucketSpan[] = [];
  const counts: number[] = [];
  let end = 0;
  for (const i of indices) {
    const last = spans[spans.length - 1];
    if (last && i === end) spans[spans.length - 1] = { offset: last.offset, length: last.length + 1 };
    else spans.push({ offset: spans.length === 0 ? i : i - end, length: 1 });
    end = i + 1;
    counts.push(side.get(i)!);
  }
  return { spans, counts };
}

function toDeltas(counts: readonly number[]): number[] {
  let previous = 0;
  return counts.map((c) => {
    const d = c - previous;
    previous = c;
    return d;
  });
}

function boundsText(bounds: readonly number[]): string {
  return `[${bounds.map(String).join(', ')}]`;
}

/**
 * Custom buckets are added index by index, which only means something when both histograms cut the
 * same bounds; a histogram that arrived without its bounds cannot be compared at all.
 */
function checkCustomBounds(family: string, stored: NativeHistogram, pushed: NativeHistogram, what: string): void {
  const a = stored.customValues;
  const b = pushed.customValues;
  if (a === undefined || b === undefined) {
    throw new AggregationError(`cannot add ${what}: a custom-bucket native histogram came without its bucket bounds, so they cannot be compared`);
  }
  if (a.length !== b.length || a.some((bound, i) => bound !== b[i])) {
    throw new AggregationError(
      `cannot add histogram ${family}: pushed custom bucket bounds ${boundsText(b)} differ from the stored ${boundsText(a)} (custom buckets are added only when the bounds are equal)`,
    );
  }
}

/**
 * stored + pushed for two histograms that both carry a native part (`family` and `what` name the
 * family and the series in errors). The classic parts are the caller's; the sample count and sum are added here.
 */
export function addNativeHistograms(family: string, stored: Histogram, pushed: Histogram, what: string): { native: NativeHistogram; sampleCount: number } {
  const a = stored.native!;
  const b = pushed.native!;
  if (a.schema === CUSTOM_BUCKETS_SCHEMA || b.schema === CUSTOM_BUCKETS_SCHEMA) {
    if (a.schema !== b.schema) throw new AggregationError(`cannot add ${what}: a custom-bucket native histogram and an exponential one`);
    checkCustomBounds(family, a, b, what);
  }
  const x = expand(a);
  const y = expand(b);
  const schema = Math.min(x.schema, y.schema);
  reduceSchema(x, schema);
  reduceSchema(y, schema);
  // Each histogram may push the threshold up to one of its bucket boundaries; settle when both agree.
  // Custom buckets have no zero bucket, and their indexes are not exponential bounds.
  let threshold = Math.max(x.zeroThreshold, y.zeroThreshold);
  for (let round = 0; round < 64 && schema !== CUSTOM_BUCKETS_SCHEMA; round++) {
    const next = fitThreshold(y, fitThreshold(x, threshold));
    if (next === threshold) break;
    threshold = next;
  }
  if (schema !== CUSTOM_BUCKETS_SCHEMA) {
    widenZeroBucket(x, threshold);
    widenZeroBucket(y, threshold);
  }
  for (const side of ['positive', 'negative'] as const) for (const [i, c] of y[side]) x[side].set(i, (x[side].get(i) ?? 0) + c);
  const float = isFloat(a) || isFloat(b);
  const positive = compact(x.positive);
  const negative = compact(x.negative);
  const sampleCount = stored.sampleCount + pushed.sampleCount;
  const zeroCount = x.zeroCount + y.zeroCount;
  const native: NativeHistogram = {
    schema,
    ...(a.customValues !== undefined ? { customValues: a.customValues } : {}),
    zeroThreshold: Math.max(threshold, x.zeroThreshold),
    zeroCount: float ? 0 : zeroCount,
    zeroCountFloat: float ? zeroCount : 0,
    sampleCountFloat: float ? sampleCount : 0,
    positiveSpans: positive.spans,
    positiveDeltas: float ? [] : toDeltas(positive.counts),
    positiveCounts: float ? positive.counts : [],
    negativeSpans: negative.spans,
    negativeDeltas: float ? [] : toDeltas(negative.counts),
    negativeCounts: float ? negative.counts : [],
  };
  return { native, sampleCount };
}
