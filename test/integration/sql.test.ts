import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSqlCommand } from '../../src/cli/sql-command.js';
import { loadConfig } from '../../src/config/config.js';
import { openReadOnly } from '../../src/store/dialect/open-database.js';
import { WriteRefusedError, type QueryResult } from '../../src/store/read-only-database.js';
import type { DatabaseOptions } from '../../src/store/dialect/open-database.js';
import { describeDialects, dropDatabases } from '../helpers/dialects.js';
import { EXAMPLE_QUERIES, seedExampleData } from '../helpers/sql-examples.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const REPO = path.join(import.meta.dirname, '..', '..');

/** The contract: the views' columns, in order. Changing them breaks operators' queries. */
const VIEW_COLUMNS = {
  pushed_groups: [
    'grouping_key',
    'job',
    'instance',
    'labels_json',
    'last_push_seconds',
    'last_push_at',
    'seconds_since_push',
    'last_failed_push_seconds',
    'last_failed_push_at',
    'expires_at_seconds',
    'expires_at',
    'expires_in_seconds',
    'family_count',
    'series_count',
    'sample_count',
    'aggregation',
  ],
  pushed_samples: [
    'grouping_key',
    'job',
    'instance',
    'grouping_labels_json',
    'family',
    'metric_name',
    'type',
    'help',
    'labels_json',
    'value',
    'last_push_seconds',
    'last_push_at',
  ],
  push_history: [
    'time_seconds',
    'time',
    'age_seconds',
    'method',
    'path',
    'grouping_key',
    'job',
    'instance',
    'labels_json',
    'outcome',
    'status_code',
    'reason',
    'body_bytes',
    'series_count',
    'client_address',
  ],
} as const;

function storageArgs(database: DatabaseOptions): string[] {
  return database.url ? [`--storage.url=${database.url}`] : [`--storage.path=${database.sqlitePath}`];
}

async function cli(args: readonly string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const status = await runSqlCommand(args, {}, { write: (t: string) => (out += t) }, { write: (t: string) => (err += t) });
  return { status, out, err };
}

/** The rows as objects (column → value). */
function objects(result: QueryResult): Record<string, unknown>[] {
  return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i]])));
}

const INCONSISTENT_DB2 =
  'pushed metrics are invalid or inconsistent with existing metrics: metric "backup_bytes" is pushed as COUNTER but is a GAUGE in another group';
const PARSE_ERROR_FILES = 'text format parsing error in line 1: unexpected end of label value "/srv"';

describeDialects('SQL views on the example data', (dialect) => {
  let gw: TestServer;
  let database: DatabaseOptions;
  const query = async (text: string) => {
    const db = await openReadOnly(database);
    try {
      return objects(await db.query(text));
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    database = await dialect.freshDatabase();
    gw = await startTestServer({ database });
    await seedExampleData(gw);
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await dropDatabases();
  });

  it('pins the columns of the views', async () => {
    const db = await openReadOnly(database);
    try {
      for (const [view, columns] of Object.entries(VIEW_COLUMNS)) {
        expect((await db.query(`SELECT * FROM ${view} WHERE 1 = 0`)).columns, view).toEqual(columns);
      }
    } finally {
      await db.close();
    }
  });

  it('answers: failed backups in the last 24 hours', async () => {
    const rows = await query(EXAMPLE_QUERIES.failedBackups.sql);
    expect(rows.map((r) => [r['grouping_key'], r['status_code'], r['reason']])).toEqual([
      ['{instance="db2",job="backup"}', 400, INCONSISTENT_DB2],
      ['{instance="files",job="backup"}', 400, PARSE_ERROR_FILES],
    ]);
  });

  it('answers: jobs silent for more than an hour', async () => {
    const rows = await query(EXAMPLE_QUERIES.silentGroups.sql);
    expect(rows.map((r) => [r['job'], r['instance'], r['hours_silent'], r['last_failed_push_at'] !== null])).toEqual([
      ['nightly_report', null, 26, false],
      // db2's push failed just now, after its last good push three hours ago.
      ['backup', 'db2', 3, true],
      ['etl', 'worker-2', 3, false],
    ]);
  });

  it('answers: series per job', async () => {
    const rows = await query(EXAMPLE_QUERIES.seriesPerJob.sql);
    expect(rows).toEqual([
      { job: 'backup', groups: 2, series: 6, samples: 6 },
      { job: 'etl', groups: 2, series: 3, samples: 8 },
      { job: 'cache_warmer', groups: 1, series: 1, samples: 1 },
      { job: 'nightly_report', groups: 1, series: 1, samples: 1 },
      { job: 'session_sweeper', groups: 1, series: 1, samples: 1 },
    ]);
  });

  it('answers: biggest groups', async () => {
    expect(await query(EXAMPLE_QUERIES.biggestGroups.sql)).toEqual([
      { grouping_key: '{instance="worker-1",job="etl"}', family_count: 2, series_count: 2, sample_count: 7 },
      { grouping_key: '{instance="db1",job="backup"}', family_count: 3, series_count: 3, sample_count: 3 },
      { grouping_key: '{instance="db2",job="backup"}', family_count: 3, series_count: 3, sample_count: 3 },
    ]);
  });

  it('answers: pushes per hour', async () => {
    const rows = await query(EXAMPLE_QUERIES.pushesPerHour.sql);
    // Three phases, 26 h, 3 h and 0 h ago: at least three hours (a phase may straddle an hour).
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.reduce((n, r) => n + Number(r['attempts']), 0)).toBe(15);
    expect(rows.reduce((n, r) => n + Number(r['rejected']), 0)).toBe(4);
    expect(rows.every((r) => /^\d{4}-\d\d-\d\dT\d\d:00Z$/.test(String(r['hour'])))).toBe(true);
  });

  it('answers: rejected pushes with reasons', async () => {
    const rows = await query(EXAMPLE_QUERIES.rejectedPushes.sql);
    expect(rows.map((r) => [r['method'], r['target'], r['status_code'], r['reason']])).toEqual([
      ['PUT', '/metrics/job/', 400, 'job name is required'],
      ['PUT', '{instance="files",job="backup"}', 400, PARSE_ERROR_FILES],
      ['PUT', '{instance="db2",job="backup"}', 400, INCONSISTENT_DB2],
      ['PUT', '{instance="db2",job="backup"}', 400, 'text format parsing error in line 1: unexpected end of label value "sda"'],
    ]);
  });

  it('answers: groups about to expire', async () => {
    expect(await query(EXAMPLE_QUERIES.expiringSoon.sql)).toEqual([expect.objectContaining({ grouping_key: '{job="cache_warmer"}', minutes_left: 30 })]);
  });

  it('answers: metrics whose help differs between groups', async () => {
    expect(await query(EXAMPLE_QUERIES.helpDiffers.sql)).toEqual([
      { family: 'records_processed', variants: 2, one_help: 'Records processed.', other_help: 'Rows handled by the worker.' },
    ]);
  });

  it('answers: who pushed to a job', async () => {
    const rows = await query(EXAMPLE_QUERIES.whoPushed.sql);
    expect(rows.map((r) => [r['client_address'], r['method'], r['grouping_key'], r['outcome'], r['series_count']])).toEqual([
      [expect.stringMatching(/127\.0\.0\.1$/), 'POST', '{instance="worker-1",job="etl"}', 'accepted', 1],
      [expect.stringMatching(/127\.0\.0\.1$/), 'PUT', expect.any(String), 'accepted', expect.any(Number)],
      [expect.stringMatching(/127\.0\.0\.1$/), 'PUT', expect.any(String), 'accepted', expect.any(Number)],
    ]);
  });

  it('answers: where a metric comes from', async () => {
    const rows = await query(EXAMPLE_QUERIES.metricValues.sql);
    expect(rows.map((r) => [r['grouping_key'], r['metric_name'], r['labels_json'], r['value']])).toEqual([
      ['{instance="worker-1",job="etl"}', 'records_processed', '{"instance":"worker-1","job":"etl"}', 19250],
      ['{instance="worker-2",job="etl"}', 'records_processed', '{"instance":"worker-2","job":"etl"}', 7500],
    ]);
  });

  it('records accepted and rejected attempts, deletes included', async () => {
    const rows = await query(
      "SELECT method, grouping_key, outcome, status_code, reason, series_count FROM push_history WHERE job IN ('tmp_probe', 'session_sweeper') ORDER BY time_seconds",
    );
    expect(rows).toEqual([
      { method: 'PUT', grouping_key: '{job="session_sweeper"}', outcome: 'accepted', status_code: 200, reason: null, series_count: 1 },
      { method: 'PUT', grouping_key: '{job="tmp_probe"}', outcome: 'accepted', status_code: 200, reason: null, series_count: 1 },
      { method: 'DELETE', grouping_key: '{job="tmp_probe"}', outcome: 'accepted', status_code: 202, reason: null, series_count: null },
    ]);
  });

  it('the CLI prints the rows as a table, CSV and JSON', async () => {
    const text = "SELECT job, series_count, instance FROM pushed_groups WHERE job IN ('nightly_report', 'backup') ORDER BY job, instance";
    const table = await cli([...storageArgs(database), text]);
    expect(table).toEqual({
      status: 0,
      err: '',
      out: [
        ' job            | series_count | instance',
        '----------------+--------------+----------',
        ' backup         |            3 | db1',
        ' backup         |            3 | db2',
        ' nightly_report |            1 | NULL',
        '(3 rows)',
        '',
      ].join('\n'),
    });
    expect((await cli(['--format=csv', ...storageArgs(database), text])).out).toBe(
      'job,series_count,instance\nbackup,3,db1\nbackup,3,db2\nnightly_report,1,\n',
    );
    expect(JSON.parse((await cli(['--format', 'json', ...storageArgs(database), text])).out)).toEqual([
      { job: 'backup', series_count: 3, instance: 'db1' },
      { job: 'backup', series_count: 3, instance: 'db2' },
      { job: 'nightly_report', series_count: 1, instance: null },
    ]);
  });

  it.each([
    "INSERT INTO metric_group (grouping_key, job, labels_json) VALUES ('x', 'x', '{}')",
    'DELETE FROM metric_group',
    'DROP VIEW pushed_groups',
    "UPDATE push_attempt SET outcome = 'accepted'",
    'WITH g AS (SELECT id FROM metric_group) DELETE FROM metric_family WHERE group_id IN (SELECT id FROM g)',
    'CREATE TABLE evil (x integer)',
    'SELECT 1; DELETE FROM metric_group',
  ])('the CLI refuses %s and changes nothing', async (statement) => {
    const before = await query(
      'SELECT (SELECT count(*) FROM metric_group) AS groups, (SELECT count(*) FROM push_attempt) AS attempts, (SELECT count(*) FROM metric_family) AS families',
    );
    const result = await cli([...storageArgs(database), statement]);
    expect(result.status).toBe(1);
    expect(result.out).toBe('');
    expect(result.err).toMatch(/^pushkeep sql: .+\n$/);
    if (!statement.startsWith('SELECT 1;')) expect(result.err).toContain('refused');
    expect(
      await query(
        'SELECT (SELECT count(*) FROM metric_group) AS groups, (SELECT count(*) FROM push_attempt) AS attempts, (SELECT count(*) FROM metric_family) AS families',
      ),
    ).toEqual(before);
    await expect(query('SELECT count(*) AS n FROM pushed_groups')).resolves.toEqual([{ n: 7 }]);
  });

  it('sweeps attempts older than the retention', async () => {
    const count = async () => Number((await query('SELECT count(*) AS n FROM push_history'))[0]!['n']);
    expect(await count()).toBe(15);
    // Default retention 7 days: nothing is that old; 25 hours back from now leaves phases 2 and 3.
    expect(await gw.history.sweep(Date.now() / 1000)).toBe(0);
    expect(await gw.history.sweep(Date.now() / 1000 + 7 * 86_400 - 25 * 3600)).toBe(3);
    expect(await count()).toBe(12);
    expect((await query('SELECT min(age_seconds) AS youngest, max(age_seconds) AS oldest FROM push_history'))[0]!['oldest']).toBeLessThan(4 * 3600);
  });
});

describe('pushkeep sql as a program', () => {
  let gw: TestServer;
  beforeAll(async () => {
    gw = await startTestServer();
    await gw.push('PUT', '/metrics/job/a', 'x 1\n');
    await gw.close();
  });

  const run = (args: readonly string[]) =>
    new Promise<{ status: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'sql', ...args], {
        cwd: REPO,
        env: { ...process.env, PUSHKEEP_STORAGE_PATH: gw.dbPath },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('close', (status) => resolve({ status, out, err }));
    });

  it('prints a query (storage from PUSHKEEP_STORAGE_PATH) and refuses a write with exit status 1', async () => {
    expect(await run(['SELECT job, series_count FROM pushed_groups'])).toEqual({
      status: 0,
      out: ' job | series_count\n-----+--------------\n a   |            1\n(1 row)\n',
      err: '',
    });
    const refused = await run(['DELETE FROM metric_group']);
    expect(refused.status).toBe(1);
    expect(refused.err).toMatch(/^pushkeep sql: refused: .*\n$/);
    const db = new SQLite(gw.dbPath, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM metric_group').get()).toEqual({ n: 1 });
    db.close();
  }, 30_000);

  it('explains a missing database, a bad format and a missing query', async () => {
    expect(await cli(['--storage.path=/nonexistent/p.db', 'SELECT 1'])).toEqual({
      status: 1,
      out: '',
      err: expect.stringMatching(/^pushkeep sql: cannot open \/nonexistent\/p.db: .+\n$/),
    });
    expect((await cli(['--format=xml', 'SELECT 1'])).status).toBe(2);
    expect((await cli([`--storage.path=${gw.dbPath}`])).status).toBe(2);
    expect(fs.existsSync('/nonexistent/p.db')).toBe(false);
  });
});

describe('reading never blocks pushes', () => {
  it('pushes keep their latency while a long query runs in another process', async () => {
    const gw = await startTestServer();
    try {
      for (let i = 0; i < 50; i++) await gw.push('PUT', `/metrics/job/load/instance/i${i}`, `load_value{k="v"} ${i}\n`);
      const timePushes = async (untilMs: number, max: number) => {
        const latencies: number[] = [];
        for (let i = 0; performance.now() < untilMs && i < max; i++) {
          const started = performance.now();
          const res = await gw.push('PUT', `/metrics/job/load/instance/i${i % 50}`, `load_value{k="v"} ${i}\n`);
          expect(res.status).toBe(200);
          latencies.push(performance.now() - started);
        }
        return latencies.sort((a, b) => a - b);
      };
      const baseline = await timePushes(performance.now() + 1000, 2000);

      // The view is read first, so the query holds its read transaction (a WAL snapshot) while
      // it counts. Its length is sized on this machine to run about five seconds, within bounds.
      const counting = (steps: number) =>
        `WITH RECURSIVE c(n) AS (SELECT 1 + 0 * (SELECT count(*) FROM pushed_samples) UNION ALL SELECT n + 1 FROM c WHERE n < ${steps}) SELECT count(*) AS steps FROM c`;
      const probe = new SQLite(gw.dbPath, { readonly: true });
      const probeStarted = performance.now();
      probe.prepare(counting(1_000_000)).get();
      const msPerMillion = Math.max(1, performance.now() - probeStarted);
      probe.close();
      const steps = Math.round(Math.min(60, Math.max(6, 5000 / msPerMillion)) * 1_000_000);
      const longQuery = counting(steps);
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'sql', `--storage.path=${gw.dbPath}`, '--format=csv', longQuery], { cwd: REPO });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      let running = true;
      void exited.then(() => (running = false));
      // Let the child start (tsx) and open its read transaction.
      await new Promise((r) => setTimeout(r, 1500));
      expect(running).toBe(true);
      const started = performance.now();
      const during: number[] = [];
      while (running && performance.now() - started < 20_000) during.push(...(await timePushes(performance.now() + 100, 200)));
      const overlapMs = performance.now() - started;
      expect(await exited).toBe(0);
      expect(out).toBe(`steps\n${steps}\n`);
      // The pushes really ran alongside the query, for a while.
      expect(overlapMs).toBeGreaterThan(1000);
      expect(during.length).toBeGreaterThan(20);
      const p99 = (xs: number[]) => xs[Math.floor(xs.length * 0.99)]!;
      during.sort((a, b) => a - b);
      // A blocked writer would wait for the whole query (over a second) or fail with SQLITE_BUSY
      // after busy_timeout; the query's CPU use may slow pushes somewhat on a small machine.
      expect(during[during.length - 1]!).toBeLessThan(Math.min(500, overlapMs / 2));
      console.log(
        `push latency p50/p99/max ms: baseline ${baseline[baseline.length >> 1]!.toFixed(2)}/${p99(baseline).toFixed(2)}/${baseline[baseline.length - 1]!.toFixed(2)}, ` +
          `during the ${(overlapMs / 1000).toFixed(1)} s query ${during[during.length >> 1]!.toFixed(2)}/${p99(during).toFixed(2)}/${during[during.length - 1]!.toFixed(2)} (${during.length} pushes)`,
      );
    } finally {
      await gw.close();
    }
  }, 60_000);
});

describe('the SQL page (docs/sql.md)', () => {
  it('shows exactly the queries this file checks, in order', () => {
    const section = fs.readFileSync(path.join(REPO, 'docs', 'sql.md'), 'utf8');
    const shown = [...section.matchAll(/```sql\n([\s\S]*?)\n```/g)].map((m) => m[1]);
    expect(shown).toEqual(Object.values(EXAMPLE_QUERIES).map((q) => q.sql));
    expect(shown.length).toBeGreaterThanOrEqual(8);
  });

  it('--history.retention takes a Prometheus duration, 7d by default', () => {
    expect(loadConfig([], {}).history.retentionMs).toBe(7 * 86_400_000);
    expect(loadConfig(['--history.retention=36h'], {}).history.retentionMs).toBe(36 * 3_600_000);
    expect(loadConfig([], { PUSHKEEP_HISTORY_RETENTION: '0' }).history.retentionMs).toBe(0);
  });
});

describe('the read-only opener', () => {
  it('refuses writes on SQLite with WriteRefusedError', async () => {
    const gw = await startTestServer();
    await gw.close();
    const db = await openReadOnly({ sqlitePath: gw.dbPath });
    try {
      await expect(db.query('DELETE FROM metric_group')).rejects.toBeInstanceOf(WriteRefusedError);
      await expect(db.query("ATTACH DATABASE '/tmp/x.db' AS x")).rejects.toBeInstanceOf(WriteRefusedError);
    } finally {
      await db.close();
    }
  });
});
