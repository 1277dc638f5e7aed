import type { LabelPair, Metric } from '../exposition/types.js';
import { flat, type RenderedSeries } from './rendered-series.js';

/**
 * One group's series of one family, as the scrape cache holds them: every series' text lines
 * joined into one string, and every sort key into another, where that loses nothing. Per-series
 * strings and the arrays holding them cost more than their characters at 100k series; a part is
 * split back into series only for the rare renderings that need them one by one (series of
 * several groups interleaving by key, protobuf, escaped UTF-8 names, exemplars).
 */
export interface GroupPart {
  readonly help: string | undefined;
  /** Number of series. */
  readonly count: number;
  /**
   * The series' sort keys (seriesKey), one after another: each key says how many values it holds
   * and each value ends at U+0000, so the joined string splits back unambiguously. An array when
   * a label value itself holds U+0000.
   */
  readonly keys: string | readonly string[];
  /** The series' text lines, joined: one line per series. An array when a series has several lines. */
  readonly texts: string | readonly string[];
  /** Whether the part's own keys ascend strictly, as a whole part can then follow another. */
  readonly ordered: boolean;
  /** Set on a part inKeyOrder made that still is not `ordered` (two series with one key): sorting it again would not help. */
  readonly sorted?: true;
  /** As in RenderedSeries. */
  readonly metrics?: readonly (Metric | undefined)[];
  readonly original?: readonly Metric[];
  /** Protobuf `metric` fields, encoded by the first protobuf scrape that needed them. */
  pbs?: (Buffer | undefined)[];
}

/** A part of a group's family from its rendered series. */
export function groupPart(help: string | undefined, series: RenderedSeries): GroupPart {
  const { keys, texts } = series;
  let ordered = true;
  for (let i = 1; i < keys.length && ordered; i++) ordered = keys[i - 1]! < keys[i]!;
  const extra = {
    ...(series.metrics ? { metrics: series.metrics } : {}),
    ...(series.original ? { original: series.original } : {}),
  };
  return { help, count: keys.length, keys: joinKeys(keys), texts: joinLines(texts), ordered, ...extra };
}

/**
 * The part with its series sorted by key, ties in their own order. A scrape lists a family's
 * series by key: a part in order follows the part before it whole, its lines one run (and its
 * segment of the family's text rendering kept from scrape to scrape), where a part in push order
 * makes every rendering of the family sort all of the family's series one by one. Done by the
 * first rendering that meets the part, not by the push: a push nobody scrapes costs no sort.
 */
export function inKeyOrder(part: GroupPart): GroupPart {
  const keys = keysOf(part);
  const texts = textsOf(part);
  const order = Array.from(keys, (_, i) => i).sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  const inOrder = <T>(values: readonly T[]): T[] => order.map((i) => values[i]!);
  const { metrics, original } = part;
  const sorted = groupPart(part.help, {
    keys: inOrder(keys),
    texts: inOrder(texts),
    ...(metrics ? { metrics: order.map((i) => metrics[i]) } : {}),
    ...(original ? { original: inOrder(original) } : {}),
  });
  return sorted.ordered ? sorted : { ...sorted, sorted: true };
}

/** The one-series part of a group's timestamp gauge, whose key and labels it shares with the other. */
export function singlePart(help: string, key: string, line: string, original: readonly LabelPair[] | undefined, value: number): GroupPart {
  return { help, count: 1, keys: key, texts: line, ordered: true, ...(original ? { original: [{ labels: original, value }] } : {}) };
}

/** Every series' sort key. */
export function keysOf(part: GroupPart): readonly string[] {
  if (typeof part.keys !== 'string') return part.keys;
  if (part.count === 1) return [part.keys];
  const out: string[] = [];
  let at = 0;
  while (at < part.keys.length) {
    const end = keyEnd(part.keys, at);
    out.push(part.keys.slice(at, end));
    at = end;
  }
  return out;
}

/** Every series' text lines. */
export function textsOf(part: GroupPart): readonly string[] {
  if (typeof part.texts !== 'string') return part.texts;
  if (part.count === 1) return [part.texts];
  const out: string[] = [];
  let at = 0;
  while (at < part.texts.length) {
    const end = part.texts.indexOf('\n', at) + 1;
    out.push(part.texts.slice(at, end));
    at = end;
  }
  return out;
}

/** The text lines of every series, in the part's own order. */
export function wholeText(part: GroupPart): string {
  return typeof part.texts === 'string' ? part.texts : part.texts.join('');
}

export function firstKey(part: GroupPart): string {
  if (typeof part.keys !== 'string') return part.keys[0]!;
  return part.count === 1 ? part.keys : part.keys.slice(0, keyEnd(part.keys, 0));
}

export function lastKey(part: GroupPart): string {
  if (typeof part.keys !== 'string') return part.keys[part.keys.length - 1]!;
  if (part.count === 1) return part.keys;
  let at = 0;
  for (let i = 1; i < part.count; i++) at = keyEnd(part.keys, at);
  return part.keys.slice(at);
}

/** The end of the key that starts at `at`: its first character counts the values that follow. */
function keyEnd(keys: string, at: number): number {
  let end = at + 1;
  for (let values = keys.charCodeAt(at); values > 0; values--) end = keys.indexOf('\u0000', end) + 1;
  return end;
}

function joinKeys(keys: readonly string[]): string | readonly string[] {
  if (keys.length === 1) return keys[0]!;
  for (const key of keys) if (!splitsBack(key)) return keys;
  return flat(keys.join(''));
}

/** True when the key's values hold no U+0000 of their own. */
function splitsBack(key: string): boolean {
  let ends = 0;
  for (let at = key.indexOf('\u0000', 1); at >= 0; at = key.indexOf('\u0000', at + 1)) ends++;
  return ends === key.charCodeAt(0) && (ends === 0 ? key.length === 1 : key.endsWith('\u0000'));
}

function joinLines(texts: readonly string[]): string | readonly string[] {
  for (const text of texts) if (text.indexOf('\n') !== text.length - 1) return texts;
  return texts.length === 1 ? texts[0]! : flat(texts.join(''));
}
