// Rendering one family's block from the series of its groups, in each scrape format and escaping
// scheme: what the scrape cache (scrape-cache.ts) caches, and what a scoped scrape renders anew.
import { escapeMetric, escapeMetricName, type EscapingScheme } from '../exposition/name-escaping.js';
import { isLegacyMetricName } from '../exposition/names.js';
import type { ScrapeFormat } from '../exposition/negotiate.js';
import { hasExemplars, renderOpenMetricsFamilyHeader, renderOpenMetricsMetricLines } from '../exposition/openmetrics-renderer.js';
import { encodeFamilyFrame, encodeMetricField } from '../exposition/protobuf/encode.js';
import { renderFamilyHeader, renderMetricLines } from '../exposition/text-renderer.js';
import { parseText } from '../exposition/text-parser.js';
import type { Metric, MetricFamily, MetricType } from '../exposition/types.js';
import { renderSeries } from './rendered-series.js';
import { firstKey, groupPart, keysOf, lastKey, textsOf, wholeText, type GroupPart } from './group-part.js';

export type { GroupPart } from './group-part.js';

/**
 * Series in a block being rendered: series `i` of a part, with its text lines, or (i = WHOLE)
 * every series of the part in the part's own order.
 */
export interface Entry {
  readonly part: GroupPart;
  readonly i: number;
  readonly text: string;
}

export const WHOLE = -1;

export type Piece = string | Buffer;

/** True when the family's name or a label name of one of its parts is not a legacy name. */
export function hasUtf8Names(name: string, parts: Iterable<GroupPart>): boolean {
  if (!isLegacyMetricName(name)) return true;
  for (const part of parts) if (part.original) return true;
  return false;
}

/** A series as a part of its own, for the gateway's own families, which are rendered per scrape. */
export function standalonePart(name: string, type: MetricType, help: string | undefined, metrics: readonly Metric[]): GroupPart {
  return groupPart(help, renderSeries({ name, type, metrics }, true));
}

/** The structured series: kept, or parsed back from its own exactly-written text lines. */
export function metricOf(e: Entry, name: string, type: MetricType): Metric {
  const kept = e.part.metrics?.[e.i];
  if (kept) return kept;
  const family = parseText(`# TYPE ${name} ${type === 'gaugehistogram' ? 'histogram' : type}\n${e.text}`, { utf8Names: true })[0];
  return family!.metrics[0]!;
}

/**
 * The parts' series in key order. Groups differ in their grouping labels, so their series seldom
 * interleave: parts sorted by their first key usually follow one another whole, which a check of
 * neighbours confirms, and sorting 10,000 parts is much cheaper than sorting their 100,000
 * series. Otherwise every series is sorted.
 */
export function sortedEntries(parts: GroupPart[]): Entry[] {
  const keyed = parts.filter((p) => p.count > 0).map((part) => ({ part, first: firstKey(part) }));
  keyed.sort(byFirstKey);
  return entriesOfSorted(keyed, parts);
}

/** A non-empty part with its first series' sort key. */
export interface KeyedPart {
  readonly part: GroupPart;
  readonly first: string;
}

export function byFirstKey(a: KeyedPart, b: KeyedPart): number {
  return compareKeys(a.first, b.first);
}

/** sortedEntries of `parts`, given their non-empty ones sorted by first key (`sorted`). */
export function entriesOfSorted(sorted: readonly KeyedPart[], parts: readonly GroupPart[]): Entry[] {
  let ordered = true;
  let last: string | undefined;
  for (const { part, first } of sorted) {
    if (!part.ordered || (last !== undefined && !(last < first))) {
      ordered = false;
      break;
    }
    last = lastKey(part);
  }
  if (ordered) return sorted.map(({ part }) => ({ part, i: WHOLE, text: wholeText(part) }));
  // Ties keep the parts' own order, as they always have (the sort is stable).
  const keyed: { entry: Entry; key: string }[] = [];
  for (const part of parts) {
    const keys = keysOf(part);
    const texts = textsOf(part);
    for (let i = 0; i < part.count; i++) keyed.push({ entry: { part, i, text: texts[i]! }, key: keys[i]! });
  }
  return keyed.sort((a, b) => compareKeys(a.key, b.key)).map((k) => k.entry);
}

/** The entries with every whole part split into its series, for renderings that go series by series. */
export function eachSeries(entries: readonly Entry[]): Entry[] {
  if (entries.every((e) => e.i !== WHOLE)) return entries as Entry[];
  const out: Entry[] = [];
  for (const e of entries) {
    if (e.i !== WHOLE) out.push(e);
    else textsOf(e.part).forEach((text, i) => out.push({ part: e.part, i, text }));
  }
  return out;
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// The gateway's own families have legacy names only: every scheme renders them alike.
export function renderStandalone(family: MetricFamily, format: ScrapeFormat, scheme: EscapingScheme): Piece {
  const part = standalonePart(family.name, family.type, family.help, family.metrics);
  const entries = sortedEntries([part]);
  return renderFamily(format, hasUtf8Names(family.name, [part]) ? scheme : 'underscores', family.name, family.type, family.help, entries);
}

/**
 * One family in one scrape format from its sorted series. Text reuses each series' cached lines;
 * OpenMetrics too, as its sample lines are the text lines (openmetrics-renderer.ts) unless the
 * series has exemplars; protobuf encodes each series once and keeps the bytes.
 */
export function renderFamily(
  format: ScrapeFormat,
  scheme: EscapingScheme,
  name: string,
  type: MetricType,
  help: string | undefined,
  series: readonly Entry[],
): Piece {
  const shown = escapeMetricName(name);
  if (scheme !== 'underscores') return renderFamilyEscaped(format, scheme, name, shown, type, help, series);
  switch (format) {
    case 'text': {
      const out = new TextChunks(renderFamilyHeader(shown, help, type));
      for (const e of series) out.add(e.text);
      return out.done();
    }
    case 'openmetrics': {
      const out = new TextChunks(renderOpenMetricsFamilyHeader(shown, type, help));
      // A part without kept metrics has no exemplars: its text lines are its OpenMetrics lines.
      for (const e of series.some((e) => e.part.metrics) ? eachSeries(series) : series) {
        const metric = e.part.metrics?.[e.i];
        out.add(metric && hasExemplars(metric) ? renderOpenMetricsMetricLines(shown, type, metric) : e.text);
      }
      return out.done();
    }
    case 'protobuf':
      return encodeFamilyFrame(
        shown,
        help,
        type,
        eachSeries(series).map((e) => ((e.part.pbs ??= [])[e.i] ??= encodeMetricField(type, metricOf(e, shown, type)))),
      );
  }
}

/**
 * renderFamily for a family with UTF-8 names under a scheme other than underscores: each series
 * is rendered from its names as pushed, escaped by the scheme (allow-utf-8 keeps them, and the
 * text formats quote them). Only families with such names come here; the block is cached per
 * scheme like any other.
 */
export function renderFamilyEscaped(
  format: ScrapeFormat,
  scheme: Exclude<EscapingScheme, 'underscores'>,
  name: string,
  underscored: string,
  type: MetricType,
  help: string | undefined,
  series: readonly Entry[],
): Piece {
  const shown = escapeMetricName(name, scheme);
  const quote = scheme === 'allow-utf-8';
  const metrics = eachSeries(series).map((e) => escapeMetric(e.part.original?.[e.i] ?? metricOf(e, underscored, type), scheme));
  switch (format) {
    case 'text': {
      const out = new TextChunks(renderFamilyHeader(shown, help, type, quote));
      for (const m of metrics) out.add(renderMetricLines(shown, type, m, quote));
      return out.done();
    }
    case 'openmetrics': {
      const out = new TextChunks(renderOpenMetricsFamilyHeader(shown, type, help, undefined, quote));
      for (const m of metrics) out.add(renderOpenMetricsMetricLines(shown, type, m, quote));
      return out.done();
    }
    case 'protobuf':
      return encodeFamilyFrame(
        shown,
        help,
        type,
        metrics.map((m) => encodeMetricField(type, m)),
      );
  }
}

/**
 * A family's text, appended series by series. Appending makes a tree of pieces that V8 flattens
 * before encoding, slowly for a large family; chunks of 512 series, flattened as they fill and
 * encoded once into a buffer of their summed byte lengths, cost a fraction of that. Small
 * families stay one string.
 */
export class TextChunks {
  private readonly chunks: string[] = [];
  private bytes = 0;
  private pending = 0;

  constructor(private text: string) {}

  add(lines: string): void {
    this.text += lines;
    if (++this.pending === 512) this.seal();
  }

  done(): Piece {
    if (this.chunks.length === 0) return this.text;
    this.seal();
    const out = Buffer.allocUnsafe(this.bytes);
    let at = 0;
    for (const chunk of this.chunks) at += out.write(chunk, at);
    return out;
  }

  private seal(): void {
    this.bytes += Buffer.byteLength(this.text);
    this.chunks.push(this.text);
    this.text = '';
    this.pending = 0;
  }
}

export const toBuffer = (piece: Piece): Buffer => (typeof piece === 'string' ? Buffer.from(piece) : piece);
