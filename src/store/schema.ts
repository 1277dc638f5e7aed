import type { Generated, Insertable, Selectable } from 'kysely';
import type { AggregationMode } from '../domain/aggregation.js';

/**
 * The tables as kysely sees them. Operators read them with SQL too; the stable contract for them
 * is the views documented in docs/sql.md, not these tables.
 */
export interface MetricGroupTable {
  id: Generated<number>;
  /** Canonical `{instance="a",job="j"}` form of the grouping labels; unique. */
  grouping_key: string;
  job: string;
  /** The grouping labels as a JSON object with keys in byte order. */
  labels_json: string;
  push_time_seconds: number;
  push_failure_time_seconds: number;
  /** The TTL a Pushkeep-TTL header gave the group (0 = never); NULL = rules and default apply (migration 0002). */
  ttl_seconds: number | null;
  /** When the group expires, Unix seconds; NULL = never (migration 0002). */
  expires_at_seconds: number | null;
  /** store_version.seq of the last write that touched the group (migration 0004). */
  changed_seq: Generated<number>;
  /** What a POST does: 'replace' the pushed families or 'sum' into them (migration 0007). */
  aggregation: Generated<AggregationMode>;
}

export interface MetricFamilyTable {
  id: Generated<number>;
  group_id: number;
  name: string;
  type: string;
  help: string | null;
  pushed_at_seconds: number;
  /** The family's series after sanitising, in the encoding of store/metrics-json.ts. */
  metrics_json: string;
  /**
   * The scrape cache's rendering of the series (render/rendered-series.ts), opaque to the store;
   * NULL when there is none (migration 0005).
   */
  rendered_series_json: string | null;
  /** store/series-digest.ts of the family's metric_sample identities; NULL = unknown (migration 0006). */
  series_digest: string | null;
}

export interface MetricSampleTable {
  family_id: number;
  group_id: number;
  /** The exposed sample name, suffix included (`x_bucket`, `x_sum`). */
  metric_name: string;
  /** All labels of the sample (le and quantile included) as a JSON object with sorted keys. */
  labels_json: string;
  /** NULL stands for NaN, which SQLite cannot store. */
  value: number | null;
}

export interface MetricNameTable {
  name: string;
  type: string;
  family_count: number;
}

/** One row (id 1): the change counter replicas poll (migration 0004). */
export interface StoreVersionTable {
  id: number;
  seq: number;
  /** seq of the last wipe: a reader behind it reloads everything. */
  reset_seq: number;
  /** Tombstones at or below it are gone: a reader behind it reloads everything. */
  pruned_seq: number;
}

export interface DeletedGroupTable {
  seq: number;
  group_id: number;
}

/** One push attempt (migration 0003); operators read it through the push_history view. */
export interface PushAttemptTable {
  id: Generated<number>;
  time_seconds: number;
  method: string;
  path: string;
  grouping_key: string | null;
  job: string | null;
  labels_json: string | null;
  outcome: 'accepted' | 'rejected';
  status_code: number;
  reason: string | null;
  body_bytes: number;
  series_count: number | null;
  client_address: string | null;
}

/** One grouping label but job of a push attempt (migration 0009), for the label-filtered history reads. */
export interface PushAttemptLabelTable {
  attempt_id: number;
  name: string;
  value: string;
  time_seconds: number;
}

/** A push's Idempotency-Key, scoped to its grouping key, with the answer it got (migration 0007). */
export interface IdempotencyKeyTable {
  grouping_key: string;
  idempotency_key: string;
  /** Of the request's method, path and body: the same key on another request is refused. */
  fingerprint: string;
  status_code: number;
  created_at_seconds: number;
  /** The retention sweep deletes the row after it; a lookup ignores it from then on. */
  expires_at_seconds: number;
}

export interface Database {
  idempotency_key: IdempotencyKeyTable;
  push_attempt: PushAttemptTable;
  push_attempt_label: PushAttemptLabelTable;
  metric_group: MetricGroupTable;
  metric_family: MetricFamilyTable;
  metric_sample: MetricSampleTable;
  metric_name: MetricNameTable;
  store_version: StoreVersionTable;
  deleted_group: DeletedGroupTable;
}

export type MetricGroupRow = Selectable<MetricGroupTable>;
export type MetricFamilyRow = Selectable<MetricFamilyTable>;
export type InsertableSample = Insertable<MetricSampleTable>;
