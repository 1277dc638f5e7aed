import { hash } from 'node:crypto';
import { sortSmall } from '../util/small-sort.js';

/** A sample's identity as metric_sample keys it: its name and its labels' JSON (sorted keys). */
export interface SeriesIdentity {
  readonly metric_name: string;
  readonly labels_json: string;
}

/**
 * metric_family.series_digest: equal for two families exactly when they hold the same set of
 * series identities, in any order. SHA-256 because a client chooses the series: a collision it
 * could craft would make a push update the values of series it does not hold. Each identity is
 * its name's length, the name and the labels' JSON object, whose end the JSON grammar fixes: no
 * separator is needed, so no name or label value can forge one. A digest from another version of
 * this function only ever fails to match: the push then replaces the family's rows.
 */
export function seriesDigest(series: readonly SeriesIdentity[]): string {
  const keys = series.map((s) => `${s.metric_name.length}:${s.metric_name}${s.labels_json}`);
  sortSmall(keys, compareStrings);
  return hash('sha256', keys.join(''), 'base64');
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
