// Push history reads at scale (issue 21): fills a fresh database with N push attempts (default
// 1,000,000 over the last 7 days: 1,000 groups of 50 jobs, every 50th attempt rejected), starts the
// gateway on it, pushes 100 groups so that / shows 100 timelines, and times each read over HTTP:
// GET /api/v1/history with each filter, a deep page by cursor, /history, / and /status.
// Run by hand, not part of npm test or npm run bench:
//
//   node --import tsx bench/history-query.ts [--rows=1000000] [--runs=20]
//   node --import tsx bench/history-query.ts --postgres=postgres://postgres@127.0.0.1:5432/test
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { sql } from 'kysely';
import { startServer } from '../src/server.js';
import { openDatabase, type DatabaseOptions } from '../src/store/dialect/open-database.js';
import { migrateToLatest } from '../src/store/migrate.js';
import { MIGRATIONS } from '../src/store/migration-list.js';
import { Migrator } from 'kysely';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const ROWS = Number(arg('rows', '1000000'));
const RUNS = Number(arg('runs', '20'));
const POSTGRES = arg('postgres', '');
const logger = pino({ level: 'warn' });

async function admin(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function freshDatabase(): Promise<{ options: DatabaseOptions; drop: () => Promise<void> }> {
  if (POSTGRES) {
    const name = `pushkeep_bench_${randomBytes(5).toString('hex')}`;
    await admin(POSTGRES, `CREATE DATABASE ${name}`);
    const url = new URL(POSTGRES);
    url.pathname = `/${name}`;
    return { options: { url: url.toString(), sqlitePath: '', sync: 'normal' }, drop: () => admin(POSTGRES, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushkeep-history-bench-'));
  return { options: { sqlitePath: path.join(dir, 'pushkeep.db'), sync: 'normal' }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * N attempts, newest first one every 7 days / N, generated inside the database on the schema of
 * migration 0008; the later migrations then run on them as on a gateway upgraded with that history
 * (0009 copies each attempt's labels into push_attempt_label).
 */
async function seed(options: DatabaseOptions, nowSeconds: number): Promise<void> {
  const database = openDatabase(options);
  const migrator = new Migrator({ db: database.db, provider: { getMigrations: async () => ({ ...MIGRATIONS }) } });
  const { error } = await migrator.migrateTo('0008_index_push_history');
  if (error) throw error;
  const step = (7 * 86_400) / ROWS;
  const columns = sql.raw(
    '(time_seconds, method, path, grouping_key, job, labels_json, outcome, status_code, reason, body_bytes, series_count, client_address)',
  );
  const values = sql.raw(`${nowSeconds} - i * ${step}, 'PUT',
      '/metrics/job/job' || (i % 50) || '/instance/i' || (i % 1000),
      '{instance="i' || (i % 1000) || '",job="job' || (i % 50) || '"}',
      'job' || (i % 50),
      '{"instance":"i' || (i % 1000) || '","job":"job' || (i % 50) || '"}',
      CASE WHEN i % 50 = 7 THEN 'rejected' ELSE 'accepted' END,
      CASE WHEN i % 50 = 7 THEN 400 ELSE 200 END,
      CASE WHEN i % 50 = 7 THEN 'text format parsing error in line 1: unexpected end of input' END,
      1234, 10, '10.0.0.' || (i % 200)`);
  if (POSTGRES) {
    await sql`INSERT INTO push_attempt ${columns} SELECT ${values} FROM generate_series(1, ${ROWS}) AS n(i)`.execute(database.db);
    await sql`ANALYZE push_attempt`.execute(database.db);
  } else {
    await sql`INSERT INTO push_attempt ${columns} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS}) SELECT ${values} FROM n`.execute(
      database.db,
    );
    await sql`ANALYZE`.execute(database.db);
  }
  const t = performance.now();
  await migrateToLatest(database.db, logger);
  await sql`ANALYZE`.execute(database.db);
  console.log(`migrated to the latest schema in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  await database.close();
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function main(): Promise<void> {
  const { options, drop } = await freshDatabase();
  try {
    const now = Date.now() / 1000;
    let t = performance.now();
    await seed(options, now);
    console.log(`${POSTGRES ? 'postgres' : 'sqlite'}: seeded ${ROWS} attempts in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const server = await startServer(
      {
        database: options,
        listen: { host: '127.0.0.1', port: 0 },
        routePrefix: '',
        telemetryPath: '/metrics',
        utf8Names: false,
        consistencyCheck: true,
        bodyLimit: 16 << 20,
        lifecycle: false,
        version: 'bench',
        history: { retentionSeconds: 0 },
      },
      logger,
    );
    try {
      for (let i = 0; i < 100; i++) {
        await fetch(`${server.url}/metrics/job/job${i % 50}/instance/i${i}`, { method: 'PUT', body: `m ${i}\n` });
      }
      const deep = async () => {
        let before = '';
        for (let page = 0; page < 100; page++) {
          const body = (await (await fetch(`${server.url}/api/v1/history?limit=1000${before}`)).json()) as { next: string };
          before = `&before=${encodeURIComponent(body.next)}`;
        }
        return before;
      };
      t = performance.now();
      const page100 = await deep();
      console.log(`walked 100 pages of 1000 by cursor in ${((performance.now() - t) / 1000).toFixed(2)} s`);
      const m = (s: string) => encodeURIComponent(s);
      const reads: [string, string][] = [
        ['API, newest 100', '/api/v1/history'],
        ['API, limit=1000', '/api/v1/history?limit=1000'],
        ['API, job=job7', '/api/v1/history?job=job7'],
        ['API, outcome=rejected', '/api/v1/history?outcome=rejected'],
        ['API, job=job7&outcome=rejected', '/api/v1/history?job=job7&outcome=rejected'],
        ['API, since=1h', '/api/v1/history?since=1h'],
        ['API, grouping_key (one group)', `/api/v1/history?grouping_key=${m('{instance="i123",job="job23"}')}`],
        ['API, match[]={job="job7",instance="i107"}', `/api/v1/history?match[]=${m('{job="job7",instance="i107"}')}`],
        ['API, match[]={instance="i123"}', `/api/v1/history?match[]=${m('{instance="i123"}')}`],
        ['API, match[]={instance=~"i12.*"}', `/api/v1/history?match[]=${m('{instance=~"i12.*"}')}`],
        ['API, match[]={instance="i123"}&match[]={instance="i456"}', `/api/v1/history?match[]=${m('{instance="i123"}')}&match[]=${m('{instance="i456"}')}`],
        ['API, match[]={job=~"job1.*"} (regex, 11 of 50 jobs)', `/api/v1/history?match[]=${m('{job=~"job1.*"}')}`],
        ['API, page 101 by cursor', `/api/v1/history?limit=100${page100}`],
        ['/history', '/history'],
        ['/history?outcome=rejected&q=i10', '/history?outcome=rejected&q=i10'],
        ['/ (100 groups, 100 timelines)', '/'],
        ['/status (last hour chart)', '/status'],
      ];
      console.log('| read | median ms | p95 ms | entries |');
      console.log('|---|---|---|---|');
      for (const [name, p] of reads) {
        const times: number[] = [];
        let entries = '';
        for (let run = 0; run < RUNS + 3; run++) {
          const start = performance.now();
          const res = await fetch(`${server.url}${p}`);
          const text = await res.text();
          const ms = performance.now() - start;
          if (res.status !== 200) throw new Error(`${p}: ${res.status} ${text.slice(0, 200)}`);
          if (run >= 3) times.push(ms);
          if (p.startsWith('/api')) entries = String((JSON.parse(text) as { data: unknown[] }).data.length);
          else if (p.startsWith('/history')) entries = String(text.split('<tr class="attempt').length - 1);
        }
        times.sort((a, b) => a - b);
        console.log(`| ${name} | ${percentile(times, 0.5).toFixed(1)} | ${percentile(times, 0.95).toFixed(1)} | ${entries} |`);
      }
    } finally {
      await server.close();
    }
  } finally {
    await drop();
  }
}

await main();
