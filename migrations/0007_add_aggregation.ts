import { sql, type Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
//
// Aggregating groups:
// - metric_group.aggregation: 'replace' (a POST replaces the pushed families, the official
//   behaviour) or 'sum' (a POST adds to them). Chosen by the push that creates the group.
// - idempotency_key: the Idempotency-Key of a push, scoped to its grouping key, with a fingerprint
//   of the request and the answer it got; written in the push's own transaction, so a repeat
//   either finds it or finds the push not applied. Not tied to metric_group by a foreign key: a
//   DELETE's key must outlive the group it deleted. The retention sweep removes expired keys.
// - The pushed_groups view (0003) gains an `aggregation` column, last so that its other columns
//   keep their positions.

function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter.constructor.name === 'PostgresAdapter';
}

function pushedGroups(pg: boolean): string {
  const now = pg ? 'CAST(extract(epoch FROM now()) AS double precision)' : "((julianday('now') - 2440587.5) * 86400.0)";
  const iso = (s: string) =>
    pg ? `to_char(to_timestamp(${s}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')` : `strftime('%Y-%m-%dT%H:%M:%SZ', ${s}, 'unixepoch')`;
  const instance = pg ? `(CAST(g.labels_json AS json) ->> 'instance')` : `json_extract(g.labels_json, '$.instance')`;
  const arrayLength = pg ? 'json_array_length(CAST(f.metrics_json AS json))' : 'json_array_length(f.metrics_json)';
  const lastPush = 'NULLIF(g.push_time_seconds, 0)';
  const lastFailure = 'NULLIF(g.push_failure_time_seconds, 0)';
  return `
    SELECT
      g.grouping_key AS grouping_key,
      g.job AS job,
      ${instance} AS instance,
      g.labels_json AS labels_json,
      ${lastPush} AS last_push_seconds,
      ${iso(lastPush)} AS last_push_at,
      ${now} - ${lastPush} AS seconds_since_push,
      ${lastFailure} AS last_failed_push_seconds,
      ${iso(lastFailure)} AS last_failed_push_at,
      g.expires_at_seconds AS expires_at_seconds,
      ${iso('g.expires_at_seconds')} AS expires_at,
      g.expires_at_seconds - ${now} AS expires_in_seconds,
      (SELECT count(*) FROM metric_family f WHERE f.group_id = g.id) AS family_count,
      (SELECT coalesce(sum(${arrayLength}), 0) FROM metric_family f WHERE f.group_id = g.id) AS series_count,
      (SELECT count(*) FROM metric_family f JOIN metric_sample s ON s.family_id = f.id WHERE f.group_id = g.id) AS sample_count,
      g.aggregation AS aggregation
    FROM metric_group g`;
}

export async function up(db: Kysely<any>): Promise<void> {
  const pg = isPostgres(db);
  await db.schema
    .alterTable('metric_group')
    .addColumn('aggregation', 'text', (c) => c.notNull().defaultTo('replace').check(sql`aggregation IN ('replace', 'sum')`))
    .execute();
  await db.schema
    .createTable('idempotency_key')
    .addColumn('grouping_key', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('status_code', 'integer', (c) => c.notNull())
    .addColumn('created_at_seconds', 'double precision', (c) => c.notNull())
    .addColumn('expires_at_seconds', 'double precision', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_key_pk', ['grouping_key', 'idempotency_key'])
    .execute();
  await db.schema.createIndex('idempotency_key_expiry_idx').on('idempotency_key').column('expires_at_seconds').execute();
  await db.schema.dropView('pushed_groups').execute();
  await db.schema.createView('pushed_groups').as(sql.raw(pushedGroups(pg))).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  const pg = isPostgres(db);
  await db.schema.dropView('pushed_groups').execute();
  await db.schema.dropTable('idempotency_key').execute();
  await db.schema.alterTable('metric_group').dropColumn('aggregation').execute();
  // The view as 0003 defined it: every column but the last.
  const text = pushedGroups(pg).replace(/,\s*g\.aggregation AS aggregation/, '');
  await db.schema.createView('pushed_groups').as(sql.raw(text)).execute();
}
