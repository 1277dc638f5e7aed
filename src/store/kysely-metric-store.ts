import { CompiledQuery, sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { GroupingKey } from '../domain/grouping-key.js';
import type { NameEntry } from '../domain/consistency.js';
import { flattenFamily } from '../exposition/samples.js';
import type { LabelPair, MetricFamily, MetricType } from '../exposition/types.js';
import type { DatabaseKind } from './database.js';
import type { Database, InsertableSample, MetricFamilyRow, MetricGroupRow } from './schema.js';
import { encodeMetrics, labelsJson } from './metrics-json.js';
import {
  ConflictError,
  type ExpiredGroup,
  type ExpiryOf,
  type ExpiryUpdate,
  type GroupHeader,
  type MetricStore,
  type PushWrite,
  type StoredFamily,
  type ChangeCursor,
  type StoreChanges,
  type StoredGroup,
  type WriteResult,
} from './metric-store.js';
import { INCONSISTENT_PREFIX, compareLabelNames } from '../domain/push-rules.js';
import { sortSmall } from '../small-sort.js';
import { bumpVersion, changeStamp, changesSince, recordRemoved } from './change-feed.js';
import { CompiledStatements, type StatementRunner } from './compiled-statements.js';
import { seriesDigest } from './series-digest.js';
import { labelPairs, toFamily, toHeader } from './rows.js';
import { isRetryable, isUniqueViolation, translate } from './store-errors.js';

// Parameters per INSERT stay well below SQLite's and PostgreSQL's limits.
const SAMPLE_BATCH = 500;
const FAMILY_BATCH = 300;

// Most pushes a group commit may hold: bounds the time the first of them waits for its reply.
const MAX_GROUP_COMMIT = 64;

export interface KyselyMetricStoreOptions {
  /**
   * Commit the pushes that arrive while a transaction runs together, each in its own savepoint.
   * SQLite pays most of a push's cost at COMMIT (the WAL append), so this multiplies throughput
   * under concurrency; PostgreSQL commits concurrent transactions in parallel and needs it not.
   */
  readonly groupCommit: boolean;
  /**
   * PostgreSQL runs writers in parallel (possibly in other processes): writes then lock what
   * their checks read (lockGroup, lockNames) and are retried on deadlock or serialization
   * failure. SQLite has one writer at a time and needs neither. Default sqlite.
   */
  readonly dialect?: DatabaseKind;
  /** SQLite's direct statement runner (OpenDatabase.statementRunner), for the statements every push runs. */
  readonly statementRunner?: StatementRunner | undefined;
}

interface QueuedPush {
  readonly write: PushWrite;
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (err: unknown) => void;
}

type BatchOutcome = { ok: WriteResult } | { err: unknown };

/** MetricStore on any kysely dialect (SQLite or PostgreSQL) using only their shared features. */
export class KyselyMetricStore implements MetricStore {
  private readonly queue: QueuedPush[] = [];
  private draining = false;
  private readonly concurrentWriters: boolean;
  private readonly statements: CompiledStatements;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: KyselyMetricStoreOptions = { groupCommit: false },
  ) {
    this.concurrentWriters = options.dialect === 'postgres';
    this.statements = new CompiledStatements(options.statementRunner);
  }

  /**
   * A write transaction. With concurrent writers a deadlock or serialization failure rolls the
   * whole transaction back and it is safe to run again, a few times, after a short random pause.
   */
  private async transaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(work);
      } catch (err) {
        if (!this.concurrentWriters || attempt >= MAX_ATTEMPTS || !isRetryable(err)) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  /**
   * The group's row, created if missing, locked until COMMIT when writers run concurrently: two
   * writes to one group then run one after the other, each seeing the other's result whole.
   */
  private async lockGroup(trx: Transaction<Database>, key: GroupingKey): Promise<MetricGroupRow> {
    if (!this.concurrentWriters) return upsertGroup(this.statements, trx, key);
    const locked = () => trx.selectFrom('metric_group').selectAll().where('grouping_key', '=', key.id).forUpdate().executeTakeFirst();
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = await locked();
      if (found) return found;
      // DO NOTHING waits for a concurrent insert of the same key to commit or roll back instead
      // of failing on the unique index; the SELECT after it sees whichever row won.
      await trx.insertInto('metric_group').values(newGroupRow(key)).onConflict((oc) => oc.column('grouping_key').doNothing()).execute();
    }
    // Created and deleted by others between our statements, over and over: let the caller retry.
    throw Object.assign(new Error('group vanished while being locked'), { code: '40001' });
  }

  /**
   * The pushed group's row (created if missing, locked as lockGroup does) and its families. On
   * SQLite one joined SELECT reads both: a push runs a handful of statements, each costing some
   * 10 µs of SQLite and kysely whatever it does.
   */
  private async groupForPush(trx: Transaction<Database>, key: GroupingKey): Promise<{ group: MetricGroupRow; families: FamilyHead[] }> {
    if (this.concurrentWriters) {
      const group = await this.lockGroup(trx, key);
      const families = await this.statements.rows(
        trx,
        'families of a group',
        [group.id],
        () => sql<FamilyHead>`SELECT id, name, type, series_digest FROM metric_family WHERE group_id = ${group.id}`,
      );
      return { group, families };
    }
    const rows = await this.statements.rows(
      trx,
      'group and its families',
      [key.id],
      () => sql<GroupAndFamily>`SELECT g.*, f.id AS family_id, f.name AS family_name, f.type AS family_type,
        f.series_digest AS family_digest FROM metric_group g LEFT JOIN metric_family f ON f.group_id = g.id
        WHERE g.grouping_key = ${key.id}`,
    );
    const first = rows[0];
    if (!first) return { group: await insertGroup(trx, key), families: [] };
    const { family_id: _id, family_name: _name, family_type: _type, family_digest: _digest, ...group } = first;
    const families: FamilyHead[] = [];
    for (const r of rows) {
      if (r.family_id !== null) families.push({ id: r.family_id, name: r.family_name!, type: r.family_type!, series_digest: r.family_digest });
    }
    return { group, families };
  }

  /**
   * With concurrent writers, transaction-scoped advisory locks on the metric names of the
   * families a write adds, changes or removes (\`names\`, exclusive) or rewrites unchanged
   * (\`sharedNames\`, shared), so the consistency check sees the name registry as it will be at
   * COMMIT. A family \`x_sum\` and a summary \`x\` conflict, so each name locks itself and its
   * base (the name without _sum/_count/_bucket): any two conflicting names share a key. Keys are
   * hashed into NAME_LOCK_BUCKETS, which bounds the locks a transaction holds (each takes a slot
   * in PostgreSQL's shared lock table, sized 64 per connection by default) at the price of
   * unrelated names sometimes sharing one, and taken in one sorted order, so writers never
   * deadlock on them. Every such write also holds the all-names lock shared (lockAllNames).
   */
  private async lockNames(trx: Transaction<Database>, names: Iterable<string>, sharedNames: Iterable<string> = []): Promise<void> {
    if (!this.concurrentWriters) return;
    const keys = new Map<string, boolean>();
    const add = (name: string, exclusive: boolean) => {
      for (const key of [name, /^(.+)_(?:sum|count|bucket)$/.exec(name)?.[1]]) {
        if (key !== undefined) keys.set(key, exclusive || (keys.get(key) ?? false));
      }
    };
    for (const name of names) add(name, true);
    for (const name of sharedNames) add(name, false);
    // One round trip. Names sharing a bucket lock it exclusively if any of them asks so.
    await sql`SELECT pg_advisory_xact_lock_shared(${ALL_NAMES_LOCK}, 0)
      UNION ALL
      SELECT CASE WHEN x THEN pg_advisory_xact_lock(${NAME_LOCK}, b) ELSE pg_advisory_xact_lock_shared(${NAME_LOCK}, b) END
      FROM (SELECT hashtext(n) & ${NAME_LOCK_BUCKETS - 1} AS b, bool_or(x) AS x
            FROM unnest(${[...keys.keys()]}::text[], ${[...keys.values()]}::bool[]) AS t(n, x)
            GROUP BY 1 ORDER BY 1) AS locks`.execute(trx);
  }

  /** Exclusive over every metric name: for writes touching many groups (wipe, bulk delete). */
  private async lockAllNames(trx: Transaction<Database>): Promise<void> {
    if (this.concurrentWriters) await sql`SELECT pg_advisory_xact_lock(${ALL_NAMES_LOCK}, 0)`.execute(trx);
  }

  async writePush(write: PushWrite): Promise<WriteResult> {
    if (this.options.groupCommit) {
      return new Promise((resolve, reject) => {
        this.queue.push({ write, resolve, reject });
        if (!this.draining) {
          this.draining = true;
          // SQLite statements run synchronously, so no request is read while a batch runs:
          // yielding to the event loop first lets the pushes that are already waiting join.
          setImmediate(() => void this.drain());
        }
      });
    }
    try {
      return await this.transaction((trx) => this.applyPush(trx, write));
    } catch (err) {
      throw await this.pushError(err, write);
    }
  }

  /**
   * Applies queued pushes in batches, one transaction per batch, and every reply waits for the
   * batch's COMMIT. A batch runs first as it is; if any push in it fails, that transaction rolls
   * back and the batch runs again with one savepoint per push, so that a push that fails rolls
   * back alone. Refused pushes are rare, and two statements per push (SAVEPOINT, RELEASE) are a
   * fifth of a re-push's: a batch holding one costs its earlier pushes twice instead.
   */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_GROUP_COMMIT);
        let outcomes: BatchOutcome[];
        try {
          outcomes = await this.commitBatch(batch, false);
        } catch {
          try {
            outcomes = await this.commitBatch(batch, true);
          } catch (err) {
            const failure = translate(err);
            for (const item of batch) item.reject(failure);
            continue;
          }
        }
        for (let i = 0; i < batch.length; i++) {
          const item = batch[i]!;
          const outcome = outcomes[i]!;
          if ('ok' in outcome) item.resolve(outcome.ok);
          else item.reject(await this.pushError(outcome.err, item.write));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * One transaction for the batch. Without savepoints any failing push aborts it (and throws);
   * with them each failing push is rolled back alone and reported in its outcome.
   */
  private async commitBatch(batch: readonly QueuedPush[], savepoints: boolean): Promise<BatchOutcome[]> {
    const outcomes: BatchOutcome[] = [];
    let fatal: unknown;
    try {
      await this.db.transaction().execute(async (trx) => {
        // One change number for the whole batch: its pushes commit together, so a reader
        // sees all of them or none.
        const stamp = await changeStamp(trx);
        for (const item of batch) {
          if (!savepoints) {
            outcomes.push({ ok: await this.applyPush(trx, item.write, stamp) });
            continue;
          }
          await trx.executeQuery(SAVEPOINT);
          try {
            outcomes.push({ ok: await this.applyPush(trx, item.write, stamp) });
            await trx.executeQuery(RELEASE);
          } catch (err) {
            try {
              await trx.executeQuery(ROLLBACK_TO);
              await trx.executeQuery(RELEASE);
            } catch {
              // SQLite rolls the whole transaction back by itself on a full disk or an I/O
              // error: the batch is lost, and its reason is this error, not the ROLLBACK's.
              fatal = err;
              throw err;
            }
            outcomes.push({ err });
          }
        }
      });
    } catch (err) {
      throw fatal ?? err;
    }
    return outcomes;
  }

  private async pushError(err: unknown, write: PushWrite): Promise<unknown> {
    if (isUniqueViolation(err)) return new ConflictError(await this.describeDuplicate(write));
    return translate(err);
  }

  /** `stamp`: the change number to stamp, when the caller took one for several writes. */
  private async applyPush(trx: Transaction<Database>, write: PushWrite, stamp?: number | RawBuilder<number>): Promise<WriteResult> {
    const { group, families } = await this.groupForPush(trx, write.key);
    // Readers stopped showing a group once its expiry passed: a push to it starts a new group.
    const expiredNames = isExpired(group, write.timeSeconds) ? await this.emptyGroup(trx, group.id) : undefined;
    const existingRows = expiredNames === undefined ? families : [];
    const existing = new Map(existingRows.map((r) => [r.name, r.type as MetricType] as const));
    if (this.concurrentWriters) {
      // A family that replaces one of the same type changes nothing in the name registry, so it
      // locks shared: the periodic re-push of the same group, by far the commonest push, runs in
      // parallel with pushes of the same names to other groups.
      const pushedNames = new Set(write.families.map((f) => f.name));
      const dropping = write.replace ? existingRows.filter((r) => !pushedNames.has(r.name)).map((r) => r.name) : [];
      const same = write.families.filter((f) => existing.get(f.name) === f.type).map((f) => f.name);
      const changing = write.families.filter((f) => existing.get(f.name) !== f.type).map((f) => f.name);
      await this.lockNames(trx, [...changing, ...dropping], same);
    }

    if (write.check) {
      const registry = new Map<string, NameEntry>();
      const names = write.lookUpNames(existing);
      if (names.length > 0) {
        const rows = await this.statements.rows(
          trx,
          `names:${names.length}`,
          names,
          () => sql<{ name: string; type: string; family_count: number }>`SELECT name, type, family_count FROM metric_name WHERE name IN (${sql.join(names)})`,
        );
        for (const r of rows) registry.set(r.name, { type: r.type as MetricType, familyCount: Number(r.family_count) });
      }
      const problem = write.check({ existing, registry });
      if (problem) throw new ConflictError(problem);
    }

    // A push costs a fixed number of statements whatever its size: replaced and removed families
    // go in one DELETE (their samples cascade), pushed ones come back in one multi-row INSERT, and
    // their samples in batched INSERTs. A family pushed again with its type and series unchanged
    // (the periodic re-push, by far the commonest) keeps its rows and gets new values in place,
    // which touches no index.
    const pushedNames = new Set(write.families.map((f) => f.name));
    const removed = write.replace ? existingRows.filter((r) => !pushedNames.has(r.name)) : [];
    const sampleRows = new Map(write.families.map((f) => [f.name, flattenFamily(f).map(sampleIdentity)] as const));
    const digests = new Map([...sampleRows].map(([name, rows]) => [name, seriesDigest(rows)] as const));
    const inPlace = await familiesWithSameSeries(this.statements, trx, write.families, existingRows, sampleRows, digests);
    const replaced = existingRows.filter((r) => pushedNames.has(r.name) && !inPlace.has(r.name));
    const dropped = [...removed, ...replaced];
    if (dropped.length > 0) {
      await trx.deleteFrom('metric_family').where('id', 'in', dropped.map((r) => r.id)).execute();
    }

    const familyRow = (family: MetricFamily) => ({
      help: family.help ?? null,
      pushed_at_seconds: write.timeSeconds,
      metrics_json: encodeMetrics(family.metrics),
      rendered_series_json: write.renderedSeries?.get(family.name) ?? null,
      series_digest: digests.get(family.name)!,
    });
    const familyIds = new Map<string, number>();
    for (const family of write.families) {
      const id = inPlace.get(family.name);
      if (id === undefined) continue;
      familyIds.set(family.name, id);
      const row = familyRow(family);
      const values = [row.help, row.pushed_at_seconds, row.metrics_json, row.rendered_series_json, row.series_digest, id] as const;
      await this.statements.rows(trx, 'family in place', values, () => sql`UPDATE metric_family SET help = ${values[0]},
        pushed_at_seconds = ${values[1]}, metrics_json = ${values[2]}, rendered_series_json = ${values[3]},
        series_digest = ${values[4]} WHERE id = ${values[5]}`);
      await updateValues(this.statements, trx, id, sampleRows.get(family.name)!);
    }
    const fresh = write.families.filter((f) => !inPlace.has(f.name));
    if (fresh.length > 0) {
      const rows = fresh.map((family) => ({ group_id: group.id, name: family.name, type: family.type, ...familyRow(family) }));
      for (let i = 0; i < rows.length; i += FAMILY_BATCH) {
        const inserted = await trx
          .insertInto('metric_family')
          .values(rows.slice(i, i + FAMILY_BATCH))
          .returning(['id', 'name'])
          .execute();
        for (const r of inserted) familyIds.set(r.name, Number(r.id));
      }
    }
    const samples: InsertableSample[] = [];
    for (const family of fresh) {
      const id = familyIds.get(family.name)!;
      for (const s of sampleRows.get(family.name)!) samples.push({ family_id: id, group_id: group.id, ...s });
    }
    for (let i = 0; i < samples.length; i += SAMPLE_BATCH) {
      await trx.insertInto('metric_sample').values(samples.slice(i, i + SAMPLE_BATCH)).execute();
    }
    const written: StoredFamily[] = write.families.map((family) => ({
      name: family.name,
      type: family.type,
      ...(family.help !== undefined ? { help: family.help } : {}),
      pushedAtSeconds: write.timeSeconds,
      metrics: family.metrics,
    }));

    // The name registry counts groups per name: only names new to the group add one, only names
    // the group loses give one back; a replaced family keeps its count and may change type.
    const added = write.families.filter((f) => !existing.has(f.name));
    for (let i = 0; i < added.length; i += FAMILY_BATCH) {
      await trx
        .insertInto('metric_name')
        .values(added.slice(i, i + FAMILY_BATCH).map((f) => ({ name: f.name, type: f.type, family_count: 1 })))
        .onConflict((oc) =>
          oc.column('name').doUpdateSet({
            type: (eb) => eb.ref('excluded.type'),
            family_count: sql`metric_name.family_count + 1`,
          }),
        )
        .execute();
    }
    for (const family of write.families) {
      if (existing.has(family.name) && existing.get(family.name) !== family.type) {
        await trx.updateTable('metric_name').set({ type: family.type }).where('name', '=', family.name).execute();
      }
    }
    await releaseNames(trx, removed.map((r) => r.name));

    const emptied = expiredNames !== undefined;
    const expiry = pushedExpiry(group, write, emptied);
    const changed = stamp ?? (await changeStamp(trx));
    // The group's row was read (and, with concurrent writers, locked) in this transaction, so the
    // header after the UPDATE is known without RETURNING, which costs SQLite an ephemeral table
    // per statement (5-30 µs against 2 µs for the UPDATE alone).
    const updated: MetricGroupRow = {
      ...group,
      push_time_seconds: write.timeSeconds,
      ttl_seconds: expiry.ttl_seconds,
      expires_at_seconds: expiry.expires_at_seconds,
      ...(emptied ? { push_failure_time_seconds: 0 } : {}),
    };
    const values = [write.timeSeconds, changed, expiry.ttl_seconds, expiry.expires_at_seconds, group.id] as const;
    const update = () => sql`UPDATE metric_group SET push_time_seconds = ${values[0]}, changed_seq = ${values[1]},
      ttl_seconds = ${values[2]}, expires_at_seconds = ${values[3]}${emptied ? sql`, push_failure_time_seconds = 0` : sql``} WHERE id = ${values[4]}`;
    if (typeof changed === 'number') await this.statements.rows(trx, emptied ? 'pushed group, emptied' : 'pushed group', values, update);
    else await update().execute(trx);
    return { group: toHeader(updated), written, removed: [...(expiredNames ?? []), ...removed.map((r) => r.name)] };
  }

  /** Finds the series a failed insert collided with, to name it in the client's error. */
  private async describeDuplicate(write: PushWrite): Promise<string> {
    for (const family of write.families) {
      for (const s of flattenFamily(family)) {
        const found = await this.db
          .selectFrom('metric_sample')
          .innerJoin('metric_group', 'metric_group.id', 'metric_sample.group_id')
          .select('metric_group.grouping_key')
          .where('metric_sample.metric_name', '=', s.name)
          .where('metric_sample.labels_json', '=', labelsJson(sortedLabels(s.labels)))
          .where('metric_group.grouping_key', '!=', write.key.id)
          .executeTakeFirst();
        if (found) {
          return `${INCONSISTENT_PREFIX}series ${s.name}${labelsText(s.labels)} is already pushed by group ${found.grouping_key}`;
        }
      }
    }
    return `${INCONSISTENT_PREFIX}a pushed series duplicates one that is already stored`;
  }

  async recordFailure(key: GroupingKey, timeSeconds: number, expiry?: ExpiryOf): Promise<GroupHeader> {
    try {
      return await this.transaction(async (trx) => {
        const group = await this.lockGroup(trx, key);
        const emptied = isExpired(group, timeSeconds) && (await this.emptyGroup(trx, group.id)) !== undefined;
        // A failure never extends the life of a group that has had a successful push.
        const neverPushed = emptied || group.push_time_seconds === 0;
        const row = await trx
          .updateTable('metric_group')
          .set({
            push_failure_time_seconds: timeSeconds,
            changed_seq: await changeStamp(trx),
            ...(emptied ? { push_time_seconds: 0, ttl_seconds: null } : {}),
            ...(neverPushed ? { expires_at_seconds: expiry?.(emptied ? undefined : (group.ttl_seconds ?? undefined)) ?? null } : {}),
          })
          .where('id', '=', group.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return toHeader(row);
      });
    } catch (err) {
      throw translate(err);
    }
  }

  async deleteGroup(key: GroupingKey): Promise<number | undefined> {
    try {
      return await this.transaction(async (trx) => {
        let query = trx.selectFrom('metric_group').select('id').where('grouping_key', '=', key.id);
        if (this.concurrentWriters) query = query.forUpdate();
        const group = await query.executeTakeFirst();
        if (!group) return undefined;
        const names = await trx.selectFrom('metric_family').select('name').where('group_id', '=', group.id).execute();
        await this.lockNames(trx, names.map((n) => n.name));
        await trx.deleteFrom('metric_group').where('id', '=', group.id).execute();
        await releaseNames(trx, names.map((n) => n.name));
        await recordRemoved(trx, [Number(group.id)]);
        return Number(group.id);
      });
    } catch (err) {
      throw translate(err);
    }
  }

  async loadGroups(): Promise<StoredGroup[]> {
    try {
      const groups = await this.db.selectFrom('metric_group').selectAll().orderBy('grouping_key').execute();
      const families = await this.db.selectFrom('metric_family').selectAll().orderBy('name').execute();
      return withFamilies(groups.map(toHeader), families);
    } catch (err) {
      throw translate(err);
    }
  }

  /**
   * Every group, in pages of PAGE_GROUPS groups (by id) with their families, for a reader that
   * applies each page before it reads the next (a start, a replica's full reload): what a page
   * read, a kept rendering being a JSON text of ~1 KB per 10 series, is then garbage before V8
   * next collects instead of being copied from collection to collection until the whole store is
   * read (100k series: 86 -> 68 ms of collections). A page's families are one range of the
   * (group_id, name) index, which SQLite reads faster than the whole table sorted by name.
   *
   * metrics_json is read only for families without a rendering: at 100k series it is some 15 MB
   * of strings that the cache fill never reads.
   */
  private async *allGroupPages(): AsyncGenerator<StoredGroup[]> {
    // SQLite reads a whole store faster through a memory map than with a read() per page (a
    // family row fills most of a page): 280 -> 210 ms for 100k series' families. Only for the
    // start's read, which nothing runs beside: with a map, an I/O error on the file would be a
    // signal that ends the process rather than an error a request gets.
    const mapped = this.options.dialect !== 'postgres';
    try {
      if (mapped) await this.db.executeQuery(MAP_FOR_FULL_READ);
      const groups = (await this.db.selectFrom('metric_group').selectAll().orderBy('id').execute()).map(toHeader);
      for (let i = 0; i < groups.length; i += PAGE_GROUPS) {
        const page = groups.slice(i, i + PAGE_GROUPS);
        const families = await this.db
          .selectFrom('metric_family')
          .select(['id', 'group_id', 'name', 'type', 'help', 'pushed_at_seconds', 'rendered_series_json'])
          .select(sql<string | null>`CASE WHEN rendered_series_json IS NULL THEN metrics_json END`.as('metrics_json'))
          .where('group_id', '>=', page[0]!.id)
          .where('group_id', '<=', page[page.length - 1]!.id)
          .orderBy('group_id')
          .orderBy('name')
          .execute();
        yield withFamilies(page, families);
      }
    } catch (err) {
      throw translate(err);
    } finally {
      if (mapped) await this.db.executeQuery(UNMAP).catch(() => {});
    }
  }

  async loadGroup(key: GroupingKey): Promise<StoredGroup | undefined> {
    try {
      const g = await this.db.selectFrom('metric_group').selectAll().where('grouping_key', '=', key.id).executeTakeFirst();
      if (!g) return undefined;
      const families = await this.db
        .selectFrom('metric_family')
        .selectAll()
        .where('group_id', '=', g.id)
        .orderBy('name')
        .execute();
      return { ...toHeader(g), families: families.map(toFamily) };
    } catch (err) {
      throw translate(err);
    }
  }

  async ping(): Promise<void> {
    try {
      await sql`SELECT 1`.execute(this.db);
    } catch (err) {
      throw translate(err);
    }
  }

  async checkWritable(): Promise<void> {
    try {
      // A real committed write, so a read-only file, a full or vanished disk, a stuck lock or a
      // PostgreSQL replica all fail it. The row exists in every migrated database (kysely's
      // migrator creates it). SQLite skips an UPDATE that stores the value already there, so the
      // flag is flipped and flipped back in one transaction: the page is really written at COMMIT
      // and nobody ever sees the flipped value.
      await this.db.transaction().execute(async (trx) => {
        await sql`UPDATE kysely_migration_lock SET is_locked = 1 - is_locked WHERE id = 'migration_lock'`.execute(trx);
        await sql`UPDATE kysely_migration_lock SET is_locked = 1 - is_locked WHERE id = 'migration_lock'`.execute(trx);
      });
    } catch (err) {
      throw translate(err);
    }
  }

  async loadHeaders(): Promise<GroupHeader[]> {
    try {
      const rows = await this.db.selectFrom('metric_group').selectAll().orderBy('grouping_key').execute();
      return rows.map(toHeader);
    } catch (err) {
      throw translate(err);
    }
  }

  async loadGroupsById(ids: readonly number[]): Promise<StoredGroup[]> {
    if (ids.length === 0) return [];
    try {
      const groups: MetricGroupRow[] = [];
      const families: MetricFamilyRow[] = [];
      for (let i = 0; i < ids.length; i += ID_BATCH) {
        const batch = ids.slice(i, i + ID_BATCH);
        groups.push(...(await this.db.selectFrom('metric_group').selectAll().where('id', 'in', batch).execute()));
        families.push(...(await this.db.selectFrom('metric_family').selectAll().where('group_id', 'in', batch).orderBy('name').execute()));
      }
      groups.sort((a, b) => (a.grouping_key < b.grouping_key ? -1 : a.grouping_key > b.grouping_key ? 1 : 0));
      return withFamilies(groups.map(toHeader), families);
    } catch (err) {
      throw translate(err);
    }
  }

  async deleteAll(): Promise<number[]> {
    try {
      return await this.transaction(async (trx) => {
        // Group rows before names, in id order: the order every write takes them in.
        let query = trx.selectFrom('metric_group').select('id');
        if (this.concurrentWriters) query = query.orderBy('id').forUpdate();
        const ids = (await query.execute()).map((r) => Number(r.id));
        await this.lockAllNames(trx);
        // Children first in bulk: a cascade would visit every family and sample one by one.
        await trx.deleteFrom('metric_sample').execute();
        await trx.deleteFrom('metric_family').execute();
        await trx.deleteFrom('metric_group').execute();
        await trx.deleteFrom('metric_name').execute();
        // Readers behind the wipe reload everything: no tombstone per group, and older ones are moot.
        const version = await bumpVersion(trx);
        await trx.updateTable('store_version').set({ reset_seq: version.seq }).where('id', '=', 1).execute();
        await trx.deleteFrom('deleted_group').execute();
        return ids;
      });
    } catch (err) {
      throw translate(err);
    }
  }

  async deleteGroupsById(ids: readonly number[], pushedBeforeSeconds?: number): Promise<number[]> {
    if (ids.length === 0) return [];
    try {
      return await this.transaction(async (trx) => {
        const deleted: number[] = [];
        const names = new Set<string>();
        for (let i = 0; i < ids.length; i += ID_BATCH) {
          let query = trx.selectFrom('metric_group').select('id').where('id', 'in', ids.slice(i, i + ID_BATCH));
          if (pushedBeforeSeconds !== undefined) query = query.where('push_time_seconds', '<', pushedBeforeSeconds);
          // Group rows before names, in id order: the order every write takes them in.
          if (this.concurrentWriters) query = query.orderBy('id').forUpdate();
          const batch = (await query.execute()).map((r) => Number(r.id));
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
        await this.lockAllNames(trx);
        // Recounted rather than decremented: one statement per batch of names, however many
        // groups shared them.
        await recountNames(trx, [...names]);
        await recordRemoved(trx, deleted);
        return deleted;
      });
    } catch (err) {
      throw translate(err);
    }
  }

  async deleteExpired(nowSeconds: number): Promise<ExpiredGroup[]> {
    try {
      return await this.transaction(async (trx) => {
        const expired = trx.selectFrom('metric_group').select('id').where('expires_at_seconds', '<=', nowSeconds);
        // Group rows before names, in id order, as pushes take them: a push re-filling an expired
        // group holds its row and then wants the names, so taking the names first would deadlock.
        if (this.concurrentWriters) await expired.orderBy('id').forUpdate().execute();
        const names = await trx.selectFrom('metric_family').select('name').distinct().where('group_id', 'in', expired).execute();
        if (names.length > 0) await this.lockNames(trx, names.map((n) => n.name));
        // The DELETE decides which groups this sweep removed: a replica sweeping at the same time
        // blocks on the rows and then finds them gone, so no group is reported (or counted) twice.
        // Families and samples go by ON DELETE CASCADE, through their group_id and family_id indexes.
        const rows = await trx
          .deleteFrom('metric_group')
          .where('expires_at_seconds', '<=', nowSeconds)
          .returning(['id', 'grouping_key', 'job', 'labels_json', 'push_time_seconds', 'expires_at_seconds'])
          .execute();
        if (rows.length === 0) return [];
        await recountNames(trx, names.map((n) => n.name));
        await recordRemoved(trx, rows.map((r) => Number(r.id)));
        return rows.map((r) => ({
          id: Number(r.id),
          key: { job: r.job, labels: labelPairs(r.labels_json), id: r.grouping_key },
          pushTimeSeconds: r.push_time_seconds,
          expiresAtSeconds: r.expires_at_seconds ?? nowSeconds,
        }));
      });
    } catch (err) {
      throw translate(err);
    }
  }

  async setExpiries(updates: readonly ExpiryUpdate[]): Promise<number> {
    if (updates.length === 0) return 0;
    try {
      return await this.transaction(async (trx) => {
        let changed = 0;
        for (const u of updates) {
          // Only if no write touched the group since the caller read it; such a write set its own expiry.
          const result = await trx
            .updateTable('metric_group')
            .set({ expires_at_seconds: u.expiresAtSeconds ?? null })
            .where('id', '=', u.id)
            .where('push_time_seconds', '=', u.pushTimeSeconds)
            .where('push_failure_time_seconds', '=', u.pushFailureTimeSeconds)
            .executeTakeFirst();
          changed += Number(result.numUpdatedRows);
        }
        return changed;
      });
    } catch (err) {
      throw translate(err);
    }
  }

  /**
   * Drops every family of an expired group that a write is about to reuse, so the write sees a
   * new group; returns the names dropped.
   */
  private async emptyGroup(trx: Transaction<Database>, groupId: number): Promise<string[]> {
    const names = (await trx.selectFrom('metric_family').select('name').where('group_id', '=', groupId).execute()).map((r) => r.name);
    if (names.length === 0) return names;
    await this.lockNames(trx, names);
    await trx.deleteFrom('metric_family').where('group_id', '=', groupId).execute();
    await releaseNames(trx, names);
    return names;
  }

  async loadGroupsChangedSince(cursor: ChangeCursor | undefined): Promise<StoreChanges> {
    try {
      const { rows } = await changesSince(this.db, cursor?.horizon ?? 0);
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
      // Rows stamped at or after the new horizon come back next time too: remembered, so that
      // only those with a new stamp count as changed then.
      const next: ChangeCursor = {
        horizon,
        resetSeq,
        seen: new Map([...stamped].filter(([, seq]) => seq >= horizon)),
        seenRemoved: new Set([...tombstones].filter(([, seq]) => seq >= horizon).map(([id]) => id)),
      };
      if (!cursor || resetSeq !== cursor.resetSeq || prunedSeq >= cursor.horizon) {
        return { cursor: next, full: true, pages: this.allGroupPages(), removedIds: [] };
      }
      const ids = [...stamped].filter(([id, seq]) => cursor.seen.get(id) !== seq).map(([id]) => id);
      const removed = new Set([...tombstones.keys()].filter((id) => !cursor.seenRemoved.has(id)));
      const groups = await this.loadGroupsById(ids);
      const present = new Set(groups.map((g) => g.id));
      // Changed, then removed before we loaded it.
      for (const id of ids) if (!present.has(id)) removed.add(id);
      return { cursor: next, full: false, pages: onePage(groups), removedIds: [...removed] };
    } catch (err) {
      throw translate(err);
    }
  }
}

// Ids or names per IN list: far below SQLite's and PostgreSQL's parameter limits.
const ID_BATCH = 500;

// Groups per page of a full read (allGroupPages).
const PAGE_GROUPS = 500;

async function* onePage<T>(items: T[]): AsyncGenerator<T[]> {
  yield items;
}

/** The headers with their families from `rows`, each group's in the rows' order. */
function withFamilies(headers: GroupHeader[], rows: readonly (Parameters<typeof toFamily>[0] & { group_id: number })[]): StoredGroup[] {
  const byGroup = new Map<number, StoredFamily[]>();
  for (const f of rows) {
    const list = byGroup.get(Number(f.group_id)) ?? [];
    list.push(toFamily(f));
    byGroup.set(Number(f.group_id), list);
  }
  return headers.map((h) => Object.assign(h, { families: byGroup.get(h.id) ?? [] }));
}

// Attempts of a write transaction that PostgreSQL aborted for a deadlock or serialization failure.
const MAX_ATTEMPTS = 5;

// The statements every push runs are SQL templates compiled once per shape (CompiledStatements)
// rather than built with kysely's query builder each time: building and compiling a SELECT took
// ~15 µs, the compiled text ~6 µs, and SQLite ~5 µs to run it (a re-push runs four, its batch
// a few more: BEGIN, the change counter, COMMIT). Those without parameters are compiled here.
const SAVEPOINT = CompiledQuery.raw('SAVEPOINT push');
const RELEASE = CompiledQuery.raw('RELEASE push');
const ROLLBACK_TO = CompiledQuery.raw('ROLLBACK TO push');
const MAP_FOR_FULL_READ = CompiledQuery.raw('PRAGMA mmap_size = 1073741824');
const UNMAP = CompiledQuery.raw('PRAGMA mmap_size = 0');

// Advisory lock classes (the first key of the two-key form), apart from kysely's migration lock.
const ALL_NAMES_LOCK = 0x706b0001;
const NAME_LOCK = 0x706b0002;
// A power of two. 128 advisory locks at most per transaction: 20 busy connections (two replicas)
// hold at most 2,580 of the 6,400 lock slots a default PostgreSQL has.
const NAME_LOCK_BUCKETS = 128;

function newGroupRow(key: GroupingKey) {
  return {
    grouping_key: key.id,
    job: key.job,
    labels_json: labelsJson(key.labels),
    push_time_seconds: 0,
    push_failure_time_seconds: 0,
  };
}

async function upsertGroup(statements: CompiledStatements, trx: Transaction<Database>, key: GroupingKey): Promise<MetricGroupRow> {
  const [found] = await statements.rows(trx, 'group by key', [key.id], () => sql<MetricGroupRow>`SELECT * FROM metric_group WHERE grouping_key = ${key.id}`);
  if (found) return found;
  return insertGroup(trx, key);
}

function insertGroup(trx: Transaction<Database>, key: GroupingKey): Promise<MetricGroupRow> {
  return trx.insertInto('metric_group').values(newGroupRow(key)).returningAll().executeTakeFirstOrThrow();
}

async function releaseNames(trx: Transaction<Database>, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await trx
    .updateTable('metric_name')
    .set({ family_count: sql`family_count - 1` })
    .where('name', 'in', names)
    .execute();
  await trx.deleteFrom('metric_name').where('name', 'in', names).where('family_count', '<=', 0).execute();
}

function isExpired(row: MetricGroupRow, nowSeconds: number): boolean {
  return row.expires_at_seconds !== null && row.expires_at_seconds <= nowSeconds;
}

/**
 * Retention columns after a successful push: a Pushkeep-TTL header's TTL sticks to the group; a
 * group emptied because it had expired starts over (no stored TTL; applyPush also clears its
 * failure time).
 */
function pushedExpiry(group: MetricGroupRow, write: PushWrite, emptied: boolean) {
  const stored = emptied ? null : group.ttl_seconds;
  return { ttl_seconds: write.ttlSeconds ?? stored, expires_at_seconds: write.expiry?.(stored ?? undefined) ?? null };
}

/** Sets each name's group count from metric_family and drops names no group holds any more. */
async function recountNames(trx: Transaction<Database>, names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += ID_BATCH) {
    const batch = names.slice(i, i + ID_BATCH);
    await trx
      .updateTable('metric_name')
      .set({
        family_count: (eb) =>
          eb
            .selectFrom('metric_family')
            .select((f) => f.fn.countAll<number>().as('n'))
            .whereRef('metric_family.name', '=', 'metric_name.name'),
      })
      .where('name', 'in', batch)
      .execute();
    await trx.deleteFrom('metric_name').where('name', 'in', batch).where('family_count', '<=', 0).execute();
  }
}

function sortedLabels(labels: readonly LabelPair[]): LabelPair[] {
  return sortSmall([...labels], compareLabelNames);
}

function labelsText(labels: readonly LabelPair[]): string {
  return `{${labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(',')}}`;
}

/** A sample row's identity and value, as metric_sample holds them. */
interface SampleIdentity {
  readonly metric_name: string;
  readonly labels_json: string;
  readonly value: number | null;
}

function sampleIdentity(s: { name: string; labels: readonly LabelPair[]; value: number }): SampleIdentity {
  // Sanitized series come sorted; a summary's quantile and a histogram's le come last and may not sort there.
  const labels_json = labelsJson(isSortedByName(s.labels) ? s.labels : sortedLabels(s.labels));
  return { metric_name: s.name, labels_json, value: Number.isNaN(s.value) ? null : s.value };
}

function isSortedByName(labels: readonly LabelPair[]): boolean {
  for (let i = 1; i < labels.length; i++) if (!(labels[i - 1]!.name < labels[i]!.name)) return false;
  return true;
}

// Larger families are deleted and inserted again: the in-place UPDATE tests every row of the
// family against every pushed sample, so its lead shrinks with size (SQLite, per family with its
// COMMIT share: 34 vs 66 µs at 10 samples, 57 vs 134 at 32, 166 vs 196 at 64).
const IN_PLACE_MAX = 64;

/** The group's row with one of its families (or none: NULLs) per row. */
interface GroupAndFamily extends MetricGroupRow {
  readonly family_id: number | null;
  readonly family_name: string | null;
  readonly family_type: string | null;
  readonly family_digest: string | null;
}

/** A stored family as a push first reads it. */
interface FamilyHead {
  readonly id: number;
  readonly name: string;
  readonly type: string;
  /** NULL for rows written before migration 0006. */
  readonly series_digest: string | null;
}

/**
 * The pushed families (name → stored family id) that replace a stored family of the same type
 * holding exactly the same series. Their digests tell; only families stored without one are
 * read back from metric_sample, in one query for all of them.
 */
async function familiesWithSameSeries(
  statements: CompiledStatements,
  trx: Transaction<Database>,
  families: readonly MetricFamily[],
  existingRows: readonly FamilyHead[],
  sampleRows: ReadonlyMap<string, readonly SampleIdentity[]>,
  digests: ReadonlyMap<string, string>,
): Promise<Map<string, number>> {
  const byName = new Map(existingRows.map((r) => [r.name, r] as const));
  const candidates = new Map<number, string>();
  const same = new Map<string, number>();
  for (const f of families) {
    const row = byName.get(f.name);
    const count = sampleRows.get(f.name)!.length;
    if (!row || row.type !== f.type || count === 0 || count > IN_PLACE_MAX) continue;
    if (row.series_digest === null) candidates.set(Number(row.id), f.name);
    else if (row.series_digest === digests.get(f.name)) same.set(f.name, Number(row.id));
  }
  if (candidates.size === 0) return same;
  const stored = new Map<number, Set<string>>();
  const ids = [...candidates.keys()];
  const rows = await statements.rows(
    trx,
    `stored series:${ids.length}`,
    ids,
    () => sql<{ family_id: number; metric_name: string; labels_json: string }>`
      SELECT family_id, metric_name, labels_json FROM metric_sample WHERE family_id IN (${sql.join(ids)})`,
  );
  for (const r of rows) {
    const id = Number(r.family_id);
    let set = stored.get(id);
    if (!set) stored.set(id, (set = new Set()));
    set.add(identityKey(r));
  }
  for (const [id, name] of candidates) {
    const pushed = sampleRows.get(name)!;
    const have = stored.get(id);
    // Stored identities are unique (the series index) and so are pushed ones (the push rules):
    // equal counts and every pushed one stored means the same set.
    if (have && have.size === pushed.length && pushed.every((s) => have.has(identityKey(s)))) same.set(name, id);
  }
  return same;
}

function identityKey(s: { metric_name: string; labels_json: string }): string {
  return `${s.metric_name}\u0000${s.labels_json}`;
}

/** Sets new values on a family's stored samples (familiesWithSameSeries vouched they all exist). */
async function updateValues(statements: CompiledStatements, trx: Transaction<Database>, familyId: number, samples: readonly SampleIdentity[]): Promise<void> {
  const values: unknown[] = [];
  for (const s of samples) values.push(s.metric_name, s.labels_json, s.value);
  values.push(familyId);
  await statements.rows(trx, `values:${samples.length}`, values, () => {
    const cases = sql.join(
      samples.map((s) => sql`WHEN metric_name = ${s.metric_name} AND labels_json = ${s.labels_json} THEN CAST(${s.value} AS double precision)`),
      sql` `,
    );
    return sql`UPDATE metric_sample SET value = CASE ${cases} ELSE value END WHERE family_id = ${familyId}`;
  });
}
