import { describe, expect, it } from 'vitest';
import { loadAggregationPolicy, parseAggregationRule } from '../../src/config/aggregation-rules.js';
import { ConfigError } from '../../src/config/config-error.js';
import { parseAggregationHeader, settleMode } from '../../src/domain/aggregation.js';
import { addFamily } from '../../src/domain/family-sum.js';
import type { Histogram, MetricFamily, NativeHistogram } from '../../src/exposition/types.js';

const key = (job: string) => ({ job, labels: [{ name: 'job', value: job }], id: `{job="${job}"}` });

function native(
  schema: number,
  zeroThreshold: number,
  zeroCount: number,
  positive: Record<number, number>,
  extra: Partial<NativeHistogram> = {},
): NativeHistogram {
  const indices = Object.keys(positive)
    .map(Number)
    .sort((a, b) => a - b);
  // One span per bucket: the addition must not depend on how the spans were cut.
  const spans = indices.map((i, n) => ({ offset: n === 0 ? i : i - indices[n - 1]! - 1, length: 1 }));
  let previous = 0;
  const deltas = indices.map((i) => {
    const d = positive[i]! - previous;
    previous = positive[i]!;
    return d;
  });
  return {
    schema,
    zeroThreshold,
    zeroCount,
    zeroCountFloat: 0,
    sampleCountFloat: 0,
    negativeSpans: [],
    negativeDeltas: [],
    negativeCounts: [],
    positiveSpans: spans,
    positiveDeltas: deltas,
    positiveCounts: [],
    ...extra,
  };
}

function histogramFamily(h: Histogram): MetricFamily {
  return { name: 'h', type: 'histogram', metrics: [{ labels: [{ name: 'job', value: 'j' }], histogram: h }] };
}

/** Absolute counts by bucket index of a native histogram's positive side. */
function buckets(n: NativeHistogram): Record<number, number> {
  const out: Record<number, number> = {};
  let index = 0;
  let position = 0;
  let running = 0;
  for (const span of n.positiveSpans) {
    index += span.offset;
    for (let i = 0; i < span.length; i++, index++, position++) {
      running = n.positiveCounts.length > 0 ? n.positiveCounts[position]! : running + n.positiveDeltas[position]!;
      out[index] = running;
    }
  }
  return out;
}

describe('native histograms in a sum', () => {
  it('reduces the finer schema to the coarser one before adding, merging neighbouring buckets', () => {
    // Schema 1 buckets 1, 2, 3 are (1, √2], (√2, 2], (2, 2√2]; at schema 0 they fall in (1, 2] and (2, 4].
    const stored = histogramFamily({ sampleCount: 6, sampleSum: 10, buckets: [], native: native(1, 0, 0, { 1: 1, 2: 2, 3: 3 }) });
    const pushed = histogramFamily({ sampleCount: 5, sampleSum: 7, buckets: [], native: native(0, 0, 0, { 1: 5 }) });
    const sum = addFamily(stored, pushed).metrics[0]!.histogram!;
    expect(sum.native!.schema).toBe(0);
    expect(buckets(sum.native!)).toEqual({ 1: 8, 2: 3 });
    expect(sum.sampleCount).toBe(11);
    expect(sum.sampleSum).toBe(17);
  });

  it('widens the zero bucket to the wider threshold, and further to a bucket boundary it would cut', () => {
    // 0.6 cuts bucket 0 = (0.5, 1] of schema 0: the zero bucket becomes [-1, 1] and takes it in.
    const stored = histogramFamily({ sampleCount: 4, sampleSum: 3, buckets: [], native: native(0, 0.001, 1, { 0: 2, 1: 1 }) });
    const pushed = histogramFamily({ sampleCount: 5, sampleSum: 2, buckets: [], native: native(0, 0.6, 4, { 1: 1 }) });
    const sum = addFamily(stored, pushed).metrics[0]!.histogram!.native!;
    expect(sum.zeroThreshold).toBe(1);
    expect(sum.zeroCount).toBe(7);
    expect(buckets(sum)).toEqual({ 1: 2 });
  });

  it('adds float histograms as floats', () => {
    const float = (counts: Record<number, number>, total: number) =>
      native(0, 0, 0, counts, { positiveDeltas: [], positiveCounts: Object.values(counts), sampleCountFloat: total, zeroCountFloat: 0.5 });
    const stored = histogramFamily({ sampleCount: 2.5, sampleSum: 1, buckets: [], native: float({ 1: 2 }, 2.5) });
    const pushed = histogramFamily({ sampleCount: 1.75, sampleSum: 1, buckets: [], native: float({ 1: 1.25 }, 1.75) });
    const sum = addFamily(stored, pushed).metrics[0]!.histogram!;
    expect(sum.native!.positiveCounts).toEqual([3.25]);
    expect(sum.native!.zeroCountFloat).toBe(1);
    expect(sum.native!.sampleCountFloat).toBe(4.25);
  });

  it('adds custom-bucket histograms bucket by bucket when their bounds are equal, and keeps the bounds', () => {
    const custom = (counts: Record<number, number>, total: number, bounds: number[]) =>
      histogramFamily({ sampleCount: total, sampleSum: total, buckets: [], native: native(-53, 0, 0, counts, { customValues: bounds }) });
    const sum = addFamily(custom({ 0: 1, 2: 3 }, 4, [0.5, 1, 2]), custom({ 1: 2, 2: 1 }, 3, [0.5, 1, 2])).metrics[0]!.histogram!;
    expect(buckets(sum.native!)).toEqual({ 0: 1, 1: 2, 2: 4 });
    expect(sum.native!.schema).toBe(-53);
    expect(sum.native!.customValues).toEqual([0.5, 1, 2]);
    expect(sum.sampleCount).toBe(7);
  });

  it('refuses custom-bucket histograms whose bounds differ, naming the family and both bound lists', () => {
    const stored = histogramFamily({ sampleCount: 1, sampleSum: 1, buckets: [], native: native(-53, 0, 0, { 0: 1 }, { customValues: [0.5, 1] }) });
    const pushed = histogramFamily({ sampleCount: 1, sampleSum: 1, buckets: [], native: native(-53, 0, 0, { 0: 1 }, { customValues: [0.5, 2] }) });
    expect(() => addFamily(stored, pushed)).toThrow(/cannot add histogram h: pushed custom bucket bounds \[0\.5, 2\] differ from the stored \[0\.5, 1\]/);
  });

  it('refuses custom-bucket histograms that came without their bounds, and custom with exponential', () => {
    const bare = histogramFamily({ sampleCount: 1, sampleSum: 1, buckets: [], native: native(-53, 0, 0, { 0: 1 }) });
    expect(() => addFamily(bare, bare)).toThrow(/without its bucket bounds/);
    const exponential = histogramFamily({ sampleCount: 1, sampleSum: 1, buckets: [], native: native(0, 0, 0, { 0: 1 }) });
    expect(() => addFamily(bare, exponential)).toThrow(/a custom-bucket native histogram and an exponential one/);
  });
});

describe('sum rules per type', () => {
  it('refuses to add a family stored under another type', () => {
    const stored = { type: 'gauge' as const, metrics: [{ labels: [], value: 1 }] };
    expect(() => addFamily(stored, { name: 'x', type: 'counter', metrics: [{ labels: [], value: 1 }] })).toThrow(/stored as a gauge and pushed as a counter/);
  });

  it('keeps no quantiles of a summary, new or added', () => {
    const pushed: MetricFamily = {
      name: 's',
      type: 'summary',
      metrics: [{ labels: [], summary: { sampleCount: 1, sampleSum: 2, quantiles: [{ quantile: 0.5, value: 2 }] } }],
    };
    expect(addFamily(undefined, pushed).metrics[0]!.summary!.quantiles).toEqual([]);
  });
});

describe('modes', () => {
  it('parses the header: sum or replace, anything else a 400', () => {
    expect(parseAggregationHeader(undefined)).toBeUndefined();
    expect(parseAggregationHeader(' Sum ')).toBe('sum');
    expect(() => parseAggregationHeader('add')).toThrow(expect.objectContaining({ kind: 'invalid' }));
  });

  it('header > rule > replace for a new group; an existing group keeps its mode and refuses another header with 409', () => {
    expect(settleMode('g', undefined, { initial: 'sum' })).toBe('sum');
    expect(settleMode('g', 'sum', { initial: 'replace' })).toBe('sum');
    expect(() => settleMode('g', 'sum', { requested: 'replace', initial: 'replace' })).toThrow(expect.objectContaining({ kind: 'conflict' }));
  });

  it('rules: first match wins, bad rules are refused at startup', () => {
    const policy = loadAggregationPolicy({ rules: ['job=~"lambda_.*"=sum', '{}=replace'], rulesFile: 'rules.yml' }, () => '- job="ci"=sum\n');
    expect(policy.modeFor(key('lambda_x'))).toBe('sum');
    expect(policy.modeFor(key('ci'))).toBe('replace');
    expect(loadAggregationPolicy({ rules: [], rulesFile: 'r.yml' }, () => 'rules:\n  - job="ci"=sum\n').modeFor(key('ci'))).toBe('sum');
    expect(() => parseAggregationRule('job="x"=avg')).toThrow(ConfigError);
    expect(() => parseAggregationRule('job="x"')).toThrow(/expected SELECTOR=MODE/);
  });
});
