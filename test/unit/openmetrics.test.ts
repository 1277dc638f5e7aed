import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { isOpenMetricsBody, parseOpenMetrics } from '../../src/exposition/openmetrics-parser.js';
import {
  OPENMETRICS_CONTENT_TYPE,
  renderOpenMetrics,
  renderOpenMetricsFamilyHeader,
  renderOpenMetricsMetricLines,
} from '../../src/exposition/openmetrics-renderer.js';
import { ParseError } from '../../src/exposition/parse-error.js';
import type { MetricFamily } from '../../src/exposition/types.js';

function parseError(text: string): ParseError {
  try {
    parseOpenMetrics(text);
  } catch (e) {
    if (e instanceof ParseError) return e;
    throw e;
  }
  throw new Error('expected a ParseError');
}

describe('parseOpenMetrics', () => {
  it('names counters after their _total samples and keeps _created, exemplars, HELP escapes and UNIT', () => {
    const families = parseOpenMetrics(
      [
        '# HELP http_requests Requests \\"served\\"\\nby \\\\ path.',
        '# TYPE http_requests counter',
        '# UNIT http_requests requests',
        'http_requests_total{code="200",path="a\\"b\\\\c\\nd"} 3 # {trace_id="abc"} 1 1700000000.5',
        'http_requests_created{code="200",path="a\\"b\\\\c\\nd"} 1690000000.25',
        '# EOF',
        '',
      ].join('\n'),
    );
    expect(families).toEqual<MetricFamily[]>([
      {
        name: 'http_requests_total',
        help: 'Requests "served"\nby \\ path.',
        type: 'counter',
        unit: 'requests',
        metrics: [
          {
            labels: [
              { name: 'code', value: '200' },
              { name: 'path', value: 'a"b\\c\nd' },
            ],
            value: 3,
            exemplar: { labels: [{ name: 'trace_id', value: 'abc' }], value: 1, timestampMs: 1700000000500 },
            createdTimestampMs: 1690000000250,
          },
        ],
      },
    ]);
  });

  it('reads info, stateset, unknown and gaugehistogram families', () => {
    const families = parseOpenMetrics(
      [
        '# TYPE build info',
        'build_info{version="1.2"} 1',
        '# TYPE feature stateset',
        'feature{feature="a"} 1',
        'feature{feature="b"} 0',
        '# TYPE thing unknown',
        'thing 4',
        'loose{x="y"} 5',
        '# TYPE queue gaugehistogram',
        'queue_bucket{le="1.0"} 2 # {id="q"} 0.5',
        'queue_bucket{le="+Inf"} 3',
        'queue_gcount 3',
        'queue_gsum 4.5',
        '# EOF',
      ].join('\n'),
    );
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ['build_info', 'gauge'],
      ['feature', 'gauge'],
      ['thing', 'untyped'],
      ['loose', 'untyped'],
      ['queue', 'gaugehistogram'],
    ]);
    expect(families[1]?.metrics.map((m) => [m.labels[0]?.value, m.value])).toEqual([
      ['a', 1],
      ['b', 0],
    ]);
    expect(families[4]?.metrics[0]?.histogram).toEqual({
      sampleCount: 3,
      sampleSum: 4.5,
      buckets: [
        { cumulativeCount: 2, upperBound: 1, exemplar: { labels: [{ name: 'id', value: 'q' }], value: 0.5 } },
        { cumulativeCount: 3, upperBound: Infinity },
      ],
    });
  });

  it('groups histogram and summary series by their labels, with _created', () => {
    const [h, s] = parseOpenMetrics(
      [
        '# TYPE d histogram',
        'd_bucket{a="1",le="1"} 1',
        'd_bucket{a="1",le="+Inf"} 2',
        'd_count{a="1"} 2',
        'd_sum{a="1"} 3',
        'd_created{a="1"} 100',
        'd_bucket{a="2",le="+Inf"} 0',
        'd_count{a="2"} 0',
        'd_sum{a="2"} 0',
        '# TYPE s summary',
        's{quantile="0.5"} 7',
        's_count 1',
        's_sum 7',
        's_created 1.5',
        '# EOF',
      ].join('\n'),
    );
    expect(h?.metrics.map((m) => [m.labels, m.histogram?.sampleCount, m.histogram?.createdTimestampMs])).toEqual([
      [[{ name: 'a', value: '1' }], 2, 100000],
      [[{ name: 'a', value: '2' }], 0, undefined],
    ]);
    expect(s?.metrics[0]?.summary).toEqual({
      sampleCount: 1,
      sampleSum: 7,
      quantiles: [{ quantile: 0.5, value: 7 }],
      createdTimestampMs: 1500,
    });
  });

  it('keeps sample timestamps (seconds) as milliseconds for the domain to reject', () => {
    expect(parseOpenMetrics('g 1 1700000000.123\n# EOF\n')[0]?.metrics[0]?.timestampMs).toBeCloseTo(1700000000123, 3);
  });

  it('never fails on exemplars: misplaced or malformed ones are dropped', () => {
    const [g, c] = parseOpenMetrics(['# TYPE g gauge', 'g 1 # {a="b"} 1', '# TYPE c counter', 'c_total 2 # {a="b" garbage', '# EOF'].join('\n'));
    expect(g?.metrics[0]).toEqual({ labels: [], value: 1 });
    expect(c?.metrics[0]).toEqual({ labels: [], value: 2 });
  });

  it('drops families without samples', () => {
    expect(parseOpenMetrics('# HELP a x\n# TYPE a counter\n# EOF\n')).toEqual([]);
  });

  it.each([
    ['missing # EOF', 'a 1\n', 1, 'missing "# EOF" at the end of the OpenMetrics body'],
    ['content after # EOF', 'a 1\n# EOF\nb 2\n', 3, 'unexpected content after "# EOF"'],
    ['a second TYPE', '# TYPE a gauge\n# TYPE a gauge\na 1\n# EOF\n', 2, 'second TYPE line for metric family "a"'],
    ['a second HELP', '# HELP a x\n# HELP a y\na 1\n# EOF\n', 2, 'second HELP line for metric family "a"'],
    ['TYPE after samples', 'a 1\n# TYPE a gauge\n# EOF\n', 2, 'TYPE line for metric family "a" after its samples'],
    ['an unknown type', '# TYPE a foo\n# EOF\n', 1, 'unknown metric type "foo"'],
    ['a bad value', 'a x\n# EOF\n', 1, 'expected float as value, got "x"'],
    ['a bad escape', 'a{l="\\t"} 1\n# EOF\n', 1, "invalid escape sequence '\\t'"],
    ['a duplicate label', 'a{l="1",l="2"} 1\n# EOF\n', 1, 'duplicate label names for metric "a"'],
    ['__name__', 'a{__name__="x"} 1\n# EOF\n', 1, 'label name "__name__" is reserved'],
    ['a bare counter sample', '# TYPE c counter\nc 1\n# EOF\n', 2, 'sample "c" does not belong to counter family "c"'],
    ['a bucket without le', '# TYPE h histogram\nh_bucket 1\n# EOF\n', 2, 'h_bucket sample without "le" label'],
    ['a duplicate sample', 'a 1\na 2\n# EOF\n', 2, 'duplicate sample "a" for the same series'],
    ['a counter without _total', '# TYPE c counter\nc_created 1\n# EOF\n', 2, 'counter "c" has no "c_total" sample for one of its series'],
    ['a bad timestamp', 'a 1 x\n# EOF\n', 1, 'expected a timestamp in seconds, got "x"'],
    ['a histogram without +Inf bucket', '# TYPE a histogram\na_count 1\n# EOF\n', 2, 'histogram "a" has no le="+Inf" bucket'],
  ])('rejects %s with its line number', (_name, text, line, reason) => {
    const e = parseError(text);
    expect(e.line).toBe(line);
    expect(e.reason).toBe(reason);
    expect(e.message).not.toContain('\n');
  });

  it('parses what prom-client pushes in OpenMetrics mode', async () => {
    const registry = new client.Registry<client.OpenMetricsContentType>();
    registry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
    const counter = new client.Counter({
      name: 'jobs_total',
      help: 'Jobs "done".',
      labelNames: ['kind'],
      registers: [registry],
      enableExemplars: true,
    });
    // prom-client's typings wrongly restrict exemplar label names to the metric's label names.
    const exemplarLabels: Record<string, string> = { trace_id: 'abc' };
    counter.inc({ labels: { kind: 'a' }, value: 2, exemplarLabels });
    const histogram = new client.Histogram({ name: 'dur_seconds', help: 'Dur.', buckets: [0.1, 1], registers: [registry] });
    histogram.observe(0.5);
    const body = await registry.metrics();
    expect(isOpenMetricsBody(undefined, body)).toBe(true);
    const families = parseOpenMetrics(body);
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ['jobs_total', 'counter'],
      ['dur_seconds', 'histogram'],
    ]);
    expect(families[0]?.metrics[0]).toMatchObject({ value: 2, exemplar: { labels: [{ name: 'trace_id', value: 'abc' }], value: 2 } });
    expect(families[1]?.metrics[0]?.histogram?.buckets.map((b) => b.cumulativeCount)).toEqual([0, 1, 1]);
  });
});

describe('isOpenMetricsBody', () => {
  it.each<[string | undefined, string, boolean]>([
    ['application/openmetrics-text; version=1.0.0; charset=utf-8', 'a 1\n', true],
    ['Application/OpenMetrics-Text', '', true],
    [undefined, 'a 1\n# EOF\n', true],
    [undefined, '# EOF', true],
    ['text/plain', 'a 1\n# EOF\n\n  \n', true],
    [undefined, 'a 1\n', false],
    [undefined, 'a 1\n#  EOF\n', false],
    [undefined, 'a 1\nx# EOF\n', false],
    ['text/plain; version=0.0.4', 'a 1\n', false],
  ])('%s with %j -> %s', (contentType, text, expected) => {
    expect(isOpenMetricsBody(contentType, text)).toBe(expected);
  });
});

describe('renderOpenMetrics', () => {
  const families: MetricFamily[] = [
    {
      name: 'http_requests_total',
      help: 'Requests "served"\nby \\ path.',
      type: 'counter',
      metrics: [
        {
          labels: [{ name: 'path', value: 'a"b\\c\nd' }],
          value: 3,
          exemplar: { labels: [{ name: 'trace_id', value: 'abc' }], value: 1, timestampMs: 1700000000500 },
          createdTimestampMs: 1690000000250,
        },
      ],
    },
    { name: 'plain', type: 'counter', metrics: [{ labels: [], value: 1 }] },
    { name: 'temp_celsius', type: 'gauge', unit: 'celsius', metrics: [{ labels: [], value: 1e6 }] },
    { name: 'nounit', type: 'gauge', unit: 'seconds', metrics: [{ labels: [], value: 0.5 }] },
    { name: 'raw', type: 'untyped', metrics: [{ labels: [], value: Number.NaN }] },
    { name: 'empty', type: 'gauge', metrics: [] },
    {
      name: 's',
      type: 'summary',
      metrics: [
        {
          labels: [{ name: 'a', value: '1' }],
          summary: { sampleCount: 2, sampleSum: 3, quantiles: [{ quantile: 0.5, value: 1 }], createdTimestampMs: 1000 },
        },
      ],
    },
    {
      name: 'h',
      type: 'histogram',
      metrics: [
        {
          labels: [],
          histogram: {
            sampleCount: 4,
            sampleSum: 5,
            buckets: [{ cumulativeCount: 1, upperBound: 0.1, exemplar: { labels: [], value: 0.05 } }],
            createdTimestampMs: 2000,
          },
        },
      ],
    },
    {
      name: 'gh',
      type: 'gaugehistogram',
      metrics: [{ labels: [], histogram: { sampleCount: 2, sampleSum: 1, buckets: [{ cumulativeCount: 2, upperBound: Infinity }] } }],
    },
  ];

  // The sample lines are those of a text 0.0.4 scrape, so that Prometheus ingests the same series
  // from either (see openmetrics-renderer.ts): no `_created`, a counter without `_total` and untyped
  // as `unknown`, a gauge histogram as a histogram with `_sum`/`_count`. Exemplars are added.
  const expected = [
    '# HELP http_requests Requests \\"served\\"\\nby \\\\ path.',
    '# TYPE http_requests counter',
    'http_requests_total{path="a\\"b\\\\c\\nd"} 3 # {trace_id="abc"} 1 1700000000.5',
    '# TYPE plain unknown',
    'plain 1',
    '# TYPE temp_celsius gauge',
    '# UNIT temp_celsius celsius',
    'temp_celsius 1e+06',
    '# TYPE nounit gauge',
    'nounit 0.5',
    '# TYPE raw unknown',
    'raw NaN',
    '# TYPE s summary',
    's{a="1",quantile="0.5"} 1',
    's_sum{a="1"} 3',
    's_count{a="1"} 2',
    '# TYPE h histogram',
    'h_bucket{le="0.1"} 1 # {} 0.05',
    'h_bucket{le="+Inf"} 4',
    'h_sum 5',
    'h_count 4',
    '# TYPE gh histogram',
    'gh_bucket{le="+Inf"} 2',
    'gh_sum 1',
    'gh_count 2',
    '# EOF',
    '',
  ].join('\n');

  it('renders OpenMetrics 1.0.0 whose samples are the text scrape samples, with exemplars and # EOF', () => {
    expect(renderOpenMetrics(families)).toBe(expected);
    expect(OPENMETRICS_CONTENT_TYPE).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
  });

  it('builds the same text from the header and metric-line helpers', () => {
    const f = families[0]!;
    expect(renderOpenMetricsFamilyHeader(f.name, f.type, f.help, f.unit) + renderOpenMetricsMetricLines(f.name, f.type, f.metrics[0]!)).toBe(
      expected.split('\n').slice(0, 3).join('\n') + '\n',
    );
  });

  it('round-trips through the parser to the same samples (created timestamps are not rendered)', () => {
    const reparsed = parseOpenMetrics(renderOpenMetrics(families));
    expect(reparsed.map((f) => [f.name, f.type])).toEqual([
      ['http_requests_total', 'counter'],
      ['plain', 'untyped'],
      ['temp_celsius', 'gauge'],
      ['nounit', 'gauge'],
      ['raw', 'untyped'],
      ['s', 'summary'],
      ['h', 'histogram'],
      ['gh', 'histogram'],
    ]);
    expect(reparsed[0]!.metrics[0]).toEqual({ ...families[0]!.metrics[0]!, createdTimestampMs: undefined });
  });
});
