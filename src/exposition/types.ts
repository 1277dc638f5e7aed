/**
 * The one data model every exposition format parses into and renders from.
 *
 * It follows the shape of the io.prometheus.client protobuf model (MetricFamily → Metric), so that
 * text, OpenMetrics and protobuf pushes land in the same structure and can be rendered in any
 * scrape format. Parsers return these objects unsorted and unvalidated beyond their own syntax;
 * grouping-label injection, sorting and consistency are the domain's job.
 */

export type MetricType = 'counter' | 'gauge' | 'summary' | 'untyped' | 'histogram' | 'gaugehistogram';

export interface LabelPair {
  readonly name: string;
  readonly value: string;
}

/** Whether two label pairs are the same label: the same name and value. */
export function sameLabel(a: LabelPair, b: LabelPair): boolean {
  return a === b || (a.name === b.name && a.value === b.value);
}

export interface Exemplar {
  readonly labels: readonly LabelPair[];
  readonly value: number;
  /** Milliseconds since the epoch, if the exemplar carried one. */
  readonly timestampMs?: number;
}

export interface Quantile {
  readonly quantile: number;
  readonly value: number;
}

export interface Bucket {
  /** Cumulative count; may be fractional for float histograms. */
  readonly cumulativeCount: number;
  readonly upperBound: number;
  readonly exemplar?: Exemplar;
}

export interface BucketSpan {
  readonly offset: number;
  readonly length: number;
}

export interface Summary {
  readonly sampleCount: number;
  readonly sampleSum: number;
  readonly quantiles: readonly Quantile[];
  readonly createdTimestampMs?: number;
}

/**
 * A classic histogram (buckets) and/or a native one (schema, spans, deltas or counts).
 * Native fields are only present when a protobuf push carried them.
 */
export interface Histogram {
  readonly sampleCount: number;
  readonly sampleSum: number;
  readonly buckets: readonly Bucket[];
  readonly createdTimestampMs?: number;
  readonly native?: NativeHistogram;
  readonly exemplars?: readonly Exemplar[];
}

export interface NativeHistogram {
  readonly schema: number;
  readonly zeroThreshold: number;
  /** Integer histograms use zeroCount and deltas; float histograms zeroCountFloat and counts. */
  readonly zeroCount: number;
  readonly zeroCountFloat: number;
  readonly sampleCountFloat: number;
  readonly negativeSpans: readonly BucketSpan[];
  readonly negativeDeltas: readonly number[];
  readonly negativeCounts: readonly number[];
  readonly positiveSpans: readonly BucketSpan[];
  readonly positiveDeltas: readonly number[];
  readonly positiveCounts: readonly number[];
  /** The custom bucket upper bounds, in increasing order; present only for schema -53 (custom buckets). */
  readonly customValues?: readonly number[];
}

/**
 * One series of a family. Exactly one of value / summary / histogram is set, matching the
 * family's type (value for counter, gauge and untyped).
 */
export interface Metric {
  readonly labels: readonly LabelPair[];
  readonly value?: number;
  readonly summary?: Summary;
  readonly histogram?: Histogram;
  /** Set only when the pushed sample carried one; the domain rejects such pushes. */
  readonly timestampMs?: number;
  /** Counter exemplar (OpenMetrics or protobuf). */
  readonly exemplar?: Exemplar;
  /** Counter created timestamp (OpenMetrics `_created` or protobuf). */
  readonly createdTimestampMs?: number;
}

export interface MetricFamily {
  readonly name: string;
  /** Undefined when the push had no HELP line: the scrape then prints none. */
  readonly help?: string;
  readonly type: MetricType;
  readonly unit?: string;
  readonly metrics: readonly Metric[];
}
