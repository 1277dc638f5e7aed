/**
 * OTLP/HTTP ingestion with the real OpenTelemetry JS SDK: each export runs in a short-lived child
 * process (test/helpers/otel-sdk-child.mjs) that records, shuts down (which exports) and exits, as
 * a batch job would. The scrape is then compared, in text and, for the native histogram, in
 * protobuf.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decodeDelimited } from '../../src/exposition/protobuf/decode.js';
import { decodeExportResponse, decodeStatus } from '../../src/exposition/otlp/wire.js';
import type { MetricFamily } from '../../src/exposition/types.js';
import { parseRetentionRule } from '../../src/config/retention-rules.js';
import { openReadOnly } from '../../src/store/dialect/open-database.js';
import { describeDialects, dropDatabases, type Dialect } from '../helpers/dialects.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const run = promisify(execFile);
const CHILD = path.join(import.meta.dirname, '../helpers/otel-sdk-child.mjs');
const PB = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

interface Recording {
  readonly records?: number;
  readonly queue?: number;
  readonly durations?: readonly number[];
  readonly sizes?: readonly number[];
  readonly progress?: number;
}

interface ExportConfig {
  readonly protocol: 'json' | 'proto';
  readonly temporality: 'cumulative' | 'delta';
  readonly resource: Readonly<Record<string, string>>;
  readonly record: Recording;
  readonly path?: string;
}

/** Runs one SDK process against the server; resolves when it exported and exited successfully. */
async function exportWithSdk(server: TestServer, config: ExportConfig): Promise<void> {
  const { stdout } = await run(process.execPath, [CHILD, JSON.stringify({ ...config, url: `${server.url}${config.path ?? '/v1/metrics'}` })], {
    timeout: 30_000,
  });
  const results = JSON.parse(stdout) as { code: number }[];
  expect(results.length).toBeGreaterThan(0);
  expect(results.every((r) => r.code === 0)).toBe(true);
}

/** The scrape's pushed lines, without HELP/TYPE and the per-group timestamp gauges. */
async function samples(server: TestServer): Promise<string[]> {
  return (await server.scrapePushed()).split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('push_'));
}

async function protobufScrape(server: TestServer): Promise<MetricFamily[]> {
  const res = await fetch(`${server.url}/metrics`, { headers: { Accept: PB } });
  return decodeDelimited(new Uint8Array(await res.arrayBuffer()));
}

/** Prometheus' native bucket index of a value at a schema: bucket i is (base^(i-1), base^i]. */
const nativeIndex = (value: number, schema: number): number => Math.ceil(Math.log2(value) * 2 ** schema);

/** A minimal OTLP/JSON request: one delta (or cumulative) monotonic sum point. */
function jsonSum(job: string, value: number, temporality: 1 | 2, extra: object[] = []): string {
  return JSON.stringify({
    resourceMetrics: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: job } }] },
        scopeMetrics: [
          {
            metrics: [
              { name: 'jobs.done', sum: { aggregationTemporality: temporality, isMonotonic: true, dataPoints: [{ asInt: String(value), timeUnixNano: '1' }] } },
              ...extra,
            ],
          },
        ],
      },
    ],
  });
}

const post = (server: TestServer, body: string | Buffer, headers: Record<string, string>, at = '/v1/metrics') => server.push('POST', at, body, headers);
const JSON_HEADERS = { 'Content-Type': 'application/json' };

describeDialects('OTLP/HTTP ingestion with the OpenTelemetry JS SDK', (dialect: Dialect) => {
  let server: TestServer;
  const start = async (overrides: Parameters<typeof startTestServer>[0] = {}) =>
    (server = await startTestServer({ database: await dialect.freshDatabase(), ...overrides }));
  afterEach(async () => server?.close());
  afterAll(dropDatabases, 60_000);

  const resource = { 'service.name': 'etl', 'service.namespace': 'batch', 'service.instance.id': 'run-42', 'host.name': 'h1', 'deployment.environment': 'ci' };
  const labels = 'instance="run-42",job="batch/etl"';

  for (const protocol of ['json', 'proto'] as const) {
    for (const temporality of ['cumulative', 'delta'] as const) {
      it(`maps a counter, an up-down counter, both histograms and a gauge (${protocol}, ${temporality})`, { timeout: 60_000 }, async () => {
        await start();
        const sizes = [1000, 1001, 1003];
        await exportWithSdk(server, {
          protocol,
          temporality,
          resource,
          record: { records: 5, queue: -3, durations: [0.05, 0.5, 5, 50], sizes, progress: 0.75 },
        });
        expect(await samples(server)).toEqual([
          `etl_duration_seconds_bucket{${labels},step="extract",le="0.1"} 1`,
          `etl_duration_seconds_bucket{${labels},step="extract",le="1"} 2`,
          `etl_duration_seconds_bucket{${labels},step="extract",le="10"} 3`,
          `etl_duration_seconds_bucket{${labels},step="extract",le="+Inf"} 4`,
          `etl_duration_seconds_sum{${labels},step="extract"} 55.55`,
          `etl_duration_seconds_count{${labels},step="extract"} 4`,
          `etl_progress_ratio{${labels},stage_name="load"} 0.75`,
          `etl_records_total{${labels},stage_name="load"} 5`,
          `payload_size_bytes_bucket{${labels},le="+Inf"} 3`,
          `payload_size_bytes_sum{${labels}} 3004`,
          `payload_size_bytes_count{${labels}} 3`,
          `queue_depth{${labels},queue="main"} -3`,
          `target_info{deployment_environment="ci",host_name="h1",${labels}} 1`,
        ]);
        const text = await server.scrapePushed();
        expect(text).toContain('# TYPE etl_records_total counter');
        expect(text).toContain('# TYPE queue_depth gauge');
        expect(text).toContain('# HELP etl_records_total Records loaded.');

        // The SDK records at scale 20 for values this close; Pushkeep keeps at most schema 8.
        const native = (await protobufScrape(server)).find((f) => f.name === 'payload_size_bytes')!.metrics[0]!.histogram!.native!;
        expect(native.schema).toBe(8);
        const expected = new Map<number, number>();
        for (const v of sizes) expected.set(nativeIndex(v, 8), (expected.get(nativeIndex(v, 8)) ?? 0) + 1);
        const got = new Map<number, number>();
        let index = 0;
        let count = 0;
        let d = 0;
        for (const span of native.positiveSpans) {
          index += span.offset;
          for (let i = 0; i < span.length; i++, index++) {
            count += native.positiveDeltas[d++]!;
            got.set(index, count);
          }
        }
        expect(got).toEqual(expected);
      });
    }
  }

  it('names the job by service.name alone without a namespace, with instance ""', { timeout: 60_000 }, async () => {
    await start();
    await exportWithSdk(server, { protocol: 'proto', temporality: 'cumulative', resource: { 'service.name': 'nightly-etl' }, record: { records: 2 } });
    expect(await samples(server)).toEqual(['etl_records_total{instance="",job="nightly-etl",stage_name="load"} 2']);
  });

  it('replaces a cumulative re-export instead of adding it', { timeout: 60_000 }, async () => {
    await start();
    await exportWithSdk(server, { protocol: 'json', temporality: 'cumulative', resource, record: { records: 5, durations: [1] } });
    await exportWithSdk(server, { protocol: 'proto', temporality: 'cumulative', resource, record: { records: 7 } });
    const lines = await samples(server);
    expect(lines).toContain(`etl_records_total{${labels},stage_name="load"} 7`);
    // POST semantics: the histogram this export did not carry stays.
    expect(lines).toContain(`etl_duration_seconds_count{${labels},step="extract"} 1`);
  });

  it('adds the delta counters of three processes', { timeout: 90_000 }, async () => {
    await start();
    for (const [i, n] of [3, 4, 5].entries()) {
      await exportWithSdk(server, { protocol: i === 1 ? 'json' : 'proto', temporality: 'delta', resource, record: { records: n, queue: 1, durations: [0.5] } });
    }
    const lines = await samples(server);
    expect(lines).toContain(`etl_records_total{${labels},stage_name="load"} 12`);
    // The SDK's delta preference still exports up-down counters as cumulative sums, which replace.
    expect(lines).toContain(`queue_depth{${labels},queue="main"} 1`);
    expect(lines).toContain(`etl_duration_seconds_count{${labels},step="extract"} 3`);
    expect(lines).toContain(`etl_duration_seconds_bucket{${labels},step="extract",le="1"} 3`);
  });

  it('adds delta non-monotonic sums to the stored gauge and replaces cumulative ones', async () => {
    await start();
    const gauge = (temporality: 1 | 2, value: number) => ({
      name: 'queue.depth',
      sum: { aggregationTemporality: temporality, isMonotonic: false, dataPoints: [{ asInt: String(value), timeUnixNano: '1' }] },
    });
    for (const value of [5, -2]) expect((await post(server, jsonSum('q', 1, 1, [gauge(1, value)]), JSON_HEADERS)).status).toBe(200);
    expect(await samples(server)).toContain('queue_depth{instance="",job="q"} 3');
    expect((await post(server, jsonSum('q', 1, 2, [gauge(2, 7)]), JSON_HEADERS)).status).toBe(200);
    expect(await samples(server)).toContain('queue_depth{instance="",job="q"} 7');
  });

  it('answers 400 with a google.rpc.Status to malformed protobuf and JSON, and stores nothing', async () => {
    await start();
    expect((await post(server, jsonSum('kept', 4, 2), JSON_HEADERS)).status).toBe(200);
    const before = await server.scrapePushed();
    const bad: [string, Buffer | string][] = [
      ['application/x-protobuf', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01])],
      ['application/x-protobuf', Buffer.from('not protobuf at all, just text')],
      ['application/json', '{"resourceMetrics": ['],
      ['application/json', '{"resourceMetrics": "many"}'],
      ['application/json', '[1, 2]'],
    ];
    for (const [type, body] of bad) {
      const res = await post(server, body, { 'Content-Type': type });
      expect(res.status, `${type} ${String(body)}`).toBe(400);
      expect(res.headers.get('content-type')).toBe(type);
      const status = decodeStatus(new Uint8Array(await res.arrayBuffer()), type === 'application/json' ? 'json' : 'protobuf');
      expect(status.code).toBe(3);
      expect(status.message).toMatch(/^invalid OTLP (protobuf|JSON) body: /);
    }
    expect(await server.scrapePushed()).toBe(before);
  });

  it("takes gzip on Prometheus' path and answers partial_success for points it refuses", async () => {
    await start();
    const unspecified = { name: 'odd.sum', sum: { isMonotonic: true, dataPoints: [{ asDouble: 1 }] } };
    const body = zlib.gzipSync(jsonSum('gz', 9, 2, [unspecified]));
    const res = await post(server, body, { ...JSON_HEADERS, 'Content-Encoding': 'gzip' }, '/api/v1/otlp/v1/metrics');
    expect(res.status).toBe(200);
    const partial = decodeExportResponse(new Uint8Array(await res.arrayBuffer()), 'json');
    expect(partial?.rejectedDataPoints).toBe(1);
    expect(partial?.errorMessage).toContain('odd.sum');
    expect(await samples(server)).toEqual(['jobs_done_total{instance="",job="gz"} 9']);
  });

  it('refuses a type that contradicts another group with 400 (the consistency check), storing nothing', async () => {
    await start();
    expect((await server.push('POST', '/metrics/job/other', '# TYPE jobs_done_total gauge\njobs_done_total 1\n')).status).toBe(200);
    const res = await post(server, jsonSum('typed', 5, 2), JSON_HEADERS);
    expect(res.status).toBe(400);
    expect(decodeStatus(new Uint8Array(await res.arrayBuffer()), 'json').message).toContain('jobs_done_total');
    expect(await samples(server)).toEqual(['jobs_done_total{instance="",job="other"} 1']);
  });

  it('refuses only the delta histogram the store will not take, in partial_success, and stores the rest', async () => {
    await start();
    // Another group has the name as a gauge: the histogram cannot be stored, the sum can.
    expect((await server.push('POST', '/metrics/job/other', '# TYPE step_seconds gauge\nstep_seconds 1\n')).status).toBe(200);
    const histogram = {
      name: 'step',
      unit: 's',
      histogram: { aggregationTemporality: 1, dataPoints: [{ count: '2', sum: 3, bucketCounts: ['1', '1'], explicitBounds: [1] }] },
    };
    const res = await post(server, jsonSum('mixed', 6, 2, [histogram]), JSON_HEADERS);
    expect(res.status).toBe(200);
    const partial = decodeExportResponse(new Uint8Array(await res.arrayBuffer()), 'json');
    expect(partial?.rejectedDataPoints).toBe(1);
    expect(partial?.errorMessage).toContain('step_seconds refused');
    expect(await samples(server)).toEqual(['jobs_done_total{instance="",job="mixed"} 6', 'step_seconds{instance="",job="other"} 1']);
  });

  // A collector may send several services' resources in one request: it is one transaction.
  const resources = (...bodies: string[]) =>
    JSON.stringify({ resourceMetrics: bodies.flatMap((b) => (JSON.parse(b) as { resourceMetrics: unknown[] }).resourceMetrics) });

  it('stores nothing of a request naming several resources when one of their groups is refused', async () => {
    await start();
    expect((await post(server, jsonSum('a', 5, 1), JSON_HEADERS)).status).toBe(200);
    // Group b's counter contradicts another group's gauge of the same name: the consistency check refuses it.
    expect((await server.push('POST', '/metrics/job/other', '# TYPE items_total gauge\nitems_total 1\n')).status).toBe(200);
    const before = await samples(server);
    const gauge = { name: 'rows', gauge: { dataPoints: [{ asInt: '7' }] } };
    const items = { name: 'items', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ asInt: '2' }] } };
    const res = await post(server, resources(jsonSum('a', 3, 1, [gauge]), jsonSum('b', 4, 2, [items])), JSON_HEADERS);
    expect(res.status).toBe(400);
    const status = decodeStatus(new Uint8Array(await res.arrayBuffer()), 'json');
    expect(status.message).toContain('group {job="b"}');
    expect(status.message).toContain('items_total');
    // a's delta was not added and its gauge not stored: a retry of the whole request adds it once.
    expect(await samples(server)).toEqual(before);
    expect(before).toContain('jobs_done_total{instance="",job="a"} 5');
  });

  it('stores every group of a request naming several resources when all pass', async () => {
    await start();
    expect((await post(server, jsonSum('a', 5, 1), JSON_HEADERS)).status).toBe(200);
    const gauge = { name: 'rows', gauge: { dataPoints: [{ asInt: '7' }] } };
    const res = await post(server, resources(jsonSum('a', 3, 1, [gauge]), jsonSum('b', 4, 2), jsonSum('c', 1, 1)), JSON_HEADERS);
    expect(res.status).toBe(200);
    expect(decodeExportResponse(new Uint8Array(await res.arrayBuffer()), 'json')).toBeUndefined();
    expect((await samples(server)).sort()).toEqual([
      'jobs_done_total{instance="",job="a"} 8',
      'jobs_done_total{instance="",job="b"} 4',
      'jobs_done_total{instance="",job="c"} 1',
      'rows{instance="",job="a"} 7',
    ]);
  });

  it('keeps exemplars on counters, with trace and span ids in hex', async () => {
    await start();
    const exemplar = { asDouble: 2, timeUnixNano: '1700000000000000000', traceId: '0102030405060708090a0b0c0d0e0f10', spanId: '1112131415161718' };
    const body = JSON.parse(jsonSum('traced', 5, 2)) as { resourceMetrics: { scopeMetrics: { metrics: { sum: { dataPoints: object[] } }[] }[] }[] };
    body.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!.sum.dataPoints[0] = { asInt: '5', exemplars: [exemplar] };
    expect((await post(server, JSON.stringify(body), JSON_HEADERS)).status).toBe(200);
    const om = await (await fetch(`${server.url}/metrics`, { headers: { Accept: 'application/openmetrics-text; version=1.0.0' } })).text();
    expect(om).toContain('jobs_done_total{instance="",job="traced"} 5 # {span_id="1112131415161718",trace_id="0102030405060708090a0b0c0d0e0f10"} 2 1700000000');
  });

  it('keeps the original names with --push.enable-utf8-names', async () => {
    await start({ utf8Names: true });
    const metric = {
      name: 'etl.rows',
      sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ asInt: '3', attributes: [{ key: 'stage.name', value: { stringValue: 'load' } }] }] },
    };
    expect((await post(server, jsonSum('utf8', 1, 2, [metric]), JSON_HEADERS)).status).toBe(200);
    const [group] = await server.service.groups();
    const family = group!.families.find((f) => f.name === 'etl.rows_total');
    expect(family?.metrics[0]?.labels).toContainEqual({ name: 'stage.name', value: 'load' });
  });

  it('applies retention rules and the Pushkeep-TTL header to OTel jobs, and records each export in push_history', async () => {
    await start({ retention: { rules: [parseRetentionRule('job="nightly-etl"=2h')], defaultTtlSeconds: 0, schedule: '0 0 1 1 *' } });
    const now = Date.now() / 1000;
    expect((await post(server, jsonSum('nightly-etl', 1, 2), JSON_HEADERS)).status).toBe(200);
    expect((await post(server, jsonSum('adhoc', 1, 2), { ...JSON_HEADERS, 'Pushkeep-TTL': '10m' })).status).toBe(200);
    expect((await post(server, '{', JSON_HEADERS)).status).toBe(400);
    const expiry = new Map((await server.service.groupHeaders()).map((h) => [h.key.job, h.expiresAtSeconds]));
    expect(expiry.get('nightly-etl')! - now).toBeGreaterThan(7200 - 60);
    expect(expiry.get('nightly-etl')! - now).toBeLessThanOrEqual(7200 + 1);
    expect(expiry.get('adhoc')! - now).toBeGreaterThan(600 - 60);
    expect(expiry.get('adhoc')! - now).toBeLessThanOrEqual(600 + 1);

    await server.history.flush();
    const db = await openReadOnly(server.database);
    try {
      const result = await db.query('SELECT method, path, job, outcome, status_code, series_count FROM push_history ORDER BY time_seconds');
      expect(result.rows).toEqual([
        ['POST', '/v1/metrics', 'nightly-etl', 'accepted', 200, 1],
        ['POST', '/v1/metrics', 'adhoc', 'accepted', 200, 1],
        ['POST', '/v1/metrics', null, 'rejected', 400, null],
      ]);
    } finally {
      await db.close();
    }
  });
});

describe('OTLP/HTTP limits', () => {
  let server: TestServer;
  afterEach(async () => server?.close());

  it('answers 413 with a Status when the body is over the limit, and 415 to another Content-Type', async () => {
    server = await startTestServer({ bodyLimit: 64 });
    const res = await post(server, jsonSum('big', 1, 2), JSON_HEADERS);
    expect(res.status).toBe(413);
    expect(decodeStatus(new Uint8Array(await res.arrayBuffer()), 'json').message).toContain('exceeds the limit of 64 bytes');
    expect((await post(server, 'x', { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await server.push('PUT', '/v1/metrics', 'x')).status).toBe(405);
  });
});

describe('OTLP/HTTP under a route prefix', () => {
  let server: TestServer;
  afterAll(async () => server?.close());

  it('serves both paths below the prefix only', async () => {
    server = await startTestServer({ routePrefix: '/pk' });
    expect((await post(server, jsonSum('prefixed', 1, 2), JSON_HEADERS)).status).toBe(200);
    expect((await post(server, jsonSum('prefixed', 1, 2), JSON_HEADERS, '/api/v1/otlp/v1/metrics')).status).toBe(200);
    expect((await fetch(`${server.url}/v1/metrics`, { method: 'POST', body: jsonSum('bare', 1, 2), headers: JSON_HEADERS })).status).toBe(404);
  });
});

describe('OTLP/HTTP and the web config', () => {
  let server: TestServer;
  afterAll(async () => server?.close());

  it('needs the push role', async () => {
    const token = 'otel-push-token-0123456789';
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-otlp-')), 'web.yml');
    const hash = bcrypt.hashSync('s3cret', 4);
    const sha = crypto.createHash('sha256').update(token).digest('hex');
    fs.writeFileSync(
      file,
      `basic_auth_users:\n  reader: ${hash}\npushkeep_authorization:\n  users:\n    reader: [read, scrape]\n  bearer_tokens:\n    - name: otel\n      sha256: ${sha}\n      roles: [push]\n`,
    );
    server = await startTestServer({ webConfigFile: file } as never);
    const reader = `Basic ${Buffer.from('reader:s3cret').toString('base64')}`;
    expect((await post(server, jsonSum('authed', 1, 2), { ...JSON_HEADERS, Authorization: reader })).status).toBe(403);
    expect((await post(server, jsonSum('authed', 1, 2), JSON_HEADERS, '/api/v1/otlp/v1/metrics')).status).toBe(401);
    expect((await post(server, jsonSum('authed', 1, 2), { ...JSON_HEADERS, Authorization: `Bearer ${token}` })).status).toBe(200);
  });
});
