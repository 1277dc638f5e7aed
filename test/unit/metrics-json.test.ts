import { describe, expect, it } from 'vitest';
import { decodeMetrics, encodeMetrics, labelsJson, labelsJsonWriter } from '../../src/store/metrics-json.js';
import type { LabelPair, Metric } from '../../src/exposition/types.js';

describe('metrics_json encoding', () => {
  it.each<[string, Metric[]]>([
    ['finite values', [{ labels: [{ name: 'a', value: 'null' }], value: 1.5 }]],
    [
      'NaN and infinities',
      [
        { labels: [], value: NaN },
        { labels: [], value: Infinity },
        { labels: [], value: -Infinity },
      ],
    ],
    ['negative zero', [{ labels: [], value: -0 }]],
    ['summary with special values', [{ labels: [], summary: { sampleCount: 0, sampleSum: -0, quantiles: [{ quantile: 0.5, value: NaN }] } }]],
    [
      'custom-bucket native histogram with its bounds',
      [
        {
          labels: [],
          histogram: {
            sampleCount: 3,
            sampleSum: 4,
            buckets: [],
            native: {
              schema: -53,
              zeroThreshold: 0,
              zeroCount: 0,
              zeroCountFloat: 0,
              sampleCountFloat: 0,
              negativeSpans: [],
              negativeDeltas: [],
              negativeCounts: [],
              positiveSpans: [{ offset: 0, length: 3 }],
              positiveDeltas: [1, 0, 0],
              positiveCounts: [],
              customValues: [0.5, 1, 2.5],
            },
          },
        },
      ],
    ],
    ['histogram with +Inf bucket', [{ labels: [], histogram: { sampleCount: 2, sampleSum: 3, buckets: [{ upperBound: Infinity, cumulativeCount: 2 }] } }]],
  ])('round-trips %s exactly', (_name, metrics) => {
    const back = decodeMetrics(encodeMetrics(metrics));
    expect(back).toEqual(metrics);
    // toEqual treats -0 and 0 alike; the JSON API must not.
    expect(JSON.stringify(back, (_k, v: unknown) => (Object.is(v, -0) ? '-0' : v))).toBe(
      JSON.stringify(metrics, (_k, v: unknown) => (Object.is(v, -0) ? '-0' : v)),
    );
  });

  it('writes plain samples as JSON.stringify would, whatever their labels and values', () => {
    const values = [0, 1, -1.5, 0.1 + 0.2, 1e21, 1e-7, 123456789012345680000, 5e-324, Number.MAX_VALUE, 1.7e9];
    const labelValues = ['', 'plain', 'x"y', 'a\\b', 'line\nfeed', '\u0001', 'é日本😀', '\ud800'];
    const metrics: Metric[] = values.map((value, i) => ({
      labels: [
        { name: 'job', value: labelValues[i % labelValues.length]! },
        { name: 'series', value: String(i) },
      ],
      value,
    }));
    expect(encodeMetrics(metrics)).toBe(JSON.stringify(metrics));
    expect(decodeMetrics(encodeMetrics(metrics))).toEqual(metrics);
    // One sample that is not plain sends the whole family down the generic path, still exact.
    const mixed: Metric[] = [...metrics, { labels: [], value: NaN }];
    expect(decodeMetrics(encodeMetrics(mixed))).toEqual(mixed);
  });

  // Series one after another that share some leading labels, then fewer, more, none, escapes.
  const sequence: LabelPair[][] = [
    [
      { name: 'a', value: '1' },
      { name: 'b', value: 'x' },
      { name: 'c', value: 'p' },
    ],
    [
      { name: 'a', value: '1' },
      { name: 'b', value: 'x' },
      { name: 'c', value: 'q' },
    ],
    [
      { name: 'a', value: '1' },
      { name: 'b', value: 'y"\\' },
      { name: 'c', value: 'q' },
    ],
    [{ name: 'a', value: '1' }],
    [
      { name: 'a', value: '1' },
      { name: 'b', value: 'x' },
      { name: 'c', value: 'p' },
      { name: 'd', value: '\n' },
    ],
    [],
    [
      { name: 'a', value: '2' },
      { name: 'b', value: 'x' },
    ],
  ];

  it('series sharing leading labels encode and decode as each alone would', () => {
    const metrics: Metric[] = sequence.map((labels, i) => ({ labels, value: i + 0.5 }));
    expect(encodeMetrics(metrics)).toBe(JSON.stringify(metrics));
    expect(decodeMetrics(encodeMetrics(metrics))).toEqual(metrics);
  });

  it('a label-set writer writes each set as labelsJson alone would', () => {
    const write = labelsJsonWriter();
    for (const labels of sequence) expect(write(labels)).toBe(labelsJson(labels));
    expect(labelsJson(sequence[2]!)).toBe(JSON.stringify(Object.fromEntries(sequence[2]!.map((l) => [l.name, l.value]))));
  });
});
