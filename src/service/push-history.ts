import type { HistoryStore, PushAttempt } from '../domain/push-attempt.js';

export interface PushHistoryOptions {
  /** How long attempts are kept (--history.retention); 0 keeps them forever. */
  readonly retentionSeconds: number;
  /** How long an attempt may wait in memory before it is written; default 100 ms. */
  readonly flushDelayMs?: number;
  /** Told when a batch could not be written (it is dropped): history must never fail a push. */
  readonly onWriteError?: (err: unknown, dropped: number) => void;
}

// Rows per INSERT: 13 parameters each stays far below SQLite's and PostgreSQL's limits.
const BATCH = 500;
// Attempts held while the database does not take them; beyond it the newest are dropped.
const MAX_BUFFERED = 20_000;
// Rows per DELETE of a sweep: each is a short write transaction, so pushes interleave with it.
const SWEEP_BATCH = 5_000;

/**
 * Records every push attempt without adding to the push's own work: attempts are buffered and
 * written in batches, one INSERT per batch in its own short transaction, after at most
 * flushDelayMs. The cost is that a crash loses the attempts of the last flushDelayMs; pushes
 * themselves are committed before their reply as always.
 */
export class PushHistory {
  private buffer: PushAttempt[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private closed = false;
  private readonly flushDelayMs: number;

  constructor(
    private readonly store: HistoryStore,
    private readonly options: PushHistoryOptions,
  ) {
    this.flushDelayMs = options.flushDelayMs ?? 100;
  }

  /** Queues one attempt; never throws and never waits. */
  record(attempt: PushAttempt): void {
    if (this.closed) return;
    if (this.buffer.length >= MAX_BUFFERED) {
      this.options.onWriteError?.(new Error('push history buffer full'), 1);
      return;
    }
    this.buffer.push(attempt);
    if (this.writing) return; // the running write schedules the next one
    if (this.buffer.length >= BATCH) {
      this.startWrite();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.startWrite(), this.flushDelayMs);
      this.timer.unref();
    }
  }

  /** Writes everything recorded so far; resolves when it is committed (or dropped on error). */
  async flush(): Promise<void> {
    while (this.writing || this.buffer.length > 0) {
      if (!this.writing) this.startWrite();
      await this.writing;
    }
  }

  private startWrite(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.writing || this.buffer.length === 0) return;
    const rows = this.buffer.splice(0, BATCH);
    this.writing = this.store
      .appendHistory(rows)
      .catch((err: unknown) => this.options.onWriteError?.(err, rows.length))
      .finally(() => {
        this.writing = undefined;
        if (this.buffer.length >= BATCH) this.startWrite();
        else if (this.buffer.length > 0 && !this.timer) {
          this.timer = setTimeout(() => this.startWrite(), this.flushDelayMs);
          this.timer.unref();
        }
      });
  }

  /**
   * Deletes the attempts older than the retention, in batches so that pushes are never held up
   * behind one long DELETE. Returns how many were deleted.
   */
  async sweep(nowSeconds: number): Promise<number> {
    if (this.options.retentionSeconds <= 0) return 0;
    const cutoff = nowSeconds - this.options.retentionSeconds;
    let total = 0;
    for (;;) {
      const n = await this.store.deleteHistoryBefore(cutoff, SWEEP_BATCH);
      total += n;
      if (n < SWEEP_BATCH) return total;
    }
  }

  /** Writes what is buffered; later attempts are ignored. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}
