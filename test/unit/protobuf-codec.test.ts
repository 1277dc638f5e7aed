import path from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeDelimited } from '../../src/exposition/protobuf/decode.js';
import { encodeDelimited } from '../../src/exposition/protobuf/encode.js';
import { PROTOBUF_CONTENT_TYPE, ProtobufError, isProtobufContentType } from '../../src/exposition/protobuf/schema.js';
import type { MetricFamily } from '../../src/exposition/types.js';

// Bodies are built with protobufjs straight from the repository's .proto, independently of the codec.
const root = new protobuf.Root().loadSync(path.join(import.meta.dirname, '../../proto/metrics.proto'), {
  keepCase: true,
});
const MF = root.lookupType('io.prometheus.client.MetricFamily');
function body(...families: Record<string, unknown>[]): Buffer {
  const w = protobuf.Writer.create();
  for (const f of families) MF.encodeDelimited(MF.fromObject(f), w);
  return Buffer.from(w.finish());
}

const ts = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

describe('decodeDelimited', () => {
  it('decodes every metric type with labels, help, unit, exemplars and created timestamps', () => {
    const families = decodeDelimited(
      body(
        {
          name: 'req_total',
          help: 'Requests.',
          type: 'COUNTER',
          unit: 'requests',
          metric: [
            {
              label: [{ name: 'code', value: '200' }],
              counter: {
                value: 7,
                exemplar: { label: [{ name: 'trace_id', value: 'abc' }], value: 1, timestamp: ts(1700000000500) },
                created_timestamp: ts(1690000000250),
              },
            },
          ],
        },
        { name: 'temp', type: 'GAUGE', metric: [{ gauge: { value: -2.5 } }] },
        { name: 'raw', type: 'UNTYPED', metric: [{ untyped: { value: 1e300 } }] },
        {
          name: 'lat',
          type: 'SUMMARY',
          metric: [
            {
              summary: {
                sample_count: 4,
                sample_sum: 9.5,
                quantile: [
                  { quantile: 0.5, value: 2 },
                  { quantile: 0.99, value: 4 },
                ],
                created_timestamp: ts(1690000000000),
              },
            },
          ],
        },
        {
          name: 'size',
          type: 'HISTOGRAM',
          metric: [
            {
              histogram: {
                sample_count: 3,
                sample_sum: 12,
                bucket: [
                  { cumulative_count: 1, upper_bound: 1, exemplar: { label: [{ name: 'id', value: 'x' }], value: 0.5 } },
                  { cumulative_count: 3, upper_bound: 10 },
                ],
                created_timestamp: ts(1690000001000),
              },
            },
          ],
        },
        {
          name: 'queue',
          type: 'GAUGE_HISTOGRAM',
          metric: [{ histogram: { sample_count: 2, sample_sum: 3, bucket: [{ cumulative_count: 2, upper_bound: 5 }] } }],
        },
      ),
    );
    expect(families).toEqual<MetricFamily[]>([
      {
        name: 'req_total',
        help: 'Requests.',
        type: 'counter',
        unit: 'requests',
        metrics: [
          {
            labels: [{ name: 'code', value: '200' }],
            value: 7,
            exemplar: { labels: [{ name: 'trace_id', value: 'abc' }], value: 1, timestampMs: 1700000000500 },
            createdTimestampMs: 1690000000250,
          },
        ],
      },
      { name: 'temp', type: 'gauge', metrics: [{ labels: [], value: -2.5 }] },
      { name: 'raw', type: 'untyped', metrics: [{ labels: [], value: 1e300 }] },
      {
        name: 'lat',
        type: 'summary',
        metrics: [
          {
            labels: [],
            summary: {
              sampleCount: 4,
              sampleSum: 9.5,
              quantiles: [
                { quantile: 0.5, value: 2 },
                { quantile: 0.99, value: 4 },
              ],
              createdTimestampMs: 1690000000000,
            },
          },
        ],
      },
      {
        name: 'size',
        type: 'histogram',
        metrics: [
          {
            labels: [],
            histogram: {
              sampleCount: 3,
              sampleSum: 12,
              buckets: [
                { cumulativeCount: 1, upperBound: 1, exemplar: { labels: [{ name: 'id', value: 'x' }], value: 0.5 } },
                { cumulativeCount: 3, upperBound: 10 },
              ],
              createdTimestampMs: 1690000001000,
            },
          },
        ],
      },
      {
        name: 'queue',
        type: 'gaugehistogram',
        metrics: [{ labels: [], histogram: { sampleCount: 2, sampleSum: 3, buckets: [{ cumulativeCount: 2, upperBound: 5 }] } }],
      },
    ]);
  });

  it('decodes an integer native histogram with spans, deltas and histogram exemplars', () => {
    const [f] = decodeDelimited(
      body({
        name: 'pb_native',
        type: 'HISTOGRAM',
        metric: [
          {
            histogram: {
              sample_count: 20,
              sample_sum: 99.23,
              schema: 1,
              zero_threshold: 2.938735877055719e-39,
              zero_count: 4,
              negative_span: [
                { offset: 0, length: 2 },
                { offset: 0, length: 2 },
              ],
              negative_delta: [0, 2, -2, 0],
              positive_span: [{ offset: -3, length: 2 }],
              positive_delta: [2, -2],
              exemplars: [{ label: [{ name: 'trace_id', value: 't' }], value: 1.5, timestamp: ts(1700000000000) }],
            },
          },
        ],
      }),
    );
    expect(f?.metrics[0]?.histogram).toEqual({
      sampleCount: 20,
      sampleSum: 99.23,
      buckets: [],
      native: {
        schema: 1,
        zeroThreshold: 2.938735877055719e-39,
        zeroCount: 4,
        zeroCountFloat: 0,
        sampleCountFloat: 0,
        negativeSpans: [
          { offset: 0, length: 2 },
          { offset: 0, length: 2 },
        ],
        negativeDeltas: [0, 2, -2, 0],
        negativeCounts: [],
        positiveSpans: [{ offset: -3, length: 2 }],
        positiveDeltas: [2, -2],
        positiveCounts: [],
      },
      exemplars: [{ labels: [{ name: 'trace_id', value: 't' }], value: 1.5, timestampMs: 1700000000000 }],
    });
  });

  it('decodes float histograms: float counts override integer ones', () => {
    const [f] = decodeDelimited(
      body({
        name: 'fh',
        type: 'HISTOGRAM',
        metric: [
          {
            histogram: {
              sample_count: 1,
              sample_count_float: 2.5,
              sample_sum: 4,
              bucket: [{ cumulative_count: 1, cumulative_count_float: 1.5, upper_bound: 1 }],
              schema: 0,
              zero_count_float: 0.5,
              positive_span: [{ offset: 0, length: 1 }],
              positive_count: [1.5],
            },
          },
        ],
      }),
    );
    const h = f?.metrics[0]?.histogram;
    expect(h?.sampleCount).toBe(2.5);
    expect(h?.buckets).toEqual([{ cumulativeCount: 1.5, upperBound: 1 }]);
    expect(h?.native).toMatchObject({ sampleCountFloat: 2.5, zeroCountFloat: 0.5, positiveCounts: [1.5] });
  });

  it('treats a missing type as COUNTER, like the official gateway', () => {
    expect(decodeDelimited(body({ name: 'c', metric: [{ counter: { value: 1 } }] }))[0]?.type).toBe('counter');
    // A metric of another type than its family's comes without a value: the push rules refuse it
    // as inconsistent, which records the group's failure time.
    expect(decodeDelimited(body({ name: 'g', metric: [{ gauge: { value: 1 } }] }))).toEqual([{ name: 'g', type: 'counter', metrics: [{ labels: [] }] }]);
    expect(decodeDelimited(body({ name: 'g', type: 'GAUGE', metric: [{ counter: { value: 1 } }] }))[0]?.metrics).toEqual([{ labels: [] }]);
  });

  it('keeps HELP presence: an absent HELP stays absent, an empty one stays empty', () => {
    const [a, b] = decodeDelimited(
      body({ name: 'a', type: 'GAUGE', metric: [{ gauge: { value: 1 } }] }, { name: 'b', help: '', type: 'GAUGE', metric: [{ gauge: { value: 1 } }] }),
    );
    expect(a).not.toHaveProperty('help');
    expect(b?.help).toBe('');
  });

  it('passes sample timestamps through for the domain to reject', () => {
    const [f] = decodeDelimited(body({ name: 'g', type: 'GAUGE', metric: [{ gauge: { value: 1 }, timestamp_ms: 1234 }] }));
    expect(f?.metrics[0]?.timestampMs).toBe(1234);
  });

  it('merges same-named families of one type and rejects different types', () => {
    const merged = decodeDelimited(
      body(
        { name: 'm', type: 'GAUGE', metric: [{ label: [{ name: 'a', value: '1' }], gauge: { value: 1 } }] },
        { name: 'other', type: 'GAUGE', metric: [{ gauge: { value: 0 } }] },
        { name: 'm', help: 'later', type: 'GAUGE', metric: [{ label: [{ name: 'a', value: '2' }], gauge: { value: 2 } }] },
      ),
    );
    expect(merged.map((f) => f.name)).toEqual(['m', 'other']);
    expect(merged[0]).toEqual({
      name: 'm',
      help: 'later',
      type: 'gauge',
      metrics: [
        { labels: [{ name: 'a', value: '1' }], value: 1 },
        { labels: [{ name: 'a', value: '2' }], value: 2 },
      ],
    });
    expect(() =>
      decodeDelimited(
        body({ name: 'm', type: 'GAUGE', metric: [{ gauge: { value: 1 } }] }, { name: 'm', type: 'UNTYPED', metric: [{ untyped: { value: 1 } }] }),
      ),
    ).toThrow('protobuf decoding error: duplicate metric family "m" with different types in one push');
  });

  it.each([
    ['a body cut inside a message', (b: Buffer) => b.subarray(0, b.length - 3)],
    ['a length prefix longer than the body', (b: Buffer) => Buffer.concat([b, Buffer.from([0x20, 0x0a])])],
    ['a cut varint', (b: Buffer) => Buffer.concat([b, Buffer.from([0x80])])],
  ])('rejects %s with a one-line unexpected EOF', (_name, cut) => {
    const good = body({ name: 'g', type: 'GAUGE', metric: [{ gauge: { value: 1 } }] });
    let error: unknown;
    try {
      decodeDelimited(cut(good));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProtobufError);
    expect((error as Error).message).toBe('protobuf decoding error: unexpected EOF');
  });

  it('decodes an empty body to no families', () => {
    expect(decodeDelimited(new Uint8Array(0))).toEqual([]);
  });

  it('decodes a body written by the official Go client (client_golang 1.14, expfmt.FmtProtoDelim)', () => {
    const goBody = Buffer.from(
      'IwoIZ29fZ2F1Z2USCEEgZ2F1Z2UuGAEiCxIJCQAAAAAAAARAQgoHZ29faGlzdBIMQSBoaXN0b2dyYW0uGAQiJzolCAIRAAAAAAAADEAaCwgBEQAAAAAAAPA/GgsIAhEAAAAAAAAUQDkKD2dvX3B1c2hlZF90b3RhbBIKQSBjb3VudGVyLhgAIhgKCwoEY29kZRIDMjAwGgkJAAAAAAAACEA5CgZnb19zdW0SCkEgc3VtbWFyeS4YAiIhIh8IAREAAAAAAAAQQBoSCQAAAAAAAOA/EQAAAAAAABBA',
      'base64',
    );
    expect(decodeDelimited(goBody)).toEqual<MetricFamily[]>([
      { name: 'go_gauge', help: 'A gauge.', type: 'gauge', metrics: [{ labels: [], value: 2.5 }] },
      {
        name: 'go_hist',
        help: 'A histogram.',
        type: 'histogram',
        metrics: [
          {
            labels: [],
            histogram: {
              sampleCount: 2,
              sampleSum: 3.5,
              buckets: [
                { cumulativeCount: 1, upperBound: 1 },
                { cumulativeCount: 2, upperBound: 5 },
              ],
            },
          },
        ],
      },
      {
        name: 'go_pushed_total',
        help: 'A counter.',
        type: 'counter',
        metrics: [{ labels: [{ name: 'code', value: '200' }], value: 3 }],
      },
      {
        name: 'go_sum',
        help: 'A summary.',
        type: 'summary',
        metrics: [{ labels: [], summary: { sampleCount: 1, sampleSum: 4, quantiles: [{ quantile: 0.5, value: 4 }] } }],
      },
    ]);
  });
});

describe('encodeDelimited', () => {
  const everything: MetricFamily[] = [
    {
      name: 'req_total',
      help: 'Requests.',
      type: 'counter',
      unit: 'requests',
      metrics: [
        {
          labels: [{ name: 'code', value: '200' }],
          value: 7,
          exemplar: { labels: [{ name: 'trace_id', value: 'abc' }], value: 1, timestampMs: 1700000000500 },
          createdTimestampMs: 1690000000250,
        },
      ],
    },
    { name: 'temp', type: 'gauge', metrics: [{ labels: [], value: Number.NaN }] },
    { name: 'raw', help: '', type: 'untyped', metrics: [{ labels: [], value: -Infinity }] },
    {
      name: 'lat',
      type: 'summary',
      metrics: [
        {
          labels: [],
          summary: { sampleCount: 4, sampleSum: 9.5, quantiles: [{ quantile: 0.5, value: 2 }], createdTimestampMs: 1690000000000 },
        },
      ],
    },
    {
      name: 'size',
      type: 'histogram',
      metrics: [
        {
          labels: [{ name: 'le_not', value: 'x' }],
          histogram: {
            sampleCount: 3,
            sampleSum: 12,
            buckets: [{ cumulativeCount: 1, upperBound: 1, exemplar: { labels: [], value: 0.5, timestampMs: 1 } }],
            createdTimestampMs: 1690000001000,
          },
        },
      ],
    },
    {
      name: 'float_classic',
      type: 'histogram',
      metrics: [{ labels: [], histogram: { sampleCount: 2.5, sampleSum: 1, buckets: [{ cumulativeCount: 1.5, upperBound: 1 }] } }],
    },
    {
      name: 'native',
      type: 'histogram',
      metrics: [
        {
          labels: [],
          histogram: {
            sampleCount: 20,
            sampleSum: 99.23,
            buckets: [{ cumulativeCount: 3, upperBound: 0.5 }],
            native: {
              schema: -2,
              zeroThreshold: 0.001,
              zeroCount: 4,
              zeroCountFloat: 0,
              sampleCountFloat: 0,
              negativeSpans: [{ offset: 0, length: 2 }],
              negativeDeltas: [3, -1],
              negativeCounts: [],
              positiveSpans: [
                { offset: -1, length: 1 },
                { offset: 2, length: 2 },
              ],
              positiveDeltas: [1, 1, -2],
              positiveCounts: [],
            },
            exemplars: [{ labels: [{ name: 'trace_id', value: 't' }], value: 2, timestampMs: 1700000000123 }],
          },
        },
      ],
    },
    {
      name: 'native_float',
      type: 'gaugehistogram',
      metrics: [
        {
          labels: [],
          histogram: {
            sampleCount: 5.5,
            sampleSum: 3,
            buckets: [],
            native: {
              schema: 3,
              zeroThreshold: 0,
              zeroCount: 0,
              zeroCountFloat: 1.25,
              sampleCountFloat: 5.5,
              negativeSpans: [],
              negativeDeltas: [],
              negativeCounts: [],
              positiveSpans: [{ offset: 5, length: 2 }],
              positiveDeltas: [],
              positiveCounts: [2.25, 2],
            },
          },
        },
      ],
    },
  ];

  it('round-trips every type, native histograms and exemplars included', () => {
    expect(decodeDelimited(encodeDelimited(everything))).toEqual(everything);
  });

  it('writes the wire fields other decoders expect (float counts only for float histograms)', () => {
    const reader = protobuf.Reader.create(encodeDelimited(everything));
    const decoded: Record<string, unknown>[] = [];
    while (reader.pos < reader.len) {
      decoded.push(MF.toObject(MF.decodeDelimited(reader), { longs: Number, enums: String }));
    }
    const byName = new Map(decoded.map((d) => [d['name'], d]));
    expect(byName.get('req_total')).toMatchObject({ type: 'COUNTER', unit: 'requests' });
    expect(byName.get('size')).toMatchObject({ metric: [{ histogram: { sample_count: 3, bucket: [{ cumulative_count: 1 }] } }] });
    expect(byName.get('float_classic')).toMatchObject({
      metric: [{ histogram: { sample_count_float: 2.5, bucket: [{ cumulative_count_float: 1.5 }] } }],
    });
    expect(byName.get('native_float')).toMatchObject({
      type: 'GAUGE_HISTOGRAM',
      metric: [{ histogram: { schema: 3, zero_count_float: 1.25, positive_count: [2.25, 2] } }],
    });
  });
});

describe('isProtobufContentType', () => {
  it.each<[string | undefined, boolean]>([
    [PROTOBUF_CONTENT_TYPE, true],
    ['application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited', true],
    ['APPLICATION/VND.GOOGLE.PROTOBUF; PROTO=io.prometheus.client.MetricFamily; Encoding=delimited', true],
    ['application/vnd.google.protobuf; proto="io.prometheus.client.MetricFamily"; encoding="delimited"', true],
    ['application/vnd.google.protobuf; encoding=delimited; proto=io.prometheus.client.MetricFamily', true],
    ['application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily', false],
    ['application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text', false],
    ['application/vnd.google.protobuf; proto=io.prometheus.client.metricfamily; encoding=delimited', false],
    ['application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=DELIMITED', false],
    ['text/plain; version=0.0.4', false],
    ['application/openmetrics-text; version=1.0.0', false],
    ['application/x-www-form-urlencoded', false],
    ['garbage', false],
    ['', false],
    [undefined, false],
  ])('%s -> %s', (header, expected) => {
    expect(isProtobufContentType(header)).toBe(expected);
  });
});
