import { createRequire } from 'node:module';
import { CompiledQuery, Kysely, PostgresDialect as KyselyPostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { leadingKeyword, oneLine, REFUSED, ReadOnlyQueryError, WriteRefusedError, type ReadOnlyDatabase } from '../read-only-database.js';
import type { Database } from '../schema.js';
import type { OpenDatabase } from './open-database.js';
import { ALL_NAMES_LOCK, lockGroup, lockGroupForPush, lockNames, lockPushedNames } from './postgres-locks.js';
import { newPool, pipelinedKysely, pipelinedTransaction, sendDirect } from './postgres-pipeline.js';
import { quickPushOn } from './postgres-quick-push.js';
import { HISTORY_COLUMNS, type StoreDialect } from './store-dialect.js';

/**
 * PostgreSQL runs writers in parallel, possibly in other processes (replicas): writes lock what
 * their checks read (the group row, the names they touch) and are retried on deadlock or
 * serialization failure; the change feed is stamped with transaction ids, taken without a lock.
 */
export const postgresDialect: StoreDialect = {
  name: 'postgres',
  groupCommit: false,
  shared: true,
  commitChecksSent: true,
  async transaction(db, work) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await pipelinedTransaction(db, work);
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS || !isRetryable(err)) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  },
  statementRunner: sendDirect,
  lockGroup,
  groupForPush: lockGroupForPush,
  lockPushedNames,
  lockNames: (trx, names) => lockNames(trx, names),
  async lockAllNames(trx) {
    await sql`SELECT pg_advisory_xact_lock(${ALL_NAMES_LOCK}, 0)`.execute(trx);
  },
  lockedRows: (query) => query.forUpdate(),
  async insertFamilies(trx, statements, groupId, families) {
    // Two statements of fixed text, sent together: the samples find their family's new id through
    // the (group_id, name) index, so the first statement's answer is not waited for.
    const f = [
      groupId,
      families.map((r) => r.name),
      families.map((r) => r.type),
      families.map((r) => r.help),
      families.map((r) => r.pushed_at_seconds),
      families.map((r) => r.metrics_json),
      families.map((r) => r.rendered_series_json),
      families.map((r) => r.series_digest),
    ] as const;
    const inserted = statements.rows(
      trx,
      'new families',
      f,
      () => sql`INSERT INTO metric_family (group_id, name, type, help, pushed_at_seconds, metrics_json, rendered_series_json, series_digest)
        SELECT ${f[0]}::bigint, * FROM unnest(${f[1]}::text[], ${f[2]}::text[], ${f[3]}::text[], ${f[4]}::double precision[], ${f[5]}::text[], ${f[6]}::text[], ${f[7]}::text[])`,
    );
    const all = families.flatMap((r) => r.samples.map((s) => [r.name, s] as const));
    const s = [
      groupId,
      all.map(([family]) => family),
      all.map(([, v]) => v.metric_name),
      all.map(([, v]) => v.labels_json),
      all.map(([, v]) => v.value),
      groupId,
    ] as const;
    const samples = statements.rows(
      trx,
      'new samples',
      s,
      () => sql`INSERT INTO metric_sample (family_id, group_id, metric_name, labels_json, value)
        SELECT f.id, ${s[0]}::bigint, v.metric_name, v.labels_json, v.value
        FROM unnest(${s[1]}::text[], ${s[2]}::text[], ${s[3]}::text[], ${s[4]}::double precision[]) AS v(family, metric_name, labels_json, value)
        JOIN metric_family f ON f.group_id = ${s[5]} AND f.name = v.family`,
    );
    await Promise.all([inserted, samples]);
  },
  async updateValues(trx, statements, familyId, samples) {
    // One statement of fixed text for any number of series: the arrays join the family's rows on
    // the series index.
    const values = [samples.map((s) => s.metric_name), samples.map((s) => s.labels_json), samples.map((s) => s.value), familyId] as const;
    await statements.rows(
      trx,
      'values',
      values,
      () => sql`UPDATE metric_sample AS s SET value = v.value
        FROM unnest(${values[0]}::text[], ${values[1]}::text[], ${values[2]}::double precision[]) AS v(metric_name, labels_json, value)
        WHERE s.family_id = ${values[3]} AND s.metric_name = v.metric_name AND s.labels_json = v.labels_json`,
    );
  },
  async updateFamilyInPlace(trx, statements, familyId, family, samples, group) {
    // updateValues with the family's own UPDATE (and the group's) in front, as data-modifying
    // WITHs: one statement instead of two or three (each costs the driver and the server about
    // what running it does). They touch different rows, so sharing one snapshot changes nothing.
    const values: unknown[] = [family.help, family.pushed_at_seconds, family.metrics_json, family.rendered_series_json, family.series_digest, familyId];
    const numbered = group !== undefined && typeof group.changed_seq === 'number';
    if (group) values.push(group.push_time_seconds, ...(numbered ? [group.changed_seq] : []), group.ttl_seconds, group.expires_at_seconds, group.id);
    values.push(
      samples.map((s) => s.metric_name),
      samples.map((s) => s.labels_json),
      samples.map((s) => s.value),
      familyId,
    );
    const shape = group
      ? `family, values and group in place${group.emptied ? ', emptied' : ''}${group.aggregation ? `, ${group.aggregation}` : ''}${numbered ? ', numbered' : ''}`
      : 'family and values in place';
    const rows = await statements.rows<{ version: number }>(trx, shape, values, () => {
      const v = [...values];
      const next = () => v.shift();
      const familyUpdate = sql`UPDATE metric_family SET help = ${next()}, pushed_at_seconds = ${next()}, metrics_json = ${next()},
        rendered_series_json = ${next()}, series_digest = ${next()} WHERE id = ${next()}`;
      if (!group) {
        return sql<{ version: number }>`WITH family AS (${familyUpdate})
          UPDATE metric_sample AS s SET value = v.value
          FROM unnest(${next()}::text[], ${next()}::text[], ${next()}::double precision[]) AS v(metric_name, labels_json, value)
          WHERE s.family_id = ${next()} AND s.metric_name = v.metric_name AND s.labels_json = v.labels_json`;
      }
      // The group's new changed_seq is its row's version (quickPush): the id of the transaction
      // that wrote it.
      const groupUpdate = sql`UPDATE metric_group SET push_time_seconds = ${next()}, changed_seq = ${numbered ? next() : group.changed_seq},
        ttl_seconds = ${next()}, expires_at_seconds = ${next()}${group.emptied ? sql`, push_failure_time_seconds = 0` : sql``}${
          group.aggregation ? sql.raw(`, aggregation = '${group.aggregation}'`) : sql``
        } WHERE id = ${next()} RETURNING changed_seq`;
      return sql<{ version: number }>`WITH family AS (${familyUpdate}), grp AS (${groupUpdate}),
        vals AS (UPDATE metric_sample AS s SET value = v.value
          FROM unnest(${next()}::text[], ${next()}::text[], ${next()}::double precision[]) AS v(metric_name, labels_json, value)
          WHERE s.family_id = ${next()} AND s.metric_name = v.metric_name AND s.labels_json = v.labels_json)
        SELECT changed_seq AS version FROM grp`;
    });
    return rows[0] === undefined || numbered ? undefined : Number(rows[0].version);
  },
  async appendHistory(db, rows) {
    // The attempts go in as one column array each, and their labels come out of the rows the
    // INSERT returns, in the same statement: no ids or labels travel back to be parsed and sent
    // again, and the text is fixed whatever the number of rows.
    const columns = HISTORY_COLUMNS.map((column) => rows.map((r) => r[column] ?? null));
    await db.executeQuery(CompiledQuery.raw(APPEND_HISTORY, columns));
  },
  async bumpVersion(trx) {
    // A counter row would hold a lock from each write to its COMMIT and serialise every write in
    // the cluster; the transaction's own id needs none. Ids commit out of order, which the
    // reader allows for through the snapshot's xmin (horizonRow).
    const { rows } = await sql<{ seq: number; pruned_seq: number }>`
      SELECT pg_current_xact_id()::text::bigint AS seq, pruned_seq FROM store_version WHERE id = 1`.execute(trx);
    const row = rows[0]!;
    return { seq: Number(row.seq), pruned_seq: Number(row.pruned_seq) };
  },
  changeStamp: async () => sql<number>`pg_current_xact_id()::text::bigint`,
  // The oldest transaction still running: every id below it has committed or never will.
  horizonRow: () => sql`SELECT 0 AS kind, pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS id, 0 AS seq`,
  fullRead: (_db, pages) => pages(),
};

const HISTORY_TYPES = ['double precision', 'text', 'text', 'text', 'text', 'text', 'text', 'integer', 'text', 'bigint', 'integer', 'text'];
const APPEND_HISTORY = `WITH a AS (
    INSERT INTO push_attempt (${HISTORY_COLUMNS.join(', ')})
    SELECT * FROM unnest(${HISTORY_TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(', ')})
    RETURNING id, time_seconds, labels_json)
  INSERT INTO push_attempt_label (attempt_id, name, value, time_seconds)
  SELECT a.id, j.key, j.value, a.time_seconds FROM a, json_each_text(CAST(a.labels_json AS json)) AS j
  WHERE a.labels_json IS NOT NULL AND j.key <> 'job'`;

// Attempts of a write transaction that PostgreSQL aborted for a deadlock or serialization failure.
const MAX_ATTEMPTS = 5;

/** serialization_failure and deadlock_detected: the transaction may simply run again. */
function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}

// pg is loaded only when PostgreSQL is used: loading it costs SQLite users time at every start.
export const loadPg = (): typeof pg => createRequire(import.meta.url)('pg') as typeof pg;

export function openPostgres(url: string): OpenDatabase {
  const pg = loadPg();
  // int8 (ids, counts) would otherwise arrive as strings; our ids stay far below 2^53.
  pg.types.setTypeParser(20, (v) => Number(v));
  // Pipelined: a statement goes out while those before it still run (statementRunner).
  const pool = newPool(pg, url, 10, true);
  const db = pipelinedKysely(pool);
  // The change feed on a connection of its own: every scrape waits for a feed read, and on the
  // writers' pool that read waited its turn behind pushes. One connection is enough: concurrent
  // scrapes share one read (PushService.refresh).
  const feed = new Kysely<Database>({ dialect: new KyselyPostgresDialect({ pool: newPool(pg, url, 1, false) }) });
  return {
    db,
    dialect: { ...postgresDialect, feed, quickPush: quickPushOn(pool) },
    async sizeBytes() {
      const r = await pool.query<{ size: string }>('SELECT pg_database_size(current_database()) AS size');
      return Number(r.rows[0]?.size ?? 0);
    },
    async close() {
      await Promise.all([db.destroy(), feed.destroy()]);
    },
  };
}

// PostgreSQL type OIDs whose default parsing does not suit a printed table.
const INT8 = 20;
const NUMERIC = 1700;
const AS_TEXT = [114 /* json */, 3802 /* jsonb */, 1082 /* date */, 1083 /* time */, 1114 /* timestamp */, 1184 /* timestamptz */, 1266 /* timetz */];

/**
 * Counts and sums (int8, numeric) as numbers like SQLite gives them, dates and JSON as the text
 * PostgreSQL prints, so the same query prints the same on both databases.
 */
const printedTypes = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (oid === INT8 || oid === NUMERIC) {
      return (value) => {
        const n = Number(value);
        return Number.isFinite(n) && (oid === NUMERIC || Number.isSafeInteger(n)) ? n : value;
      };
    }
    if (AS_TEXT.includes(oid)) return (value) => value;
    return loadPg().types.getTypeParser(oid, (format ?? 'text') as 'text');
  },
};

const PG_QUERY_KEYWORDS = new Set(['select', 'with', 'values', 'table', 'explain', 'show']);

/** One connection whose every statement runs in a READ ONLY transaction that is rolled back. */
export async function openPostgresReadOnly(url: string): Promise<ReadOnlyDatabase> {
  const client = new (loadPg().Client)({ connectionString: url, connectionTimeoutMillis: 5_000, types: printedTypes } as pg.ClientConfig);
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    throw new ReadOnlyQueryError(`cannot connect to PostgreSQL: ${oneLine(err)}`);
  }
  return {
    kind: 'postgres',
    async query(text) {
      // The READ ONLY transaction refuses writes to tables, but not everything with an effect
      // outside them (COPY ... TO PROGRAM, DO, CALL, SET, COMMIT): only query statements run.
      if (!PG_QUERY_KEYWORDS.has(leadingKeyword(text))) throw new WriteRefusedError(REFUSED);
      try {
        await client.query('BEGIN TRANSACTION READ ONLY');
        // The extended protocol runs exactly one statement: `SELECT 1; COMMIT; DELETE ...` is
        // refused instead of leaving the read-only transaction.
        const result = await client.query({ text, rowMode: 'array', queryMode: 'extended' } as pg.QueryArrayConfig);
        const fields = (result as pg.QueryArrayResult | undefined)?.fields ?? [];
        if (fields.length === 0) throw new WriteRefusedError(REFUSED);
        return { columns: fields.map((f) => f.name), rows: result.rows };
      } catch (err) {
        if (err instanceof WriteRefusedError) throw err;
        // 25006 read_only_sql_transaction: an INSERT, UPDATE, DELETE, DDL, nextval(), ...
        if ((err as { code?: unknown }).code === '25006') throw new WriteRefusedError(REFUSED);
        throw new ReadOnlyQueryError(oneLine(err));
      } finally {
        await client.query('ROLLBACK').catch(() => {});
      }
    },
    async close() {
      await client.end();
    },
  };
}
