import { CompiledQuery, PostgresAdapter, sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from './schema.js';

// The change feed other replicas read (loadGroupsChangedSince): every write stamps the groups it
// touches, every delete leaves tombstones. Written inside the caller's transaction.

// Tombstones kept for replicas that have not looked for a while; one that falls further behind
// reloads everything.
const KEEP_TOMBSTONES = 10_000;

// Rows per INSERT of tombstones: far below SQLite's and PostgreSQL's parameter limits.
const TOMBSTONE_BATCH = 500;

export function isPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * The change number a write stamps on the groups it touches and the tombstones it leaves
 * (loadGroupsChangedSince reads them back), plus the tombstone pruning mark.
 *
 * SQLite has one writer at a time: a counter in store_version, so numbers commit in order and a
 * reader seeing N has seen every write up to N. On PostgreSQL such a counter would hold a row
 * lock from the write to its COMMIT and serialise every write in the cluster; the transaction's
 * own id is used instead, taken without any lock. Those ids commit out of order, which the
 * reader allows for through the snapshot's xmin (see CHANGES_SINCE).
 */
export async function bumpVersion(trx: Transaction<Database>): Promise<{ seq: number; pruned_seq: number }> {
  if (isPostgres(trx)) {
    const { rows } = await sql<{ seq: number; pruned_seq: number }>`
      SELECT pg_current_xact_id()::text::bigint AS seq, pruned_seq FROM store_version WHERE id = 1`.execute(trx);
    const row = rows[0]!;
    return { seq: Number(row.seq), pruned_seq: Number(row.pruned_seq) };
  }
  // Two constant statements rather than one with RETURNING, which costs SQLite an ephemeral
  // table each time (5-30 µs against 2 µs for the UPDATE alone); every group commit runs this.
  await trx.executeQuery(BUMP_SEQ);
  const row = (await trx.executeQuery<{ seq: number; pruned_seq: number }>(READ_SEQ)).rows[0]!;
  return { seq: Number(row.seq), pruned_seq: Number(row.pruned_seq) };
}

const BUMP_SEQ = CompiledQuery.raw('UPDATE store_version SET seq = seq + 1 WHERE id = 1');
const READ_SEQ = CompiledQuery.raw('SELECT seq, pruned_seq FROM store_version WHERE id = 1');

/** bumpVersion's number as a value to store; on PostgreSQL an expression, saving a round trip. */
export async function changeStamp(trx: Transaction<Database>): Promise<number | RawBuilder<number>> {
  return isPostgres(trx) ? sql<number>`pg_current_xact_id()::text::bigint` : (await bumpVersion(trx)).seq;
}

/**
 * One statement, so one snapshot: the horizon (every write numbered below it is committed and
 * visible in this very snapshot), the wipe and pruning marks, and every group and tombstone
 * stamped at or after the caller's previous horizon. PostgreSQL's horizon is the snapshot's
 * xmin, the oldest transaction still running; SQLite's is the counter plus one.
 */
export function changesSince(db: Kysely<Database>, horizon: number) {
  const horizonRow = isPostgres(db)
    ? sql`SELECT 0 AS kind, pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS id, 0 AS seq`
    : sql`SELECT 0 AS kind, seq + 1 AS id, 0 AS seq FROM store_version WHERE id = 1`;
  return sql<{ kind: number; id: number; seq: number }>`
    ${horizonRow}
    UNION ALL SELECT 1, reset_seq, pruned_seq FROM store_version WHERE id = 1
    UNION ALL SELECT 2, id, changed_seq FROM metric_group WHERE changed_seq >= ${horizon}
    UNION ALL SELECT 3, group_id, seq FROM deleted_group WHERE seq >= ${horizon}`.execute(db);
}

/** Leaves tombstones for removed groups, so that other replicas drop them from their caches. */
export async function recordRemoved(trx: Transaction<Database>, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  const version = await bumpVersion(trx);
  for (let i = 0; i < ids.length; i += TOMBSTONE_BATCH) {
    await trx
      .insertInto('deleted_group')
      .values(ids.slice(i, i + TOMBSTONE_BATCH).map((id) => ({ seq: version.seq, group_id: id })))
      .execute();
  }
  if (version.seq - version.pruned_seq > 2 * KEEP_TOMBSTONES) {
    const cut = version.seq - KEEP_TOMBSTONES;
    await trx.deleteFrom('deleted_group').where('seq', '<=', cut).execute();
    await trx.updateTable('store_version').set({ pruned_seq: cut }).where('id', '=', 1).execute();
  }
}
