import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startLoopbackService, type Gateway, type LoopbackService } from '../helpers/official-gateway.js';
import { startPushkeepGateway } from '../helpers/pushkeep-gateway.js';
import { missingTools, TEST_PYTHON, titleWithTools, type Tool } from '../helpers/tools.js';

// The deploy artifacts (compose, Prometheus config and alerts, Grafana dashboard) and the examples
// are what a newcomer starts from; each is checked here with the tool that will consume it.

const root = fileURLToPath(new URL('../../', import.meta.url));
const rulesDir = join(root, 'deploy/prometheus/rules');

interface RunResult {
  readonly code: number;
  readonly output: string;
}

function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: options.cwd ?? root, env: options.env ?? process.env, timeout: options.timeoutMs ?? 20_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, output: `$ ${command} ${args.join(' ')}\n${stdout}${stderr}${error?.message ?? ''}` });
    });
  });
}

/** Skips the running test, with the reason, unless every tool runs here. */
function needs(ctx: { skip: (note?: string) => void }, ...tools: Tool[]): void {
  const reason = missingTools(...tools);
  if (reason !== undefined) ctx.skip(reason);
}

/** Metric names Pushkeep exposes about itself or per group. */
const PUSHKEEP_METRICS = [
  'pushgateway_build_info',
  'pushgateway_http_requests_total',
  'pushgateway_http_push_duration_seconds',
  'pushgateway_http_push_duration_seconds_sum',
  'pushgateway_http_push_duration_seconds_count',
  'pushgateway_http_push_size_bytes',
  'pushgateway_http_push_size_bytes_sum',
  'pushgateway_http_push_size_bytes_count',
  'pushkeep_groups',
  'pushkeep_series',
  'pushkeep_database_size_bytes',
  'pushkeep_groups_expired_total',
  'pushkeep_retention_sweep_duration_seconds',
  'pushkeep_retention_sweep_failures_total',
  'push_time_seconds',
  'push_failure_time_seconds',
] as const;

/** Metric names every nightly_backup example in examples/ pushes. */
const BACKUP_METRICS = ['backup_success', 'backup_duration_seconds', 'backup_size_bytes', 'backup_last_timestamp'] as const;

const ALLOWED_METRICS = new Set<string>([...PUSHKEEP_METRICS, ...BACKUP_METRICS]);

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan']);

/**
 * Metric names referenced by a PromQL expression (Grafana variables allowed). Strings, label
 * matchers, ranges and label lists are removed first, so what is left are metric names, function
 * and aggregation names (followed by "("), keywords and numbers.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names: string[] = [];
  for (const [, number, identifier, call] of stripped.matchAll(/(\d[\w.]*)|([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    if (number !== undefined || identifier === undefined || call !== undefined) continue;
    if (!PROMQL_KEYWORDS.has(identifier.toLowerCase())) names.push(identifier);
  }
  return names;
}

interface DashboardQuery {
  readonly panel: string;
  readonly expr: string;
}

interface DashboardJson {
  readonly panels?: ReadonlyArray<{ title?: string; datasource?: { uid?: string }; targets?: ReadonlyArray<{ expr?: string }> }>;
}

async function dashboardQueries(): Promise<DashboardQuery[]> {
  const dashboard = JSON.parse(await readFile(join(root, 'deploy/grafana/dashboards/pushkeep.json'), 'utf8')) as DashboardJson;
  return (dashboard.panels ?? []).flatMap((panel) =>
    (panel.targets ?? []).flatMap((target) => (target.expr ? [{ panel: panel.title ?? '?', expr: target.expr }] : [])),
  );
}

/** Sample values of `name` whose labels include all of `labels`, from a text-format scrape. */
function samples(scrape: string, name: string, labels: Readonly<Record<string, string>>): number[] {
  const values: number[] = [];
  for (const line of scrape.split('\n')) {
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const found = new Map([...(match[2] ?? '').matchAll(/([\w]+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, v]));
    if (Object.entries(labels).every(([k, v]) => (found.get(k) ?? '') === v)) values.push(Number(match[3]));
  }
  return values;
}

async function scrape(gateway: Gateway): Promise<string> {
  const response = await fetch(`${gateway.baseUrl}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: readonly [number, string];
}

/** An instant query against Prometheus' HTTP API. */
async function promQuery(prometheus: LoopbackService, query: string): Promise<PromSample[]> {
  const response = await fetch(`${prometheus.baseUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { result: PromSample[] } };
  if (body.status !== 'success') throw new Error(`query ${query} failed: ${body.error ?? response.status}`);
  return body.data?.result ?? [];
}

/**
 * Debian's Prometheus on a free loopback port, scraping `target` like deploy/prometheus/prometheus.yml
 * does (honor_labels, the deploy alert rules) but every second.
 */
async function startPrometheus(dir: string, target: string): Promise<LoopbackService> {
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [join(rulesDir, 'pushkeep-alerts.yml')],
    scrape_configs: [{ job_name: 'pushkeep', honor_labels: true, static_configs: [{ targets: [target] }] }],
  };
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, JSON.stringify(config));
  return startLoopbackService({
    binary: 'prometheus',
    args: (port) => [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`],
    readyPath: '/-/ready',
    readyTimeoutMs: 20_000,
  });
}

/** Polls until a check passes: Prometheus scrapes and evaluates on its own clock. */
async function eventually(check: () => Promise<void>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe('docker-compose.yml', () => {
  it.for([
    { name: 'default services', args: ['config', '-q'] },
    { name: 'the ha profile', args: ['--profile', 'ha', 'config', '-q'] },
  ])('parses with docker-compose config ($name)', async ({ args }, ctx) => {
    needs(ctx, 'docker-compose');
    const result = await run('docker-compose', ['-f', 'docker-compose.yml', ...args]);
    expect(result.code, result.output).toBe(0);
  });

  it('runs HA replicas on PostgreSQL behind the balancer Prometheus scrapes', async () => {
    const compose = parseYaml(await readFile(join(root, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { profiles?: string[]; command?: string[]; entrypoint?: string[] }>;
    };
    for (const replica of ['pushkeep-a', 'pushkeep-b']) {
      const service = compose.services[replica];
      expect(service?.profiles).toEqual(['ha']);
      expect(service?.command).toContain('--storage.url=postgres://pushkeep@postgres:5432/pushkeep');
      // The image's entrypoint carries --storage.path; a replica must not get both.
      expect(service?.entrypoint?.join(' ')).not.toContain('--storage.path');
    }
    expect(compose.services['pushkeep']?.profiles).toBeUndefined();
    const prometheus = await readFile(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8');
    expect(prometheus).toContain("names: ['pushkeep-lb']");
    expect(Object.keys(compose.services)).toContain('pushkeep-lb');
  });
});

describe('Prometheus config and alerts', () => {
  it('passes promtool check config', async (ctx) => {
    needs(ctx, 'promtool');
    const result = await run('promtool', ['check', 'config', 'deploy/prometheus/prometheus.yml']);
    expect(result.code, result.output).toBe(0);
  });

  it('passes promtool check rules', async (ctx) => {
    needs(ctx, 'promtool');
    const result = await run('promtool', ['check', 'rules', 'deploy/prometheus/rules/pushkeep-alerts.yml']);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('passes promtool test rules: every alert fires on its input and stays silent on the others', async (ctx) => {
    needs(ctx, 'promtool');
    const result = await run('promtool', ['test', 'rules', 'pushkeep-alerts.test.yml'], { cwd: rulesDir });
    expect(result.code, result.output).toBe(0);
    // Every alert in the rules file has a test.
    const rules = await readFile(join(rulesDir, 'pushkeep-alerts.yml'), 'utf8');
    const tests = await readFile(join(rulesDir, 'pushkeep-alerts.test.yml'), 'utf8');
    const alerts = [...rules.matchAll(/^\s*- alert: (\w+)/gm)].map(([, name]) => name);
    expect(alerts).toEqual(expect.arrayContaining(['BackupFailed', 'JobStoppedPushing', 'PushFailed', 'PushkeepDown', 'PushkeepUnhealthy']));
    for (const alert of alerts) expect(tests, `no test for ${alert}`).toContain(`alertname: ${alert}`);
  });

  it('scrapes Pushkeep with honor_labels, so pushed job and instance labels survive', async () => {
    const config = parseYaml(await readFile(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; honor_labels?: boolean }>;
    };
    const pushkeepJobs = config.scrape_configs.filter((job) => job.job_name.startsWith('pushkeep'));
    expect(pushkeepJobs.map((job) => job.job_name)).toContain('pushkeep');
    for (const job of pushkeepJobs) expect(job.honor_labels, job.job_name).toBe(true);
  });
});

describe('Grafana dashboard', () => {
  it.each([
    { expr: 'sum by (handler, code) (rate(pushgateway_http_requests_total{code=~"5.."}[$__rate_interval]))', names: ['pushgateway_http_requests_total'] },
    { expr: 'time() - max by (job) (push_time_seconds{job=~"$job"} > 0)', names: ['push_time_seconds'] },
    { expr: 'count(a_b:c == 0) or vector(0) unless on(job) group_left(x) other offset 5m', names: ['a_b:c', 'other'] },
    { expr: 'histogram_quantile(0.9, sum without (le) (rate(x_bucket[1h]))) * 1e3', names: ['x_bucket'] },
  ])('finds the metric names in $expr', ({ expr, names }) => {
    expect(metricNamesIn(expr)).toEqual(names);
  });

  it('uses only metric names that Pushkeep or the examples produce', async () => {
    const queries = await dashboardQueries();
    expect(queries.length).toBeGreaterThan(0);
    const unknown = queries.flatMap(({ panel, expr }) =>
      metricNamesIn(expr)
        .filter((name) => !ALLOWED_METRICS.has(name))
        .map((name) => `${panel}: ${name}`),
    );
    expect(unknown).toEqual([]);
    // The panels the issue asks for are there.
    const used = new Set(queries.flatMap(({ expr }) => metricNamesIn(expr)));
    for (const name of [
      'pushkeep_groups',
      'push_time_seconds',
      'push_failure_time_seconds',
      'pushkeep_groups_expired_total',
      'pushgateway_http_requests_total',
      'pushgateway_http_push_duration_seconds',
      'backup_success',
    ]) {
      expect(used, name).toContain(name);
    }
  });

  it('has queries Prometheus accepts, on the provisioned data source', async (ctx) => {
    needs(ctx, 'promtool');
    const queries = await dashboardQueries();
    // Grafana substitutes its variables before Prometheus sees a query; promtool check rules
    // parses each as a recording rule.
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: queries.map(({ expr }, i) => ({
            record: `dashboard:query_${i}`,
            expr: expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', '.*'),
          })),
        },
      ],
    };
    const dir = await mkdtemp(join(tmpdir(), 'pushkeep-dashboard-'));
    try {
      const file = join(dir, 'queries.yml');
      await writeFile(file, JSON.stringify(rules));
      const result = await run('promtool', ['check', 'rules', file]);
      expect(result.code, result.output).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const datasources = parseYaml(await readFile(join(root, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: Array<{ uid: string }>;
    };
    const dashboard = JSON.parse(await readFile(join(root, 'deploy/grafana/dashboards/pushkeep.json'), 'utf8')) as DashboardJson;
    const uids = new Set((dashboard.panels ?? []).map((panel) => panel.datasource?.uid).filter((uid) => uid !== undefined));
    expect([...uids]).toEqual(datasources.datasources.map((ds) => ds.uid));
  });
});

describe(titleWithTools('end to end with Prometheus', 'prometheus', 'python3-prometheus-client'), () => {
  it('collects the Python backup through the gateway, evaluates BackupFailed, and keeps the series across a SIGKILL', async (ctx) => {
    needs(ctx, 'prometheus', 'python3-prometheus-client');
    const dir = await mkdtemp(join(tmpdir(), 'pushkeep-e2e-'));
    let gateway = await startPushkeepGateway({ dbPath: join(dir, 'pushkeep.db') });
    let prometheus: LoopbackService | undefined;
    try {
      const host = gateway.baseUrl.replace('http://', '');
      prometheus = await startPrometheus(dir, host);
      const prom = prometheus;

      const backup = await run(TEST_PYTHON, [join(root, 'examples/python/nightly_backup.py')], {
        env: { ...process.env, PUSHGATEWAY: host, BACKUP_OUTCOME: 'failure', BACKUP_SECONDS: '0' },
      });
      expect(backup.code, backup.output).toBe(0);

      const selector = '{job="nightly_backup",instance="database-01"}';
      await eventually(async () => {
        const result = await promQuery(prom, `backup_success${selector}`);
        expect(result.map((s) => s.value[1])).toEqual(['0']);
      }, 15_000);
      const [pushTime] = await promQuery(prom, `push_time_seconds${selector}`);
      expect(Number(pushTime?.value[1])).toBeGreaterThan(0);
      // The shipped rule sees the real series: pending now, firing after its `for: 5m`.
      await eventually(async () => {
        const alerts = await promQuery(prom, 'ALERTS{alertname="BackupFailed"}');
        expect(alerts.map((a) => [a.metric['instance'], a.metric['alertstate']])).toEqual([['database-01', 'pending']]);
      }, 10_000);

      // Pushkeep committed the push before answering it, so a SIGKILL right now loses nothing.
      await gateway.kill();
      const restartedAt = Date.now() / 1000;
      gateway = await startPushkeepGateway({ dbPath: join(dir, 'pushkeep.db'), port: Number(new URL(gateway.baseUrl).port) });

      // A sample scraped after the restart, with the value and push time from before the crash.
      await eventually(async () => {
        const result = await promQuery(prom, `backup_success${selector} and timestamp(backup_success${selector}) > ${restartedAt}`);
        expect(result.map((s) => s.value[1])).toEqual(['0']);
      }, 15_000);
      const [pushTimeAfter] = await promQuery(prom, `push_time_seconds${selector}`);
      expect(pushTimeAfter?.value[1]).toBe(pushTime?.value[1]);
    } finally {
      await prometheus?.stop();
      await gateway.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('examples against a gateway', () => {
  let workDir = '';

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pushkeep-examples-'));
  });
  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  interface Example {
    readonly name: string;
    readonly outcome: 'success' | 'failure';
    readonly tools: readonly Tool[];
    /** Returns the command that runs the example (building it first if needed). */
    readonly prepare: () => Promise<readonly [string, ...string[]]>;
  }

  const examples: Example[] = [
    {
      name: 'python',
      outcome: 'failure',
      tools: ['python3-prometheus-client'],
      prepare: async () => [TEST_PYTHON, join(root, 'examples/python/nightly_backup.py')],
    },
    { name: 'node', outcome: 'success', tools: [], prepare: async () => [process.execPath, join(root, 'examples/node/nightly-backup.mjs')] },
    {
      name: 'go',
      outcome: 'success',
      tools: ['client-golang'],
      prepare: async () => {
        const binary = join(workDir, 'nightly_backup');
        // Debian's client_golang lives in GOPATH form, without modules.
        const build = await run('go', ['build', '-o', binary, '.'], {
          cwd: join(root, 'examples/go/nightly_backup'),
          env: {
            ...process.env,
            GO111MODULE: 'off',
            GOPATH: '/usr/share/gocode',
            GOCACHE: process.env['GOCACHE'] ?? join(tmpdir(), 'pushkeep-go-build-cache'),
            GOFLAGS: '',
          },
          timeoutMs: 40_000,
        });
        expect(build.code, build.output).toBe(0);
        return [binary];
      },
    },
  ];

  it.for(examples)(
    '$name nightly backup pushes its four gauges ($outcome)',
    async ({ outcome, tools, prepare }, ctx) => {
      needs(ctx, ...tools);
      const [command, ...args] = await prepare();
      const gateway = await startPushkeepGateway();
      try {
        const result = await run(command, args, {
          env: { ...process.env, PUSHGATEWAY: gateway.baseUrl.replace('http://', ''), BACKUP_OUTCOME: outcome, BACKUP_SECONDS: '0' },
        });
        expect(result.code, result.output).toBe(0);
        expect(result.output).toContain(outcome === 'success' ? 'Backup succeeded' : 'Backup failed');
        expect(result.output).not.toMatch(/failed to push/i);

        const text = await scrape(gateway);
        const group = { job: 'nightly_backup', instance: 'database-01' };
        for (const name of BACKUP_METRICS) expect(samples(text, name, group), name).toHaveLength(1);
        expect(samples(text, 'backup_success', group)).toEqual([outcome === 'success' ? 1 : 0]);
        const [size] = samples(text, 'backup_size_bytes', group);
        if (outcome === 'success') expect(size).toBeGreaterThanOrEqual(1_000_000);
        else expect(size).toBe(0);
        const [lastTimestamp] = samples(text, 'backup_last_timestamp', group);
        expect(Math.abs((lastTimestamp ?? 0) - Date.now() / 1000)).toBeLessThan(60);
        expect(samples(text, 'push_time_seconds', group)[0]).toBeGreaterThan(0);
      } finally {
        await gateway.stop();
      }
    },
    45_000,
  );

  it('curl one-liners in examples/curl/README.md push, replace and delete as documented', async (ctx) => {
    needs(ctx, 'curl');
    const readme = await readFile(join(root, 'examples/curl/README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map(([, body]) => body ?? '');
    const block = (needle: string): string => {
      const found = blocks.filter((body) => body.includes(needle));
      expect(found, `one sh block containing ${needle}`).toHaveLength(1);
      return found[0] ?? '';
    };
    const gateway = await startPushkeepGateway();
    try {
      const host = gateway.baseUrl.replace('http://', '');
      const sh = (script: string) => run('bash', ['-euo', 'pipefail', '-c', script.replaceAll('localhost:9091', host)]);
      const metrics = () => scrape(gateway);

      expect((await sh(block('some_metric 42'))).code).toBe(0);
      expect(samples(await metrics(), 'some_metric', { job: 'some_job', instance: '' })).toEqual([42]);

      // The seed guide's `-d` form has no final newline: the official gateway refuses it, Pushkeep
      // takes it, as the README says.
      const server01 = { job: 'batch_processor', instance: 'server-01' };
      const seedPush = await sh(block("-d 'process_runtime_seconds 42.125'"));
      expect(seedPush.code, seedPush.output).toBe(0);
      expect(samples(await metrics(), 'process_runtime_seconds', server01)).toEqual([42.125]);

      expect((await sh(block("echo 'process_runtime_seconds 42.125'"))).code).toBe(0);
      expect(samples(await metrics(), 'process_runtime_seconds', server01)).toEqual([42.125]);

      expect((await sh(block('-X PUT'))).code).toBe(0);
      const report = { job: 'nightly_report', instance: 'reporting-01' };
      expect(samples(await metrics(), 'report_rows_written', report)).toEqual([18342]);

      expect((await sh(block('job_last_success_unixtime'))).code).toBe(0);
      const [lastSuccess] = samples(await metrics(), 'job_last_success_unixtime', { job: 'batch_job' });
      expect(Math.abs((lastSuccess ?? 0) - Date.now() / 1000)).toBeLessThan(60);

      expect((await sh(block('-X DELETE'))).code).toBe(0);
      await eventually(async () => expect(samples(await metrics(), 'process_runtime_seconds', server01)).toEqual([]));
      // Only that group went away.
      expect(samples(await metrics(), 'some_metric', { job: 'some_job' })).toEqual([42]);

      const listing = await sh(block("grep -v '^#'"));
      expect(listing.output).toContain('report_rows_written{');
    } finally {
      await gateway.stop();
    }
  }, 30_000);
});
