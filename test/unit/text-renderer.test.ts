import { describe, expect, it } from 'vitest';
import { escapeHelp, escapeLabelValue, renderFamilyHeader, renderMetricLines, renderText } from '../../src/exposition/text-renderer.js';
import type { LabelPair, Metric, MetricFamily } from '../../src/exposition/types.js';

const grp = (...extra: LabelPair[]): LabelPair[] => [{ name: 'instance', value: '' }, { name: 'job', value: 'o' }, ...extra];

describe('escaping', () => {
  it.each([
    ['plain', 'abc', 'abc'],
    ['backslash, quote, newline', 'a"b\\c\nd', 'a\\"b\\\\c\\nd'],
    ['tab and non-ASCII stay raw', 'x\ty Björn', 'x\ty Björn'],
  ])('label value: %s', (_name, v, want) => {
    expect(escapeLabelValue(v)).toBe(want);
  });

  it.each([
    ['plain', 'Just an example.', 'Just an example.'],
    ['quotes stay raw', 'a "q" \\ b\nc', 'a "q" \\\\ b\\nc'],
  ])('help: %s', (_name, h, want) => {
    expect(escapeHelp(h)).toBe(want);
  });
});

describe('renderFamilyHeader', () => {
  it.each<[string, string | undefined, MetricFamily['type'], string]>([
    ['no help, no HELP line', undefined, 'counter', '# TYPE x counter\n'],
    // Observed from prometheus-pushgateway 1.5.1 for a protobuf push with help "".
    ['empty help prints an empty HELP', '', 'gauge', '# HELP x \n# TYPE x gauge\n'],
    ['help', 'a\nb', 'summary', '# HELP x a\\nb\n# TYPE x summary\n'],
    ['gauge histogram as histogram', undefined, 'gaugehistogram', '# TYPE x histogram\n'],
  ])('%s', (_name, help, type, want) => {
    expect(renderFamilyHeader('x', help, type)).toBe(want);
  });
});

describe('renderMetricLines', () => {
  it('renders each series alone right, after series sharing some of its labels', () => {
    const sequence: LabelPair[][] = [
      grp({ name: 's', value: '1' }),
      grp({ name: 's', value: '2' }),
      grp({ name: 's', value: 'a"b' }),
      [{ name: 'instance', value: '' }],
      grp({ name: 's', value: '2' }, { name: 't', value: 'x\ny' }),
      [],
      [
        { name: 'instance', value: 'i' },
        { name: 'job', value: 'o' },
      ],
    ];
    expect(sequence.map((labels) => renderMetricLines('m', 'gauge', { labels, value: 1 }))).toEqual([
      'm{instance="",job="o",s="1"} 1\n',
      'm{instance="",job="o",s="2"} 1\n',
      'm{instance="",job="o",s="a\\"b"} 1\n',
      'm{instance=""} 1\n',
      'm{instance="",job="o",s="2",t="x\\ny"} 1\n',
      'm 1\n',
      'm{instance="i",job="o"} 1\n',
    ]);
  });

  it.each<[string, MetricFamily['type'], Metric, string]>([
    ['no labels, no braces', 'gauge', { labels: [], value: 1 }, 'x 1\n'],
    ['never a timestamp', 'untyped', { labels: [], value: 2, timestampMs: 5 }, 'x 2\n'],
    [
      'labels in the given order',
      'counter',
      {
        labels: [
          { name: 'b', value: '1' },
          { name: 'a', value: '2' },
        ],
        value: -0,
      },
      'x{b="1",a="2"} 0\n',
    ],
    [
      'summary without labels',
      'summary',
      { labels: [], summary: { sampleCount: 2, sampleSum: 1.5, quantiles: [{ quantile: 0.5, value: 1 }] } },
      'x{quantile="0.5"} 1\nx_sum 1.5\nx_count 2\n',
    ],
    [
      'summary without quantiles',
      'summary',
      { labels: [{ name: 'a', value: 'b' }], summary: { sampleCount: 0, sampleSum: 0, quantiles: [] } },
      'x_sum{a="b"} 0\nx_count{a="b"} 0\n',
    ],
    [
      'histogram with +Inf stored prints it once',
      'histogram',
      { labels: [], histogram: { sampleCount: 3, sampleSum: 1, buckets: [{ upperBound: Infinity, cumulativeCount: 3 }] } },
      'x_bucket{le="+Inf"} 3\nx_sum 1\nx_count 3\n',
    ],
    [
      'float counts (1.11.3)',
      'gaugehistogram',
      { labels: [], histogram: { sampleCount: 2.5, sampleSum: 1, buckets: [{ upperBound: 1, cumulativeCount: 1.5 }] } },
      'x_bucket{le="1"} 1.5\nx_bucket{le="+Inf"} 2.5\nx_sum 1\nx_count 2.5\n',
    ],
  ])('%s', (_name, type, metric, want) => {
    expect(renderMetricLines('x', type, metric)).toBe(want);
  });

  it('prints a native histogram without classic buckets as +Inf, _sum, _count', () => {
    // Section 9.2, observed from prometheus-pushgateway 1.5.1.
    const metric: Metric = {
      labels: [
        { name: 'instance', value: '' },
        { name: 'job', value: 'pb' },
      ],
      histogram: {
        sampleCount: 20,
        sampleSum: 99.23,
        buckets: [],
        native: {
          schema: 1,
          zeroThreshold: 0.001,
          zeroCount: 0,
          zeroCountFloat: 0,
          sampleCountFloat: 0,
          negativeSpans: [],
          negativeDeltas: [],
          negativeCounts: [],
          positiveSpans: [{ offset: 0, length: 2 }],
          positiveDeltas: [0, 2],
          positiveCounts: [],
        },
      },
    };
    expect(renderMetricLines('pb_native', 'histogram', metric)).toBe(
      'pb_native_bucket{instance="",job="pb",le="+Inf"} 20\npb_native_sum{instance="",job="pb"} 99.23\npb_native_count{instance="",job="pb"} 20\n',
    );
  });

  it('throws when a metric lacks the data of its type', () => {
    expect(() => renderMetricLines('x', 'summary', { labels: [], value: 1 })).toThrow(/summary/);
  });
});

describe('renderText', () => {
  it('matches the official scrape', () => {
    // These families are what prometheus-pushgateway 1.5.1 stored for a text PUT of the same
    // series to /metrics/job/o (labels sorted, instance/job added); the expected text is its
    // scrape output, pasted verbatim (the gateway's own families left out).
    const families: MetricFamily[] = [
      {
        name: 'c',
        type: 'counter',
        metrics: [
          { labels: grp({ name: 'zz', value: '1' }), value: 1234567 },
          { labels: grp({ name: 'zz', value: '2' }), value: -0 },
        ],
      },
      {
        name: 'h',
        type: 'histogram',
        metrics: [
          {
            labels: grp({ name: 'zz', value: '1' }),
            histogram: {
              sampleCount: 4,
              sampleSum: 3,
              buckets: [
                { upperBound: 0.1, cumulativeCount: 1 },
                { upperBound: 1e6, cumulativeCount: 2 },
              ],
            },
          },
          {
            labels: grp({ name: 'zz', value: '2' }),
            histogram: {
              sampleCount: 5,
              sampleSum: 0.0001,
              buckets: [
                { upperBound: 1, cumulativeCount: 1 },
                { upperBound: Infinity, cumulativeCount: 5 },
              ],
            },
          },
        ],
      },
      {
        name: 'hm',
        help: 'Line one\nline two \\ backslash "quote"',
        type: 'gauge',
        metrics: [{ labels: grp({ name: 'l', value: 'a"b\\c\nd\te' }), value: NaN }],
      },
      { name: 'empty', type: 'gauge', metrics: [] },
      {
        name: 's',
        type: 'summary',
        metrics: [
          {
            labels: grp({ name: 'zz', value: '1' }),
            summary: {
              sampleCount: 7,
              sampleSum: 1e6,
              quantiles: [
                { quantile: 0.5, value: 1 },
                { quantile: 0.99, value: 2.5 },
              ],
            },
          },
          { labels: grp({ name: 'zz', value: '2' }), summary: { sampleCount: 1, sampleSum: 3, quantiles: [] } },
        ],
      },
      {
        name: 'u',
        help: 'untyped thing',
        type: 'untyped',
        metrics: [
          { labels: grp(), value: -Infinity },
          { labels: [{ name: 'a', value: 'x' }, ...grp()], value: 0.00001234 },
        ],
      },
    ];
    expect(renderText(families)).toBe(
      [
        '# TYPE c counter',
        'c{instance="",job="o",zz="1"} 1.234567e+06',
        'c{instance="",job="o",zz="2"} 0',
        '# TYPE h histogram',
        'h_bucket{instance="",job="o",zz="1",le="0.1"} 1',
        'h_bucket{instance="",job="o",zz="1",le="1e+06"} 2',
        'h_bucket{instance="",job="o",zz="1",le="+Inf"} 4',
        'h_sum{instance="",job="o",zz="1"} 3',
        'h_count{instance="",job="o",zz="1"} 4',
        'h_bucket{instance="",job="o",zz="2",le="1"} 1',
        'h_bucket{instance="",job="o",zz="2",le="+Inf"} 5',
        'h_sum{instance="",job="o",zz="2"} 0.0001',
        'h_count{instance="",job="o",zz="2"} 5',
        '# HELP hm Line one\\nline two \\\\ backslash "quote"',
        '# TYPE hm gauge',
        'hm{instance="",job="o",l="a\\"b\\\\c\\nd\te"} NaN',
        '# TYPE s summary',
        's{instance="",job="o",zz="1",quantile="0.5"} 1',
        's{instance="",job="o",zz="1",quantile="0.99"} 2.5',
        's_sum{instance="",job="o",zz="1"} 1e+06',
        's_count{instance="",job="o",zz="1"} 7',
        's_sum{instance="",job="o",zz="2"} 3',
        's_count{instance="",job="o",zz="2"} 1',
        '# HELP u untyped thing',
        '# TYPE u untyped',
        'u{instance="",job="o"} -Inf',
        'u{a="x",instance="",job="o"} 1.234e-05',
        '',
      ].join('\n'),
    );
  });
});
