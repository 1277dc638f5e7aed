import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flattenFamily } from '../../src/exposition/samples.js';
import { parseText } from '../../src/exposition/text-parser.js';
import { freePort } from '../helpers/process-server.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { missingTools, titleWithTools } from '../helpers/tools.js';

const PB = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

const proto = new protobuf.Root().loadSync(path.join(import.meta.dirname, '../../proto/metrics.proto'));
const MF = proto.lookupType('io.prometheus.client.MetricFamily');

// An integer native histogram (schema 0: bucket boundaries at powers of 2) with 5 observations:
// 0.5 in (0.5,1] index 0, 1.5 twice in (1,2] index 1, 3 in (2,4] index 2, 10 in (8,16] index 4.
// Deltas encode counts 1,2,1,0,1 over one span starting at index 0.
const NATIVE = {
  name: 'pk_native_seconds',
  help: 'A native histogram.',
  type: 'HISTOGRAM',
  metric: [
    {
      histogram: {
        sampleCount: 5,
        sampleSum: 16.5,
        schema: 0,
        zeroThreshold: 2.938735877055719e-39,
        zeroCount: 0,
        positiveSpan: [{ offset: 0, length: 5 }],
        positiveDelta: [1, 1, -1, -1, 1],
      },
    },
  ],
};

const TEXT_PUSH = `# HELP some_metric A counter pushed without _total.
# TYPE some_metric counter
some_metric{label="val1"} 42
# HELP pk_jobs_total Jobs.
# TYPE pk_jobs_total counter
pk_jobs_total{kind="a"} 3
# HELP pk_temperature_celsius Temperature.
# TYPE pk_temperature_celsius gauge
pk_temperature_celsius 21.5
# HELP pk_untyped Untyped.
pk_untyped 7
# HELP pk_latency_seconds Latency.
# TYPE pk_latency_seconds histogram
pk_latency_seconds_bucket{le="0.1"} 1
pk_latency_seconds_bucket{le="1e+06"} 3
pk_latency_seconds_bucket{le="+Inf"} 4
pk_latency_seconds_sum 5.5
pk_latency_seconds_count 4
# HELP pk_size_bytes Size.
# TYPE pk_size_bytes summary
pk_size_bytes{quantile="0.5"} 10
pk_size_bytes_sum 100
pk_size_bytes_count 7
`;

const OM_PUSH = `# HELP pk_om_requests Requests.
# TYPE pk_om_requests counter
pk_om_requests_total 9
pk_om_requests_created 1690000000
# EOF
`;

interface Prometheus {
  readonly url: string;
  readonly process: ChildProcess;
  readonly dir: string;
}

async function startPrometheus(target: string, features: string[]): Promise<Prometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-prometheus-'));
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pushkeep\n    honor_labels: true\n    static_configs:\n      - targets: ['${target}']\n`,
  );
  const port = await freePort();
  const child = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...features.map((f) => `--enable-feature=${f}`),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, process: child, dir };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`prometheus did not become ready: ${log}`);
}

async function stopPrometheus(p: Prometheus | undefined): Promise<void> {
  if (!p || p.process.exitCode !== null) return;
  const exited = new Promise((r) => p.process.once('exit', r));
  p.process.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (p.process.exitCode === null) p.process.kill('SIGKILL');
}

interface VectorSample {
  metric: Record<string, string>;
  value?: [number, string];
  histogram?: [number, { count: string; sum: string }];
}

async function query(p: Prometheus, q: string): Promise<VectorSample[]> {
  const res = await fetch(`${p.url}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { status: string; data: { result: VectorSample[] } };
  expect(body.status).toBe('success');
  return body.data.result;
}

/** Polls until the query returns `count` samples (Prometheus scrapes every second), at most 30 s. */
async function waitFor(p: Prometheus, q: string, count = 1): Promise<VectorSample[]> {
  let last: VectorSample[] = [];
  for (let i = 0; i < 150; i++) {
    last = await query(p, q);
    if (last.length >= count) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no result for ${q}: ${JSON.stringify(last)}`);
}

/** `name{sorted labels} value` lines: what Prometheus ingested, comparable with a scrape. */
function seriesLines(samples: readonly VectorSample[]): string[] {
  return samples
    .map((s) => {
      const { __name__, ...labels } = s.metric;
      const body = Object.keys(labels)
        .sort()
        .map((k) => `${k}=${JSON.stringify(labels[k])}`)
        .join(',');
      return `${__name__}{${body}} ${Number(s.value![1])}`;
    })
    .sort();
}

function textScrapeLines(text: string, job: string): string[] {
  return parseText(text)
    .flatMap((f) => flattenFamily(f))
    .filter((s) => s.labels.some((l) => l.name === 'job' && l.value === job))
    .map((s) => {
      const body = [...s.labels]
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((l) => `${l.name}=${JSON.stringify(l.value)}`)
        .join(',');
      return `${s.name}{${body}} ${s.value}`;
    })
    .sort();
}

describe.skipIf(missingTools('prometheus'))(titleWithTools('a real Prometheus (Debian 2.42) scraping Pushkeep', 'prometheus'), () => {
  let gw: TestServer;
  let native: Prometheus | undefined;
  let plain: Prometheus | undefined;

  beforeAll(async () => {
    gw = await startTestServer();
    const w = protobuf.Writer.create();
    MF.encodeDelimited(MF.fromObject(NATIVE), w);
    expect((await gw.push('PUT', '/metrics/job/native', Buffer.from(w.finish()), { 'Content-Type': PB })).status).toBe(200);
    expect((await gw.push('PUT', '/metrics/job/prom/instance/i1', TEXT_PUSH)).status).toBe(200);
    expect((await gw.push('PUT', '/metrics/job/prom/instance/i2', OM_PUSH, { 'Content-Type': 'application/openmetrics-text' })).status).toBe(200);
    const target = gw.url.replace('http://', '');
    // With native histograms on, Prometheus asks for protobuf first; without, for OpenMetrics first.
    [native, plain] = await Promise.all([startPrometheus(target, ['native-histograms']), startPrometheus(target, [])]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([stopPrometheus(native), stopPrometheus(plain)]);
    await gw.close();
  });

  it('reads a protobuf-pushed native histogram back from the query API', { timeout: 60_000 }, async () => {
    const [count] = await waitFor(native!, 'histogram_count(pk_native_seconds{job="native"})');
    expect(Number(count!.value![1])).toBe(5);
    const [sum] = await query(native!, 'histogram_sum(pk_native_seconds{job="native"})');
    expect(Number(sum!.value![1])).toBe(16.5);
    // Three of five observations are at most 2 (bucket upper bounds 1 and 2).
    const [fraction] = await query(native!, 'histogram_fraction(0, 2, pk_native_seconds{job="native"})');
    expect(Number(fraction!.value![1])).toBeCloseTo(0.6, 10);
    const [raw] = await query(native!, 'pk_native_seconds{job="native"}');
    expect(raw!.histogram![1]).toMatchObject({ count: '5', sum: '16.5' });
  });

  it('ingests from an OpenMetrics scrape exactly the series and values of a text scrape', { timeout: 60_000 }, async () => {
    await waitFor(plain!, 'up{job="pushkeep"} == 1');
    await waitFor(plain!, '{job="prom"}', 10);
    // Let Prometheus scrape at least once more after the series first appeared.
    await new Promise((r) => setTimeout(r, 1500));
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const expected = textScrapeLines(text, 'prom');
    expect(expected).toContain('some_metric{instance="i1",job="prom",label="val1"} 42');
    expect(seriesLines(await query(plain!, '{job="prom"}'))).toEqual(expected);
    expect(await query(plain!, 'some_metric_total')).toEqual([]);
    expect(await query(plain!, '{__name__=~".+_created"}')).toEqual([]);
    // Metadata: OpenMetrics announces `pk_jobs_total` as family `pk_jobs` (type counter), and the
    // counter without _total as `unknown` (a text scrape would have said counter).
    const metadata = ((await (await fetch(`${plain!.url}/api/v1/metadata`)).json()) as { data: Record<string, { type: string }[]> }).data;
    expect(metadata['pk_jobs']?.[0]?.type).toBe('counter');
    expect(metadata['some_metric']?.[0]?.type).toBe('unknown');
  });

  it('ingests the same from a protobuf scrape (Prometheus with native histograms)', { timeout: 60_000 }, async () => {
    await waitFor(native!, 'up{job="pushkeep"} == 1');
    await waitFor(native!, '{job="prom"}', 10);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(seriesLines(await query(native!, '{job="prom"}'))).toEqual(textScrapeLines(text, 'prom'));
    expect(await query(native!, 'some_metric{job="prom"}')).toHaveLength(1);
  });

  it.skipIf(missingTools('promtool'))(
    titleWithTools('promtool check metrics accepts the text scrape (only the lint about some_metric)', 'promtool'),
    async () => {
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      const result = await new Promise<{ code: number; output: string }>((resolve) => {
        const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
        );
        child.stdin!.end(text);
      });
      // promtool 2.42 reads text 0.0.4 only, so the OpenMetrics scrape cannot be checked with it;
      // the Prometheus test above parses it with Prometheus' own OpenMetrics parser instead.
      // promtool 2.42 exits 3 on lint problems; the only one is the pushed name itself.
      expect(result).toEqual({ code: 3, output: 'some_metric counter metrics should have "_total" suffix\n' });
    },
  );
});
