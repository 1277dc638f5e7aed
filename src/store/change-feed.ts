import { sql, type Transaction } from 'kysely';
import type { ChangeCursor, StoreChanges, StoredFamily, StoredGroup } from './metric-store.js';
import type { Database, MetricGroupRow } from './schema.js';
import type { StoreContext } from './store-context.js';
import type { StoreDialect } from './dialect/store-dialect.js';
import { allGroupPages } from './group-reads.js';
import { toFamily, toHeader } from './rows.js';

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
 * visible in this very snapshot), the wipe and pruning marks, every tombstone stamped at or after
 * the caller's previous horizon, and every group stamped so with its families: a replica's scrape
 * waits for this read, and it costs one round trip however many groups changed.
 */
export async function changesSince(ctx: StoreContext, cursor: ChangeCursor | undefined): Promise<StoreChanges> {
  // On the feed's own connection where there is one: an acquisition from a pool that pushes
  // keep busy waits its turn behind them.
  const db = ctx.dialect.feed ?? ctx.db;
  const { rows } = await (cursor ? changedRows(ctx.dialect, cursor) : stampRows(ctx.dialect)).execute(db);
  let horizon = 0;
  let resetSeq = 0;
  let prunedSeq = 0;
  const stamped = new Map<number, number>();
  const tombstones = new Map<number, number>();
  // The rows of each stamped group: its row once per family (or once, without a family).
  const groupRows = new Map<number, FeedRow[]>();
  for (const r of rows) {
    const kind = Number(r.kind);
    const id = Number(r.id);
    if (kind === 0) horizon = id;
    else if (kind === 1) [resetSeq, prunedSeq] = [id, Number(r.changed_seq)];
    else if (kind === 3) tombstones.set(id, Number(r.changed_seq));
    else {
      stamped.set(id, Number(r.changed_seq));
      if (!cursor) continue;
      const list = groupRows.get(id);
      if (list) list.push(r);
      else groupRows.set(id, [r]);
    }
  }
  // Rows stamped at or after the new horizon come back next time too: remembered, so that only
  // those with a new stamp count as changed then.
  const seen = new Map([...stamped].filter(([, seq]) => seq >= horizon));
  // The groups the read left out as seen (changedRows) are still as seen.
  for (const [id, seq] of cursor?.seen ?? []) if (seq >= horizon && !stamped.has(id)) seen.set(id, seq);
  const next: ChangeCursor = {
    horizon,
    resetSeq,
    seen,
    seenRemoved: new Set([...tombstones].filter(([, seq]) => seq >= horizon).map(([id]) => id)),
  };
  if (!cursor || resetSeq !== cursor.resetSeq || prunedSeq >= cursor.horizon) {
    return { cursor: next, full: true, pages: allGroupPages(ctx), removedIds: [] };
  }
  const groups: StoredGroup[] = [];
  for (const [id, seq] of stamped) if (cursor.seen.get(id) !== seq) groups.push(feedGroup(groupRows.get(id)!));
  groups.sort((a, b) => (a.key.id < b.key.id ? -1 : a.key.id > b.key.id ? 1 : 0));
  const removedIds = [...tombstones.keys()].filter((id) => !cursor.seenRemoved.has(id));
  return { cursor: next, full: false, pages: onePage(groups), removedIds };
}

/** A row of the feed: `kind` 0 horizon, 1 marks, 2 a stamped group (with one family or none), 3 a tombstone. */
type FeedRow = MetricGroupRow & {
  readonly kind: number;
  readonly family_name: string | null;
  readonly family_type: string | null;
  readonly family_help: string | null;
  readonly family_pushed_at_seconds: number | null;
  readonly family_rendered_series_json: string | null;
  readonly family_metrics_json: string | null;
};

// The group and family columns of a kind 2 row; NULL in the others. The group rows come first:
// PostgreSQL types a UNION's column from its branches in order, and NULLs alone would make it text.
const GROUP_COLUMNS = [
  'g.grouping_key',
  'g.job',
  'g.labels_json',
  'g.push_time_seconds',
  'g.push_failure_time_seconds',
  'g.ttl_seconds',
  'g.expires_at_seconds',
  'g.aggregation',
  'f.name AS family_name',
  'f.type AS family_type',
  'f.help AS family_help',
  'f.pushed_at_seconds AS family_pushed_at_seconds',
  'f.rendered_series_json AS family_rendered_series_json',
  'CASE WHEN f.rendered_series_json IS NULL THEN f.metrics_json END AS family_metrics_json',
];
const GROUP_VALUES = sql.raw(GROUP_COLUMNS.join(', '));
const NO_GROUP_VALUES = sql.raw(GROUP_COLUMNS.map(() => 'NULL').join(', '));
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

// The most stamps a read names as seen: past this it reads every stamped group again.
const MAX_SEEN_STAMPS = 1_000;

/**
 * The horizon, marks, tombstones and stamped groups with their families (metrics_json only where
 * there is no rendering: the scrape cache reads the rendering) of writes at or after the cursor's
 * horizon, but not the groups whose stamp the cursor saw: a writer's stamp seen on one group was
 * committed and seen on every group it wrote. While a long transaction anywhere holds the horizon
 * back, that spares reading and decoding every group written since, again on every read.
 */
function changedRows(dialect: StoreDialect, cursor: ChangeCursor) {
  const since = cursor.horizon;
  const seen = [...new Set(cursor.seen.values())];
  const unseen = seen.length > 0 && seen.length <= MAX_SEEN_STAMPS ? sql` AND g.changed_seq NOT IN (${sql.join(seen)})` : sql``;
  // The upper bounds select everything, but a planner without statistics yet (a new database)
  // reads a two-sided range as selective where it reads `>=` as a third of the table: it then
  // finds the few stamped groups by index and looks up their families by index, instead of
  // hashing every family row on each read.
  return sql<FeedRow>`
    SELECT 2 AS kind, g.id AS id, g.changed_seq AS changed_seq, ${GROUP_VALUES}
      FROM metric_group g LEFT JOIN metric_family f ON f.group_id = g.id AND f.group_id >= 0 AND f.group_id <= ${UNBOUNDED}
      WHERE g.changed_seq >= ${since} AND g.changed_seq <= ${UNBOUNDED}${unseen}
    UNION ALL SELECT h.kind, h.id, h.seq, ${NO_GROUP_VALUES} FROM (${dialect.horizonRow()}) h
    UNION ALL SELECT 1, reset_seq, pruned_seq, ${NO_GROUP_VALUES} FROM store_version WHERE id = 1
    UNION ALL SELECT 3, group_id, seq, ${NO_GROUP_VALUES} FROM deleted_group WHERE seq >= ${since}`;
}

/** A first read (no cursor): the horizon, marks and every group's stamp, without their families (a full read follows). */
function stampRows(dialect: StoreDialect) {
  return sql<FeedRow>`
    SELECT h.kind, h.id, h.seq AS changed_seq FROM (${dialect.horizonRow()}) h
    UNION ALL SELECT 1, reset_seq, pruned_seq FROM store_version WHERE id = 1
    UNION ALL SELECT 2, id, changed_seq FROM metric_group
    UNION ALL SELECT 3, group_id, seq FROM deleted_group`;
}

/** A stamped group from its feed rows. */
function feedGroup(rows: readonly FeedRow[]): StoredGroup {
  const families: StoredFamily[] = [];
  for (const r of rows) {
    if (r.family_name === null) continue;
    families.push(
      toFamily({
        name: r.family_name,
        type: r.family_type!,
        help: r.family_help,
        pushed_at_seconds: r.family_pushed_at_seconds!,
        metrics_json: r.family_metrics_json,
        rendered_series_json: r.family_rendered_series_json,
      }),
    );
  }
  families.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Object.assign(toHeader(rows[0]!), { families });
}

async function* onePage(items: StoredGroup[]): AsyncGenerator<StoredGroup[]> {
  yield items;
}
