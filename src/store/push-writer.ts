import { sql, type Transaction } from 'kysely';
import { isExpired } from '../domain/expiry.js';
import type { GroupingKey } from '../domain/grouping-key.js';
import { INCONSISTENT_PREFIX } from '../domain/push-rules.js';
import { flattenFamily } from '../exposition/samples.js';
import type { LabelPair, MetricFamily, MetricType } from '../exposition/types.js';
import type { ChangeStamp, FamilyHead, FamilyInPlace, SampleValue } from './dialect/store-dialect.js';
import { emptyGroup } from './group-deletes.js';
import { settleMode, type AggregationMode } from '../domain/aggregation.js';
import { checkIdempotency, rememberIdempotency } from './idempotency-keys.js';
import { sumWithStored } from './summed-families.js';
import { encodeMetrics, labelsJson } from './metrics-json.js';
import { ConflictError, type ExpiryOf, type GroupHeader, type PushWrite, type StoredFamily, type WriteResult } from './metric-store.js';
import { readRegistry, registerNames, releaseNames } from './name-registry.js';
import { toHeader } from './rows.js';
import type { Database, MetricGroupRow } from './schema.js';
import { familySamples, sortedByName } from './sample-values.js';
import { seriesDigest } from './series-digest.js';
import type { StoreContext } from './store-context.js';
import type { RememberedGroup } from './quick-push.js';
import { firstFailure } from '../util/first-failure.js';

/**
 * Applies one push inside the caller's transaction. `stamp`: the change number to stamp, when
 * the caller took one for several writes (a group commit).
 *
 * A push costs a fixed number of statements whatever its size: replaced and removed families go
 * in one DELETE (their samples cascade), pushed ones come back in one multi-row INSERT, and their
 * samples in batched INSERTs. A family pushed again with its type and series unchanged (the
 * periodic re-push, by far the commonest) keeps its rows and gets new values in place, which
 * touches no index.
 */
export async function applyPush(
  ctx: StoreContext,
  trx: Transaction<Database>,
  write: PushWrite,
  stamp?: ChangeStamp,
  /** Another write follows in the same transaction: a failure must be this write's, not the next one's. */
  followed = false,
  /**
   * Told, where the dialect has row versions, how the push leaves the group when it rewrote
   * families in place only (QuickPushes); what it is told holds once the transaction commits.
   */
  left?: (group: Promise<RememberedGroup | undefined>) => void,
): Promise<WriteResult> {
  const sent: Promise<unknown>[] = [];
  try {
    const result = await writePush(ctx, trx, write, stamp, sent, left);
    // Where the transaction checks them at COMMIT, COMMIT goes out behind them instead.
    if (followed || !ctx.dialect.commitChecksSent) await Promise.all(sent);
    return result;
  } catch (err) {
    // The first statement that failed is the reason: on PostgreSQL the statements after it fail
    // only because the transaction is aborted (and a deadlock must be seen as one, to be retried).
    throw (await firstFailure(sent)) ?? err;
  }
}

/**
 * applyPush. Statements whose results it does not need are sent without waiting for them
 * (`sent`): PostgreSQL gets them in one round trip, in order, and runs each later statement after
 * them. SQLite has run each by the time it returns.
 */
async function writePush(
  ctx: StoreContext,
  trx: Transaction<Database>,
  write: PushWrite,
  stamp: ChangeStamp | undefined,
  sent: Promise<unknown>[],
  left: ((group: Promise<RememberedGroup | undefined>) => void) | undefined,
): Promise<WriteResult> {
  const send = (statement: Promise<unknown>) => {
    statement.catch(() => {});
    sent.push(statement);
  };
  const { group, families } = await ctx.dialect.groupForPush(trx, write.key, ctx.statements, { pushed: write.families, replace: write.replace });
  // Under the group's lock: two repeats of one key cannot both be new.
  if (write.idempotency) await checkIdempotency(trx, write.key.id, write.idempotency, write.timeSeconds);
  // Readers stopped showing a group once its expiry passed: a push to it starts a new group.
  const expiredNames = isExpired(group.expires_at_seconds, write.timeSeconds) ? await emptyGroup(ctx, trx, group.id) : undefined;
  const existingRows = expiredNames === undefined ? families : [];
  // A group gets its mode from its first successful push; one emptied by expiry starts again.
  const storedMode = expiredNames !== undefined || group.push_time_seconds === 0 ? undefined : group.aggregation;
  const mode = settleMode(write.key.id, storedMode, write.aggregation ?? { initial: 'replace' });
  const existing = new Map(existingRows.map((r) => [r.name, r.type as MetricType] as const));
  send(ctx.dialect.lockPushedNames(trx, { existingRows, existing, pushed: write.families, replace: write.replace }, ctx.statements));

  if (write.check) {
    const registry = await readRegistry(ctx.statements, trx, write.lookUpNames(existing));
    const problem = write.check({ existing, registry });
    if (problem) throw new ConflictError(problem);
  }

  const adding = new Set<string>();
  for (const f of write.families) if ((mode === 'sum' && !write.replace) || write.addFamilies?.has(f.name)) adding.add(f.name);
  const pushed = adding.size > 0 ? await sumWithStored(ctx.statements, trx, write.families, adding, existingRows, write.addFamilies) : write.families;

  const pushedNames = new Set(pushed.map((f) => f.name));
  const removed = write.replace ? existingRows.filter((r) => !pushedNames.has(r.name)) : [];
  const sampleRows = new Map(pushed.map((f) => [f.name, familySamples(f)] as const));
  const digests = new Map([...sampleRows].map(([name, rows]) => [name, seriesDigest(rows)] as const));
  const inPlace = familiesWithSameSeries(pushed, existingRows, sampleRows, digests);
  const replaced = existingRows.filter((r) => pushedNames.has(r.name) && !inPlace.has(r.name));
  const dropped = [...removed, ...replaced];
  if (dropped.length > 0) {
    await trx
      .deleteFrom('metric_family')
      .where(
        'id',
        'in',
        dropped.map((r) => r.id),
      )
      .execute();
  }

  const familyRow = (family: MetricFamily) => familyInPlace(write, family, digests.get(family.name)!);
  const emptied = expiredNames !== undefined;
  const expiry = pushedExpiry(group, write, emptied);
  const changed = stamp ?? (await ctx.dialect.changeStamp(trx));
  const modeChanged = mode !== group.aggregation;
  // Where the dialect rewrites a family in place in one statement, the group's UPDATE rides along
  // with the first such family's (nothing after it reads the group's row).
  let groupSent = false;
  let version: Promise<number | undefined> | undefined;
  for (const family of pushed) {
    const id = inPlace.get(family.name);
    if (id === undefined) continue;
    const row = familyRow(family);
    if (ctx.dialect.updateFamilyInPlace) {
      const groupUpdate = groupSent
        ? undefined
        : { id: group.id, push_time_seconds: write.timeSeconds, changed_seq: changed, ...expiry, emptied, ...(modeChanged ? { aggregation: mode } : {}) };
      const written = ctx.dialect.updateFamilyInPlace(trx, ctx.statements, id, row, sampleRows.get(family.name)!, groupUpdate);
      send(written);
      if (groupUpdate) version = written;
      groupSent = true;
      continue;
    }
    const values = [row.help, row.pushed_at_seconds, row.metrics_json, row.rendered_series_json, row.series_digest, id] as const;
    send(
      ctx.statements.rows(
        trx,
        'family in place',
        values,
        () => sql`UPDATE metric_family SET help = ${values[0]},
      pushed_at_seconds = ${values[1]}, metrics_json = ${values[2]}, rendered_series_json = ${values[3]},
      series_digest = ${values[4]} WHERE id = ${values[5]}`,
      ),
    );
    send(ctx.dialect.updateValues(trx, ctx.statements, id, sampleRows.get(family.name)!));
  }
  const fresh = pushed.filter((f) => !inPlace.has(f.name));
  if (fresh.length > 0) {
    const rows = fresh.map((family) => ({ name: family.name, type: family.type, ...familyRow(family), samples: sampleRows.get(family.name)! }));
    send(ctx.dialect.insertFamilies(trx, ctx.statements, group.id, rows));
  }
  send(registerNames(ctx.statements, trx, pushed, existing));
  await releaseNames(
    trx,
    removed.map((r) => r.name),
  );

  if (write.idempotency) await rememberIdempotency(trx, write.key.id, write.idempotency, write.timeSeconds);
  const removedNames = [...(expiredNames ?? []), ...removed.map((r) => r.name)];
  const { updated, result } = pushResult(group, write, pushed, expiry, emptied, mode, removedNames, [...adding]);
  if (left && version && fresh.length === 0 && dropped.length === 0 && !emptied) {
    // Rewritten in place: the families keep their rows, the pushed ones with their new digests.
    const families = existingRows.map((r) => (pushedNames.has(r.name) ? { ...r, series_digest: digests.get(r.name)! } : r));
    left(version.then((v) => (v === undefined ? undefined : { row: { ...updated, changed_seq: v }, version: v, families })));
  }
  if (groupSent) return result;
  const values = [write.timeSeconds, changed, expiry.ttl_seconds, expiry.expires_at_seconds, group.id] as const;
  const update = () => sql`UPDATE metric_group SET push_time_seconds = ${values[0]}, changed_seq = ${values[1]},
    ttl_seconds = ${values[2]}, expires_at_seconds = ${values[3]}${emptied ? sql`, push_failure_time_seconds = 0` : sql``}${
      modeChanged ? sql.raw(`, aggregation = '${mode}'`) : sql``
    } WHERE id = ${values[4]}`;
  const statement = `pushed group${emptied ? ', emptied' : ''}${modeChanged ? `, ${mode}` : ''}`;
  // A change stamp that is an expression is part of the SQL text, not a parameter.
  send(ctx.statements.rows(trx, statement, typeof changed === 'number' ? values : values.filter((_, i) => i !== 1), update));
  return result;
}

/** MetricStore.recordFailure inside a transaction. */
export async function recordFailure(
  ctx: StoreContext,
  trx: Transaction<Database>,
  key: GroupingKey,
  timeSeconds: number,
  expiry?: ExpiryOf,
): Promise<GroupHeader> {
  const group = await ctx.dialect.lockGroup(trx, key, ctx.statements);
  const emptied = isExpired(group.expires_at_seconds, timeSeconds) && (await emptyGroup(ctx, trx, group.id)) !== undefined;
  // A failure never extends the life of a group that has had a successful push.
  const neverPushed = emptied || group.push_time_seconds === 0;
  const row = await trx
    .updateTable('metric_group')
    .set({
      push_failure_time_seconds: timeSeconds,
      changed_seq: await ctx.dialect.changeStamp(trx),
      ...(emptied ? { push_time_seconds: 0, ttl_seconds: null } : {}),
      ...(neverPushed ? { expires_at_seconds: expiry?.(emptied ? undefined : (group.ttl_seconds ?? undefined)) ?? null } : {}),
    })
    .where('id', '=', group.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toHeader(row);
}

/** Finds the series a failed insert collided with, to name it in the client's error. */
export async function describeDuplicate(ctx: StoreContext, write: PushWrite): Promise<string> {
  for (const family of write.families) {
    for (const s of flattenFamily(family)) {
      const found = await ctx.db
        .selectFrom('metric_sample')
        .innerJoin('metric_group', 'metric_group.id', 'metric_sample.group_id')
        .select('metric_group.grouping_key')
        .where('metric_sample.metric_name', '=', s.name)
        .where('metric_sample.labels_json', '=', labelsJson(sortedByName(s.labels)))
        .where('metric_group.grouping_key', '!=', write.key.id)
        .executeTakeFirst();
      if (found) {
        return `${INCONSISTENT_PREFIX}series ${s.name}${labelsText(s.labels)} is already pushed by group ${found.grouping_key}`;
      }
    }
  }
  return `${INCONSISTENT_PREFIX}a pushed series duplicates one that is already stored`;
}

/** A pushed family's row, as a push writes it (in place or new). */
export function familyInPlace(write: PushWrite, family: MetricFamily, digest: string): FamilyInPlace {
  return {
    help: family.help ?? null,
    pushed_at_seconds: write.timeSeconds,
    metrics_json: encodeMetrics(family.metrics),
    rendered_series_json: write.render?.(family) ?? null,
    series_digest: digest,
  };
}

/** The group's row after a push (`updated`) and what the push reports. */
export function pushResult(
  group: MetricGroupRow,
  write: PushWrite,
  pushed: readonly MetricFamily[],
  expiry: ReturnType<typeof pushedExpiry>,
  emptied: boolean,
  mode: AggregationMode,
  removed: readonly string[],
  summed: readonly string[],
): { updated: MetricGroupRow; result: WriteResult } {
  // The group's row was read (and, where writers run concurrently, locked) in this transaction,
  // so the header after the UPDATE is known without RETURNING, which costs SQLite an ephemeral
  // table per statement.
  const updated: MetricGroupRow = {
    ...group,
    push_time_seconds: write.timeSeconds,
    ttl_seconds: expiry.ttl_seconds,
    expires_at_seconds: expiry.expires_at_seconds,
    ...(emptied ? { push_failure_time_seconds: 0 } : {}),
    aggregation: mode,
  };
  const written: StoredFamily[] = pushed.map((family) => ({
    name: family.name,
    type: family.type,
    ...(family.help !== undefined ? { help: family.help } : {}),
    pushedAtSeconds: write.timeSeconds,
    metrics: family.metrics,
  }));
  return { updated, result: { group: toHeader(updated), written, removed, ...(summed.length > 0 ? { summed } : {}) } };
}

/**
 * Retention columns after a successful push: a Pushkeep-TTL header's TTL sticks to the group; a
 * group emptied because it had expired starts over (no stored TTL; applyPush also clears its
 * failure time).
 */
export function pushedExpiry(group: MetricGroupRow, write: PushWrite, emptied: boolean) {
  const stored = emptied ? null : group.ttl_seconds;
  return { ttl_seconds: write.ttlSeconds ?? stored, expires_at_seconds: write.expiry?.(stored ?? undefined) ?? null };
}

function labelsText(labels: readonly LabelPair[]): string {
  return `{${labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(',')}}`;
}

/**
 * The pushed families (name → stored family id) that replace a stored family of the same type
 * holding exactly the same series in the same order, as their digests tell. A family stored
 * without a digest (before migration 0006) is replaced: its rows' order is unknown.
 */
function familiesWithSameSeries(
  families: readonly MetricFamily[],
  existingRows: readonly FamilyHead[],
  sampleRows: ReadonlyMap<string, readonly SampleValue[]>,
  digests: ReadonlyMap<string, string>,
): Map<string, number> {
  const byName = new Map(existingRows.map((r) => [r.name, r] as const));
  const same = new Map<string, number>();
  for (const f of families) {
    const row = byName.get(f.name);
    if (!row || row.type !== f.type || sampleRows.get(f.name)!.length === 0) continue;
    if (row.series_digest !== null && row.series_digest === digests.get(f.name)) same.set(f.name, Number(row.id));
  }
  return same;
}
