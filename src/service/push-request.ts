import type { GroupingKey } from '../domain/grouping-key.js';
import type { MetricFamily } from '../exposition/types.js';

// What the HTTP layer hands PushService and gets back: a push as the service takes it.

export interface PushRequest {
  readonly key: GroupingKey;
  readonly families: readonly MetricFamily[];
  /** PUT replaces the group; POST replaces only the pushed families. */
  readonly replace: boolean;
  /** When the request arrived, in Unix seconds. */
  readonly timeSeconds: number;
  /** The Pushkeep-TTL header's TTL in seconds (0 = never): the group's TTL from this push on. */
  readonly ttlSeconds?: number | undefined;
  /**
   * Families whose values are added to the stored ones whatever the group's mode (OTLP delta
   * sums, histograms and non-monotonic sums), with a sum group's per-type rules and errors, except
   * that gauges add too.
   */
  readonly addFamilies?: ReadonlySet<string> | undefined;
  /** The Pushkeep-Aggregation header: the mode of a group this push creates; another group's mode refuses it (409). */
  readonly aggregation?: 'sum' | 'replace' | undefined;
  /** The Idempotency-Key header, with the fingerprint of the request and the status a success answers. */
  readonly idempotency?: IdempotentRequest | undefined;
}

/** A request's Idempotency-Key (scoped to the grouping key), as the HTTP layer saw it. */
export interface IdempotentRequest {
  readonly key: string;
  /** Of method, path and body: the same key on another request is refused (422). */
  readonly fingerprint: string;
  /** What the request answers when it succeeds, replayed to its repeats. */
  readonly status: number;
}

/** What a push or delete answered; `replayedStatus` when it repeated an Idempotency-Key and was not applied again. */
export interface PushOutcome {
  readonly replayedStatus?: number;
}

/** PushService.pushAll refused the request because of one push: `error` is what push() would have thrown for it. */
export class PushRefusedError extends Error {
  constructor(
    /** The refused push's index in the requests given. */
    readonly index: number,
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error));
  }
}
