import type { Metric, MetricFamily, MetricType } from '../exposition/types.js';
import type { GroupingKey } from '../domain/grouping-key.js';
import type { ConsistencyInput } from '../domain/consistency.js';

/** A family as stored in a group, with when it was last written. */
export interface StoredFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help?: string;
  readonly pushedAtSeconds: number;
  readonly metrics: readonly Metric[];
}

/** A group without its families: what the timestamp gauges need. */
export interface GroupHeader {
  readonly id: number;
  readonly key: GroupingKey;
  readonly pushTimeSeconds: number;
  readonly pushFailureTimeSeconds: number;
}

export interface StoredGroup extends GroupHeader {
  readonly families: readonly StoredFamily[];
}

/** What a push changed: the group's new header, the families written and the names removed. */
export interface WriteResult {
  readonly group: GroupHeader;
  readonly written: readonly StoredFamily[];
  readonly removed: readonly string[];
}

/** A sanitised push, ready to be applied atomically. */
export interface PushWrite {
  readonly key: GroupingKey;
  readonly families: readonly MetricFamily[];
  readonly replace: boolean;
  readonly timeSeconds: number;
  /** Names whose store-wide entries the consistency check needs. */
  readonly lookUpNames: readonly string[];
  /**
   * Runs inside the write transaction on the store's facts; a returned message aborts the write.
   * Undefined skips the check (--push.disable-consistency-check).
   */
  readonly check?: (facts: Pick<ConsistencyInput, 'existing' | 'registry'>) => string | undefined;
}

/** Thrown by writePush when the push conflicts with what is stored; nothing was written. */
export class ConflictError extends Error {}

/** Thrown when the database cannot be reached or written; nothing was written. */
export class StoreUnavailableError extends Error {}

/**
 * The storage contract. Every method is safe to call concurrently: writes are serialised per
 * database (SQLite has one writer; PostgreSQL transactions lock the rows they touch), and each
 * write is committed before its promise resolves, so a caller may acknowledge it to the client.
 * Returned objects are fresh; callers may keep them but must not mutate them.
 */
export interface MetricStore {
  /** Applies a push in one transaction; throws ConflictError when the check refuses it. */
  writePush(write: PushWrite): Promise<WriteResult>;
  /** Sets push_failure_time_seconds, creating the group (timestamps only) if it does not exist. */
  recordFailure(key: GroupingKey, timeSeconds: number): Promise<GroupHeader>;
  /** Removes one group and returns its id; undefined if there was none. */
  deleteGroup(key: GroupingKey): Promise<number | undefined>;
  /** Every group with its families, ordered by grouping key. */
  loadGroups(): Promise<StoredGroup[]>;
  /** One group, or undefined. */
  loadGroup(key: GroupingKey): Promise<StoredGroup | undefined>;
  /** Number of groups and of stored series. */
  counts(): Promise<{ groups: number; series: number }>;
  /** Answers a trivial query; throws StoreUnavailableError when the database does not. */
  ping(): Promise<void>;
}
