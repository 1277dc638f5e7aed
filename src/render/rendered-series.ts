import { escapeMetric, escapeMetricName, hasLegacyLabelNames } from '../exposition/name-escaping.js';
import { isLegacyMetricName } from '../exposition/names.js';
import { renderMetricLines } from '../exposition/text-renderer.js';
import type { LabelPair, Metric, MetricType } from '../exposition/types.js';

/**
 * One family's series as the scrape cache holds them, as parallel arrays with one string per
 * series in each: objects per series would cost more than the strings they hold at a million
 * series. Rendered once per push, before the write, so that the store keeps it beside the series
 * (toStored) and a start reads it back (fromStored) instead of decoding and rendering every
 * stored series again.
 */
export interface RenderedSeries {
  /**
   * The official scrape's sort key per series in one string: the label count as one character,
   * then the label values in label-name order, each closed by U+0000 (which sorts below every
   * other character, so comparing keys compares values position by position).
   */
  readonly keys: readonly string[];
  /** The text 0.0.4 lines per series. */
  readonly texts: readonly string[];
  /**
   * The series as scraped (label names escaped), only where its text lines cannot say all of it
   * (exemplars, native histograms, created timestamps); absent when no series needs it. Others
   * are re-read from their text on the rare rebuild of an OpenMetrics or protobuf block.
   */
  readonly metrics?: readonly (Metric | undefined)[];
  /**
   * Every series with its names as pushed, only when the family name or a label name is not a
   * legacy name (--push.enable-utf8-names): scrapes asking for another escaping scheme than
   * underscores render from these.
   */
  readonly original?: readonly Metric[];
}

// Bump whenever a series' text lines or sort key would come out differently: a stored rendering
// of another version is ignored and the series are rendered again from metrics_json.
const STORED_VERSION = 1;

/**
 * A family's series rendered. `keepAllMetrics` keeps every series' structured form, for the
 * gateway's own families, rendered anew for each scrape, whose OpenMetrics or protobuf rendering
 * would otherwise parse each series back from its text.
 */
export function renderSeries(
  family: { readonly name: string; readonly type: MetricType; readonly metrics: readonly Metric[] },
  keepAllMetrics = false,
): RenderedSeries {
  const shown = escapeMetricName(family.name);
  // Built by map(): arrays of exactly the series count, where push() would leave spare slots.
  let metrics: (Metric | undefined)[] | undefined;
  const keys = family.metrics.map((m) => seriesKey(m.labels));
  const texts = family.metrics.map((m, i) => {
    const metric = escapeMetric(m);
    if (keepAllMetrics || !textSaysAll(metric)) (metrics ??= [])[i] = metric;
    return flat(renderMetricLines(shown, family.type, metric));
  });
  const utf8 = !isLegacyMetricName(family.name) || family.metrics.some((m) => !hasLegacyLabelNames(m.labels));
  return { keys, texts, ...(metrics ? { metrics } : {}), ...(utf8 ? { original: family.metrics } : {}) };
}

/** The form the store keeps; undefined when some series needs more than its text lines, or has UTF-8 names. */
export function toStored(series: RenderedSeries): string | undefined {
  return series.metrics || series.original ? undefined : JSON.stringify([STORED_VERSION, series.keys, series.texts]);
}

/** A stored rendering read back; undefined when it is of another version or not one at all. */
export function fromStored(stored: string): RenderedSeries | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== STORED_VERSION) return undefined;
  const [, keys, texts] = parsed as [number, unknown, unknown];
  if (!isStringArray(keys) || !isStringArray(texts) || keys.length !== texts.length) return undefined;
  return { keys, texts };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** The official series order: fewer labels first, then label values position by position. */
export function seriesKey(labels: readonly LabelPair[]): string {
  let key = String.fromCharCode(labels.length);
  for (const l of labels) key += l.value + '\u0000';
  return flat(key);
}

/**
 * A string built by concatenation is a tree of pieces until read; reading one character flattens
 * it now, at a third of the tree's memory.
 */
export function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

function textSaysAll(metric: Metric): boolean {
  if (metric.exemplar !== undefined || metric.createdTimestampMs !== undefined) return false;
  const h = metric.histogram;
  if (h && (h.native !== undefined || h.exemplars !== undefined || h.createdTimestampMs !== undefined)) return false;
  if (h?.buckets.some((b) => b.exemplar !== undefined)) return false;
  return metric.summary?.createdTimestampMs === undefined;
}
