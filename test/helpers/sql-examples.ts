import { sql } from 'kysely';
import { openDatabase } from '../../src/store/dialect/open-database.js';
import type { TestServer } from './test-server.js';

/**
 * The example data of docs/sql.md: pushes made over HTTP to
 * a running gateway, in three phases. Between phases every stored time is moved back, so the
 * data spans a day without the test waiting: phase 1 happened 26 hours ago, phase 2 three hours
 * ago, phase 3 now.
 */
export async function seedExampleData(gw: TestServer): Promise<void> {
  const put = async (path: string, body: string, expected: number, headers?: Record<string, string>) => {
    const res = await gw.push('PUT', path, body, headers);
    if (res.status !== expected) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}, expected ${expected}`);
  };

  // Phase 1: yesterday.
  await put('/metrics/job/backup/instance/db1', backupBody(1_200, 5_300_000_000), 200);
  await put('/metrics/job/backup/instance/db2', 'backup_bytes{disk="sda" 12\n', 400);
  await put('/metrics/job/nightly_report', '# HELP report_rows Rows in the nightly report.\n# TYPE report_rows gauge\nreport_rows 48210\n', 200);
  await moveBack(gw, (26 - 3) * 3600);

  // Phase 2: three hours ago.
  await put('/metrics/job/backup/instance/db2', backupBody(950, 2_100_000_000), 200);
  await put('/metrics/job/etl/instance/worker-1', etlBody('Records processed.', 18_000, true), 200);
  await put('/metrics/job/etl/instance/worker-2', etlBody('Rows handled by the worker.', 7_500, false), 200);
  await moveBack(gw, 3 * 3600);

  // Phase 3: now.
  await put('/metrics/job/backup/instance/db1', backupBody(1_260, 5_400_000_000), 200);
  // backup_bytes is a gauge in db1: the same name as a counter is inconsistent.
  await put('/metrics/job/backup/instance/db2', '# TYPE backup_bytes counter\nbackup_bytes 2200000000\n', 400);
  await put('/metrics/job/backup/instance/files', 'backup_duration_seconds{path="/srv" 12\n', 400);
  const post = await gw.push(
    'POST',
    '/metrics/job/etl/instance/worker-1',
    '# TYPE records_processed counter\n# HELP records_processed Records processed.\nrecords_processed 19250\n',
  );
  if (post.status !== 200) throw new Error(`POST etl: ${post.status}`);
  await put('/metrics/job/cache_warmer', '# TYPE cache_entries gauge\ncache_entries 3400\n', 200, { 'Pushkeep-TTL': '30m' });
  await put('/metrics/job/session_sweeper', '# TYPE sessions_removed counter\nsessions_removed 112\n', 200, { 'Pushkeep-TTL': '6h' });
  await put('/metrics/job/tmp_probe', 'probe_ok 1\n', 200);
  const del = await gw.push('DELETE', '/metrics/job/tmp_probe');
  if (del.status !== 202) throw new Error(`DELETE tmp_probe: ${del.status}`);
  // An empty job name: no group at all.
  await put('/metrics/job/', 'x 1\n', 400);
  await gw.history.flush();
}

function backupBody(durationSeconds: number, bytes: number): string {
  return [
    '# HELP backup_duration_seconds How long the last backup took.',
    '# TYPE backup_duration_seconds gauge',
    `backup_duration_seconds ${durationSeconds}`,
    '# HELP backup_bytes Size of the last backup.',
    '# TYPE backup_bytes gauge',
    `backup_bytes ${bytes}`,
    '# TYPE backup_last_success_timestamp_seconds gauge',
    'backup_last_success_timestamp_seconds 1.7e9',
    '',
  ].join('\n');
}

function etlBody(help: string, records: number, withHistogram: boolean): string {
  const lines = [`# HELP records_processed ${help}`, '# TYPE records_processed counter', `records_processed ${records}`];
  if (withHistogram) {
    lines.push(
      '# HELP etl_batch_seconds Time per batch.',
      '# TYPE etl_batch_seconds histogram',
      'etl_batch_seconds_bucket{le="0.5"} 120',
      'etl_batch_seconds_bucket{le="1"} 180',
      'etl_batch_seconds_bucket{le="5"} 199',
      'etl_batch_seconds_bucket{le="+Inf"} 200',
      'etl_batch_seconds_sum 151.5',
      'etl_batch_seconds_count 200',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Moves every stored time (groups, families, expiries, history) `seconds` into the past. */
async function moveBack(gw: TestServer, seconds: number): Promise<void> {
  await gw.history.flush();
  const { db, close } = openDatabase(gw.database);
  try {
    await db.transaction().execute(async (trx) => {
      await sql`UPDATE metric_group SET
        push_time_seconds = CASE WHEN push_time_seconds > 0 THEN push_time_seconds - ${seconds} ELSE 0 END,
        push_failure_time_seconds = CASE WHEN push_failure_time_seconds > 0 THEN push_failure_time_seconds - ${seconds} ELSE 0 END,
        expires_at_seconds = expires_at_seconds - ${seconds}`.execute(trx);
      await sql`UPDATE metric_family SET pushed_at_seconds = pushed_at_seconds - ${seconds}`.execute(trx);
      await sql`UPDATE push_attempt SET time_seconds = time_seconds - ${seconds}`.execute(trx);
    });
  } finally {
    await close();
  }
}

export interface ExampleQuery {
  /** The question, as docs/sql.md's heading for it. */
  readonly question: string;
  readonly sql: string;
}

/** The questions of docs/sql.md, in its order; test/integration/sql.test.ts asserts each answer. */
export const EXAMPLE_QUERIES = {
  failedBackups: {
    question: 'Which backups failed to push in the last 24 hours, and why?',
    sql: `SELECT time, grouping_key, status_code, reason
FROM push_history
WHERE job = 'backup' AND outcome = 'rejected' AND age_seconds < 86400
ORDER BY time_seconds`,
  },
  silentGroups: {
    question: 'Which jobs have not pushed successfully for more than an hour?',
    sql: `SELECT job, instance, last_push_at, round(seconds_since_push / 3600) AS hours_silent, last_failed_push_at
FROM pushed_groups
WHERE seconds_since_push > 3600
ORDER BY seconds_since_push DESC`,
  },
  seriesPerJob: {
    question: 'How many series does each job hold?',
    sql: `SELECT job, count(*) AS groups, sum(series_count) AS series, sum(sample_count) AS samples
FROM pushed_groups
GROUP BY job
ORDER BY series DESC, job`,
  },
  biggestGroups: {
    question: 'Which groups are the biggest?',
    sql: `SELECT grouping_key, family_count, series_count, sample_count
FROM pushed_groups
ORDER BY sample_count DESC, grouping_key
LIMIT 3`,
  },
  pushesPerHour: {
    question: 'How many pushes arrive per hour, and how many are rejected?',
    sql: `SELECT substr(time, 1, 13) || ':00Z' AS hour, count(*) AS attempts,
       sum(CASE WHEN outcome = 'rejected' THEN 1 ELSE 0 END) AS rejected, sum(body_bytes) AS body_bytes
FROM push_history
GROUP BY substr(time, 1, 13)
ORDER BY hour`,
  },
  rejectedPushes: {
    question: 'Which pushes were rejected, and why?',
    sql: `SELECT time, method, coalesce(grouping_key, path) AS target, status_code, reason
FROM push_history
WHERE outcome = 'rejected'
ORDER BY time_seconds DESC`,
  },
  expiringSoon: {
    question: 'Which groups expire within the next hour?',
    sql: `SELECT grouping_key, expires_at, round(expires_in_seconds / 60) AS minutes_left
FROM pushed_groups
WHERE expires_in_seconds < 3600
ORDER BY expires_in_seconds`,
  },
  helpDiffers: {
    question: 'Which metrics have a different help text in different groups?',
    sql: `SELECT family, count(DISTINCT help) AS variants, min(help) AS one_help, max(help) AS other_help
FROM pushed_samples
GROUP BY family
HAVING count(DISTINCT help) > 1`,
  },
  whoPushed: {
    question: 'Who pushed to a job, from where, and with what result?',
    sql: `SELECT time, client_address, method, grouping_key, outcome, series_count
FROM push_history
WHERE job = 'etl'
ORDER BY time_seconds DESC`,
  },
  metricValues: {
    question: 'Where does a metric come from, and what are its values?',
    sql: `SELECT grouping_key, metric_name, labels_json, value, last_push_at
FROM pushed_samples
WHERE family = 'records_processed'
ORDER BY grouping_key`,
  },
} as const satisfies Record<string, ExampleQuery>;
