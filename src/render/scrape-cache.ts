import { escapeMetric, escapeMetricName, hasLegacyLabelNames, type EscapingScheme } from '../exposition/name-escaping.js';
import { isLegacyMetricName } from '../exposition/names.js';
import type { ScrapeFormat } from '../exposition/negotiate.js';
import { hasExemplars, renderOpenMetricsFamilyHeader, renderOpenMetricsMetricLines } from '../exposition/openmetrics-renderer.js';
import { encodeFamilyFrame, encodeMetricField } from '../exposition/protobuf/encode.js';
import { renderFamilyHeader, renderMetricLines } from '../exposition/text-renderer.js';
import { parseText } from '../exposition/text-parser.js';
import { formatFloat } from '../exposition/float-format.js';
import type { LabelPair, Metric, MetricFamily, MetricType } from '../exposition/types.js';
import { PUSH_FAILURE_TIME_HELP, PUSH_FAILURE_TIME_METRIC, PUSH_TIME_HELP, PUSH_TIME_METRIC, groupSeriesLabels } from '../domain/push-rules.js';
import type { GroupHeader, StoredFamily } from '../domain/stored-group.js';
import type { GroupingKey } from '../domain/grouping-key.js';
import { ExpiryQueue } from './expiry-queue.js';
import type { Block } from './gzip-blocks.js';
import { flat, fromStored, renderSeries, seriesKey, type RenderedSeries } from './rendered-series.js';

/** One group's series of one family. */
interface GroupPart extends RenderedSeries {
  readonly help: string | undefined;
  /** Protobuf `metric` fields, encoded by the first protobuf scrape that needed them. */
  pbs?: (Buffer | undefined)[];
}

/** A series' place in a block being rendered. */
interface Entry {
  readonly part: GroupPart;
  readonly i: number;
}

class FamilyBlock {
  readonly parts = new Map<number, GroupPart>();
  /**
   * The HELP most groups push, held once: a HELP parsed from a body is a slice that keeps the
   * whole body alive, so each part shares this copy instead when its HELP is the same.
   */
  private help: string | undefined;
  /**
   * The rendered block per scrape format and escaping scheme (`text/underscores`), as bytes ready
   * to send; dropped once a write touched the family.
   */
  readonly rendered = new Map<string, Block>();
  constructor(
    public type: MetricType,
    readonly name: string,
  ) {}

  /** `help` as a string that holds no request body alive, shared with other parts where equal. */
  ownHelp(help: string | undefined): string | undefined {
    if (help === undefined) return undefined;
    if (help !== this.help) this.help = copyString(help);
    return this.help;
  }
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
  /** Each group's grouping key, for scrapes confined to some groups (renderMatching). */
  private readonly groupKeys = new Map<number, GroupingKey>();
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

  /**
   * Replaces what the cache holds for a group's families named in `families`, and drops
   * `removed`. A family's series come from `rendered` (by name) when given, else from the
   * rendering the store kept, else they are rendered here.
   */
  applyWrite(header: GroupHeader, families: readonly StoredFamily[], removed: readonly string[], rendered?: ReadonlyMap<string, RenderedSeries>): void {
    for (const name of removed) this.dropPart(name, header.id);
    for (const family of families) this.setPart(header.id, family, rendered?.get(family.name));
    this.applyHeader(header);
  }

  /** Sets the group's push_time_seconds and push_failure_time_seconds series. */
  applyHeader(header: GroupHeader): void {
    this.expiries.set(header.id, header.expiresAtSeconds);
    this.groupKeys.set(header.id, header.key);
    // Both gauges have the group's labels, hence one sort key, held once, and one label text
    // (`{job="j",...} `), rendered once per group: a push reuses its group's from the line it
    // replaces (the value follows the last space; label values are quoted before it).
    let keys: readonly string[];
    let line: string;
    // The grouping labels as pushed, kept only when a label name is not a legacy name.
    let utf8Labels: readonly LabelPair[] | undefined;
    const previous = this.blocks.get(PUSH_TIME_METRIC)?.parts.get(header.id);
    if (previous) {
      keys = previous.keys;
      line = previous.texts[0]!;
      utf8Labels = previous.original?.[0]?.labels;
    } else {
      const labels = groupSeriesLabels(header.key);
      keys = [seriesKey(labels)];
      line = renderMetricLines(PUSH_TIME_METRIC, 'gauge', escapeMetric({ labels, value: 0 }));
      if (!hasLegacyLabelNames(labels)) utf8Labels = labels;
    }
    const labelText = line.slice(PUSH_TIME_METRIC.length, line.lastIndexOf(' ') + 1);
    for (const [name, help, value] of [
      [PUSH_TIME_METRIC, PUSH_TIME_HELP, header.pushTimeSeconds],
      [PUSH_FAILURE_TIME_METRIC, PUSH_FAILURE_TIME_HELP, header.pushFailureTimeSeconds],
    ] as const) {
      const original = utf8Labels ? { original: [{ labels: utf8Labels, value }] } : {};
      this.putPart(header.id, name, 'gauge', { help, keys, texts: [flat(`${name}${labelText}${formatFloat(value)}\n`)], ...original }, 1);
    }
  }

  /** Forgets a group entirely. */
  removeGroup(groupId: number): void {
    this.expiries.delete(groupId);
    this.groupKeys.delete(groupId);
    const names = this.groupNames.get(groupId);
    if (!names) return;
    for (const name of [...names]) this.dropPart(name, groupId);
    this.groupNames.delete(groupId);
  }

  clear(): void {
    this.expiries.clear();
    this.blocks.clear();
    this.groupNames.clear();
    this.groupKeys.clear();
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
  render(own: readonly MetricFamily[], format: ScrapeFormat = 'text', escaping: EscapingScheme = 'underscores'): Block[] {
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
        if (ownFamily.metrics.length > 0) fresh.push(renderStandalone(ownFamily, format, escaping));
        j++;
      } else if (ownFamily && ownFamily.name === pushedName) {
        fresh.push(this.renderMerged(ownFamily, format, escaping));
        i++;
        j++;
      } else {
        // Own families between two cached blocks become one fresh block: one compression each.
        if (fresh.length > 0) out.push(freshBlock(fresh));
        fresh = [];
        out.push(this.block(pushedName!, format, escaping));
        i++;
      }
    }
    if (fresh.length > 0) out.push(freshBlock(fresh));
    if (format === 'openmetrics') out.push(OPENMETRICS_EOF);
    return out;
  }

  /**
   * The scrape of the groups whose grouping key `matches` accepts: their families sorted by name,
   * each family's series merged and ordered as in render(), timestamp gauges included, the
   * gateway's own families not. Rendered from the cached series on every call (the cached blocks
   * hold every group's series), so it costs in proportion to the matching groups' series.
   */
  renderMatching(format: ScrapeFormat, matches: (key: GroupingKey) => boolean, escaping: EscapingScheme = 'underscores'): Block[] {
    this.expireDue();
    const partsByName = new Map<string, GroupPart[]>();
    for (const [groupId, key] of this.groupKeys) {
      if (!matches(key)) continue;
      for (const name of this.groupNames.get(groupId) ?? []) {
        const part = this.blocks.get(name)?.parts.get(groupId);
        if (!part) continue;
        let parts = partsByName.get(name);
        if (!parts) partsByName.set(name, (parts = []));
        parts.push(part);
      }
    }
    const out: Block[] = [];
    for (const name of [...partsByName.keys()].sort(compareKeys)) {
      const entries = sortedEntries(partsByName.get(name)!);
      if (entries.length === 0) continue;
      const help = entries.find((e) => e.part.help !== undefined)?.part.help;
      const block = this.blocks.get(name)!;
      const scheme = hasUtf8Names(name, block.parts.values()) ? escaping : 'underscores';
      out.push({ text: toBuffer(renderFamily(format, scheme, name, block.type, help, entries)) });
    }
    if (format === 'openmetrics') out.push(OPENMETRICS_EOF);
    return out;
  }

  private names(): string[] {
    if (!this.sortedNames) {
      this.sortedNames = [...this.blocks.keys()].sort(compareKeys);
    }
    return this.sortedNames;
  }

  // Kept as bytes: a block joined from thousands of series strings is a rope that V8 would
  // otherwise walk again on every scrape.
  // A family whose names are all legacy names looks the same under every scheme: its one
  // rendering serves them all (and gzipBlocks then compresses it once).
  private block(name: string, format: ScrapeFormat, escaping: EscapingScheme): Block {
    const block = this.blocks.get(name)!;
    const scheme = hasUtf8Names(name, block.parts.values()) ? escaping : 'underscores';
    const key = `${format}/${scheme}`;
    let rendered = block.rendered.get(key);
    if (rendered === undefined) {
      rendered = { text: toBuffer(renderBlock(format, scheme, name, block)) };
      block.rendered.set(key, rendered);
    }
    return rendered;
  }

  private renderMerged(ownFamily: MetricFamily, format: ScrapeFormat, escaping: EscapingScheme): Piece {
    const block = this.blocks.get(ownFamily.name)!;
    const scheme = hasUtf8Names(ownFamily.name, block.parts.values()) ? escaping : 'underscores';
    return renderBlock(format, scheme, ownFamily.name, block, standalonePart(ownFamily.name, ownFamily.type, ownFamily.help, ownFamily.metrics));
  }

  private setPart(groupId: number, family: StoredFamily, rendered: RenderedSeries | undefined): void {
    const series = rendered ?? (family.renderedSeries !== undefined ? fromStored(family.renderedSeries) : undefined) ?? renderSeries(family);
    const block = this.blockFor(family.name, family.type);
    this.putPart(groupId, family.name, family.type, { help: block.ownHelp(family.help), ...series }, series.keys.length);
  }

  private blockFor(name: string, type: MetricType): FamilyBlock {
    let block = this.blocks.get(name);
    if (!block) {
      block = new FamilyBlock(type, name);
      this.blocks.set(name, block);
      this.sortedNames = undefined;
    }
    return block;
  }

  private putPart(groupId: number, name: string, type: MetricType, part: GroupPart, series: number): void {
    const block = this.blockFor(name, type);
    block.type = type;
    if (!isTimestampGauge(name)) this.seriesCount += series - (block.parts.get(groupId)?.keys.length ?? 0);
    block.parts.set(groupId, part);
    block.rendered.clear();
    this.changes++;
    let names = this.groupNames.get(groupId);
    if (!names) this.groupNames.set(groupId, (names = new Set()));
    // The block's own name string: one per family, not one per group.
    names.add(block.name);
  }

  private dropPart(name: string, groupId: number): void {
    const block = this.blocks.get(name);
    if (!block) return;
    if (!isTimestampGauge(name)) this.seriesCount -= block.parts.get(groupId)?.keys.length ?? 0;
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

/** True when the family's name or a label name of one of its parts is not a legacy name. */
function hasUtf8Names(name: string, parts: Iterable<GroupPart>): boolean {
  if (!isLegacyMetricName(name)) return true;
  for (const part of parts) if (part.original) return true;
  return false;
}

function isTimestampGauge(name: string): boolean {
  return name === PUSH_TIME_METRIC || name === PUSH_FAILURE_TIME_METRIC;
}

/** A copy of `s` that shares no memory with the string it was sliced from. */
function copyString(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

/** A series as a part of its own, for the gateway's own families, which are rendered per scrape. */
function standalonePart(name: string, type: MetricType, help: string | undefined, metrics: readonly Metric[]): GroupPart {
  return { help, ...renderSeries({ name, type, metrics }, true) };
}

/** The structured series: kept, or parsed back from its own exactly-written text lines. */
function metricOf(e: Entry, name: string, type: MetricType): Metric {
  const kept = e.part.metrics?.[e.i];
  if (kept) return kept;
  const family = parseText(`# TYPE ${name} ${type === 'gaugehistogram' ? 'histogram' : type}\n${e.part.texts[e.i]!}`, { utf8Names: true })[0];
  return family!.metrics[0]!;
}

/**
 * The parts' series in key order. Groups differ in their grouping labels, so their series seldom
 * interleave: parts sorted by their first key usually follow one another whole, which a check of
 * neighbours confirms, and sorting 10,000 parts is much cheaper than sorting their 100,000
 * series. Otherwise every series is sorted.
 */
function sortedEntries(parts: GroupPart[]): Entry[] {
  const entries: Entry[] = [];
  const nonEmpty = parts.filter((p) => p.keys.length > 0);
  nonEmpty.sort((a, b) => compareKeys(a.keys[0]!, b.keys[0]!));
  let ordered = true;
  let last: string | undefined;
  for (const part of nonEmpty) {
    for (let i = 0; i < part.keys.length; i++) {
      const key = part.keys[i]!;
      if (last !== undefined && !(last < key)) ordered = false;
      last = key;
      entries.push({ part, i });
    }
  }
  if (ordered) return entries;
  // Ties keep the parts' own order, as they always have.
  entries.length = 0;
  for (const part of parts) for (let i = 0; i < part.keys.length; i++) entries.push({ part, i });
  return entries.sort(compareEntries);
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareEntries(a: Entry, b: Entry): number {
  return compareKeys(a.part.keys[a.i]!, b.part.keys[b.i]!);
}

function renderBlock(format: ScrapeFormat, scheme: EscapingScheme, name: string, block: FamilyBlock, extra?: GroupPart): Piece {
  const parts = extra ? [...block.parts.values(), extra] : [...block.parts.values()];
  const entries = sortedEntries(parts);
  if (entries.length === 0) return '';
  // Groups may disagree on HELP; the official picks at random. We take the first series' group
  // that has one, which is stable from scrape to scrape. Own families' HELP wins.
  const help = extra?.help ?? entries.find((e) => e.part.help !== undefined)?.part.help;
  return renderFamily(format, scheme, name, block.type, help, entries);
}

// The gateway's own families have legacy names only: every scheme renders them alike.
function renderStandalone(family: MetricFamily, format: ScrapeFormat, scheme: EscapingScheme): Piece {
  const part = standalonePart(family.name, family.type, family.help, family.metrics);
  const entries = part.keys.map((_, i) => ({ part, i })).sort(compareEntries);
  return renderFamily(format, hasUtf8Names(family.name, [part]) ? scheme : 'underscores', family.name, family.type, family.help, entries);
}

/**
 * One family in one scrape format from its sorted series. Text reuses each series' cached lines;
 * OpenMetrics too, as its sample lines are the text lines (openmetrics-renderer.ts) unless the
 * series has exemplars; protobuf encodes each series once and keeps the bytes.
 */
function renderFamily(format: ScrapeFormat, scheme: EscapingScheme, name: string, type: MetricType, help: string | undefined, series: readonly Entry[]): Piece {
  const shown = escapeMetricName(name);
  if (scheme !== 'underscores') return renderFamilyEscaped(format, scheme, name, shown, type, help, series);
  switch (format) {
    case 'text': {
      const out = new TextChunks(renderFamilyHeader(shown, help, type));
      for (const e of series) out.add(e.part.texts[e.i]!);
      return out.done();
    }
    case 'openmetrics': {
      const out = new TextChunks(renderOpenMetricsFamilyHeader(shown, type, help));
      for (const e of series) {
        const metric = e.part.metrics?.[e.i];
        out.add(metric && hasExemplars(metric) ? renderOpenMetricsMetricLines(shown, type, metric) : e.part.texts[e.i]!);
      }
      return out.done();
    }
    case 'protobuf':
      return encodeFamilyFrame(
        shown,
        help,
        type,
        series.map((e) => ((e.part.pbs ??= [])[e.i] ??= encodeMetricField(type, metricOf(e, shown, type)))),
      );
  }
}

/**
 * renderFamily for a family with UTF-8 names under a scheme other than underscores: each series
 * is rendered from its names as pushed, escaped by the scheme (allow-utf-8 keeps them, and the
 * text formats quote them). Only families with such names come here; the block is cached per
 * scheme like any other.
 */
function renderFamilyEscaped(
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
  const metrics = series.map((e) => escapeMetric(e.part.original?.[e.i] ?? metricOf(e, underscored, type), scheme));
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
class TextChunks {
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

const toBuffer = (piece: Piece): Buffer => (typeof piece === 'string' ? Buffer.from(piece) : piece);

function freshBlock(pieces: readonly Piece[]): Block {
  return { text: pieces.length === 1 ? toBuffer(pieces[0]!) : Buffer.concat(pieces.map(toBuffer)) };
}
