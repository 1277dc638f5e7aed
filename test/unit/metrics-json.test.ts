import { describe, expect, it } from 'vitest';
import { decodeMetrics, encodeMetrics } from '../../src/store/metrics-json.js';
import type { Metric } from '../../src/exposition/types.js';

describe('metrics_json encoding', () => {
  it.each<[string, Metric[]]>([
    ['finite values', [{ labels: [{ name: 'a', value: 'null' }], value: 1.5 }]],
    ['NaN and infinities', [{ labels: [], value: NaN }, { labels: [], value: Infinity }, { labels: [], value: -Infinity }]],
    ['negative zero', [{ labels: [], value: -0 }]],
    ['summary with special values', [{ labels: [], summary: { sampleCount: 0, sampleSum: -0, quantiles: [{ quantile: 0.5, value: NaN }] } }]],
    ['histogram with +Inf bucket', [{ labels: [], histogram: { sampleCount: 2, sampleSum: 3, buckets: [{ upperBound: Infinity, cumulativeCount: 2 }] } }]],
  ])('round-trips %s exactly', (_name, metrics) => {
    const back = decodeMetrics(encodeMetrics(metrics));
    expect(back).toEqual(metrics);
    // toEqual treats -0 and 0 alike; the JSON API must not.
    expect(JSON.stringify(back, (_k, v: unknown) => (Object.is(v, -0) ? '-0' : v))).toBe(
      JSON.stringify(metrics, (_k, v: unknown) => (Object.is(v, -0) ? '-0' : v)),
    );
  });
});
