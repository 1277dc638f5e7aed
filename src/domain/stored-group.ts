import type { Metric, MetricType } from '../exposition/types.js';
import type { AggregationMode } from './aggregation.js';
import type { GroupingKey } from './grouping-key.js';

// Groups and families as the store keeps them and every layer above it reads them.

/** A family as stored in a group, with when it was last written. */
export interface StoredFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help?: string;
  readonly pushedAtSeconds: number;
  readonly metrics: readonly Metric[];
  /** The scrape cache's rendering of the series as the push stored it; opaque to the store. */
  readonly renderedSeries?: string;
}

/** A group without its families: what the timestamp gauges need. */
export interface GroupHeader {
  readonly id: number;
  readonly key: GroupingKey;
  readonly pushTimeSeconds: number;
  readonly pushFailureTimeSeconds: number;
  /**
   * When the group expires (Unix seconds), once retention gives it a time to live; absent means
   * never. The JSON API shows it as `expires_at`, the UI as time left.
   */
  readonly expiresAtSeconds?: number;
  /** The TTL (seconds, 0 = never) a push's Pushkeep-TTL header gave the group; absent = the operator's rules apply. */
  readonly ttlSeconds?: number;
  /** 'sum' for a group whose POSTs add (domain/aggregation.ts); absent = 'replace'. */
  readonly aggregation?: AggregationMode;
}

/**
 * Retention's part of a write: given the TTL an earlier header stored on the group (undefined
 * when none), the group's new expiry time in Unix seconds, undefined for never.
 */
export type ExpiryOf = (storedTtlSeconds: number | undefined) => number | undefined;

/** A group removed because its expiry time passed (MetricStore.deleteExpired). */
export interface ExpiredGroup {
  readonly id: number;
  readonly key: GroupingKey;
  readonly pushTimeSeconds: number;
  readonly expiresAtSeconds: number;
}

/** A recomputed expiry for MetricStore.setExpiries, applied only if the group is as it was read. */
export interface ExpiryUpdate {
  readonly id: number;
  /** The push and failure times the new expiry was computed from. */
  readonly pushTimeSeconds: number;
  readonly pushFailureTimeSeconds: number;
  /** undefined = never. */
  readonly expiresAtSeconds: number | undefined;
}

export interface StoredGroup extends GroupHeader {
  readonly families: readonly StoredFamily[];
}

/**
 * Thrown by the `metrics` of a family that a full loadGroupsChangedSince returned without them:
 * it brings the series only of families stored without a rendering. Reload the group with
 * loadGroupsById to have them.
 */
export class SeriesNotLoadedError extends Error {}

/** Thrown by writePush when the push conflicts with what is stored; nothing was written. */
export class ConflictError extends Error {}

/** Thrown when the database cannot be reached or written; nothing was written. */
export class StoreUnavailableError extends Error {}
