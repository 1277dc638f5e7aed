import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import client from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAggregationRule } from '../../src/config/aggregation-rules.js';
import { AggregationPolicy } from '../../src/domain/aggregation.js';
import { describeDialects, dropDatabases } from '../helpers/dialects.js';
import { buildGoPusher, goPush, hasGoClient } from '../helpers/go-pusher.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

// Real client libraries pushing increments to sum groups: their bodies, formats and retries, unchanged.

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const hasPythonClient =
  fs.existsSync(PYTHON) &&
  (await run(PYTHON, ['-c', 'import prometheus_client']).then(
    () => true,
    () => false,
  ));

// Clients change nothing: operator rules make these jobs' groups sum groups. (The Go client's
// job "go job" arrives as "go+job", as the official gateway keeps it.)
const policy = new AggregationPolicy(['job="py_workers"=sum', 'job="go+job"=sum'].map((r) => parseAggregationRule(r)));

function value(scrape: string, pattern: RegExp): number {
  const match = pattern.exec(scrape);
  if (!match) throw new Error(`${pattern} not in the scrape:\n${scrape}`);
  return Number(match[1]);
}

const PROCESSES = 12;
const PUSHES = 5;

// Each push is one worker's increment: a fresh registry per push, as a short-lived task has.
const PYTHON_WORKER = `
import sys
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, pushadd_to_gateway
gw, worker, pushes = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(pushes):
    r = CollectorRegistry()
    Counter('py_tasks', 'Tasks done.', registry=r).inc()
    Histogram('py_task_seconds', 'Task time.', buckets=(0.25, 1.0), registry=r).observe(0.5)
    Gauge('py_last_worker', 'Last worker to push.', registry=r).set(int(worker))
    pushadd_to_gateway(gw, job='py_workers', registry=r)
`;

describeDialects('aggregation with real clients', (dialect) => {
  let gw: TestServer;
  beforeAll(async () => {
    gw = await startTestServer({ database: await dialect.freshDatabase(), aggregation: policy });
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await dropDatabases();
  });

  it.skipIf(!hasPythonClient)(
    `Python pushadd_to_gateway from ${PROCESSES} parallel processes: the counter and histogram hold every increment, the gauge the last value`,
    async () => {
      const address = gw.url.replace('http://', '');
      await Promise.all(
        Array.from({ length: PROCESSES }, (_, w) => run(PYTHON, ['-c', PYTHON_WORKER, address, String(w + 1), String(PUSHES)], { timeout: 60_000 })),
      );
      const total = PROCESSES * PUSHES;
      const scrape = await gw.scrapePushed();
      expect(value(scrape, /^py_tasks_total\{instance="",job="py_workers"\} (\S+)$/m)).toBe(total);
      expect(value(scrape, /^py_task_seconds_bucket\{instance="",job="py_workers",le="0.25"\} (\S+)$/m)).toBe(0);
      expect(value(scrape, /^py_task_seconds_bucket\{instance="",job="py_workers",le="1"\} (\S+)$/m)).toBe(total);
      expect(value(scrape, /^py_task_seconds_count\{instance="",job="py_workers"\} (\S+)$/m)).toBe(total);
      expect(value(scrape, /^py_task_seconds_sum\{instance="",job="py_workers"\} (\S+)$/m)).toBe(total * 0.5);
      const last = value(scrape, /^py_last_worker\{instance="",job="py_workers"\} (\S+)$/m);
      expect(last).toBeGreaterThanOrEqual(1);
      expect(last).toBeLessThanOrEqual(PROCESSES);
    },
    120_000,
  );

  it('prom-client pushAdd with the Pushkeep-Aggregation header: counter and histogram add up', async () => {
    const registry = new client.Registry();
    const counter = new client.Counter({ name: 'pc_jobs_total', help: 'Jobs.', registers: [registry] });
    const histogram = new client.Histogram({ name: 'pc_job_seconds', help: 'Job time.', buckets: [1, 10], registers: [registry] });
    const gateway = new client.Pushgateway(gw.url, { headers: { 'Pushkeep-Aggregation': 'sum' } }, registry);
    for (let i = 0; i < 4; i++) {
      counter.inc(2);
      histogram.observe(5);
      await gateway.pushAdd({ jobName: 'pc_sum' });
      // The next worker's increment, not the running total.
      registry.resetMetrics();
    }
    const scrape = await gw.scrapePushed();
    expect(value(scrape, /^pc_jobs_total\{instance="",job="pc_sum"\} (\S+)$/m)).toBe(8);
    expect(value(scrape, /^pc_job_seconds_bucket\{instance="",job="pc_sum",le="1"\} (\S+)$/m)).toBe(0);
    expect(value(scrape, /^pc_job_seconds_bucket\{instance="",job="pc_sum",le="10"\} (\S+)$/m)).toBe(4);
    expect(value(scrape, /^pc_job_seconds_count\{instance="",job="pc_sum"\} (\S+)$/m)).toBe(4);
  });
});

describe.skipIf(!hasGoClient())('the Go client (protobuf)', () => {
  let gw: TestServer;
  beforeAll(async () => {
    gw = await startTestServer({ aggregation: policy });
  });
  afterAll(() => gw?.close());

  it('Add twice: counter, classic histogram and summary add up, the gauge keeps the last value', async () => {
    const binary = await buildGoPusher();
    await goPush(binary, gw.url, 'add');
    await goPush(binary, gw.url, 'add');
    const scrape = await gw.scrapePushed();
    const labels = 'city="Zürich",empty="",instance="",job="go+job",path="/var/tmp"';
    const esc = labels.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    expect(value(scrape, new RegExp(`^go_ops_total\\{${esc}\\} (\\S+)$`, 'm'))).toBe(6);
    expect(value(scrape, new RegExp(`^go_latency_seconds_bucket\\{${esc},le="0.1"\\} (\\S+)$`, 'm'))).toBe(2);
    expect(value(scrape, new RegExp(`^go_latency_seconds_bucket\\{${esc},le="1"\\} (\\S+)$`, 'm'))).toBe(4);
    expect(value(scrape, new RegExp(`^go_latency_seconds_count\\{${esc}\\} (\\S+)$`, 'm'))).toBe(6);
    expect(value(scrape, new RegExp(`^go_latency_seconds_sum\\{${esc}\\} (\\S+)$`, 'm'))).toBeCloseTo(15.1, 9);
    expect(value(scrape, new RegExp(`^go_size_bytes_count\\{${esc}\\} (\\S+)$`, 'm'))).toBe(2);
    expect(value(scrape, new RegExp(`^go_size_bytes_sum\\{${esc}\\} (\\S+)$`, 'm'))).toBe(20);
    expect(scrape).not.toMatch(/go_size_bytes\{.*quantile/);
    expect(value(scrape, new RegExp(`^go_temperature_celsius\\{${esc},room="küche/1"\\} (\\S+)$`, 'm'))).toBe(22.5);
  }, 300_000);
});
