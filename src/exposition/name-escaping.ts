/**
 * Name escaping for scrapes, as prometheus/common's expfmt applies the `escaping=` parameter a
 * scraper sends in `Accept` (the schemes of prometheus/docs' escaping_schemes.md). A metric or
 * label name that is not a legacy name (possible only with --push.enable-utf8-names) is:
 * - `allow-utf-8`: kept; the text formats then write it quoted (`{"my.name",job="j"}`);
 * - `underscores` (the default): every offending character replaced by `_`;
 * - `dots`: `_` doubled, `.` written `_dot_`, any other offending character `__`;
 * - `values`: `U__` then the name with `_` doubled and each offending character as `_<hex code point>_`.
 * Legacy names are never escaped, whatever the scheme. Scrapers that predate UTF-8 names
 * (Prometheus 2.x, promtool) would otherwise fail the whole scrape on one such name.
 *
 * One deliberate difference: a `:` in a label name counts as offending (expfmt keeps it, which
 * makes a label name that no text parser accepts).
 */
import { isLegacyLabelName, isLegacyMetricName } from './names.js';
import type { LabelPair, Metric } from './types.js';

export type EscapingScheme = 'allow-utf-8' | 'underscores' | 'dots' | 'values';

export const ESCAPING_SCHEMES: readonly EscapingScheme[] = ['allow-utf-8', 'underscores', 'dots', 'values'];

export function isEscapingScheme(value: string): value is EscapingScheme {
  return (ESCAPING_SCHEMES as readonly string[]).includes(value);
}

const METRIC_FIRST = /[a-zA-Z_:]/;
const METRIC_REST = /[a-zA-Z0-9_:]/;
const LABEL_FIRST = /[a-zA-Z_]/;
const LABEL_REST = /[a-zA-Z0-9_]/;

export function escapeMetricName(name: string, scheme: EscapingScheme = 'underscores'): string {
  if (name === '' || scheme === 'allow-utf-8' || isLegacyMetricName(name)) return name;
  return escapeChars(name, scheme, METRIC_FIRST, METRIC_REST);
}

export function escapeLabelName(name: string, scheme: EscapingScheme = 'underscores'): string {
  if (name === '' || scheme === 'allow-utf-8' || isLegacyLabelName(name)) return name;
  return escapeChars(name, scheme, LABEL_FIRST, LABEL_REST);
}

// Per code point, as Go ranges over a string: one replacement for a character outside the BMP, not two.
function escapeChars(name: string, scheme: Exclude<EscapingScheme, 'allow-utf-8'>, first: RegExp, rest: RegExp): string {
  let out = scheme === 'values' ? 'U__' : '';
  let i = 0;
  for (const ch of name) {
    const valid = (i === 0 ? first : rest).test(ch);
    i++;
    if (scheme === 'underscores') out += valid ? ch : '_';
    else if (ch === '_') out += '__';
    else if (valid) out += ch;
    else if (scheme === 'dots') out += ch === '.' ? '_dot_' : '__';
    else out += `_${codePointHex(ch)}_`;
  }
  return out;
}

function codePointHex(ch: string): string {
  const cp = ch.codePointAt(0)!;
  // A lone surrogate is not a character: Go reads such bytes as U+FFFD and writes `_FFFD_`.
  return cp >= 0xd800 && cp <= 0xdfff ? 'FFFD' : cp.toString(16);
}

// Label names repeat across millions of series: a set lookup is cheaper than the regex. Bounded,
// because with UTF-8 names allowed a client could send endlessly many distinct ones.
const knownLegacy = new Set<string>();
const KNOWN_LEGACY_MAX = 10_000;

function isKnownLegacyLabelName(name: string): boolean {
  if (knownLegacy.has(name)) return true;
  if (!isLegacyLabelName(name)) return false;
  if (knownLegacy.size < KNOWN_LEGACY_MAX) knownLegacy.add(name);
  return true;
}

/** True when every label name is a legacy one, so that no scheme changes them. */
export function hasLegacyLabelNames(labels: readonly LabelPair[]): boolean {
  for (let i = 0; i < labels.length; i++) if (!isKnownLegacyLabelName(labels[i]!.name)) return false;
  return true;
}

/** The labels with escaped names; the same array when none needed escaping (the usual case). */
export function escapeLabels(labels: readonly LabelPair[], scheme: EscapingScheme = 'underscores'): readonly LabelPair[] {
  if (scheme === 'allow-utf-8' || hasLegacyLabelNames(labels)) return labels;
  return labels.map((l) => ({ name: escapeLabelName(l.name, scheme), value: l.value }));
}

/** The metric with escaped label names; the same object when none needed escaping. */
export function escapeMetric(metric: Metric, scheme: EscapingScheme = 'underscores'): Metric {
  const labels = escapeLabels(metric.labels, scheme);
  return labels === metric.labels ? metric : { ...metric, labels };
}
