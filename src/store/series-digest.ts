import { hash } from 'node:crypto';

/** A sample's identity as metric_sample keys it: its name and its labels' JSON (sorted keys). */
export interface SeriesIdentity {
  readonly metric_name: string;
  readonly labels_json: string;
}

/**
 * metric_family.series_digest: equal for two families exactly when they hold the same series
 * identities in the same order. The order counts because a family's metric_sample rows are
 * inserted in the order of its series and their rowids follow it: a push whose digest matches the
 * stored one may set the values of the rows by position (SQLite's in-place update does). A push
 * of the same series in another order replaces the family's rows.
 *
 * SHA-256 because a client chooses the series: a collision it could craft would make a push
 * update the values of series it does not hold. Each identity is its name's length, the name and
 * the labels' JSON object, whose end the JSON grammar fixes: no separator is needed, so no name or
 * label value can forge one. The text starts with DIGEST_FORM, which digests of other versions of
 * this function (those of the unordered form among them) lack: they only ever fail to match, and
 * the push then replaces the family's rows.
 */
export function seriesDigest(series: readonly SeriesIdentity[]): string {
  let name = series[0]?.metric_name ?? '';
  let prefix = `${name.length}:${name}`;
  const parts: string[] = [];
  for (const s of series) {
    if (s.metric_name !== name) {
      name = s.metric_name;
      prefix = `${name.length}:${name}`;
    }
    parts.push(prefix, s.labels_json);
  }
  return DIGEST_FORM + hash('sha256', parts.join(''), 'base64');
}

/** Marks the ordered form: the unordered digests written before it are plain base64, which has no '~'. */
const DIGEST_FORM = '~';
