import type { Kysely } from 'kysely';
import type { HistoryStore, PushAttempt } from '../domain/push-attempt.js';
import { labelsJson } from './metrics-json.js';
import type { Database } from './schema.js';
import type { HistoryRow, StoreDialect } from './dialect/store-dialect.js';

// Label rows per INSERT, far below both databases' parameter limits.
const LABEL_BATCH = 2000;

/**
 * The push_attempt table (migration 0003) on SQLite or PostgreSQL, and beside each attempt its
 * grouping labels but job in push_attempt_label (migration 0009), written in the same transaction
 * so that a label-filtered read finds every attempt. Retention's deletes cascade to the labels.
 */
export class KyselyHistoryStore implements HistoryStore {
  /** `dialect`: where it appends in one statement (StoreDialect.appendHistory). */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect?: StoreDialect,
  ) {}

  async appendHistory(attempts: readonly PushAttempt[]): Promise<void> {
    if (attempts.length === 0) return;
    const rows = attempts.map((r): HistoryRow => ({
      time_seconds: r.timeSeconds,
      method: r.method,
      path: r.path,
      grouping_key: r.key?.id ?? null,
      job: r.key?.job ?? null,
      labels_json: r.key ? labelsJson(r.key.labels) : null,
      outcome: r.outcome,
      status_code: r.statusCode,
      reason: r.reason ?? null,
      body_bytes: r.bodyBytes,
      series_count: r.seriesCount ?? null,
      client_address: r.clientAddress ?? null,
    }));
    if (this.dialect?.appendHistory) return this.dialect.appendHistory(this.db, rows);
    await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('push_attempt')
        .values(rows)
        // Neither database promises RETURNING rows in VALUES order: each row brings its own labels back.
        .returning(['id', 'time_seconds', 'labels_json'])
        .execute();
      const labels = inserted.flatMap((row) =>
        row.labels_json === null
          ? []
          : Object.entries(JSON.parse(row.labels_json) as Record<string, string>)
              .filter(([name]) => name !== 'job')
              .map(([name, value]) => ({ attempt_id: Number(row.id), name, value, time_seconds: row.time_seconds })),
      );
      // 4 parameters a row: a batch of attempts with many labels each stays within PostgreSQL's 65,535.
      for (let i = 0; i < labels.length; i += LABEL_BATCH) {
        await trx
          .insertInto('push_attempt_label')
          .values(labels.slice(i, i + LABEL_BATCH))
          .execute();
      }
    });
  }

  async deleteHistoryBefore(cutoffSeconds: number, limit: number): Promise<number> {
    // Oldest first through the time index; the id list keeps the statement portable (SQLite
    // has DELETE ... LIMIT only as a compile-time option, PostgreSQL not at all).
    const result = await this.db
      .deleteFrom('push_attempt')
      .where('id', 'in', (eb) => eb.selectFrom('push_attempt').select('id').where('time_seconds', '<', cutoffSeconds).orderBy('time_seconds').limit(limit))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
