import { createHash } from 'node:crypto';

/** A sample's identity as metric_sample keys it: its name and its labels' JSON (sorted keys). */
export interface SeriesIdentity {
  readonly metric_name: string;
  readonly labels_json: string;
}

/**
 * metric_family.series_digest: equal for two families exactly when they hold the same set of
 * series identities, in any order. SHA-256 because a client chooses the series: a collision it
 * could craft would make a push update the values of series it does not hold.
 */
export function seriesDigest(series: readonly SeriesIdentity[]): string {
  const keys = series.map((s) => JSON.stringify([s.metric_name, s.labels_json]));
  keys.sort();
  return createHash('sha256').update(keys.join('\n')).digest('base64');
}
