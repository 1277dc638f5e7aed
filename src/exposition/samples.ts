import { formatFloat } from './float-format.js';
import type { LabelPair, Metric, MetricFamily } from './types.js';

/** One exposed sample line: what a text scrape prints, without formatting. */
export interface FlatSample {
  /** Name with suffix: `x`, `x_sum`, `x_count`, `x_bucket`. */
  readonly name: string;
  /** The series labels followed by `quantile` or `le` where the line has one. */
  readonly labels: readonly LabelPair[];
  readonly value: number;
}

/**
 * Flattens one series into the samples a text scrape shows, in scrape order: quantiles then
 * _sum/_count for summaries; buckets (with the implicit +Inf bucket) then _sum/_count for
 * histograms. Values are not formatted; labels are taken in the order given.
 */
export function flattenMetric(family: Pick<MetricFamily, 'name' | 'type'>, metric: Metric): FlatSample[] {
  const { name } = family;
  const labels = metric.labels;
  if (metric.summary) {
    const s = metric.summary;
    const out: FlatSample[] = s.quantiles.map((q) => ({
      name,
      labels: [...labels, { name: 'quantile', value: formatFloat(q.quantile) }],
      value: q.value,
    }));
    out.push({ name: `${name}_sum`, labels, value: s.sampleSum }, { name: `${name}_count`, labels, value: s.sampleCount });
    return out;
  }
  if (metric.histogram) {
    const h = metric.histogram;
    const count = h.native && h.native.sampleCountFloat > 0 ? h.native.sampleCountFloat : h.sampleCount;
    const out: FlatSample[] = h.buckets.map((b) => ({
      name: `${name}_bucket`,
      labels: [...labels, { name: 'le', value: formatFloat(b.upperBound) }],
      value: b.cumulativeCount,
    }));
    if (!h.buckets.some((b) => b.upperBound === Infinity)) {
      out.push({ name: `${name}_bucket`, labels: [...labels, { name: 'le', value: '+Inf' }], value: count });
    }
    out.push({ name: `${name}_sum`, labels, value: h.sampleSum }, { name: `${name}_count`, labels, value: count });
    return out;
  }
  return [{ name, labels, value: metric.value ?? 0 }];
}

/** Every sample of a family, series after series. */
export function flattenFamily(family: MetricFamily): FlatSample[] {
  return family.metrics.flatMap((m) => flattenMetric(family, m));
}
