/**
 * The OTLP pieces without a server: Prometheus' name translation, the resource → group mapping,
 * and the decoder fuzzed like the other parsers (fuzz-parsers.test.ts): it may refuse input only
 * with OtlpDecodeError, and whatever it accepts maps to groups without throwing.
 */
import fc from 'fast-check';
import '../helpers/fuzz-seed.js';
import { describe, expect, it } from 'vitest';
import { otlpLabelName, otlpMetricName } from '../../src/exposition/otlp/names.js';
import { decodeExportRequest, encodeExportRequest, OtlpDecodeError, type OtlpEncoding } from '../../src/exposition/otlp/wire.js';
import { planOtlpPushes } from '../../src/domain/otlp-groups.js';
import { requiredRole } from '../../src/http/auth.js';

const RUNS = 2000;

describe("Prometheus' OTLP name translation", () => {
  it.each([
    ['http.server.request.duration', 's', 'other', 'http_server_request_duration_seconds'],
    ['memory.usage', 'By', 'gauge', 'memory_usage_bytes'],
    ['requests', '1', 'counter', 'requests_total'],
    ['requests.total', '{request}', 'counter', 'requests_total'],
    ['cpu.utilization', '1', 'gauge', 'cpu_utilization_ratio'],
    ['net.io', 'By/s', 'gauge', 'net_io_bytes_per_second'],
    ['latency_seconds', 's', 'other', 'latency_seconds'],
    ['weird--name!!', '', 'gauge', 'weird_name'],
    ['2xx.responses', '', 'counter', '_2xx_responses_total'],
    ['disk.ops', 'ms', 'counter', 'disk_ops_milliseconds_total'],
    ['queue.size', '{item}/s', 'gauge', 'queue_size_per_second'],
    ['...', '', 'gauge', ''],
  ] as const)('%s [%s, %s] → %s', (name, unit, kind, expected) => {
    expect(otlpMetricName(name, unit, kind, false)).toBe(expected);
  });

  it('keeps UTF-8 names with --push.enable-utf8-names and adds only the suffixes', () => {
    expect(otlpMetricName('http.server.duration', 's', 'other', true)).toBe('http.server.duration_seconds');
    expect(otlpMetricName('jobs.done', '1', 'counter', true)).toBe('jobs.done_total');
    expect(otlpLabelName('stage.name', true)).toBe('stage.name');
  });

  it.each([
    ['http.method', 'http_method'],
    ['123invalid', 'key_123invalid'],
    ['__reserved__', '__reserved__'],
    ['a..b', 'a_b'],
    ['ünïcode', '_n_code'],
    ['___', ''],
  ])('label %s → %s', (name, expected) => {
    expect(otlpLabelName(name, false)).toBe(expected);
  });
});

describe('OTLP resources into groups', () => {
  const attr = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const gauge = (name: string, attributes: object[] = []) => ({ name, gauge: { dataPoints: [{ asDouble: 1, attributes }] } });

  it('keys groups by service and merges resources of the same service', () => {
    const request = decodeExportRequest(
      encodeExportRequest({
        resourceMetrics: [
          { resource: { attributes: [attr('service.name', 'a'), attr('service.instance.id', 'i1')] }, scopeMetrics: [{ metrics: [gauge('x')] }] },
          { resource: { attributes: [attr('service.name', 'a'), attr('service.instance.id', 'i1')] }, scopeMetrics: [{ metrics: [gauge('y')] }] },
          { resource: { attributes: [attr('k8s.pod.name', 'p')] }, scopeMetrics: [{ metrics: [gauge('x')] }] },
        ],
      }),
      'protobuf',
    );
    const plan = planOtlpPushes(request, { utf8Names: false });
    expect(plan.groups.map((g) => [g.key.id, g.families.map((f) => f.name)])).toEqual([
      ['{instance="i1",job="a"}', ['x', 'y']],
      ['{job="unknown_service"}', ['x', 'target_info']],
    ]);
    expect(plan.groups[1]!.families[1]!.metrics[0]!.labels).toEqual([{ name: 'k8s_pod_name', value: 'p' }]);
  });

  it('reads attribute values of every length and script as they were sent', () => {
    const values = ['', 'a', 'x'.repeat(24), 'y'.repeat(25), 'z'.repeat(300), 'é', 'Ünïcödé-wert', '日本語のラベル値', '🙂', `${'a'.repeat(23)}é`, 'tab\there'];
    const request = decodeExportRequest(
      encodeExportRequest({
        resourceMetrics: [
          {
            resource: { attributes: [attr('service.name', 'svc-ü')] },
            scopeMetrics: [
              { metrics: [{ name: 'g', gauge: { dataPoints: values.map((v, i) => ({ asDouble: i, attributes: [attr('v', v), attr('i', String(i))] })) } }] },
            ],
          },
        ],
      }),
      'protobuf',
    );
    const [group] = planOtlpPushes(request, { utf8Names: false }).groups;
    expect(group!.key.id).toBe('{job="svc-ü"}');
    const gauge = group!.families.find((f) => f.name === 'g')!;
    expect(gauge.metrics.map((m) => m.labels.find((l) => l.name === 'v')?.value ?? '')).toEqual(values);
  });

  it('joins the values of attributes that sanitise to the same label, and refuses duplicate series', () => {
    const request = decodeExportRequest(
      encodeExportRequest({
        resourceMetrics: [
          { scopeMetrics: [{ metrics: [gauge('x', [attr('a.b', '1'), attr('a_b', '2')])] }, { metrics: [gauge('x', [attr('a.b', '1'), attr('a_b', '2')])] }] },
        ],
      }),
      'protobuf',
    );
    const plan = planOtlpPushes(request, { utf8Names: false });
    expect(plan.groups[0]!.families[0]!.metrics.map((m) => m.labels)).toEqual([[{ name: 'a_b', value: '1;2' }]]);
    expect(plan.rejected).toBe(1);
  });

  it('marks delta sums and histograms for adding, not cumulative ones', () => {
    const sum = (name: string, temporality: number) => ({ name, sum: { aggregationTemporality: temporality, isMonotonic: true, dataPoints: [{ asInt: 2 }] } });
    const request = decodeExportRequest(
      encodeExportRequest({
        resourceMetrics: [
          { scopeMetrics: [{ metrics: [sum('d', 1), sum('c', 2), { name: 'h', histogram: { aggregationTemporality: 1, dataPoints: [{ count: 1 }] } }] }] },
        ],
      }),
      'protobuf',
    );
    expect([...planOtlpPushes(request, { utf8Names: false }).groups[0]!.addFamilies].sort()).toEqual(['d_total', 'h']);
  });

  it('maps summaries, skips points without a recorded value, and merges native buckets when the scale is above 8', () => {
    const request = decodeExportRequest(
      encodeExportRequest({
        resourceMetrics: [
          {
            scopeMetrics: [
              {
                metrics: [
                  {
                    name: 'rpc.latency',
                    unit: 'ms',
                    summary: {
                      dataPoints: [
                        { count: 4, sum: 10, quantileValues: [{ quantile: 0.5, value: 2 }] },
                        { count: 1, flags: 1, attributes: [attr('a', 'b')] },
                      ],
                    },
                  },
                  {
                    name: 'size',
                    exponentialHistogram: {
                      aggregationTemporality: 2,
                      // Scale 10: OTLP buckets 0..3 are (2^(i/1024), 2^((i+1)/1024)]; at schema 8 they all fall in bucket 1.
                      dataPoints: [{ count: 7, sum: 7.1, scale: 10, zeroCount: 1, positive: { offset: 0, bucketCounts: [1, 2, 0, 3] } }],
                    },
                  },
                ],
              },
            ],
          },
        ],
      }),
      'protobuf',
    );
    const [group] = planOtlpPushes(request, { utf8Names: false }).groups;
    const summary = group!.families.find((f) => f.name === 'rpc_latency_milliseconds')!;
    expect(summary.type).toBe('summary');
    expect(summary.metrics).toEqual([{ labels: [], summary: { sampleCount: 4, sampleSum: 10, quantiles: [{ quantile: 0.5, value: 2 }] } }]);
    const native = group!.families.find((f) => f.name === 'size')!.metrics[0]!.histogram!.native!;
    expect(native).toMatchObject({ schema: 8, zeroCount: 1, positiveSpans: [{ offset: 1, length: 1 }], positiveDeltas: [6] });
  });

  it('needs the push role on both OTLP paths', () => {
    expect(requiredRole('POST', '/v1/metrics', '', '/metrics')).toBe('push');
    expect(requiredRole('POST', '/prefix/api/v1/otlp/v1/metrics', '/prefix', '/metrics')).toBe('push');
  });
});

describe('OTLP decoder fuzzing', () => {
  const decodesOrRefuses = (body: Uint8Array, encoding: OtlpEncoding): void => {
    let request;
    try {
      request = decodeExportRequest(body, encoding);
    } catch (err) {
      if (err instanceof OtlpDecodeError) return;
      throw err;
    }
    const plan = planOtlpPushes(request, { utf8Names: false });
    for (const group of plan.groups) expect(group.families.length).toBeGreaterThan(0);
  };

  it('random bytes: protobuf is decoded or refused with OtlpDecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => decodesOrRefuses(bytes, 'protobuf')),
      { numRuns: RUNS },
    );
  });

  it('random JSON values: decoded or refused with OtlpDecodeError', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => decodesOrRefuses(Buffer.from(JSON.stringify(value)), 'json')),
      { numRuns: RUNS },
    );
  });

  // Valid requests, then mutated: every byte flip of a real request either decodes or is refused.
  const point = fc.record({
    asDouble: fc.double(),
    attributes: fc.array(fc.record({ key: fc.string({ maxLength: 8 }), value: fc.record({ stringValue: fc.string({ maxLength: 8 }) }) }), { maxLength: 3 }),
  });
  const metric = fc.oneof(
    fc.record({
      name: fc.string({ maxLength: 12 }),
      unit: fc.constantFrom('', 's', 'By', '1', '{x}'),
      gauge: fc.record({ dataPoints: fc.array(point, { maxLength: 3 }) }),
    }),
    fc.record({
      name: fc.string({ maxLength: 12 }),
      sum: fc.record({ aggregationTemporality: fc.integer({ min: 0, max: 3 }), isMonotonic: fc.boolean(), dataPoints: fc.array(point, { maxLength: 3 }) }),
    }),
    fc.record({
      name: fc.string({ maxLength: 12 }),
      exponentialHistogram: fc.record({
        aggregationTemporality: fc.integer({ min: 0, max: 2 }),
        dataPoints: fc.array(
          fc.record({
            count: fc.nat(),
            scale: fc.integer({ min: -10, max: 20 }),
            positive: fc.record({ offset: fc.integer({ min: -50, max: 50 }), bucketCounts: fc.array(fc.nat(5), { maxLength: 8 }) }),
          }),
          { maxLength: 2 },
        ),
      }),
    }),
  );
  const request = fc.record({
    resourceMetrics: fc.array(
      fc.record({
        resource: fc.record({
          attributes: fc.array(fc.record({ key: fc.constantFrom('service.name', 'service.namespace', 'x'), value: fc.record({ stringValue: fc.string() }) })),
        }),
        scopeMetrics: fc.array(fc.record({ metrics: fc.array(metric, { maxLength: 4 }) }), { maxLength: 2 }),
      }),
      { maxLength: 3 },
    ),
  });

  it('generated requests map to groups; flipped bytes decode or are refused', () => {
    fc.assert(
      fc.property(request, fc.nat(), fc.integer({ min: 0, max: 255 }), (value, at, byte) => {
        const body = encodeExportRequest(value);
        decodesOrRefuses(body, 'protobuf');
        decodesOrRefuses(Buffer.from(JSON.stringify(value)), 'json');
        if (body.length > 0) {
          const flipped = Buffer.from(body);
          flipped[at % body.length] = byte;
          decodesOrRefuses(flipped, 'protobuf');
        }
      }),
      { numRuns: RUNS / 4 },
    );
  });
});

describe('OTLP/JSON', () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const onePoint = (metric: object) => ({ resourceMetrics: [{ scopeMetrics: [{ metrics: [metric] }] }] });
  const refusal = (value: unknown): string => {
    try {
      decodeExportRequest(json(value), 'json');
    } catch (err) {
      if (err instanceof OtlpDecodeError) return err.message;
      throw err;
    }
    throw new Error('decoded');
  };

  it('takes the proto3 JSON forms: 64-bit integers as strings or numbers, enum names, "NaN" and "Infinity", null as absent', () => {
    const plan = planOtlpPushes(
      decodeExportRequest(
        json({
          resourceMetrics: [
            {
              resource: null,
              scopeMetrics: [
                {
                  metrics: [
                    {
                      name: 'a',
                      sum: { aggregationTemporality: 'AGGREGATION_TEMPORALITY_DELTA', isMonotonic: true, dataPoints: [{ asInt: 3, timeUnixNano: '17' }] },
                    },
                    { name: 'b', gauge: { dataPoints: [{ asDouble: 'NaN', flags: null }] } },
                    { name: 'c', gauge: { dataPoints: [{ asDouble: '-Infinity', attributes: [{ key: 'n', value: { intValue: '12' } }] }] } },
                  ],
                },
              ],
            },
          ],
        }),
        'json',
      ),
      { utf8Names: false },
    );
    const families = plan.groups[0]!.families;
    expect(families.map((f) => [f.name, f.type, f.metrics[0]!.value])).toEqual([
      ['a_total', 'counter', 3],
      ['b', 'gauge', NaN],
      ['c', 'gauge', -Infinity],
    ]);
    expect([...plan.groups[0]!.addFamilies]).toEqual(['a_total']);
    expect(families[2]!.metrics[0]!.labels).toEqual([{ name: 'n', value: '12' }]);
  });

  it('refuses a field of the wrong type with 400 naming the field', () => {
    const where = 'resourceMetrics[0].scopeMetrics[0].metrics[0]';
    expect(refusal(onePoint({ name: 'x', gauge: { dataPoints: [{ asDouble: true }] } }))).toBe(
      `invalid OTLP JSON body: ${where}.gauge.dataPoints[0].asDouble: a number expected`,
    );
    expect(refusal(onePoint({ name: 'x', gauge: { dataPoints: [{ asInt: '1.5' }] } }))).toContain(`${where}.gauge.dataPoints[0].asInt: an integer`);
    expect(refusal(onePoint({ name: 'x', sum: { aggregationTemporality: 'DELTA', dataPoints: [] } }))).toContain(`${where}.sum.aggregationTemporality`);
    expect(refusal(onePoint({ name: 7 }))).toContain(`${where}.name: a string expected`);
    expect(refusal(onePoint({ name: 'x', gauge: { dataPoints: [{ timeUnixNano: 'soon' }] } }))).toContain('timeUnixNano');
    expect(refusal(onePoint({ name: 'x', gauge: { dataPoints: [{ asDouble: 1, exemplars: [{ traceId: 'xyz' }] }] } }))).toContain('traceId: hex expected');
    expect(refusal({ resourceMetrics: {} })).toContain('resourceMetrics: an array expected');
    expect(refusal([])).toBe('invalid OTLP JSON body: ExportMetricsServiceRequest: an object expected');
  });

  // Proto3 JSON as the OTel JS exporter writes it (64-bit integers as strings): every request
  // maps exactly as its protobuf twin does.
  const attribute = fc.record({
    key: fc.constantFrom('a', 'b.c', 'b_c', 'service.name', '__x', '1st'),
    value: fc.record({ stringValue: fc.string({ maxLength: 4 }) }),
  });
  const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x));
  const numberPoint = fc.oneof(
    fc.record({ asDouble: finite, attributes: fc.array(attribute, { maxLength: 3 }) }),
    fc.record({ asInt: fc.integer({ min: -1e9, max: 1e9 }).map(String), attributes: fc.array(attribute, { maxLength: 3 }), flags: fc.constantFrom(0, 1) }),
  );
  const metric = fc.oneof(
    fc.record({
      name: fc.constantFrom('x', 'y.z', 'y_z'),
      unit: fc.constantFrom('', 's', '1'),
      gauge: fc.record({ dataPoints: fc.array(numberPoint, { maxLength: 4 }) }),
    }),
    fc.record({
      name: fc.constantFrom('x', 'n'),
      sum: fc.record({
        aggregationTemporality: fc.integer({ min: 0, max: 2 }),
        isMonotonic: fc.boolean(),
        dataPoints: fc.array(numberPoint, { maxLength: 4 }),
      }),
    }),
    fc.record({
      name: fc.constant('h'),
      histogram: fc.record({
        aggregationTemporality: fc.integer({ min: 1, max: 2 }),
        dataPoints: fc.array(
          fc.record({
            count: fc.nat().map(String),
            sum: finite,
            bucketCounts: fc.array(fc.nat(9).map(String), { maxLength: 3 }),
            explicitBounds: fc.constant([1, 2]),
          }),
          { maxLength: 2 },
        ),
      }),
    }),
    fc.record({
      name: fc.constant('q'),
      summary: fc.record({
        dataPoints: fc.array(fc.record({ count: fc.nat().map(String), sum: finite, quantileValues: fc.constant([{ quantile: 0.5, value: 2 }]) }), {
          maxLength: 2,
        }),
      }),
    }),
  );
  const request = fc.record({
    resourceMetrics: fc.array(
      fc.record({
        resource: fc.record({ attributes: fc.array(attribute, { maxLength: 3 }) }),
        scopeMetrics: fc.array(fc.record({ metrics: fc.array(metric, { maxLength: 4 }) }), { maxLength: 2 }),
      }),
      { maxLength: 3 },
    ),
  });

  it('maps every request as its protobuf twin', () => {
    fc.assert(
      fc.property(request, (value) => {
        const fromJson = planOtlpPushes(decodeExportRequest(json(value), 'json'), { utf8Names: false });
        const fromProtobuf = planOtlpPushes(decodeExportRequest(encodeExportRequest(value), 'protobuf'), { utf8Names: false });
        expect(fromJson).toEqual(fromProtobuf);
      }),
      { numRuns: RUNS / 4 },
    );
  });
});
