import type { MetricFamily } from '../exposition/types.js';
import type { GroupingKey } from './grouping-key.js';

/** One push attempt as the push_history view shows it. */
export interface PushAttempt {
  /** When the request arrived, Unix seconds. */
  readonly timeSeconds: number;
  readonly method: 'PUT' | 'POST' | 'DELETE';
  /**
   * The request's path as received, the --web.route-prefix and any query string included (e.g.
   * `/pk/metrics/job/backup/instance/db1`): what the client sent, as the push_history view's path shows it.
   */
  readonly path: string;
  /** Absent when the path named no valid group. */
  readonly key?: GroupingKey;
  readonly outcome: 'accepted' | 'rejected';
  readonly statusCode: number;
  /** Why the push was rejected; absent for accepted ones. */
  readonly reason?: string;
  readonly bodyBytes: number;
  /** Series in the body; absent when none was parsed (DELETE, unreadable body). */
  readonly seriesCount?: number;
  readonly clientAddress?: string;
}

/** Where push attempts are kept (src/store/history-store.ts); the recorder is src/service/push-history.ts. */
export interface HistoryStore {
  /** Appends the attempts in one statement. */
  appendHistory(rows: readonly PushAttempt[]): Promise<void>;
  /** Deletes at most `limit` of the attempts made before `cutoffSeconds`; returns how many. */
  deleteHistoryBefore(cutoffSeconds: number, limit: number): Promise<number>;
}

/** Series in a parsed body, counted as push.max-series counts them (a histogram is one). */
export function seriesCount(families: readonly MetricFamily[]): number {
  let n = 0;
  for (const family of families) n += family.metrics.length;
  return n;
}
