import { escapeMetric, escapeMetricName, hasLegacyLabelNames, type EscapingScheme } from '../exposition/name-escaping.js';
import type { ScrapeFormat } from '../exposition/negotiate.js';
import { renderFamilyHeader, renderMetricLines } from '../exposition/text-renderer.js';
import { formatFloat } from '../exposition/float-format.js';
import type { LabelPair, MetricFamily, MetricType } from '../exposition/types.js';
import { PUSH_FAILURE_TIME_HELP, PUSH_FAILURE_TIME_METRIC, PUSH_TIME_HELP, PUSH_TIME_METRIC, groupSeriesLabels } from '../domain/push-rules.js';
import type { GroupHeader, StoredFamily } from '../domain/stored-group.js';
import { groupingKeyFromId, type GroupingKey } from '../domain/grouping-key.js';
import { ExpiryQueue } from './expiry-queue.js';
import { namesOf, withName, withoutName, type FamilyNames } from './family-names.js';
import { renderTextBlock, type TextRendering } from './text-rendering.js';
import type { Block } from './gzip-blocks.js';
import { flat, fromStored, renderSeries, seriesKey, type RenderedSeries } from './rendered-series.js';
import { firstKey, groupPart, inKeyOrder, singlePart, textsOf } from './group-part.js';
import {
  type GroupPart,
  type Piece,
  hasUtf8Names,
  standalonePart,
  sortedEntries,
  entriesOfSorted,
  byFirstKey,
  compareKeys,
  renderStandalone,
  renderFamily,
  toBuffer,
  WHOLE,
} from './family-render.js';

class FamilyBlock {
  readonly parts = new Map<number, GroupPart>();
  /**
   * Group ids in the order of the last rendering, then the ids added since: a rendering sorts the
   * parts from that order, which the sort (a merge sort) walks almost linearly when only some
   * groups' values changed, the common case between two scrapes.
   */
  order: number[] = [];
  private added: number[] = [];
  /**
   * The HELP most groups push, held once: a HELP parsed from a body is a slice that keeps the
   * whole body alive, so each part shares this copy instead when its HELP is the same.
   */
  private help: string | undefined;
  /**
   * The rendered blocks per scrape format and escaping scheme (`text/underscores`), as bytes ready
   * to send; dropped once a write touched the family.
   */
  readonly rendered = new Map<string, readonly Block[]>();
  /**
   * The last text rendering, whose bytes the next one copies for the parts no write replaced
   * (renderText). Dropped once a good share of the parts changed: it keeps the replaced parts
   * and the old bytes alive until the next scrape.
   */
  lastText: TextRendering | undefined;
  private replaced = 0;
  constructor(
    public type: MetricType,
    readonly name: string,
  ) {}

  /** Notes a group's first part in this block. */
  addGroup(groupId: number): void {
    this.added.push(groupId);
    // Ids of groups gone since the last rendering stay until the next one: a store that nobody
    // scrapes while groups come and go would otherwise collect them without end.
    if (this.order.length + this.added.length > 2 * this.parts.size + 64) {
      this.order = [];
      this.added = [...this.parts.keys(), groupId];
    }
  }

  /**
   * The parts in the order of the last rendering, new ones last; `order` becomes their ids. A part
   * met out of key order is replaced by its sorted copy (inKeyOrder), once.
   */
  partsInLastOrder(): { ids: number[]; parts: GroupPart[] } {
    let ids = this.order.concat(this.added);
    if (this.added.length > 0) ids = [...new Set(ids)];
    this.added = [];
    const kept: number[] = [];
    const parts: GroupPart[] = [];
    for (const id of ids) {
      let part = this.parts.get(id);
      if (part === undefined) continue;
      if (!part.ordered && part.sorted === undefined && part.count > 1) {
        part = inKeyOrder(part);
        this.parts.set(id, part);
      }
      kept.push(id);
      parts.push(part);
    }
    return { ids: kept, parts };
  }

  /** Notes that a part changed or went since the last text rendering. */
  touched(): void {
    if (this.lastText !== undefined && ++this.replaced * 8 > this.lastText.partCount) this.forgetText();
  }

  forgetText(rendering?: TextRendering): void {
    this.lastText = rendering;
    this.replaced = 0;
  }

  /** `help` as a string that holds no request body alive, shared with other parts where equal. */
  ownHelp(help: string | undefined): string | undefined {
    if (help === undefined) return undefined;
    if (help !== this.help) this.help = copyString(help);
    return this.help;
  }
}

/** The closing line of every OpenMetrics scrape; one object, so gzipBlocks compresses it once. */
const OPENMETRICS_EOF: Block = { text: Buffer.from('# EOF\n') };

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
  /** The families of each group besides its two timestamp gauges (see FamilyNames). */
  private readonly groupNames = new Map<number, FamilyNames>();
  /**
   * Each group's grouping key as its id, for scrapes confined to some groups (renderMatching),
   * which read the key back from it: a key object with its labels costs several times the id.
   */
  private readonly groupIds = new Map<number, string>();
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

  /**
   * Makes the group's families exactly `families` (a group read back whole from the store): the
   * ones it no longer has are dropped, the timestamp gauges kept for applyHeader to reuse.
   */
  replaceGroup(header: GroupHeader, families: readonly StoredFamily[]): void {
    const held = this.groupNames.get(header.id);
    const removed: string[] = [];
    if (held !== undefined) {
      const kept = new Set(families.map((f) => f.name));
      for (const name of namesOf(held)) if (!kept.has(name)) removed.push(name);
    }
    this.applyWrite(header, families, removed);
  }

  /** Sets the group's push_time_seconds and push_failure_time_seconds series. */
  applyHeader(header: GroupHeader): void {
    this.expiries.set(header.id, header.expiresAtSeconds);
    if (this.groupIds.get(header.id) !== header.key.id) this.groupIds.set(header.id, header.key.id);
    if (!this.groupNames.has(header.id)) this.groupNames.set(header.id, null);
    // Both gauges have the group's labels, hence one sort key, held once, and one label text
    // (`{job="j",...} `), rendered once per group: a push reuses its group's from the line it
    // replaces (the value follows the last space; label values are quoted before it).
    let key: string;
    let line: string;
    // The grouping labels as pushed, kept only when a label name is not a legacy name.
    let utf8Labels: readonly LabelPair[] | undefined;
    const previous = this.blocks.get(PUSH_TIME_METRIC)?.parts.get(header.id);
    if (previous) {
      key = firstKey(previous);
      line = textsOf(previous)[0]!;
      utf8Labels = previous.original?.[0]?.labels;
    } else {
      const labels = groupSeriesLabels(header.key);
      key = seriesKey(labels);
      line = renderMetricLines(PUSH_TIME_METRIC, 'gauge', escapeMetric({ labels, value: 0 }));
      if (!hasLegacyLabelNames(labels)) utf8Labels = labels;
    }
    const labelText = line.slice(PUSH_TIME_METRIC.length, line.lastIndexOf(' ') + 1);
    for (const [name, help, value] of [
      [PUSH_TIME_METRIC, PUSH_TIME_HELP, header.pushTimeSeconds],
      [PUSH_FAILURE_TIME_METRIC, PUSH_FAILURE_TIME_HELP, header.pushFailureTimeSeconds],
    ] as const) {
      const line = `${name}${labelText}${formatFloat(value)}\n`;
      // The failure time rarely changes: its block then stays rendered.
      const held = previous && this.blocks.get(name)?.parts.get(header.id);
      if (held && held.texts === line && held.help === help) continue;
      this.putPart(header.id, name, 'gauge', singlePart(help, key, flat(line), utf8Labels, value));
    }
  }

  /** Forgets a group entirely. */
  removeGroup(groupId: number): void {
    this.expiries.delete(groupId);
    this.groupIds.delete(groupId);
    const names = this.groupNames.get(groupId);
    if (names === undefined) return;
    for (const name of [...namesOf(names), PUSH_TIME_METRIC, PUSH_FAILURE_TIME_METRIC]) this.dropPart(name, groupId);
    this.groupNames.delete(groupId);
  }

  clear(): void {
    this.expiries.clear();
    this.blocks.clear();
    this.groupNames.clear();
    this.groupIds.clear();
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
        out.push(...this.block(pushedName!, format, escaping));
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
    for (const [groupId, id] of this.groupIds) {
      const key = groupingKeyFromId(id);
      if (key === undefined || !matches(key)) continue;
      for (const name of [...namesOf(this.groupNames.get(groupId) ?? null), PUSH_TIME_METRIC, PUSH_FAILURE_TIME_METRIC]) {
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
  private block(name: string, format: ScrapeFormat, escaping: EscapingScheme): readonly Block[] {
    const block = this.blocks.get(name)!;
    const scheme = hasUtf8Names(name, block.parts.values()) ? escaping : 'underscores';
    const key = `${format}/${scheme}`;
    let rendered = block.rendered.get(key);
    if (rendered === undefined) {
      rendered = renderBlock(format, scheme, name, block);
      block.rendered.set(key, rendered);
    }
    return rendered;
  }

  private renderMerged(ownFamily: MetricFamily, format: ScrapeFormat, escaping: EscapingScheme): Piece {
    const block = this.blocks.get(ownFamily.name)!;
    const scheme = hasUtf8Names(ownFamily.name, block.parts.values()) ? escaping : 'underscores';
    const extra = standalonePart(ownFamily.name, ownFamily.type, ownFamily.help, ownFamily.metrics);
    return Buffer.concat(renderBlock(format, scheme, ownFamily.name, block, extra).map((b) => b.text));
  }

  private setPart(groupId: number, family: StoredFamily, rendered: RenderedSeries | undefined): void {
    const series = rendered ?? (family.renderedSeries !== undefined ? fromStored(family.renderedSeries) : undefined) ?? renderSeries(family);
    const block = this.blockFor(family.name, family.type);
    this.putPart(groupId, family.name, family.type, groupPart(block.ownHelp(family.help), series));
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

  private putPart(groupId: number, name: string, type: MetricType, part: GroupPart): void {
    const block = this.blockFor(name, type);
    block.type = type;
    const previous = block.parts.get(groupId);
    if (!isTimestampGauge(name)) this.seriesCount += part.count - (previous?.count ?? 0);
    if (previous === undefined) block.addGroup(groupId);
    block.parts.set(groupId, part);
    block.rendered.clear();
    block.touched();
    this.changes++;
    // The block's own name string: one per family, not one per group.
    if (!isTimestampGauge(name)) {
      const names = this.groupNames.get(groupId) ?? null;
      const now = withName(names, block.name);
      if (now !== names) this.groupNames.set(groupId, now);
    }
  }

  private dropPart(name: string, groupId: number): void {
    const block = this.blocks.get(name);
    if (!block) return;
    if (!isTimestampGauge(name)) this.seriesCount -= block.parts.get(groupId)?.count ?? 0;
    block.parts.delete(groupId);
    block.rendered.clear();
    block.touched();
    this.changes++;
    if (block.parts.size === 0) {
      this.blocks.delete(name);
      this.sortedNames = undefined;
    }
    const names = this.groupNames.get(groupId);
    if (names !== undefined && !isTimestampGauge(name)) {
      const now = withoutName(names, name);
      if (now !== names) this.groupNames.set(groupId, now);
    }
  }
}

function isTimestampGauge(name: string): boolean {
  return name === PUSH_TIME_METRIC || name === PUSH_FAILURE_TIME_METRIC;
}

/** A copy of `s` that shares no memory with the string it was sliced from. */
function copyString(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

/** The family's blocks: one, or for a text rendering under underscores its header and segments (see renderTextBlock). */
function renderBlock(format: ScrapeFormat, scheme: EscapingScheme, name: string, block: FamilyBlock, extra?: GroupPart): readonly Block[] {
  const { ids, parts } = block.partsInLastOrder();
  const keyed = ids.map((id, i) => ({ id, part: parts[i]!, first: firstKey(parts[i]!) }));
  keyed.sort(byFirstKey);
  block.order = keyed.map((k) => k.id);
  const nonEmpty = keyed.filter((k) => k.part.count > 0);
  const sortedParts = nonEmpty.map((k) => k.part);
  const sortedIds = nonEmpty.map((k) => k.id);
  // An own family's series go among the pushed ones: sorted again with them (rare).
  const entries = extra ? sortedEntries([...sortedParts, extra]) : entriesOfSorted(nonEmpty, sortedParts);
  if (entries.length === 0) return [];
  // Groups may disagree on HELP; the official picks at random. We take the first series' group
  // that has one, which is stable from scrape to scrape. Own families' HELP wins.
  const help = extra?.help ?? entries.find((e) => e.part.help !== undefined)?.part.help;
  // Whole parts one after another, as renderFamily writes them: its bytes, from the last rendering's where it can.
  if (format === 'text' && scheme === 'underscores' && !extra && entries[0]!.i === WHOLE) {
    const header = renderFamilyHeader(escapeMetricName(name), help, block.type);
    const rendering = renderTextBlock(block.lastText, header, sortedIds, sortedParts);
    block.forgetText(rendering);
    return rendering.blocks;
  }
  return [{ text: toBuffer(renderFamily(format, scheme, name, block.type, help, entries)) }];
}

function freshBlock(pieces: readonly Piece[]): Block {
  return { text: pieces.length === 1 ? toBuffer(pieces[0]!) : Buffer.concat(pieces.map(toBuffer)) };
}
