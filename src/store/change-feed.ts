import { sql, type Kysely, type Transaction } from 'kysely';
import type { ChangeCursor, StoreChanges, StoredGroup } from './metric-store.js';
import type { Database } from './schema.js';
import type { StoreContext } from './store-context.js';
import type { StoreDialect } from './dialect/store-dialect.js';
import { allGroupPages, loadChangedGroups } from './group-reads.js';

// The change feed other replicas read (loadGroupsChangedSince): every write stamps the groups it
// touches with a change number (StoreDialect.changeStamp), every delete leaves tombstones.
// Written inside the caller's transaction.

// Tombstones kept for replicas that have not looked for a while; one that falls further behind
// reloads everything.
const KEEP_TOMBSTONES = 10_000;

// Rows per INSERT of tombstones: far below SQLite's and PostgreSQL's parameter limits.
const TOMBSTONE_BATCH = 500;

/** Leaves tombstones for removed groups, so that other replicas drop them from their caches. */
export async function recordRemoved(dialect: StoreDialect, trx: Transaction<Database>, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  const version = await dialect.bumpVersion(trx);
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

/**
 * The groups changed and removed since the cursor (MetricStore.loadGroupsChangedSince). One
 * statement, so one snapshot, reads the horizon (every write numbered below it is committed and
 * visible in this very snapshot), the wipe and pruning marks, and every group and tombstone
 * stamped at or after the caller's previous horizon.
 */
export async function changesSince(ctx: StoreContext, cursor: ChangeCursor | undefined): Promise<StoreChanges> {
  // Both reads on one connection: each acquisition from a pool that pushes keep busy waits its
  // turn behind them, and every scrape of a replica waits for this.
  return (ctx.dialect.feed ?? ctx.db).connection().execute((db) => changesOn(ctx, db, cursor));
}

async function changesOn(ctx: StoreContext, db: Kysely<Database>, cursor: ChangeCursor | undefined): Promise<StoreChanges> {
  const { rows } = await sql<{ kind: number; id: number; seq: number }>`
    ${ctx.dialect.horizonRow()}
    UNION ALL SELECT 1, reset_seq, pruned_seq FROM store_version WHERE id = 1
    UNION ALL SELECT 2, id, changed_seq FROM metric_group WHERE changed_seq >= ${cursor?.horizon ?? 0}
    UNION ALL SELECT 3, group_id, seq FROM deleted_group WHERE seq >= ${cursor?.horizon ?? 0}`.execute(db);
  let horizon = 0;
  let resetSeq = 0;
  let prunedSeq = 0;
  const stamped = new Map<number, number>();
  const tombstones = new Map<number, number>();
  for (const r of rows) {
    const kind = Number(r.kind);
    if (kind === 0) horizon = Number(r.id);
    else if (kind === 1) [resetSeq, prunedSeq] = [Number(r.id), Number(r.seq)];
    else (kind === 2 ? stamped : tombstones).set(Number(r.id), Number(r.seq));
  }
  // Rows stamped at or after the new horizon come back next time too: remembered, so that only
  // those with a new stamp count as changed then.
  const next: ChangeCursor = {
    horizon,
    resetSeq,
    seen: new Map([...stamped].filter(([, seq]) => seq >= horizon)),
    seenRemoved: new Set([...tombstones].filter(([, seq]) => seq >= horizon).map(([id]) => id)),
  };
  if (!cursor || resetSeq !== cursor.resetSeq || prunedSeq >= cursor.horizon) {
    return { cursor: next, full: true, pages: allGroupPages(ctx), removedIds: [] };
  }
  const ids = [...stamped].filter(([id, seq]) => cursor.seen.get(id) !== seq).map(([id]) => id);
  const removed = new Set([...tombstones.keys()].filter((id) => !cursor.seenRemoved.has(id)));
  const groups = await loadChangedGroups(db, ids);
  const present = new Set(groups.map((g) => g.id));
  // Changed, then removed before we loaded it.
  for (const id of ids) if (!present.has(id)) removed.add(id);
  return { cursor: next, full: false, pages: onePage(groups), removedIds: [...removed] };
}

async function* onePage(items: StoredGroup[]): AsyncGenerator<StoredGroup[]> {
  yield items;
}
