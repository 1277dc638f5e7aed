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
  const name = series[0]?.metric_name ?? '';
  // One name (every identity of a gauge or counter family): the texts start alike and sort as
  // their labels' JSON does, which the default sort compares without calling back.
  if (series.every((s) => s.metric_name === name)) {
    const prefix = `${name.length}:${name}`;
    const labels = series.map((s) => s.labels_json).sort();
    // A leading empty text makes join put the prefix before the first identity too, in the one
    // string it builds (prefix + join would copy that string again for the hash).
    if (labels.length > 0) labels.unshift('');
    return hash('sha256', labels.join(prefix), 'base64');
  }
  // Of two names, the texts differ before the labels' JSON starts (the length ends at the colon).
  const prefixes = new Map<string, string>();
  const prefix = (n: string) => {
    let p = prefixes.get(n);
    if (p === undefined) prefixes.set(n, (p = `${n.length}:${n}`));
    return p;
  };
  const sorted = sortSmall([...series], (a, b) =>
    a.metric_name === b.metric_name ? compareStrings(a.labels_json, b.labels_json) : compareStrings(prefix(a.metric_name), prefix(b.metric_name)),
  );
  const parts: string[] = [];
  for (const s of sorted) parts.push(prefix(s.metric_name), s.labels_json);
  return hash('sha256', parts.join(''), 'base64');
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
