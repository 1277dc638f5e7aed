import { sql, type Kysely, type Transaction } from 'kysely';
import type { GroupingKey } from '../domain/grouping-key.js';
import { changesSince } from './change-feed.js';
import { CompiledStatements } from './compiled-statements.js';
import { isUniqueViolation, translate } from './dialect/database-errors.js';
import type { StoreDialect } from './dialect/store-dialect.js';
import { GroupCommit } from './group-commit.js';
import { deleteAll, deleteExpired, deleteGroup, deleteGroupsById } from './group-deletes.js';
import { loadGroup, loadGroups, loadGroupsById, loadHeaders } from './group-reads.js';
import {
  ConflictError,
  StoreUnavailableError,
  type ChangeCursor,
  type ExpiredGroup,
  type ExpiryOf,
  type ExpiryUpdate,
  type GroupHeader,
  type MetricStore,
  type PushWrite,
  type StoreChanges,
  type StoredGroup,
  type WriteResult,
  WriteRefusedError,
} from './metric-store.js';
import { applyPush, describeDuplicate, recordFailure } from './push-writer.js';
import { QuickPushes, type RememberedGroup } from './quick-push.js';
import { checkIdempotency, IdempotentReplay, rememberIdempotency, type IdempotencyRecord } from './idempotency-keys.js';
import type { Database } from './schema.js';
import type { StoreContext } from './store-context.js';

/**
 * MetricStore on kysely: this facade gives every operation its transaction and turns database
 * errors into the contract's; the work itself lives in files by job (push-writer, group-commit,
 * group-reads, group-deletes, name-registry, change-feed), and whatever differs between SQLite and
 * PostgreSQL in the dialect (src/store/dialect/).
 */
export class KyselyMetricStore implements MetricStore {
  private readonly ctx: StoreContext;
  private readonly groupCommit: GroupCommit | undefined;
  private readonly quick: QuickPushes | undefined;

  constructor(db: Kysely<Database>, dialect: StoreDialect) {
    this.ctx = { db, dialect, statements: new CompiledStatements(dialect.statementRunner) };
    this.groupCommit = dialect.groupCommit ? new GroupCommit(this.ctx, (err, write) => this.pushError(err, write)) : undefined;
    this.quick = dialect.quickPush ? new QuickPushes(dialect.quickPush) : undefined;
  }

  private async write<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    try {
      return await this.ctx.dialect.transaction(this.ctx.db, work);
    } catch (err) {
      throw translate(err);
    }
  }

  private async read<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw translate(err);
    }
  }

  async writePush(write: PushWrite): Promise<WriteResult> {
    if (this.groupCommit) return this.groupCommit.write(write);
    const quick = this.quick;
    if (!quick) return this.pushInTransaction(write);
    let written: WriteResult | undefined;
    try {
      written = await quick.write(write);
    } catch (err) {
      throw await this.pushError(err, write);
    }
    return written ?? this.pushInTransaction(write, quick);
  }

  private async pushInTransaction(write: PushWrite, quick?: QuickPushes): Promise<WriteResult> {
    let left: Promise<RememberedGroup | undefined> | undefined;
    const remember = quick && ((group: Promise<RememberedGroup | undefined>) => (left = group));
    try {
      const result = await this.ctx.dialect.transaction(this.ctx.db, (trx) => {
        // A transaction that runs again may leave the group otherwise.
        left = undefined;
        return applyPush(this.ctx, trx, write, undefined, false, remember);
      });
      quick?.remember(write.key.id, await left?.catch(() => undefined));
      return result;
    } catch (err) {
      quick?.forget(write.key.id);
      throw await this.pushError(err, write);
    }
  }

  async writePushes(writes: readonly PushWrite[]): Promise<WriteResult[]> {
    const order = writes.map((_, i) => i).sort((a, b) => (writes[a]!.key.id < writes[b]!.key.id ? -1 : writes[a]!.key.id > writes[b]!.key.id ? 1 : 0));
    let refused: number | undefined;
    try {
      return await this.ctx.dialect.transaction(this.ctx.db, async (trx) => {
        refused = undefined;
        // One change number for all: they commit together, and a reader sees all of them or none.
        const stamp = await this.ctx.dialect.changeStamp(trx);
        const results: WriteResult[] = new Array<WriteResult>(writes.length);
        for (const [n, i] of order.entries()) {
          refused = i;
          results[i] = await applyPush(this.ctx, trx, writes[i]!, stamp, n < order.length - 1);
        }
        refused = undefined;
        return results;
      });
    } catch (err) {
      const translated = await this.pushError(err, writes[refused ?? 0]!);
      if (refused === undefined || translated instanceof StoreUnavailableError) throw translated;
      throw new WriteRefusedError(refused, translated);
    }
  }

  private async pushError(err: unknown, write: PushWrite): Promise<unknown> {
    if (isUniqueViolation(err)) return new ConflictError(await describeDuplicate(this.ctx, write));
    return translate(err);
  }

  recordFailure(key: GroupingKey, timeSeconds: number, expiry?: ExpiryOf): Promise<GroupHeader> {
    return this.write((trx) => recordFailure(this.ctx, trx, key, timeSeconds, expiry));
  }

  deleteGroup(key: GroupingKey, idempotency?: IdempotencyRecord, timeSeconds = Date.now() / 1000): Promise<number | undefined> {
    if (!idempotency) return this.write((trx) => deleteGroup(this.ctx, trx, key));
    return this.write(async (trx) => {
      try {
        await checkIdempotency(trx, key.id, idempotency, timeSeconds);
      } catch (err) {
        if (err instanceof IdempotentReplay) return undefined;
        throw err;
      }
      const id = await deleteGroup(this.ctx, trx, key);
      await rememberIdempotency(trx, key.id, idempotency, timeSeconds);
      return id;
    });
  }

  deleteAll(): Promise<number[]> {
    return this.write((trx) => deleteAll(this.ctx, trx));
  }

  async deleteGroupsById(ids: readonly number[], pushedBeforeSeconds?: number): Promise<number[]> {
    if (ids.length === 0) return [];
    return this.write((trx) => deleteGroupsById(this.ctx, trx, ids, pushedBeforeSeconds));
  }

  deleteExpired(nowSeconds: number): Promise<ExpiredGroup[]> {
    return this.write((trx) => deleteExpired(this.ctx, trx, nowSeconds));
  }

  async setExpiries(updates: readonly ExpiryUpdate[]): Promise<number> {
    if (updates.length === 0) return 0;
    return this.write(async (trx) => {
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
  }

  loadGroups(): Promise<StoredGroup[]> {
    return this.read(() => loadGroups(this.ctx.db));
  }

  loadGroup(key: GroupingKey): Promise<StoredGroup | undefined> {
    return this.read(() => loadGroup(this.ctx.db, key));
  }

  loadHeaders(): Promise<GroupHeader[]> {
    return this.read(() => loadHeaders(this.ctx.db));
  }

  loadGroupsById(ids: readonly number[]): Promise<StoredGroup[]> {
    return this.read(() => loadGroupsById(this.ctx.db, ids));
  }

  async loadGroupsChangedSince(cursor: ChangeCursor | undefined): Promise<StoreChanges> {
    const changes = await this.read(() => changesSince(this.ctx, cursor));
    return { ...changes, pages: translated(changes.pages) };
  }

  ping(): Promise<void> {
    return this.read(async () => void (await sql`SELECT 1`.execute(this.ctx.db)));
  }

  checkWritable(): Promise<void> {
    // A real committed write, so a read-only file, a full or vanished disk, a stuck lock or a
    // PostgreSQL replica all fail it. The row exists in every migrated database (kysely's
    // migrator creates it). SQLite skips an UPDATE that stores the value already there, so the
    // flag is flipped and flipped back in one transaction: the page is really written at COMMIT
    // and nobody ever sees the flipped value.
    return this.read(() =>
      this.ctx.db.transaction().execute(async (trx) => {
        await sql`UPDATE kysely_migration_lock SET is_locked = 1 - is_locked WHERE id = 'migration_lock'`.execute(trx);
        await sql`UPDATE kysely_migration_lock SET is_locked = 1 - is_locked WHERE id = 'migration_lock'`.execute(trx);
      }),
    );
  }
}

/** The pages with database errors met while reading them turned into the contract's. */
async function* translated<T>(pages: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* pages;
  } catch (err) {
    throw translate(err);
  }
}
