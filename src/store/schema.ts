import type { Generated, Insertable, Selectable } from 'kysely';

/**
 * The tables as kysely sees them. Operators read them with SQL too; the stable contract for them
 * is the views documented in the README, not these tables.
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

export interface Database {
  metric_group: MetricGroupTable;
  metric_family: MetricFamilyTable;
  metric_sample: MetricSampleTable;
  metric_name: MetricNameTable;
}

export type MetricGroupRow = Selectable<MetricGroupTable>;
export type MetricFamilyRow = Selectable<MetricFamilyTable>;
export type InsertableSample = Insertable<MetricSampleTable>;
