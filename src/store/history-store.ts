import type { Kysely } from 'kysely';
import type { HistoryStore, PushAttempt } from '../domain/push-attempt.js';
import { labelsJson } from './metrics-json.js';
import type { Database } from './schema.js';

/** The push_attempt table (migration 0003) on SQLite or PostgreSQL. */
export class KyselyHistoryStore implements HistoryStore {
  constructor(private readonly db: Kysely<Database>) {}

  async appendHistory(rows: readonly PushAttempt[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db
      .insertInto('push_attempt')
      .values(
        rows.map((r) => ({
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
        })),
      )
      .execute();
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
