import { createRequire } from 'node:module';
import { CompiledQuery, Kysely, PostgresDialect as KyselyPostgresDialect, sql, type Transaction } from 'kysely';
import type pg from 'pg';
import type { GroupingKey } from '../../domain/grouping-key.js';
import { GROUP_AND_FAMILIES, newGroupRow, splitGroupRows, type GroupAndFamily } from '../group-rows.js';
import { leadingKeyword, oneLine, REFUSED, ReadOnlyQueryError, WriteRefusedError, type ReadOnlyDatabase } from '../read-only-database.js';
import type { CompiledStatements } from '../compiled-statements.js';
import type { Database, MetricGroupRow } from '../schema.js';
import type { OpenDatabase } from './open-database.js';
import { newPool, pipelinedKysely, pipelinedTransaction, sendDirect } from './postgres-pipeline.js';
import type { FamilyHead, HistoryRow, PushedFamilies, StoreDialect } from './store-dialect.js';

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
  async groupForPush(trx, key, statements, pushed) {
    // The group and its families in one statement, the group's row locked (and, given the pushed
    // families, their names where the push changes none, as lockPushedNames would); a group not
    // there yet is inserted, or, if another transaction inserts it first, read again once that
    // commits.
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = splitGroupRows(await (pushed ? lockedGroupAndNames(trx, key, statements, pushed) : lockedGroup(trx, key, statements)));
      if (found) {
        if (pushed && namesUnchanged(found.families, pushed)) namesLocked.set(found.families, pushed);
        return found;
      }
      const inserted = await trx
        .insertInto('metric_group')
        .values(newGroupRow(key))
        .onConflict((oc) => oc.column('grouping_key').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (inserted) return { group: inserted, families: [] };
    }
    throw vanished();
  },
  lockPushedNames(trx, { existingRows, existing, pushed, replace }, statements) {
    const locked = namesLocked.get(existingRows);
    if (locked && locked.pushed === pushed && locked.replace === replace) return Promise.resolve();
    // A family that replaces one of the same type changes nothing in the name registry, so it
    // locks shared: the periodic re-push of the same group, by far the commonest push, runs in
    // parallel with pushes of the same names to other groups.
    const pushedNames = new Set(pushed.map((f) => f.name));
    const dropping = replace ? existingRows.filter((r) => !pushedNames.has(r.name)).map((r) => r.name) : [];
    const same = pushed.filter((f) => existing.get(f.name) === f.type).map((f) => f.name);
    const changing = pushed.filter((f) => existing.get(f.name) !== f.type).map((f) => f.name);
    return lockNames(trx, [...changing, ...dropping], same, statements);
  },
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
    await statements.rows(trx, shape, values, () => {
      const v = [...values];
      const next = () => v.shift();
      const familyUpdate = sql`UPDATE metric_family SET help = ${next()}, pushed_at_seconds = ${next()}, metrics_json = ${next()},
        rendered_series_json = ${next()}, series_digest = ${next()} WHERE id = ${next()}`;
      const groupUpdate = group
        ? sql`, grp AS (UPDATE metric_group SET push_time_seconds = ${next()}, changed_seq = ${numbered ? next() : group.changed_seq},
            ttl_seconds = ${next()}, expires_at_seconds = ${next()}${group.emptied ? sql`, push_failure_time_seconds = 0` : sql``}${
              group.aggregation ? sql.raw(`, aggregation = '${group.aggregation}'`) : sql``
            } WHERE id = ${next()})`
        : sql``;
      return sql`WITH family AS (${familyUpdate})${groupUpdate}
        UPDATE metric_sample AS s SET value = v.value
        FROM unnest(${next()}::text[], ${next()}::text[], ${next()}::double precision[]) AS v(metric_name, labels_json, value)
        WHERE s.family_id = ${next()} AND s.metric_name = v.metric_name AND s.labels_json = v.labels_json`;
    });
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

const HISTORY_COLUMNS = [
  'time_seconds',
  'method',
  'path',
  'grouping_key',
  'job',
  'labels_json',
  'outcome',
  'status_code',
  'reason',
  'body_bytes',
  'series_count',
  'client_address',
] as const satisfies readonly (keyof HistoryRow)[];
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

// Advisory lock classes (the first key of the two-key form), apart from kysely's migration lock.
const ALL_NAMES_LOCK = 0x706b0001;
const NAME_LOCK = 0x706b0002;
// A power of two. Bounds the advisory locks one transaction holds: each takes a slot of
// PostgreSQL's shared lock table, sized 64 per connection by default.
const NAME_LOCK_BUCKETS = 128;

/**
 * The group's row, created if missing, locked until COMMIT: two writes to one group then run one
 * after the other, each seeing the other's result whole.
 */
async function lockGroup(trx: Transaction<Database>, key: GroupingKey, _statements?: CompiledStatements): Promise<MetricGroupRow> {
  const locked = () => trx.selectFrom('metric_group').selectAll().where('grouping_key', '=', key.id).forUpdate().executeTakeFirst();
  for (let attempt = 0; attempt < 3; attempt++) {
    const found = await locked();
    if (found) return found;
    // DO NOTHING waits for a concurrent insert of the same key to commit or roll back instead
    // of failing on the unique index; the SELECT after it sees whichever row won.
    await trx
      .insertInto('metric_group')
      .values(newGroupRow(key))
      .onConflict((oc) => oc.column('grouping_key').doNothing())
      .execute();
  }
  throw vanished();
}

/** The group's row, locked, with its families. */
function lockedGroup(trx: Transaction<Database>, key: GroupingKey, statements: CompiledStatements): Promise<GroupAndFamily[]> {
  return statements.rows(
    trx,
    'group and its families, locked',
    [key.id],
    () => sql<GroupAndFamily>`SELECT ${sql.raw(GROUP_AND_FAMILIES)} WHERE g.grouping_key = ${key.id} FOR UPDATE OF g`,
  );
}

/**
 * The families groupForPush returned whose names it locked, and for which push: lockPushedNames
 * with those families (the group was not emptied in between) has nothing left to lock.
 */
const namesLocked = new WeakMap<readonly FamilyHead[], PushedFamilies>();

/**
 * Whether the push changes no name of the group: it pushes only names the group holds, each with
 * the type it holds, and, for a PUT, drops none. lockedGroupAndNames's SQL asks the same.
 */
function namesUnchanged(families: readonly FamilyHead[], { pushed, replace }: PushedFamilies): boolean {
  const held = new Map(families.map((f) => [f.name, f.type] as const));
  if (!pushed.every((f) => held.get(f.name) === f.type)) return false;
  if (!replace) return true;
  const names = new Set(pushed.map((f) => f.name));
  return families.every((f) => names.has(f.name));
}

/**
 * lockedGroup plus, for a push that changes no name of the group (namesUnchanged: the periodic
 * re-push), the shared locks lockPushedNames would take, in one statement; keys, buckets and
 * their order are lockNames's, and they are taken after the group's row, as two statements would.
 * A push that adds, changes or drops a name locks nothing here: its exclusive locks are taken by
 * lockPushedNames, in the round trip that writes and commits, so that they are held for one round
 * trip, not two.
 */
function lockedGroupAndNames(
  trx: Transaction<Database>,
  key: GroupingKey,
  statements: CompiledStatements,
  families: PushedFamilies,
): Promise<GroupAndFamily[]> {
  const values = [
    key.id,
    families.pushed.map((f) => f.name),
    families.pushed.map((f) => f.type),
    families.replace,
    ALL_NAMES_LOCK,
    NAME_LOCK,
    NAME_LOCK_BUCKETS - 1,
  ] as const;
  return statements.rows(
    trx,
    'group and its families, locked with their unchanged names',
    values,
    () => sql<GroupAndFamily>`WITH g AS MATERIALIZED (SELECT * FROM metric_group WHERE grouping_key = ${values[0]} FOR UPDATE),
      r AS MATERIALIZED (SELECT g.*, f.id AS family_id, f.name AS family_name, f.type AS family_type, f.series_digest AS family_digest
        FROM g LEFT JOIN metric_family f ON f.group_id = g.id),
      p AS (SELECT * FROM unnest(${values[1]}::text[], ${values[2]}::text[]) AS p(name, type)),
      unchanged AS (
        SELECT NOT EXISTS (SELECT 1 FROM p WHERE NOT EXISTS (SELECT 1 FROM r WHERE r.family_name = p.name AND r.family_type = p.type))
          AND NOT (${values[3]}::boolean AND EXISTS (
            SELECT 1 FROM r WHERE r.family_name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM p WHERE p.name = r.family_name))) AS yes),
      keys AS (
        SELECT k.key FROM p, unnest(ARRAY[p.name, substring(p.name FROM '^(.+)_(?:sum|count|bucket)$')]) AS k(key) WHERE k.key IS NOT NULL),
      locks AS MATERIALIZED (
        SELECT CASE WHEN l.c = 0 THEN pg_advisory_xact_lock_shared(${values[4]}, 0) ELSE pg_advisory_xact_lock_shared(${values[5]}, l.b) END
        FROM (SELECT 0 AS c, 0 AS b FROM g
              UNION
              SELECT 1, hashtext(key) & ${values[6]} FROM keys
              ORDER BY 1, 2) AS l
        WHERE (SELECT yes FROM unchanged))
      SELECT r.* FROM r WHERE (SELECT count(*) FROM locks) >= 0`,
  );
}

/** Created and deleted by others between our statements, over and over: the caller retries. */
function vanished(): Error {
  return Object.assign(new Error('group vanished while being locked'), { code: '40001' });
}

/**
 * Transaction-scoped advisory locks on metric names, exclusive (`names`: added, changed or
 * removed) or shared (`sharedNames`: rewritten unchanged), so the consistency check sees the name
 * registry as it will be at COMMIT. A family `x_sum` and a summary `x` conflict, so each name
 * locks itself and its base (the name without _sum/_count/_bucket): any two conflicting names
 * share a key. Keys are hashed into NAME_LOCK_BUCKETS, which bounds the locks a transaction holds
 * at the price of unrelated names sometimes sharing one, and taken in one sorted order, so
 * writers never deadlock on them. Every such write also holds the all-names lock shared.
 */
async function lockNames(
  trx: Transaction<Database>,
  names: Iterable<string>,
  sharedNames: Iterable<string> = [],
  statements?: CompiledStatements,
): Promise<void> {
  const keys = new Map<string, boolean>();
  const add = (name: string, exclusive: boolean) => {
    for (const key of [name, /^(.+)_(?:sum|count|bucket)$/.exec(name)?.[1]]) {
      if (key !== undefined) keys.set(key, exclusive || (keys.get(key) ?? false));
    }
  };
  for (const name of names) add(name, true);
  for (const name of sharedNames) add(name, false);
  const values = [ALL_NAMES_LOCK, NAME_LOCK, NAME_LOCK, NAME_LOCK_BUCKETS - 1, [...keys.keys()], [...keys.values()]] as const;
  // One round trip. Names sharing a bucket lock it exclusively if any of them asks so.
  const locks = () => sql`SELECT pg_advisory_xact_lock_shared(${values[0]}, 0)
    UNION ALL
    SELECT CASE WHEN x THEN pg_advisory_xact_lock(${values[1]}, b) ELSE pg_advisory_xact_lock_shared(${values[2]}, b) END
    FROM (SELECT hashtext(n) & ${values[3]} AS b, bool_or(x) AS x
          FROM unnest(${values[4]}::text[], ${values[5]}::bool[]) AS t(n, x)
          GROUP BY 1 ORDER BY 1) AS locks`;
  // Through `statements`, sent at once: the caller may go on without waiting for the locks, since
  // PostgreSQL runs what it sends next after them.
  if (statements) await statements.rows(trx, 'name locks', values, locks);
  else await locks().execute(trx);
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
    dialect: { ...postgresDialect, feed },
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
