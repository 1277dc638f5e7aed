import { execFile } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import client from 'prom-client';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOpenMetrics } from '../../src/exposition/openmetrics-parser.js';
import { decodeDelimited } from '../../src/exposition/protobuf/decode.js';
import { flattenFamily } from '../../src/exposition/samples.js';
import { parseText } from '../../src/exposition/text-parser.js';
import type { MetricFamily } from '../../src/exposition/types.js';
import { buildGoPusher, goPush, hasGoClient } from '../helpers/go-pusher.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { missingTools, TEST_PYTHON, titleWithTools } from '../helpers/tools.js';

const run = promisify(execFile);
const PYTHON = TEST_PYTHON;
const PYTHON_TOOLS = ['python3-prometheus-client', 'python3-snappy'] as const;
const PB = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';
const ACCEPT = {
  text: 'text/plain; version=0.0.4',
  openmetrics: 'application/openmetrics-text; version=1.0.0',
  protobuf: PB,
} as const;
type Format = keyof typeof ACCEPT;
const FORMATS: readonly Format[] = ['text', 'openmetrics', 'protobuf'];

// Push bodies are written by hand, not by Pushkeep's renderers, so that a renderer bug cannot hide in
// both the push and the expectation.
const TEXT_BODY = `# HELP rt_requests_total Requests "served"\\nby \\\\ path.
# TYPE rt_requests_total counter
rt_requests_total{code="200",path="a\\"b\\\\c\\nd"} 1027
rt_requests_total{code="500",path="/ünï"} 0
# HELP rt_temperature Temperature.
# TYPE rt_temperature gauge
rt_temperature{room="küche"} -3.5
rt_temperature{room="x"} 1e-09
rt_temperature{room="y"} -Inf
# TYPE rt_untyped untyped
rt_untyped 42
# HELP rt_latency_seconds Latency.
# TYPE rt_latency_seconds histogram
rt_latency_seconds_bucket{le="0.1"} 1
rt_latency_seconds_bucket{le="1"} 3
rt_latency_seconds_bucket{le="+Inf"} 4
rt_latency_seconds_sum 5.5
rt_latency_seconds_count 4
# HELP rt_size_bytes Size.
# TYPE rt_size_bytes summary
rt_size_bytes{quantile="0.5"} 10
rt_size_bytes{quantile="0.9"} 20
rt_size_bytes_sum 100
rt_size_bytes_count 7
# HELP rt_queue Queue depth.
# TYPE rt_queue gaugehistogram
rt_queue_bucket{le="1"} 2
rt_queue_bucket{le="+Inf"} 5
rt_queue_sum 3
rt_queue_count 5
`;

const OM_BODY = `# HELP rt_requests Requests \\"served\\"\\nby \\\\ path.
# TYPE rt_requests counter
rt_requests_total{code="200",path="a\\"b\\\\c\\nd"} 1027 # {trace_id="abc"} 1 1700000000.5
rt_requests_created{code="200",path="a\\"b\\\\c\\nd"} 1690000000.25
rt_requests_total{code="500",path="/ünï"} 0
# HELP rt_temperature Temperature.
# TYPE rt_temperature gauge
rt_temperature{room="küche"} -3.5
rt_temperature{room="x"} 1e-09
rt_temperature{room="y"} -Inf
# TYPE rt_untyped unknown
rt_untyped 42
# HELP rt_latency_seconds Latency.
# TYPE rt_latency_seconds histogram
rt_latency_seconds_bucket{le="0.1"} 1 # {trace_id="def"} 0.05
rt_latency_seconds_bucket{le="1"} 3
rt_latency_seconds_bucket{le="+Inf"} 4
rt_latency_seconds_sum 5.5
rt_latency_seconds_count 4
rt_latency_seconds_created 1690000000
# HELP rt_size_bytes Size.
# TYPE rt_size_bytes summary
rt_size_bytes{quantile="0.5"} 10
rt_size_bytes{quantile="0.9"} 20
rt_size_bytes_sum 100
rt_size_bytes_count 7
# HELP rt_queue Queue depth.
# TYPE rt_queue gaugehistogram
rt_queue_bucket{le="1"} 2
rt_queue_bucket{le="+Inf"} 5
rt_queue_gsum 3
rt_queue_gcount 5
# EOF
`;

const proto = new protobuf.Root().loadSync(path.join(import.meta.dirname, '../../proto/metrics.proto'));
const MF = proto.lookupType('io.prometheus.client.MetricFamily');

/** Encodes plain MetricFamily objects (protobuf JSON field names) as a delimited body, as client libraries do. */
function protobufBody(families: object[]): Buffer {
  const w = protobuf.Writer.create();
  for (const f of families) MF.encodeDelimited(MF.fromObject(f), w);
  return Buffer.from(w.finish());
}

const PB_BODY = protobufBody([
  {
    name: 'rt_requests_total',
    help: 'Requests "served"\nby \\ path.',
    type: 'COUNTER',
    metric: [
      {
        label: [
          { name: 'code', value: '200' },
          { name: 'path', value: 'a"b\\c\nd' },
        ],
        counter: { value: 1027, exemplar: { label: [{ name: 'trace_id', value: 'abc' }], value: 1 }, createdTimestamp: { seconds: 1690000000 } },
      },
      {
        label: [
          { name: 'code', value: '500' },
          { name: 'path', value: '/ünï' },
        ],
        counter: { value: 0 },
      },
    ],
  },
  {
    name: 'rt_temperature',
    help: 'Temperature.',
    type: 'GAUGE',
    metric: [
      { label: [{ name: 'room', value: 'küche' }], gauge: { value: -3.5 } },
      { label: [{ name: 'room', value: 'x' }], gauge: { value: 1e-9 } },
      { label: [{ name: 'room', value: 'y' }], gauge: { value: -Infinity } },
    ],
  },
  { name: 'rt_untyped', type: 'UNTYPED', metric: [{ untyped: { value: 42 } }] },
  {
    name: 'rt_latency_seconds',
    help: 'Latency.',
    type: 'HISTOGRAM',
    metric: [
      {
        histogram: {
          sampleCount: 4,
          sampleSum: 5.5,
          // No +Inf bucket, as client_golang sends them: the count is the implicit +Inf bucket.
          bucket: [
            { cumulativeCount: 1, upperBound: 0.1 },
            { cumulativeCount: 3, upperBound: 1 },
          ],
        },
      },
    ],
  },
  {
    name: 'rt_size_bytes',
    help: 'Size.',
    type: 'SUMMARY',
    metric: [
      {
        summary: {
          sampleCount: 7,
          sampleSum: 100,
          quantile: [
            { quantile: 0.5, value: 10 },
            { quantile: 0.9, value: 20 },
          ],
        },
      },
    ],
  },
  {
    name: 'rt_queue',
    help: 'Queue depth.',
    type: 'GAUGE_HISTOGRAM',
    metric: [{ histogram: { sampleCount: 5, sampleSum: 3, bucket: [{ cumulativeCount: 2, upperBound: 1 }] } }],
  },
]);

const PUSHES: Record<Format, { body: string | Buffer; contentType?: string }> = {
  text: { body: TEXT_BODY },
  openmetrics: { body: OM_BODY, contentType: 'application/openmetrics-text; version=1.0.0; charset=utf-8' },
  protobuf: { body: PB_BODY, contentType: PB },
};

/** What Prometheus would ingest from a family: name, HELP, TYPE and every sample (name, labels, value). */
interface Ingested {
  readonly name: string;
  readonly help: string | undefined;
  readonly type: string;
  readonly samples: readonly { name: string; labels: Record<string, string>; value: number }[];
}

function ingested(families: readonly MetricFamily[], prefix: string): Ingested[] {
  return families
    .filter((f) => f.name.startsWith(prefix))
    .map((f) => ({
      name: f.name,
      help: f.help,
      // Text and OpenMetrics scrapes announce a gauge histogram as a histogram (see the README).
      type: f.type,
      samples: flattenFamily(f).map((s) => ({ name: s.name, labels: Object.fromEntries(s.labels.map((l) => [l.name, l.value])), value: s.value })),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

function parseScrape(format: Format, body: Buffer): MetricFamily[] {
  if (format === 'protobuf') return decodeDelimited(body);
  const text = body.toString('utf8');
  return format === 'openmetrics' ? parseOpenMetrics(text) : parseText(text);
}

/** GET without automatic decompression (fetch would gunzip silently). */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

async function scrape(gw: TestServer, format: Format, gzip = false): Promise<{ contentType: string; families: MetricFamily[]; raw: Buffer }> {
  const res = await rawGet(`${gw.url}/metrics`, { accept: ACCEPT[format], ...(gzip ? { 'accept-encoding': 'gzip' } : {}) });
  expect(res.status).toBe(200);
  expect(res.headers['content-encoding']).toBe(gzip ? 'gzip' : undefined);
  const body = gzip ? zlib.gunzipSync(res.body) : res.body;
  return { contentType: res.headers['content-type'] ?? '', families: parseScrape(format, body), raw: body };
}

const l = (labels: Record<string, string>) => ({ instance: '', job: 'rt', ...labels });

/** The families every push format must produce, in every scrape format. */
function expected(scrapeFormat: Format): Ingested[] {
  const histogramType = scrapeFormat === 'protobuf' ? 'gaugehistogram' : 'histogram';
  return [
    {
      name: 'rt_latency_seconds',
      help: 'Latency.',
      type: 'histogram',
      samples: [
        { name: 'rt_latency_seconds_bucket', labels: l({ le: '0.1' }), value: 1 },
        { name: 'rt_latency_seconds_bucket', labels: l({ le: '1' }), value: 3 },
        { name: 'rt_latency_seconds_bucket', labels: l({ le: '+Inf' }), value: 4 },
        { name: 'rt_latency_seconds_sum', labels: l({}), value: 5.5 },
        { name: 'rt_latency_seconds_count', labels: l({}), value: 4 },
      ],
    },
    {
      name: 'rt_queue',
      help: 'Queue depth.',
      type: histogramType,
      samples: [
        { name: 'rt_queue_bucket', labels: l({ le: '1' }), value: 2 },
        { name: 'rt_queue_bucket', labels: l({ le: '+Inf' }), value: 5 },
        { name: 'rt_queue_sum', labels: l({}), value: 3 },
        { name: 'rt_queue_count', labels: l({}), value: 5 },
      ],
    },
    {
      name: 'rt_requests_total',
      help: 'Requests "served"\nby \\ path.',
      type: 'counter',
      samples: [
        { name: 'rt_requests_total', labels: l({ code: '200', path: 'a"b\\c\nd' }), value: 1027 },
        { name: 'rt_requests_total', labels: l({ code: '500', path: '/ünï' }), value: 0 },
      ],
    },
    {
      name: 'rt_size_bytes',
      help: 'Size.',
      type: 'summary',
      samples: [
        { name: 'rt_size_bytes', labels: l({ quantile: '0.5' }), value: 10 },
        { name: 'rt_size_bytes', labels: l({ quantile: '0.9' }), value: 20 },
        { name: 'rt_size_bytes_sum', labels: l({}), value: 100 },
        { name: 'rt_size_bytes_count', labels: l({}), value: 7 },
      ],
    },
    {
      name: 'rt_temperature',
      help: 'Temperature.',
      type: 'gauge',
      samples: [
        { name: 'rt_temperature', labels: l({ room: 'küche' }), value: -3.5 },
        { name: 'rt_temperature', labels: l({ room: 'x' }), value: 1e-9 },
        { name: 'rt_temperature', labels: l({ room: 'y' }), value: -Infinity },
      ],
    },
    { name: 'rt_untyped', help: undefined, type: 'untyped', samples: [{ name: 'rt_untyped', labels: l({}), value: 42 }] },
  ];
}

let gw: TestServer;
beforeAll(async () => {
  gw = await startTestServer();
});
afterAll(async () => {
  await gw.close();
});

describe('round trips: every type, pushed in each format, scraped in each format', () => {
  const matrix = FORMATS.flatMap((push) => FORMATS.map((scrapeAs) => [push, scrapeAs] as const));
  it.each(matrix)('pushed as %s, scraped as %s: same series, values, labels, HELP and TYPE', async (pushAs, scrapeAs) => {
    const { body, contentType } = PUSHES[pushAs];
    const res = await gw.push('PUT', '/metrics/job/rt', body, contentType ? { 'Content-Type': contentType } : {});
    expect(res.status).toBe(200);
    for (const gzip of [false, true]) {
      const got = await scrape(gw, scrapeAs, gzip);
      expect(got.contentType).toBe(
        { text: 'text/plain; version=0.0.4; charset=utf-8', openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8', protobuf: PB }[scrapeAs],
      );
      expect(ingested(got.families, 'rt_')).toEqual(expected(scrapeAs));
    }
  });

  it('keeps exemplars and created timestamps where the scrape format can carry them', async () => {
    await gw.push('PUT', '/metrics/job/rt', OM_BODY, { 'Content-Type': 'application/openmetrics-text' });
    const om = (await scrape(gw, 'openmetrics')).raw.toString();
    expect(om).toContain('rt_requests_total{code="200",instance="",job="rt",path="a\\"b\\\\c\\nd"} 1027 # {trace_id="abc"} 1 1700000000.5\n');
    expect(om).toContain('rt_latency_seconds_bucket{instance="",job="rt",le="0.1"} 1 # {trace_id="def"} 0.05\n');
    // Prometheus 2.x ingests OpenMetrics `_created` samples as series of their own: never written.
    expect(om).not.toMatch(/_created/);
    expect(om.endsWith('# EOF\n')).toBe(true);
    const pb = (await scrape(gw, 'protobuf')).families.find((f) => f.name === 'rt_requests_total')!;
    expect(pb.metrics[0]).toMatchObject({
      exemplar: { labels: [{ name: 'trace_id', value: 'abc' }], value: 1, timestampMs: 1700000000500 },
      createdTimestampMs: 1690000000250,
    });
    expect((await scrape(gw, 'text')).raw.toString()).not.toMatch(/trace_id|_created/);
  });
});

describe('OpenMetrics scrapes give Prometheus the series of a text scrape', () => {
  it('announces a counter without _total as unknown under its own name, and untyped as unknown', async () => {
    await gw.push('PUT', '/metrics/job/om', '# HELP om_jobs Jobs.\n# TYPE om_jobs counter\nom_jobs 3\nom_raw 1\n');
    const om = (await scrape(gw, 'openmetrics')).raw.toString();
    expect(om).toContain('# HELP om_jobs Jobs.\n# TYPE om_jobs unknown\nom_jobs{instance="",job="om"} 3\n');
    expect(om).toContain('# TYPE om_raw unknown\nom_raw{instance="",job="om"} 1\n');
    expect(om).not.toContain('om_jobs_total');
    const text = (await scrape(gw, 'text')).raw.toString();
    expect(text).toContain('# HELP om_jobs Jobs.\n# TYPE om_jobs counter\nom_jobs{instance="",job="om"} 3\n');
    // Protobuf keeps the counter type: Prometheus names protobuf counters after the family.
    const pb = (await scrape(gw, 'protobuf')).families.find((f) => f.name === 'om_jobs');
    expect(pb).toMatchObject({ type: 'counter', metrics: [{ value: 3 }] });
  });

  it('merges own families in every format', async () => {
    for (const format of FORMATS) {
      const families = (await scrape(gw, format)).families;
      expect(families.find((f) => f.name === 'pushgateway_build_info')?.metrics[0]?.value).toBe(1);
    }
  });
});

describe('real clients in their default formats', () => {
  it.skipIf(!hasGoClient())(
    titleWithTools('Go client_golang pushes protobuf with Push, Add and Delete; grouping values with /, empty and unicode', 'client-golang'),
    { timeout: 300_000 },
    async () => {
      const pusher = await buildGoPusher();
      // client_golang query-escapes the job: the space arrives as `+`, kept literally as the official does.
      const labels = 'city="Zürich",empty="",instance="",job="go+job",path="/var/tmp"';
      await goPush(pusher, gw.url, 'push');
      let text = (await scrape(gw, 'text')).raw.toString();
      expect(text).toContain(`# HELP go_ops_total Operations done.\n# TYPE go_ops_total counter\ngo_ops_total{${labels}} 3\n`);
      expect(text).toContain(
        `# HELP go_temperature_celsius Température "ambiante".\n# TYPE go_temperature_celsius gauge\ngo_temperature_celsius{${labels},room="küche/1"} 21.5\n`,
      );
      expect(text).toContain(
        [
          `go_latency_seconds_bucket{${labels},le="0.1"} 1`,
          `go_latency_seconds_bucket{${labels},le="1"} 2`,
          `go_latency_seconds_bucket{${labels},le="+Inf"} 3`,
          `go_latency_seconds_sum{${labels}} 7.55`,
          `go_latency_seconds_count{${labels}} 3`,
        ].join('\n'),
      );
      expect(text).toContain(`go_size_bytes{${labels},quantile="0.5"} 10\ngo_size_bytes_sum{${labels}} 10\ngo_size_bytes_count{${labels}} 1\n`);
      // The same families in the other formats.
      const reference = ingested((await scrape(gw, 'text')).families, 'go_');
      expect(reference.map((f) => f.name)).toEqual(['go_latency_seconds', 'go_ops_total', 'go_size_bytes', 'go_temperature_celsius']);
      for (const format of ['openmetrics', 'protobuf'] as const) expect(ingested((await scrape(gw, format)).families, 'go_')).toEqual(reference);

      await goPush(pusher, gw.url, 'add');
      text = (await scrape(gw, 'text')).raw.toString();
      expect(text).toContain(`go_temperature_celsius{${labels},room="küche/1"} 22.5\n`);

      await goPush(pusher, gw.url, 'delete');
      text = (await scrape(gw, 'text')).raw.toString();
      expect(text).not.toContain('job="go+job"');
    },
  );

  it('prom-client in OpenMetrics mode (no Content-Type, body ending in # EOF), exemplars included', async () => {
    const registry = new client.Registry<typeof client.openMetricsContentType>();
    registry.setContentType(client.openMetricsContentType);
    const jobs = new client.Counter({ name: 'pcom_jobs', help: 'Jobs run.', labelNames: ['kind'], registers: [registry], enableExemplars: true });
    const age = new client.Gauge({ name: 'pcom_age_seconds', help: 'Age.', registers: [registry] });
    jobs.inc({ labels: { kind: 'a/b' }, value: 2, exemplarLabels: { traceId: 'abc' } });
    age.set(1.25);
    expect(await registry.metrics()).toMatch(/# EOF\n?$/);
    await new client.Pushgateway(gw.url, {}, registry).push({ jobName: 'pcom' });
    const text = (await scrape(gw, 'text')).raw.toString();
    expect(text).toContain('# HELP pcom_jobs_total Jobs run.\n# TYPE pcom_jobs_total counter\npcom_jobs_total{instance="",job="pcom",kind="a/b"} 2\n');
    expect(text).toContain('pcom_age_seconds{instance="",job="pcom"} 1.25\n');
    const om = (await scrape(gw, 'openmetrics')).raw.toString();
    expect(om).toMatch(/^# TYPE pcom_jobs counter\npcom_jobs_total\{instance="",job="pcom",kind="a\/b"\} 2 # \{traceId="abc"\} 2 \d+(\.\d+)?$/m);
  });

  // What prometheus_client 0.20+ does in push_to_gateway(compression=...): gzip.compress, or a
  // snappy StreamCompressor (framed format) with compress + flush. Debian's 0.16 predates the
  // option, so the script compresses the way 0.20 does and sends it the way push_to_gateway does.
  const PY_PUSH = `
import gzip, struct, sys, urllib.request, snappy

# Debian's python3-snappy cannot checksum under Python 3.12 (its C CRC-32C raises SystemError); then
# frame by hand, byte for byte what StreamCompressor writes: stream identifier, then one compressed
# chunk per 64 KiB with the masked CRC-32C of its uncompressed data.
CRC_TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    CRC_TABLE.append(c)
def masked_crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
def frame(data):
    out = [b'\\xff\\x06\\x00\\x00sNaPpY']
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        compressed = snappy.compress(chunk)
        out.append(struct.pack('<LL', 0x00 + ((len(compressed) + 4) << 8), masked_crc32c(chunk)))
        out.append(compressed)
    return b''.join(out)
from prometheus_client import CollectorRegistry, Gauge, Counter, generate_latest, CONTENT_TYPE_LATEST
url, compression = sys.argv[1], sys.argv[2]
r = CollectorRegistry()
Gauge('py_gauge', 'A gauge', ['kind'], registry=r).labels(kind='x y').set(1.5)
Counter('py_runs', 'Runs', registry=r).inc(4)
data = generate_latest(r)
if sys.argv[3] == 'big':
    data += b''.join(b'py_big{n="%d"} %d\\n' % (i, i) for i in range(20000))
headers = {'Content-Type': CONTENT_TYPE_LATEST}
if compression == 'gzip':
    data = gzip.compress(data)
    headers['Content-Encoding'] = 'gzip'
elif compression == 'snappy':
    try:
        c = snappy.StreamCompressor()
        data = c.compress(data) + (c.flush() or b'')
    except SystemError:
        data = frame(data)
    headers['Content-Encoding'] = 'snappy'
elif compression == 'snappy-raw':
    data = snappy.compress(data)
    headers['Content-Encoding'] = 'snappy'
req = urllib.request.Request(url, data=data, method='PUT', headers=headers)
print(urllib.request.urlopen(req).status)
`;

  it.skipIf(missingTools(...PYTHON_TOOLS)).each(['gzip', 'snappy'])(
    titleWithTools('Python client 0.20+ bodies with compression=%s', ...PYTHON_TOOLS),
    async (compression) => {
      for (const size of ['small', 'big']) {
        const { stdout } = await run(PYTHON, ['-c', PY_PUSH, `${gw.url}/metrics/job/py/compression/${compression}`, compression, size]);
        expect(stdout.trim()).toBe('200');
        const text = (await scrape(gw, 'text')).raw.toString();
        expect(text).toContain(`py_gauge{compression="${compression}",instance="",job="py",kind="x y"} 1.5\n`);
        expect(text).toContain(`py_runs_total{compression="${compression}",instance="",job="py"} 4\n`);
        if (size === 'big') expect(text).toContain(`py_big{compression="${compression}",instance="",job="py",n="19999"} 19999\n`);
      }
    },
  );

  it.skipIf(missingTools(...PYTHON_TOOLS))(
    titleWithTools('a raw snappy block with Content-Encoding: snappy, as the Rust client push_raw sends it (protobuf inside)', ...PYTHON_TOOLS),
    async () => {
      const script = `
import sys, snappy
sys.stdout.buffer.write(snappy.compress(sys.stdin.buffer.read()))
`;
      const body = protobufBody([{ name: 'rust_pushed', type: 'GAUGE', metric: [{ gauge: { value: 7 } }] }]);
      const compressed = await new Promise<Buffer>((resolve, reject) => {
        const child = execFile(PYTHON, ['-c', script], { encoding: 'buffer' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
        child.stdin!.end(body);
      });
      expect(compressed.equals(body)).toBe(false);
      const res = await gw.push('PUT', '/metrics/job/rust', compressed, { 'Content-Type': PB, 'Content-Encoding': 'snappy' });
      expect(res.status).toBe(200);
      expect((await scrape(gw, 'text')).raw.toString()).toContain('# TYPE rust_pushed gauge\nrust_pushed{instance="",job="rust"} 7\n');
    },
  );
});

describe('UTF-8 names', () => {
  const utf8Body = protobufBody([{ name: 'dot.name', type: 'GAUGE', metric: [{ label: [{ name: 'some.label', value: 'v' }], gauge: { value: 1 } }] }]);
  const badLabelBody = protobufBody([{ name: 'ok_name', type: 'GAUGE', metric: [{ label: [{ name: 'bad-label', value: 'v' }], gauge: { value: 1 } }] }]);

  it('without --push.enable-utf8-names, non-legacy metric and label names are refused in every push format', async () => {
    const cases: [string | Buffer, Record<string, string>][] = [
      [utf8Body, { 'Content-Type': PB }],
      [badLabelBody, { 'Content-Type': PB }],
      ['{"dot.name"} 1\n', {}],
    ];
    for (const [body, headers] of cases) {
      const res = await gw.push('PUT', '/metrics/job/utf8', body, headers);
      expect(res.status).toBe(400);
    }
    // Without the flag a U__ path label name is just a (legacy) name.
    expect((await gw.push('PUT', '/metrics/job/utf8/U__a_2e_b/v', 'ok 1\n')).status).toBe(200);
    expect((await scrape(gw, 'text')).raw.toString()).toContain('ok{U__a_2e_b="v",instance="",job="utf8"} 1\n');
  });

  it('with the flag they are accepted and scraped escaped to underscores, as 1.11.3 does by default', async () => {
    const u = await startTestServer({ utf8Names: true });
    try {
      expect((await u.push('PUT', '/metrics/job/utf8', utf8Body, { 'Content-Type': PB })).status).toBe(200);
      expect((await u.push('PUT', '/metrics/job/utf8/U__a_2e_b/v', '{"my.metric", "ü.label"="x"} 2\n')).status).toBe(200);
      const res = await rawGet(`${u.url}/metrics`, { accept: ACCEPT.text });
      const text = res.body.toString();
      expect(text).toContain('# TYPE dot_name gauge\ndot_name{instance="",job="utf8",some_label="v"} 1\n');
      expect(text).toContain('# TYPE my_metric untyped\nmy_metric{a_b="v",instance="",job="utf8",__label="x"} 2\n');
      const om = (await rawGet(`${u.url}/metrics`, { accept: ACCEPT.openmetrics })).body.toString();
      expect(om).toContain('dot_name{instance="",job="utf8",some_label="v"} 1\n');
      const pb = decodeDelimited((await rawGet(`${u.url}/metrics`, { accept: ACCEPT.protobuf })).body);
      expect(pb.find((f) => f.name === 'dot_name')?.metrics[0]?.labels).toEqual([
        { name: 'instance', value: '' },
        { name: 'job', value: 'utf8' },
        { name: 'some_label', value: 'v' },
      ]);
    } finally {
      await u.close();
    }
  });
});
