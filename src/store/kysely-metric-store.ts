import { sql, type Kysely, type Transaction } from 'kysely';
import type { GroupingKey } from '../domain/grouping-key.js';
import type { NameEntry } from '../domain/consistency.js';
import { flattenFamily } from '../exposition/samples.js';
import type { LabelPair, MetricType } from '../exposition/types.js';
import type { Database, InsertableSample, MetricGroupRow } from './schema.js';
import { decodeMetrics, encodeMetrics, labelsJson } from './metrics-json.js';
import {
  ConflictError,
  StoreUnavailableError,
  type GroupHeader,
  type MetricStore,
  type PushWrite,
  type StoredFamily,
  type StoredGroup,
  type WriteResult,
} from './metric-store.js';
import { INCONSISTENT_PREFIX } from '../domain/push-rules.js';

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
}

interface QueuedPush {
  readonly write: PushWrite;
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (err: unknown) => void;
}

/** MetricStore on any kysely dialect (SQLite or PostgreSQL) using only their shared features. */
export class KyselyMetricStore implements MetricStore {
  private readonly queue: QueuedPush[] = [];
  private draining = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: KyselyMetricStoreOptions = { groupCommit: false },
  ) {}

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
      return await this.db.transaction().execute((trx) => this.applyPush(trx, write));
    } catch (err) {
      throw await this.pushError(err, write);
    }
  }

  /**
   * Applies queued pushes in batches, one transaction per batch and one savepoint per push: a
   * push that fails rolls back alone, and every reply waits for the batch's COMMIT.
   */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_GROUP_COMMIT);
        const outcomes: ({ ok: WriteResult } | { err: unknown })[] = [];
        try {
          await this.db.transaction().execute(async (trx) => {
            for (const item of batch) {
              await sql`SAVEPOINT push`.execute(trx);
              try {
                outcomes.push({ ok: await this.applyPush(trx, item.write) });
                await sql`RELEASE push`.execute(trx);
              } catch (err) {
                await sql`ROLLBACK TO push`.execute(trx);
                await sql`RELEASE push`.execute(trx);
                outcomes.push({ err });
              }
            }
          });
        } catch (err) {
          const failure = translate(err);
          for (const item of batch) item.reject(failure);
          continue;
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

  private async pushError(err: unknown, write: PushWrite): Promise<unknown> {
    if (isUniqueViolation(err)) return new ConflictError(await this.describeDuplicate(write));
    return translate(err);
  }

  private async applyPush(trx: Transaction<Database>, write: PushWrite): Promise<WriteResult> {
    const group = await upsertGroup(trx, write.key);
    const existingRows = await trx
      .selectFrom('metric_family')
      .select(['id', 'name', 'type'])
      .where('group_id', '=', group.id)
      .execute();
    const existing = new Map(existingRows.map((r) => [r.name, r.type as MetricType] as const));

    if (write.check) {
      const registry = new Map<string, NameEntry>();
      if (write.lookUpNames.length > 0) {
        const rows = await trx.selectFrom('metric_name').selectAll().where('name', 'in', write.lookUpNames).execute();
        for (const r of rows) registry.set(r.name, { type: r.type as MetricType, familyCount: Number(r.family_count) });
      }
      const problem = write.check({ existing, registry });
      if (problem) throw new ConflictError(problem);
    }

    // A push costs a fixed number of statements whatever its size: replaced and removed families
    // go in one DELETE (their samples cascade), pushed ones come back in one multi-row INSERT, and
    // their samples in batched INSERTs.
    const pushedNames = new Set(write.families.map((f) => f.name));
    const removed = write.replace ? existingRows.filter((r) => !pushedNames.has(r.name)) : [];
    const replaced = existingRows.filter((r) => pushedNames.has(r.name));
    const dropped = [...removed, ...replaced];
    if (dropped.length > 0) {
      await trx.deleteFrom('metric_family').where('id', 'in', dropped.map((r) => r.id)).execute();
    }

    const written: StoredFamily[] = [];
    const familyIds = new Map<string, number>();
    if (write.families.length > 0) {
      const rows = write.families.map((family) => ({
        group_id: group.id,
        name: family.name,
        type: family.type,
        help: family.help ?? null,
        pushed_at_seconds: write.timeSeconds,
        metrics_json: encodeMetrics(family.metrics),
      }));
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
    for (const family of write.families) {
      const id = familyIds.get(family.name)!;
      for (const s of flattenFamily(family)) {
        samples.push({
          family_id: id,
          group_id: group.id,
          metric_name: s.name,
          labels_json: labelsJson(sortedLabels(s.labels)),
          value: Number.isNaN(s.value) ? null : s.value,
        });
      }
      written.push({
        name: family.name,
        type: family.type,
        ...(family.help !== undefined ? { help: family.help } : {}),
        pushedAtSeconds: write.timeSeconds,
        metrics: family.metrics,
      });
    }
    for (let i = 0; i < samples.length; i += SAMPLE_BATCH) {
      await trx.insertInto('metric_sample').values(samples.slice(i, i + SAMPLE_BATCH)).execute();
    }

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

    const updated = await trx
      .updateTable('metric_group')
      .set({ push_time_seconds: write.timeSeconds })
      .where('id', '=', group.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { group: toHeader(updated), written, removed: removed.map((r) => r.name) };
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

  async recordFailure(key: GroupingKey, timeSeconds: number): Promise<GroupHeader> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const group = await upsertGroup(trx, key);
        const row = await trx
          .updateTable('metric_group')
          .set({ push_failure_time_seconds: timeSeconds })
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
      return await this.db.transaction().execute(async (trx) => {
        const group = await trx
          .selectFrom('metric_group')
          .select('id')
          .where('grouping_key', '=', key.id)
          .executeTakeFirst();
        if (!group) return undefined;
        const names = await trx.selectFrom('metric_family').select('name').where('group_id', '=', group.id).execute();
        await trx.deleteFrom('metric_group').where('id', '=', group.id).execute();
        await releaseNames(trx, names.map((n) => n.name));
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
      const byGroup = new Map<number, StoredFamily[]>();
      for (const f of families) {
        const list = byGroup.get(Number(f.group_id)) ?? [];
        list.push(toFamily(f));
        byGroup.set(Number(f.group_id), list);
      }
      return groups.map((g) => ({ ...toHeader(g), families: byGroup.get(Number(g.id)) ?? [] }));
    } catch (err) {
      throw translate(err);
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

  async counts(): Promise<{ groups: number; series: number }> {
    try {
      const g = await this.db.selectFrom('metric_group').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
      const s = await this.db
        .selectFrom('metric_sample')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      return { groups: Number(g?.n ?? 0), series: Number(s?.n ?? 0) };
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
}

async function upsertGroup(trx: Transaction<Database>, key: GroupingKey): Promise<MetricGroupRow> {
  const found = await trx.selectFrom('metric_group').selectAll().where('grouping_key', '=', key.id).executeTakeFirst();
  if (found) return found;
  return trx
    .insertInto('metric_group')
    .values({
      grouping_key: key.id,
      job: key.job,
      labels_json: labelsJson(key.labels),
      push_time_seconds: 0,
      push_failure_time_seconds: 0,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
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

function toHeader(row: MetricGroupRow): GroupHeader {
  const labels = Object.entries(JSON.parse(row.labels_json) as Record<string, string>).map(
    ([name, value]): LabelPair => ({ name, value }),
  );
  return {
    id: Number(row.id),
    key: { job: row.job, labels, id: row.grouping_key },
    pushTimeSeconds: row.push_time_seconds,
    pushFailureTimeSeconds: row.push_failure_time_seconds,
  };
}

function toFamily(row: {
  name: string;
  type: string;
  help: string | null;
  pushed_at_seconds: number;
  metrics_json: string;
}): StoredFamily {
  return {
    name: row.name,
    type: row.type as MetricType,
    ...(row.help !== null ? { help: row.help } : {}),
    pushedAtSeconds: row.pushed_at_seconds,
    metrics: decodeMetrics(row.metrics_json),
  };
}

function sortedLabels(labels: readonly LabelPair[]): LabelPair[] {
  return [...labels].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function labelsText(labels: readonly LabelPair[]): string {
  return `{${labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(',')}}`;
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

const UNAVAILABLE_CODES = /^(SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CORRUPT|NOTADB|CANTOPEN|PERM)|ECONNREFUSED|ECONNRESET|ETIMEDOUT|57P0[123]|08\d\d\d|53\d\d\d)/;

/** Database trouble becomes StoreUnavailableError (503); anything else stays as it is. */
function translate(err: unknown): unknown {
  if (err instanceof ConflictError || err instanceof StoreUnavailableError) return err;
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  const message = err instanceof Error ? err.message : String(err);
  if (UNAVAILABLE_CODES.test(code) || /connect|terminat|Connection/i.test(message)) {
    return new StoreUnavailableError(`database unavailable: ${message.split('\n')[0]}`);
  }
  return err;
}
