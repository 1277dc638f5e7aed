import { escapeMetric, escapeMetricName } from '../exposition/name-escaping.js';
import type { ScrapeFormat } from '../exposition/negotiate.js';
import {
  hasExemplars,
  renderOpenMetricsFamilyHeader,
  renderOpenMetricsMetricLines,
} from '../exposition/openmetrics-renderer.js';
import { encodeFamilyFrame, encodeMetricField } from '../exposition/protobuf-codec.js';
import { renderFamilyHeader, renderMetricLines } from '../exposition/text-renderer.js';
import { parseText } from '../exposition/text-parser.js';
import type { LabelPair, Metric, MetricFamily, MetricType } from '../exposition/types.js';
import {
  PUSH_FAILURE_TIME_HELP,
  PUSH_FAILURE_TIME_METRIC,
  PUSH_TIME_HELP,
  PUSH_TIME_METRIC,
  groupSeriesLabels,
} from '../domain/push-rules.js';
import type { GroupHeader, StoredFamily } from '../store/metric-store.js';
import { ExpiryQueue } from './expiry-queue.js';
import type { Block } from './gzip-blocks.js';

interface SeriesText {
  /**
   * The official scrape's sort key in one string: the label count as one character, then the
   * label values in label-name order, each closed by U+0000 (which sorts below every other
   * character, so comparing keys compares values position by position). One string instead of
   * an array saves about a hundred bytes per series.
   */
  readonly key: string;
  readonly text: string;
  /**
   * The series as scraped (label names escaped), kept only when its text lines cannot say all
   * of it (exemplars, native histograms, created timestamps): most series are re-read from
   * `text` on the rare rebuild of an OpenMetrics or protobuf block instead, which keeps the
   * cache at a few hundred bytes per series.
   */
  readonly metric?: Metric;
  /** Its protobuf `metric` field, encoded by the first protobuf scrape that needed it. */
  pb?: Buffer;
}

interface GroupPart {
  readonly help: string | undefined;
  readonly series: readonly SeriesText[];
}

class FamilyBlock {
  readonly parts = new Map<number, GroupPart>();
  /** The rendered block per scrape format, as bytes ready to send; dropped once a write touched the family. */
  readonly rendered = new Map<ScrapeFormat, Block>();
  constructor(public type: MetricType) {}
}

/** The closing line of every OpenMetrics scrape; one object, so gzipBlocks compresses it once. */
const OPENMETRICS_EOF: Block = { text: Buffer.from('# EOF\n') };

type Piece = string | Buffer;

/**
 * The text 0.0.4 scrape, kept rendered. Each series is rendered once, when it is written; each
 * family's block (HELP, TYPE and the series of every group, sorted as the official gateway sorts
 * them) is re-joined only after a write touched it. A scrape is then a concatenation of cached
 * blocks plus the gateway's own families.
 *
 * Not safe for concurrent mutation, which JavaScript's single thread guarantees; callers apply
 * writes only after they are committed, so the cache never shows an uncommitted push.
 */
export class ScrapeCache {
  private readonly blocks = new Map<string, FamilyBlock>();
  private readonly groupNames = new Map<number, Set<string>>();
  private sortedNames: string[] | undefined;
  private seriesCount = 0;
  private changes = 0;
  private readonly expiries = new ExpiryQueue();

  /** `clock` (Unix seconds) decides when a group with an expiry time stops being served. */
  constructor(private readonly clock: () => number = () => Date.now() / 1000) {}

  /** Changes with every write the cache applies: a rendered body is current while it holds. */
  get version(): number {
    return this.changes;
  }

  /**
   * Forgets the groups whose expiry time has passed, before retention's sweep deletes them from
   * the store; render() calls it, and so must anyone about to trust `version` for a cached body.
   * Costs one comparison when nothing is due.
   */
  expireDue(): void {
    for (const id of this.expiries.takeDue(this.clock())) this.removeGroup(id);
  }

  /** Replaces what the cache holds for a group's families named in `families`, and drops `removed`. */
  applyWrite(header: GroupHeader, families: readonly StoredFamily[], removed: readonly string[]): void {
    for (const name of removed) this.dropPart(name, header.id);
    for (const family of families) this.setPart(header.id, family);
    this.applyHeader(header);
  }

  /** Sets the group's push_time_seconds and push_failure_time_seconds series. */
  applyHeader(header: GroupHeader): void {
    this.expiries.set(header.id, header.expiresAtSeconds);
    const labels = groupSeriesLabels(header.key);
    this.setPart(header.id, gauge(PUSH_TIME_METRIC, PUSH_TIME_HELP, labels, header.pushTimeSeconds));
    this.setPart(header.id, gauge(PUSH_FAILURE_TIME_METRIC, PUSH_FAILURE_TIME_HELP, labels, header.pushFailureTimeSeconds));
  }

  /** Forgets a group entirely. */
  removeGroup(groupId: number): void {
    this.expiries.delete(groupId);
    const names = this.groupNames.get(groupId);
    if (!names) return;
    for (const name of [...names]) this.dropPart(name, groupId);
    this.groupNames.delete(groupId);
  }

  clear(): void {
    this.expiries.clear();
    this.blocks.clear();
    this.groupNames.clear();
    this.sortedNames = undefined;
    this.seriesCount = 0;
    this.changes++;
  }

  /** Groups held and pushed series held (the two timestamp gauges not counted). */
  stats(): { groups: number; series: number } {
    return { groups: this.groupNames.size, series: this.seriesCount };
  }

  /**
   * The full scrape body as blocks, in order: every family sorted by name, pushed and own merged.
   * Own families win HELP and TYPE; a pushed family of the same name and type adds its series to
   * the own block. Blocks of pushed families are the cached objects (see gzipBlocks).
   */
  render(own: readonly MetricFamily[], format: ScrapeFormat = 'text'): Block[] {
    this.expireDue();
    const names = this.names();
    const out: Block[] = [];
    let fresh: Piece[] = [];
    let i = 0;
    const ownSorted = [...own].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let j = 0;
    while (i < names.length || j < ownSorted.length) {
      const pushedName = names[i];
      const ownFamily = ownSorted[j];
      if (ownFamily && (pushedName === undefined || ownFamily.name < pushedName)) {
        if (ownFamily.metrics.length > 0) fresh.push(renderStandalone(ownFamily, format));
        j++;
      } else if (ownFamily && ownFamily.name === pushedName) {
        fresh.push(this.renderMerged(ownFamily, format));
        i++;
        j++;
      } else {
        // Own families between two cached blocks become one fresh block: one compression each.
        if (fresh.length > 0) out.push(freshBlock(fresh));
        fresh = [];
        out.push(this.block(pushedName!, format));
        i++;
      }
    }
    if (fresh.length > 0) out.push(freshBlock(fresh));
    if (format === 'openmetrics') out.push(OPENMETRICS_EOF);
    return out;
  }

  private names(): string[] {
    if (!this.sortedNames) {
      this.sortedNames = [...this.blocks.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    }
    return this.sortedNames;
  }

  // Kept as bytes: a block joined from thousands of series strings is a rope that V8 would
  // otherwise walk again on every scrape.
  private block(name: string, format: ScrapeFormat): Block {
    const block = this.blocks.get(name)!;
    let rendered = block.rendered.get(format);
    if (rendered === undefined) {
      rendered = { text: toBuffer(renderBlock(format, name, block, [])) };
      block.rendered.set(format, rendered);
    }
    return rendered;
  }

  private renderMerged(ownFamily: MetricFamily, format: ScrapeFormat): Piece {
    const block = this.blocks.get(ownFamily.name)!;
    const ownSeries = ownFamily.metrics.map((m) => seriesText(ownFamily.name, ownFamily.type, m));
    return renderBlock(format, ownFamily.name, block, ownSeries, ownFamily.help);
  }

  private setPart(groupId: number, family: StoredFamily): void {
    let block = this.blocks.get(family.name);
    if (!block) {
      block = new FamilyBlock(family.type);
      this.blocks.set(family.name, block);
      this.sortedNames = undefined;
    }
    block.type = family.type;
    if (!isTimestampGauge(family.name)) {
      this.seriesCount += family.metrics.length - (block.parts.get(groupId)?.series.length ?? 0);
    }
    block.parts.set(groupId, {
      help: family.help,
      series: family.metrics.map((m) => seriesText(family.name, family.type, m)),
    });
    block.rendered.clear();
    this.changes++;
    let names = this.groupNames.get(groupId);
    if (!names) this.groupNames.set(groupId, (names = new Set()));
    names.add(family.name);
  }

  private dropPart(name: string, groupId: number): void {
    const block = this.blocks.get(name);
    if (!block) return;
    if (!isTimestampGauge(name)) this.seriesCount -= block.parts.get(groupId)?.series.length ?? 0;
    block.parts.delete(groupId);
    block.rendered.clear();
    this.changes++;
    if (block.parts.size === 0) {
      this.blocks.delete(name);
      this.sortedNames = undefined;
    }
    this.groupNames.get(groupId)?.delete(name);
  }
}

function isTimestampGauge(name: string): boolean {
  return name === PUSH_TIME_METRIC || name === PUSH_FAILURE_TIME_METRIC;
}

function gauge(name: string, help: string, labels: readonly LabelPair[], value: number): StoredFamily {
  return { name, type: 'gauge', help, pushedAtSeconds: 0, metrics: [{ labels, value }] };
}

function seriesText(name: string, type: MetricType, metric: Metric): SeriesText {
  const shown = escapeMetric(metric);
  const text = renderMetricLines(escapeMetricName(name), type, shown);
  // The lines are built by concatenation; V8 keeps such a string as a tree of pieces until it is
  // read. Reading one character flattens it now, at a third of the tree's memory.
  text.charCodeAt(0);
  let key = String.fromCharCode(metric.labels.length);
  for (const l of metric.labels) key += l.value + '\u0000';
  key.charCodeAt(0);
  return textSaysAll(shown) ? { key, text } : { key, text, metric: shown };
}

function textSaysAll(metric: Metric): boolean {
  if (metric.exemplar !== undefined || metric.createdTimestampMs !== undefined) return false;
  const h = metric.histogram;
  if (h && (h.native !== undefined || h.exemplars !== undefined || h.createdTimestampMs !== undefined)) return false;
  if (h?.buckets.some((b) => b.exemplar !== undefined)) return false;
  return metric.summary?.createdTimestampMs === undefined;
}

/** The structured series: kept, or parsed back from its own exactly-written text lines. */
function metricOf(s: SeriesText, name: string, type: MetricType): Metric {
  if (s.metric) return s.metric;
  const family = parseText(`# TYPE ${name} ${type === 'gaugehistogram' ? 'histogram' : type}\n${s.text}`, { utf8Names: true })[0];
  return family!.metrics[0]!;
}

/** The official series order: fewer labels first, then label values position by position. */
function compareSeries(a: SeriesText, b: SeriesText): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function renderBlock(
  format: ScrapeFormat,
  name: string,
  block: FamilyBlock,
  extra: readonly SeriesText[],
  ownHelp?: string,
): Piece {
  const entries: { s: SeriesText; help: string | undefined }[] = [];
  for (const part of block.parts.values()) for (const s of part.series) entries.push({ s, help: part.help });
  for (const s of extra) entries.push({ s, help: ownHelp });
  if (entries.length === 0) return '';
  entries.sort((a, b) => compareSeries(a.s, b.s));
  // Groups may disagree on HELP; the official picks at random. We take the first series' group
  // that has one, which is stable from scrape to scrape.
  const help = ownHelp ?? entries.find((e) => e.help !== undefined)?.help;
  return renderFamily(
    format,
    name,
    block.type,
    help,
    entries.map((e) => e.s),
  );
}

function renderStandalone(family: MetricFamily, format: ScrapeFormat): Piece {
  const series = family.metrics.map((m) => seriesText(family.name, family.type, m)).sort(compareSeries);
  return renderFamily(format, family.name, family.type, family.help, series);
}

/**
 * One family in one scrape format from its sorted series. Text reuses each series' cached lines;
 * OpenMetrics too, as its sample lines are the text lines (openmetrics-renderer.ts) unless the
 * series has exemplars; protobuf encodes each series once and keeps the bytes.
 */
function renderFamily(
  format: ScrapeFormat,
  name: string,
  type: MetricType,
  help: string | undefined,
  series: readonly SeriesText[],
): Piece {
  const shown = escapeMetricName(name);
  switch (format) {
    case 'text': {
      let out = renderFamilyHeader(shown, help, type);
      for (const s of series) out += s.text;
      return out;
    }
    case 'openmetrics': {
      let out = renderOpenMetricsFamilyHeader(shown, type, help);
      for (const s of series) out += s.metric && hasExemplars(s.metric) ? renderOpenMetricsMetricLines(shown, type, s.metric) : s.text;
      return out;
    }
    case 'protobuf':
      return encodeFamilyFrame(
        shown,
        help,
        type,
        series.map((s) => (s.pb ??= encodeMetricField(type, metricOf(s, shown, type)))),
      );
  }
}

const toBuffer = (piece: Piece): Buffer => (typeof piece === 'string' ? Buffer.from(piece) : piece);

function freshBlock(pieces: readonly Piece[]): Block {
  return { text: pieces.length === 1 ? toBuffer(pieces[0]!) : Buffer.concat(pieces.map(toBuffer)) };
}
