import type { LabelPair, Metric, MetricType } from '../exposition/types.js';
import { SeriesNotLoadedError, type GroupHeader, type StoredFamily } from './metric-store.js';
import { decodeMetrics } from './metrics-json.js';
import type { MetricGroupRow } from './schema.js';

// Rows as the store reads them, turned into the domain's objects.

export function toHeader(row: MetricGroupRow): GroupHeader {
  // Parsed on first use: most readers of a header (expiry times, listings by id) never look at
  // its labels.
  const json = row.labels_json;
  let labels: LabelPair[] | undefined;
  const header: Mutable<GroupHeader> = {
    id: Number(row.id),
    key: {
      job: row.job,
      get labels() {
        return (labels ??= labelPairs(json));
      },
      id: row.grouping_key,
    },
    pushTimeSeconds: row.push_time_seconds,
    pushFailureTimeSeconds: row.push_failure_time_seconds,
  };
  // Optional fields set by assignment, not spread from temporary objects: a start converts every
  // row, and the spreads took twice as long.
  if (row.expires_at_seconds !== null) header.expiresAtSeconds = row.expires_at_seconds;
  if (row.ttl_seconds !== null) header.ttlSeconds = row.ttl_seconds;
  if (row.aggregation === 'sum') header.aggregation = 'sum';
  return header;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function labelPairs(labelsJson: string): LabelPair[] {
  return Object.entries(JSON.parse(labelsJson) as Record<string, string>).map(([name, value]): LabelPair => ({ name, value }));
}

/**
 * A family row as a StoredFamily whose series are decoded from metrics_json on first use: a
 * start that fills the scrape cache from renderedSeries never needs them (and then reads no
 * metrics_json where there is a rendering: NULL here, and the series throw SeriesNotLoadedError).
 */
export function toFamily(row: {
  name: string;
  type: string;
  help: string | null;
  pushed_at_seconds: number;
  metrics_json: string | null;
  rendered_series_json: string | null;
}): StoredFamily {
  const json = row.metrics_json;
  let metrics: Metric[] | undefined;
  const family: Mutable<StoredFamily> = {
    name: row.name,
    type: row.type as MetricType,
    pushedAtSeconds: row.pushed_at_seconds,
    get metrics() {
      if (json === null) throw new SeriesNotLoadedError(`the series of family ${row.name} were not loaded`);
      return (metrics ??= decodeMetrics(json));
    },
  };
  if (row.help !== null) family.help = row.help;
  if (row.rendered_series_json !== null) family.renderedSeries = row.rendered_series_json;
  return family;
}
