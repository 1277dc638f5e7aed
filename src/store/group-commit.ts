import { CompiledQuery } from 'kysely';
import type { PushWrite, WriteResult } from './metric-store.js';
import { translate } from './dialect/database-errors.js';
import { applyPush } from './push-writer.js';
import type { StoreContext } from './store-context.js';

// Most pushes a group commit may hold: bounds the time the first of them waits for its reply.
const MAX_GROUP_COMMIT = 64;

const SAVEPOINT = CompiledQuery.raw('SAVEPOINT push');
const RELEASE = CompiledQuery.raw('RELEASE push');
const ROLLBACK_TO = CompiledQuery.raw('ROLLBACK TO push');

interface QueuedPush {
  readonly write: PushWrite;
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (err: unknown) => void;
}

type BatchOutcome = { ok: WriteResult } | { err: unknown };

/**
 * Commits the pushes that arrive while a transaction runs together (StoreDialect.groupCommit),
 * and every reply waits for its batch's COMMIT. A batch runs first as it is; if any push in it
 * fails, that transaction rolls back and the batch runs again with one savepoint per push, so
 * that a push that fails rolls back alone. Refused pushes are rare, and two statements per push
 * (SAVEPOINT, RELEASE) are a large share of a re-push's: a batch holding one costs its earlier
 * pushes twice instead.
 */
export class GroupCommit {
  private readonly queue: QueuedPush[] = [];
  private draining = false;

  /** `failure`: the error a push's failure is reported as (names a duplicate series). */
  constructor(
    private readonly ctx: StoreContext,
    private readonly failure: (err: unknown, write: PushWrite) => Promise<unknown>,
  ) {}

  write(write: PushWrite): Promise<WriteResult> {
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
          else item.reject(await this.failure(outcome.err, item.write));
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
      await this.ctx.db.transaction().execute(async (trx) => {
        // One change number for the whole batch: its pushes commit together, so a reader sees
        // all of them or none.
        const stamp = await this.ctx.dialect.changeStamp(trx);
        for (const item of batch) {
          if (!savepoints) {
            outcomes.push({ ok: await applyPush(this.ctx, trx, item.write, stamp) });
            continue;
          }
          await trx.executeQuery(SAVEPOINT);
          try {
            outcomes.push({ ok: await applyPush(this.ctx, trx, item.write, stamp) });
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
}
