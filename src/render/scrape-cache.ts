import { renderFamilyHeader, renderMetricLines } from '../exposition/text-renderer.js';
import type { LabelPair, MetricFamily, MetricType } from '../exposition/types.js';
import {
  PUSH_FAILURE_TIME_HELP,
  PUSH_FAILURE_TIME_METRIC,
  PUSH_TIME_HELP,
  PUSH_TIME_METRIC,
  groupSeriesLabels,
} from '../domain/push-rules.js';
import type { GroupHeader, StoredFamily } from '../store/metric-store.js';
import type { Block } from './gzip-blocks.js';

interface SeriesText {
  /** Label values in label-name order: the official scrape's sort key after the label count. */
  readonly values: readonly string[];
  readonly text: string;
}

interface GroupPart {
  readonly help: string | undefined;
  readonly series: readonly SeriesText[];
}

class FamilyBlock {
  readonly parts = new Map<number, GroupPart>();
  /** The rendered block as bytes, ready to send; undefined once a write touched the family. */
  rendered: Block | undefined;
  constructor(public type: MetricType) {}
}

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

  /** Changes with every write the cache applies: a rendered body is current while it holds. */
  get version(): number {
    return this.changes;
  }

  /** Replaces what the cache holds for a group's families named in `families`, and drops `removed`. */
  applyWrite(header: GroupHeader, families: readonly StoredFamily[], removed: readonly string[]): void {
    for (const name of removed) this.dropPart(name, header.id);
    for (const family of families) this.setPart(header.id, family);
    this.applyHeader(header);
  }

  /** Sets the group's push_time_seconds and push_failure_time_seconds series. */
  applyHeader(header: GroupHeader): void {
    const labels = groupSeriesLabels(header.key);
    this.setPart(header.id, gauge(PUSH_TIME_METRIC, PUSH_TIME_HELP, labels, header.pushTimeSeconds));
    this.setPart(header.id, gauge(PUSH_FAILURE_TIME_METRIC, PUSH_FAILURE_TIME_HELP, labels, header.pushFailureTimeSeconds));
  }

  /** Forgets a group entirely. */
  removeGroup(groupId: number): void {
    const names = this.groupNames.get(groupId);
    if (!names) return;
    for (const name of [...names]) this.dropPart(name, groupId);
    this.groupNames.delete(groupId);
  }

  clear(): void {
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
  render(own: readonly MetricFamily[]): Block[] {
    const names = this.names();
    const out: Block[] = [];
    let fresh = '';
    let i = 0;
    const ownSorted = [...own].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let j = 0;
    while (i < names.length || j < ownSorted.length) {
      const pushedName = names[i];
      const ownFamily = ownSorted[j];
      if (ownFamily && (pushedName === undefined || ownFamily.name < pushedName)) {
        if (ownFamily.metrics.length > 0) fresh += renderStandalone(ownFamily);
        j++;
      } else if (ownFamily && ownFamily.name === pushedName) {
        fresh += this.renderMerged(ownFamily);
        i++;
        j++;
      } else {
        // Own families between two cached blocks become one fresh block: one compression each.
        if (fresh) out.push({ text: Buffer.from(fresh) });
        fresh = '';
        out.push(this.block(pushedName!));
        i++;
      }
    }
    if (fresh) out.push({ text: Buffer.from(fresh) });
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
  private block(name: string): Block {
    const block = this.blocks.get(name)!;
    if (block.rendered === undefined) block.rendered = { text: Buffer.from(renderBlock(name, block, [])) };
    return block.rendered;
  }

  private renderMerged(ownFamily: MetricFamily): string {
    const block = this.blocks.get(ownFamily.name)!;
    const ownSeries = ownFamily.metrics.map((m) => seriesText(ownFamily.name, ownFamily.type, m));
    return renderBlock(ownFamily.name, block, ownSeries, ownFamily.help);
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
    block.rendered = undefined;
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
    block.rendered = undefined;
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

function seriesText(name: string, type: MetricType, metric: MetricFamily['metrics'][number]): SeriesText {
  return { values: metric.labels.map((l) => l.value), text: renderMetricLines(name, type, metric) };
}

/** The official series order: fewer labels first, then label values position by position. */
function compareSeries(a: SeriesText, b: SeriesText): number {
  if (a.values.length !== b.values.length) return a.values.length - b.values.length;
  for (let k = 0; k < a.values.length; k++) {
    const x = a.values[k]!;
    const y = b.values[k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function renderBlock(name: string, block: FamilyBlock, extra: readonly SeriesText[], ownHelp?: string): string {
  const entries: { s: SeriesText; help: string | undefined }[] = [];
  for (const part of block.parts.values()) for (const s of part.series) entries.push({ s, help: part.help });
  for (const s of extra) entries.push({ s, help: ownHelp });
  if (entries.length === 0) return '';
  entries.sort((a, b) => compareSeries(a.s, b.s));
  // Groups may disagree on HELP; the official picks at random. We take the first series' group
  // that has one, which is stable from scrape to scrape.
  const help = ownHelp ?? entries.find((e) => e.help !== undefined)?.help;
  let out = renderFamilyHeader(name, help, block.type);
  for (const e of entries) out += e.s.text;
  return out;
}

function renderStandalone(family: MetricFamily): string {
  const series = family.metrics.map((m) => seriesText(family.name, family.type, m)).sort(compareSeries);
  return renderFamilyHeader(family.name, family.help, family.type) + series.map((s) => s.text).join('');
}
