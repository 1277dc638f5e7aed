/**
 * Name escaping for scrapes, as the official 1.11.3 applies its default `escaping=underscores`: a
 * metric or label name that is not a legacy name (possible only with --push.enable-utf8-names) is
 * scraped with every offending character replaced by `_`. Scrapers that predate UTF-8 names
 * (Prometheus 2.x, promtool) would otherwise fail the whole scrape on one such name.
 *
 * One deliberate difference: a `:` in a label name is escaped too (1.11.3 keeps it, which makes a
 * label name that no text parser accepts).
 */
import { isLegacyLabelName, isLegacyMetricName } from './names.js';
import type { LabelPair, Metric } from './types.js';

export function escapeMetricName(name: string): string {
  if (name === '' || isLegacyMetricName(name)) return name;
  return escapeChars(name, /[a-zA-Z_:]/, /[a-zA-Z0-9_:]/);
}

export function escapeLabelName(name: string): string {
  if (name === '' || isLegacyLabelName(name)) return name;
  return escapeChars(name, /[a-zA-Z_]/, /[a-zA-Z0-9_]/);
}

// Per code point, as Go ranges over a string: one `_` for a character outside the BMP, not two.
function escapeChars(name: string, first: RegExp, rest: RegExp): string {
  let out = '';
  let i = 0;
  for (const ch of name) {
    out += (i === 0 ? first : rest).test(ch) ? ch : '_';
    i++;
  }
  return out;
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

/** The labels with escaped names; the same array when none needed escaping (the usual case). */
export function escapeLabels(labels: readonly LabelPair[]): readonly LabelPair[] {
  for (let i = 0; i < labels.length; i++) {
    if (!isKnownLegacyLabelName(labels[i]!.name)) {
      return labels.map((l) => ({ name: escapeLabelName(l.name), value: l.value }));
    }
  }
  return labels;
}

/** The metric with escaped label names; the same object when none needed escaping. */
export function escapeMetric(metric: Metric): Metric {
  const labels = escapeLabels(metric.labels);
  return labels === metric.labels ? metric : { ...metric, labels };
}
