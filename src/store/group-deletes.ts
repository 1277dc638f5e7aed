import type { Transaction } from 'kysely';
import type { GroupingKey } from '../domain/grouping-key.js';
import { recordRemoved } from './change-feed.js';
import { ID_BATCH } from './group-reads.js';
import type { ExpiredGroup } from './metric-store.js';
import { recountNames, releaseNames } from './name-registry.js';
import { labelPairs } from './rows.js';
import type { Database } from './schema.js';
import type { StoreContext } from './store-context.js';

// Removing groups, each function inside the caller's write transaction. Group rows are taken
// before names, in id order: the order every write takes them in, so writers never deadlock.

/** Removes one group; returns its id, undefined if there was none. */
export async function deleteGroup(ctx: StoreContext, trx: Transaction<Database>, key: GroupingKey): Promise<number | undefined> {
  const group = await ctx.dialect.lockedRows(trx.selectFrom('metric_group').select('id').where('grouping_key', '=', key.id)).executeTakeFirst();
  if (!group) return undefined;
  const names = (await trx.selectFrom('metric_family').select('name').where('group_id', '=', group.id).execute()).map((n) => n.name);
  await ctx.dialect.lockNames(trx, names);
  await trx.deleteFrom('metric_group').where('id', '=', group.id).execute();
  await releaseNames(trx, names);
  await recordRemoved(ctx.dialect, trx, [Number(group.id)]);
  return Number(group.id);
}

/** Removes every group; returns the ids removed. */
export async function deleteAll(ctx: StoreContext, trx: Transaction<Database>): Promise<number[]> {
  const ids = (await ctx.dialect.lockedRows(trx.selectFrom('metric_group').select('id').orderBy('id')).execute()).map((r) => Number(r.id));
  await ctx.dialect.lockAllNames(trx);
  // Children first in bulk: a cascade would visit every family and sample one by one.
  await trx.deleteFrom('metric_sample').execute();
  await trx.deleteFrom('metric_family').execute();
  await trx.deleteFrom('metric_group').execute();
  await trx.deleteFrom('metric_name').execute();
  // Readers behind the wipe reload everything: no tombstone per group, and older ones are moot.
  const version = await ctx.dialect.bumpVersion(trx);
  await trx.updateTable('store_version').set({ reset_seq: version.seq }).where('id', '=', 1).execute();
  await trx.deleteFrom('deleted_group').execute();
  return ids;
}

/** MetricStore.deleteGroupsById inside a transaction. */
export async function deleteGroupsById(ctx: StoreContext, trx: Transaction<Database>, ids: readonly number[], pushedBeforeSeconds?: number): Promise<number[]> {
  const deleted: number[] = [];
  const names = new Set<string>();
  for (let i = 0; i < ids.length; i += ID_BATCH) {
    let query = trx
      .selectFrom('metric_group')
      .select('id')
      .where('id', 'in', ids.slice(i, i + ID_BATCH));
    if (pushedBeforeSeconds !== undefined) query = query.where('push_time_seconds', '<', pushedBeforeSeconds);
    const batch = (await ctx.dialect.lockedRows(query.orderBy('id')).execute()).map((r) => Number(r.id));
    if (batch.length === 0) continue;
    const familyNames = await trx.selectFrom('metric_family').select('name').distinct().where('group_id', 'in', batch).execute();
    for (const f of familyNames) names.add(f.name);
    // metric_sample has no group_id index; its family_id index reaches the rows.
    await trx
      .deleteFrom('metric_sample')
      .where('family_id', 'in', (eb) => eb.selectFrom('metric_family').select('id').where('group_id', 'in', batch))
      .execute();
    await trx.deleteFrom('metric_family').where('group_id', 'in', batch).execute();
    await trx.deleteFrom('metric_group').where('id', 'in', batch).execute();
    deleted.push(...batch);
  }
  await ctx.dialect.lockAllNames(trx);
  await recountNames(trx, [...names]);
  await recordRemoved(ctx.dialect, trx, deleted);
  return deleted;
}

/** MetricStore.deleteExpired inside a transaction. */
export async function deleteExpired(ctx: StoreContext, trx: Transaction<Database>, nowSeconds: number): Promise<ExpiredGroup[]> {
  const expired = trx.selectFrom('metric_group').select('id').where('expires_at_seconds', '<=', nowSeconds);
  // Group rows before names, as pushes take them: a push re-filling an expired group holds its
  // row and then wants the names, so taking the names first would deadlock.
  await ctx.dialect.lockedRows(expired.orderBy('id')).execute();
  const names = await trx.selectFrom('metric_family').select('name').distinct().where('group_id', 'in', expired).execute();
  if (names.length > 0)
    await ctx.dialect.lockNames(
      trx,
      names.map((n) => n.name),
    );
  // The DELETE decides which groups this sweep removed: a replica sweeping at the same time
  // blocks on the rows and then finds them gone, so no group is reported (or counted) twice.
  // Families and samples go by ON DELETE CASCADE, through their group_id and family_id indexes.
  const rows = await trx
    .deleteFrom('metric_group')
    .where('expires_at_seconds', '<=', nowSeconds)
    .returning(['id', 'grouping_key', 'job', 'labels_json', 'push_time_seconds', 'expires_at_seconds'])
    .execute();
  if (rows.length === 0) return [];
  await recountNames(
    trx,
    names.map((n) => n.name),
  );
  await recordRemoved(
    ctx.dialect,
    trx,
    rows.map((r) => Number(r.id)),
  );
  return rows.map((r) => ({
    id: Number(r.id),
    key: { job: r.job, labels: labelPairs(r.labels_json), id: r.grouping_key },
    pushTimeSeconds: r.push_time_seconds,
    expiresAtSeconds: r.expires_at_seconds ?? nowSeconds,
  }));
}

/**
 * Drops every family of an expired group that a write is about to reuse, so the write sees a
 * new group; returns the names dropped.
 */
export async function emptyGroup(ctx: StoreContext, trx: Transaction<Database>, groupId: number): Promise<string[]> {
  const names = (await trx.selectFrom('metric_family').select('name').where('group_id', '=', groupId).execute()).map((r) => r.name);
  if (names.length === 0) return names;
  await ctx.dialect.lockNames(trx, names);
  await trx.deleteFrom('metric_family').where('group_id', '=', groupId).execute();
  await releaseNames(trx, names);
  return names;
}
