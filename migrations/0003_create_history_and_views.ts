import { sql, type Kysely, type RawBuilder } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
//
// The SQL contract for operators (README "Query pushed state with SQL"): the views pushed_groups,
// pushed_samples and push_history. Tables may change between versions; these views keep their
// names and columns (test/integration/sql.test.ts pins them), so a later migration that changes
// a table recreates the views on top of it with the same columns.
//
// Conventions, identical on SQLite and PostgreSQL:
// - *_seconds columns are Unix seconds (double precision); *_at columns the same instant as
//   ISO 8601 UTC text ('2024-05-01T03:00:00Z'); NULL where there is none (never pushed, never
//   expires). The official gateway's "0 = never" becomes NULL.
// - Ages (seconds_since_push, expires_in_seconds, age_seconds) are computed when the view is
//   read, so questions like "silent for more than an hour" need no dialect's date functions.
// - JSON columns are text holding a JSON object: json_extract(x, '$.name') on SQLite,
//   x::json ->> 'name' on PostgreSQL.
//
// Needs 0002 (metric_group.expires_at_seconds).

function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter.constructor.name === 'PostgresAdapter';
}

/** The SQL fragments that differ between the two databases; everything else is shared text. */
interface Dialect {
  /** Current Unix time in seconds, with a fraction. */
  readonly now: string;
  /** Unix seconds (NULL stays NULL) as ISO 8601 UTC text. */
  iso(seconds: string): string;
  /** One top-level string member of a JSON object held in a text column. */
  jsonField(column: string, name: string): string;
  /** Element count of a JSON array held in a text column. */
  jsonArrayLength(column: string): string;
}

const SQLITE: Dialect = {
  // julianday works on every SQLite the sqlite3 shell may bring (unixepoch('subsec') needs 3.42).
  now: "((julianday('now') - 2440587.5) * 86400.0)",
  iso: (s) => `strftime('%Y-%m-%dT%H:%M:%SZ', ${s}, 'unixepoch')`,
  jsonField: (c, n) => `json_extract(${c}, '$.${n}')`,
  jsonArrayLength: (c) => `json_array_length(${c})`,
};

const POSTGRES: Dialect = {
  // now(): one instant for the whole statement (its transaction), as SQLite's 'now' is.
  now: 'CAST(extract(epoch FROM now()) AS double precision)',
  iso: (s) => `to_char(to_timestamp(${s}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`,
  jsonField: (c, n) => `(CAST(${c} AS json) ->> '${n}')`,
  jsonArrayLength: (c) => `json_array_length(CAST(${c} AS json))`,
};

function pushedGroups(d: Dialect): RawBuilder<unknown> {
  // The official gateway writes 0 for "never"; SQL means NULL.
  const lastPush = 'NULLIF(g.push_time_seconds, 0)';
  const lastFailure = 'NULLIF(g.push_failure_time_seconds, 0)';
  return sql.raw(`
    SELECT
      g.grouping_key AS grouping_key,
      g.job AS job,
      ${d.jsonField('g.labels_json', 'instance')} AS instance,
      g.labels_json AS labels_json,
      ${lastPush} AS last_push_seconds,
      ${d.iso(lastPush)} AS last_push_at,
      ${d.now} - ${lastPush} AS seconds_since_push,
      ${lastFailure} AS last_failed_push_seconds,
      ${d.iso(lastFailure)} AS last_failed_push_at,
      g.expires_at_seconds AS expires_at_seconds,
      ${d.iso('g.expires_at_seconds')} AS expires_at,
      g.expires_at_seconds - ${d.now} AS expires_in_seconds,
      (SELECT count(*) FROM metric_family f WHERE f.group_id = g.id) AS family_count,
      (SELECT coalesce(sum(${d.jsonArrayLength('f.metrics_json')}), 0) FROM metric_family f WHERE f.group_id = g.id) AS series_count,
      (SELECT count(*) FROM metric_family f JOIN metric_sample s ON s.family_id = f.id WHERE f.group_id = g.id) AS sample_count
    FROM metric_group g`);
}

function pushedSamples(d: Dialect): RawBuilder<unknown> {
  return sql.raw(`
    SELECT
      g.grouping_key AS grouping_key,
      g.job AS job,
      ${d.jsonField('g.labels_json', 'instance')} AS instance,
      g.labels_json AS grouping_labels_json,
      f.name AS family,
      s.metric_name AS metric_name,
      f.type AS type,
      f.help AS help,
      s.labels_json AS labels_json,
      s.value AS value,
      f.pushed_at_seconds AS last_push_seconds,
      ${d.iso('f.pushed_at_seconds')} AS last_push_at
    FROM metric_sample s
    JOIN metric_family f ON f.id = s.family_id
    JOIN metric_group g ON g.id = f.group_id`);
}

function pushHistory(d: Dialect): RawBuilder<unknown> {
  return sql.raw(`
    SELECT
      a.time_seconds AS time_seconds,
      ${d.iso('a.time_seconds')} AS time,
      ${d.now} - a.time_seconds AS age_seconds,
      a.method AS method,
      a.path AS path,
      a.grouping_key AS grouping_key,
      a.job AS job,
      ${d.jsonField('a.labels_json', 'instance')} AS instance,
      a.labels_json AS labels_json,
      a.outcome AS outcome,
      a.status_code AS status_code,
      a.reason AS reason,
      a.body_bytes AS body_bytes,
      a.series_count AS series_count,
      a.client_address AS client_address
    FROM push_attempt a`);
}

export async function up(db: Kysely<any>): Promise<void> {
  const pg = isPostgres(db);
  const d = pg ? POSTGRES : SQLITE;

  // One row per push attempt (PUT, POST, DELETE; accepted or rejected). Read it through the
  // push_history view; retention (--history.retention) deletes old rows by time_seconds.
  await db.schema
    .createTable('push_attempt')
    .addColumn('id', pg ? 'bigint' : 'integer', (c) => (pg ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey()))
    .addColumn('time_seconds', 'double precision', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    // The request path as received, also when it named no valid group.
    .addColumn('path', 'text', (c) => c.notNull())
    // NULL when the path named no valid group.
    .addColumn('grouping_key', 'text')
    .addColumn('job', 'text')
    .addColumn('labels_json', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome IN ('accepted', 'rejected')`))
    .addColumn('status_code', 'integer', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('body_bytes', 'bigint', (c) => c.notNull())
    // Series in the body (a histogram is one series); NULL when none was parsed (DELETE, bad body).
    .addColumn('series_count', 'integer')
    .addColumn('client_address', 'text')
    .execute();
  await db.schema.createIndex('push_attempt_time_idx').on('push_attempt').column('time_seconds').execute();
  await db.schema
    .createIndex('push_attempt_grouping_key_idx')
    .on('push_attempt')
    .columns(['grouping_key', 'time_seconds'])
    .execute();

  await db.schema.createView('pushed_groups').as(pushedGroups(d)).execute();
  await db.schema.createView('pushed_samples').as(pushedSamples(d)).execute();
  await db.schema.createView('push_history').as(pushHistory(d)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropView('push_history').execute();
  await db.schema.dropView('pushed_samples').execute();
  await db.schema.dropView('pushed_groups').execute();
  await db.schema.dropTable('push_attempt').execute();
}
