import type { MetricFamily, MetricType } from '../exposition/types.js';
import type { ExpiredGroup, ExpiryOf, ExpiryUpdate, GroupHeader, StoredFamily, StoredGroup } from '../domain/stored-group.js';

// The contract speaks in the domain's group types; the store's modules take them from here.
export type { ExpiredGroup, ExpiryOf, ExpiryUpdate, GroupHeader, StoredFamily, StoredGroup } from '../domain/stored-group.js';
export { ConflictError, SeriesNotLoadedError, StoreUnavailableError } from '../domain/stored-group.js';
import type { GroupingKey } from '../domain/grouping-key.js';
import type { ConsistencyInput } from '../domain/consistency.js';
import type { AggregationRequest } from '../domain/aggregation.js';
import type { IdempotencyRecord } from './idempotency-keys.js';

export { IdempotentReplay, type IdempotencyRecord } from './idempotency-keys.js';

/** What a push changed: the group's new header, the families written and the names removed. */
export interface WriteResult {
  readonly group: GroupHeader;
  readonly written: readonly StoredFamily[];
  readonly removed: readonly string[];
  /** Families of `written` that hold the sum of stored and pushed values, not the pushed ones. */
  readonly summed?: readonly string[];
}

/**
 * MetricStore.writePushes refused one of its writes, so none was applied: `error` is what
 * writePush would have thrown for it.
 */
export class WriteRefusedError extends Error {
  constructor(
    /** The refused write's index in the writes given. */
    readonly index: number,
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error));
  }
}

/** A sanitised push, ready to be applied atomically. */
export interface PushWrite {
  readonly key: GroupingKey;
  readonly families: readonly MetricFamily[];
  readonly replace: boolean;
  readonly timeSeconds: number;
  /** Names whose store-wide entries the consistency check needs, given the group's families (name → type). */
  readonly lookUpNames: (existing: ReadonlyMap<string, MetricType>) => readonly string[];
  /**
   * Runs inside the write transaction on the store's facts; a returned message aborts the write.
   * Undefined skips the check (--push.disable-consistency-check).
   */
  readonly check?: (facts: Pick<ConsistencyInput, 'existing' | 'registry'>) => string | undefined;
  /** The TTL this push's Pushkeep-TTL header set: stored on the group for its later pushes. */
  readonly ttlSeconds?: number;
  /** The group's expiry after this push; absent leaves it never expiring. */
  readonly expiry?: ExpiryOf;
  /** The group's mode (domain/aggregation.ts); absent = replace, and no mode asked for. */
  readonly aggregation?: AggregationRequest;
  /** Families whose values are added to the stored ones whatever the group's mode (deltas). */
  readonly addFamilies?: ReadonlySet<string>;
  /**
   * The rendering to keep beside a family's series as written (StoredFamily.renderedSeries),
   * called by the store's transaction: a family the store summed has values only it knows.
   */
  readonly render?: (family: MetricFamily) => string | undefined;
  /** Idempotency-Key: a repeat throws IdempotentReplay, the key on another request 422. */
  readonly idempotency?: IdempotencyRecord;
}

/**
 * Where a reader of the store's changes stands: opaque to callers, who pass back what the last
 * loadGroupsChangedSince returned.
 */
export interface ChangeCursor {
  /** Every write stamped below it was seen. */
  readonly horizon: number;
  readonly resetSeq: number;
  /** Groups (id → stamp) and tombstones at or after the horizon that were already seen. */
  readonly seen: ReadonlyMap<number, number>;
  readonly seenRemoved: ReadonlySet<number>;
}

/** What other writers changed since a reader last looked (MetricStore.loadGroupsChangedSince). */
export interface StoreChanges {
  /** The argument of the next call. */
  readonly cursor: ChangeCursor;
  /** `pages` hold every group: drop everything held before applying them. */
  readonly full: boolean;
  /**
   * The changed groups as they are now, in pages: a full read comes in many, by group id; else
   * one, ordered by grouping key. Apply each before asking for the next; read once.
   */
  readonly pages: AsyncIterable<readonly StoredGroup[]>;
  /** Ids of groups removed since. */
  readonly removedIds: readonly number[];
}

/**
 * The storage contract. Every method is safe to call concurrently: writes are serialised per
 * database (SQLite has one writer; PostgreSQL transactions lock the rows they touch), and each
 * write is committed before its promise resolves, so a caller may acknowledge it to the client.
 * Returned objects are fresh; callers may keep them but must not mutate them.
 */
export interface MetricStore {
  /**
   * Applies a push in one transaction; throws ConflictError when the check refuses it,
   * AggregationError/AggregationConflictError when a sum cannot be made or the mode differs, and
   * IdempotentReplay (nothing written) for a repeat of an Idempotency-Key.
   */
  writePush(write: PushWrite): Promise<WriteResult>;
  /**
   * Applies pushes to different groups in one transaction: all of them or none. Groups are
   * locked in the order of their grouping keys, so two such calls cannot deadlock. A refused
   * write (what writePush throws for it) rolls back every write and throws WriteRefusedError;
   * errors that are no single write's (an outage) are thrown as they are. Results come in the
   * order of `writes`.
   */
  writePushes(writes: readonly PushWrite[]): Promise<WriteResult[]>;
  /**
   * Sets push_failure_time_seconds, creating the group (timestamps only) if it does not exist. A
   * failure never extends a group's life: `expiry` is applied only to a group that has had no
   * successful push (new, or past its expiry and therefore emptied first).
   */
  recordFailure(key: GroupingKey, timeSeconds: number, expiry?: ExpiryOf): Promise<GroupHeader>;
  /**
   * Removes one group and returns its id; undefined if there was none. With `idempotency`, a
   * repeat deletes nothing (and returns undefined), the key on another request throws 422.
   */
  deleteGroup(key: GroupingKey, idempotency?: IdempotencyRecord, timeSeconds?: number): Promise<number | undefined>;
  /** Every group with its families, ordered by grouping key. */
  loadGroups(): Promise<StoredGroup[]>;
  /** One group, or undefined. */
  loadGroup(key: GroupingKey): Promise<StoredGroup | undefined>;
  /** Answers a trivial query; throws StoreUnavailableError when the database does not. */
  ping(): Promise<void>;
  /** Commits a tiny write; throws StoreUnavailableError when the database cannot be written. */
  checkWritable(): Promise<void>;
  /** Every group without its families, ordered by grouping key. */
  loadHeaders(): Promise<GroupHeader[]>;
  /** The groups with these ids (those that still exist) with their families, ordered by grouping key. */
  loadGroupsById(ids: readonly number[]): Promise<StoredGroup[]>;
  /** Removes every group in one transaction; returns the ids removed. */
  deleteAll(): Promise<number[]>;
  /**
   * Removes the groups with these ids in one transaction, skipping any whose last successful push
   * is at or after `pushedBeforeSeconds` when given (a push that raced the caller's selection).
   * Returns the ids removed.
   */
  deleteGroupsById(ids: readonly number[], pushedBeforeSeconds?: number): Promise<number[]>;
  /**
   * Removes every group whose expiry time is at or before `nowSeconds`, deciding the set with one
   * `DELETE ... RETURNING`: replicas sweeping at once each get only the rows they removed.
   */
  deleteExpired(nowSeconds: number): Promise<ExpiredGroup[]>;
  /** Applies recomputed expiries in one transaction; returns how many groups changed. */
  setExpiries(updates: readonly ExpiryUpdate[]): Promise<number>;
  /**
   * The groups written or removed (by any process on this database) since the write the cursor
   * stands at; when nothing changed, empty lists at the cost of one query. Without a cursor:
   * every group (full), whose families' `metrics` are loaded only where the family has no
   * renderedSeries (the others throw SeriesNotLoadedError). Every write method above stamps what
   * it changes in its own transaction.
   */
  loadGroupsChangedSince(cursor: ChangeCursor | undefined): Promise<StoreChanges>;
}
