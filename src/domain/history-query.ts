import type { LabelPair } from '../exposition/types.js';
import type { GroupSelector } from './group-matcher.js';
import type { GroupingKey } from './grouping-key.js';
import { PushError } from './push-error.js';

/** Where a page of history ended: the last entry's time and row id (entries are ordered by both, newest first). */
export interface HistoryCursor {
  readonly timeSeconds: number;
  readonly id: number;
}

/** What GET /api/v1/history and the /history page ask the store for. Every given filter must hold. */
export interface HistoryQuery {
  /** Only attempts on this job. */
  readonly job?: string;
  /** Only attempts on exactly this group (its canonical grouping key). */
  readonly groupingKey?: string;
  /** match[]: an attempt's grouping labels must match at least one of them (none given: no filter). */
  readonly selectors?: readonly GroupSelector[];
  /**
   * Must match as well, whatever the caller passed in `selectors`: how a scoped credential is
   * confined to its own groups. An attempt whose path named no group has no labels (each reads as "").
   */
  readonly required?: GroupSelector;
  /** Some grouping label value contains this text, ignoring case (the UI's label filter). */
  readonly labelText?: string;
  readonly outcome?: 'accepted' | 'rejected';
  /** Only attempts at or after this Unix time. */
  readonly sinceSeconds?: number;
  /** Only attempts older than this position (the previous page's `next`). */
  readonly before?: HistoryCursor;
  /** Entries per page, 1 to MAX_HISTORY_LIMIT. */
  readonly limit: number;
}

/** One attempt as the API answers it: the push_history view's columns. */
export interface HistoryEntry {
  readonly timeSeconds: number;
  readonly method: string;
  readonly path: string;
  readonly groupingKey: string | null;
  readonly job: string | null;
  readonly instance: string | null;
  /** Grouping labels, sorted by name; empty when the path named no group. */
  readonly labels: readonly LabelPair[];
  readonly outcome: 'accepted' | 'rejected';
  readonly statusCode: number;
  readonly reason: string | null;
  readonly bodyBytes: number;
  readonly seriesCount: number | null;
  readonly clientAddress: string | null;
}

export interface HistoryPage {
  readonly entries: readonly HistoryEntry[];
  /**
   * Pass as `before` for the next (older) page; undefined when there is none. A page can hold
   * fewer than `limit` entries and still have a next one when a selective filter was evaluated
   * on more rows than a request may read.
   */
  readonly next?: HistoryCursor;
}

/** Pushes per slot of a timeline, oldest slot first. */
export interface TimelineSlot {
  readonly accepted: number;
  readonly rejected: number;
}

export interface Timeline {
  readonly startSeconds: number;
  readonly slotSeconds: number;
  readonly slots: readonly TimelineSlot[];
}

/** The reads behind the history API, the /history page, group timelines and the status chart (src/store/history-reads.ts). */
export interface HistoryReads {
  queryHistory(query: HistoryQuery): Promise<HistoryPage>;
  /** Per grouping key, its attempts counted per slot of slotSeconds from startSeconds on. */
  groupTimelines(groupingKeys: readonly string[], startSeconds: number, slotSeconds: number, slotCount: number): Promise<Map<string, Timeline>>;
  /** Every attempt counted per slot. */
  overallTimeline(startSeconds: number, slotSeconds: number, slotCount: number): Promise<Timeline>;
}

export const DEFAULT_HISTORY_LIMIT = 100;
export const MAX_HISTORY_LIMIT = 1000;

/** Opaque to clients: base64url of `<time>:<id>`. */
export function encodeCursor(cursor: HistoryCursor): string {
  return Buffer.from(`${cursor.timeSeconds}:${cursor.id}`).toString('base64url');
}

/** Throws PushError('invalid') for anything encodeCursor did not make. */
export function decodeCursor(text: string): HistoryCursor {
  const plain = /^[A-Za-z0-9_-]+$/.test(text) ? Buffer.from(text, 'base64url').toString() : '';
  const m = /^(\d+(?:\.\d+)?(?:e[+-]?\d+)?):(\d+)$/.exec(plain);
  const timeSeconds = m ? Number(m[1]) : NaN;
  const id = m ? Number(m[2]) : NaN;
  if (!Number.isFinite(timeSeconds) || !Number.isSafeInteger(id)) {
    throw new PushError('invalid', `invalid before ${JSON.stringify(text)}: expected the "next" value of a previous answer`);
  }
  return { timeSeconds, id };
}

/** The grouping key a selector is tested against, built from an attempt's labels. */
export function attemptKey(entry: HistoryEntry): GroupingKey {
  return { job: entry.job ?? '', labels: entry.labels, id: entry.groupingKey ?? '' };
}

/** The filters that the store's SQL can only narrow down, checked exactly on each candidate row. */
export function matchesExactly(query: HistoryQuery, entry: HistoryEntry): boolean {
  const key = attemptKey(entry);
  if (query.required && !query.required.matches(key)) return false;
  if (query.selectors && query.selectors.length > 0 && !query.selectors.some((s) => s.matches(key))) return false;
  if (query.labelText) {
    const text = query.labelText.toLowerCase();
    if (!entry.labels.some((l) => l.value.toLowerCase().includes(text))) return false;
  }
  return true;
}
