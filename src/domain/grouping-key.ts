/**
 * The grouping key: which group a push, delete or stored group belongs to. Every way of spelling
 * the same label set yields the same `id`, which is the identity the store and the render caches
 * use. Reading a key from a push URL is src/http/grouping-path.ts.
 */

import type { LabelPair } from '../exposition/types.js';
import { PushError } from './push-error.js';
import { isLegacyLabelName } from '../exposition/names.js';

export interface GroupingKey {
  readonly job: string;
  /** Sorted by name in UTF-8 byte order; includes `job`. */
  readonly labels: readonly LabelPair[];
  /** Canonical and human-readable, e.g. `{instance="a",job="j"}`; equal ids mean the same group. */
  readonly id: string;
}

export interface GroupingPathOptions {
  /** `--push.enable-utf8-names`: accept any UTF-8 label name and decode `U__` escaped names. */
  readonly utf8Names: boolean;
}

export function invalid(message: string): PushError {
  return new PushError('invalid', message);
}

export function groupingKeyFromLabels(labels: Readonly<Record<string, string>>): GroupingKey {
  const job = labels['job'];
  if (job === undefined || job === '') throw invalid('job name is required');
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(labels)) map.set(name, value);
  return buildKey(job, map);
}

/**
 * The canonical URL path of a group, `/metrics/job@base64/<job>{/<name>@base64/<value>}`, as the UI
 * uses it for delete buttons. Values are unpadded base64url (`=` for empty), so any value survives
 * any client or proxy. Names that the parser would not read back literally get the `U__` escape.
 */
export function groupingPathFor(key: GroupingKey, options: GroupingPathOptions = { utf8Names: false }): string {
  let path = `/metrics/job@base64/${base64Segment(key.job)}`;
  for (const { name, value } of key.labels) {
    if (name === 'job') continue;
    path += `/${pathLabelName(name, options.utf8Names)}@base64/${base64Segment(value)}`;
  }
  return path;
}

/** Orders strings by their UTF-8 bytes (= code points), which is how the official sorts label names. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 puts U+E000..U+FFFF after surrogates; code point order puts them before.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

function pathLabelName(name: string, utf8Names: boolean): string {
  if (isLegacyLabelName(name) && !(utf8Names && name.startsWith('U__'))) return name;
  let out = 'U__';
  for (const ch of name) {
    if (ch === '_') out += '__';
    else if (/^[a-zA-Z0-9]$/.test(ch)) out += ch;
    else out += `_${(ch.codePointAt(0) as number).toString(16)}_`;
  }
  return out;
}

function base64Segment(value: string): string {
  return value === '' ? '=' : Buffer.from(value, 'utf8').toString('base64url');
}

export function buildKey(job: string, labels: Map<string, string>): GroupingKey {
  // `instance=""` addresses the same series as no instance at all.
  if (labels.get('instance') === '') labels.delete('instance');
  labels.set('job', job);
  const names = [...labels.keys()].sort(compareUtf8);
  const pairs: LabelPair[] = [];
  let id = '{';
  for (const name of names) {
    const value = labels.get(name) as string;
    pairs.push(Object.freeze({ name, value }));
    if (id.length > 1) id += ',';
    id += isLegacyLabelName(name) ? name : `"${escapeLabelValue(name)}"`;
    id += `="${escapeLabelValue(value)}"`;
  }
  return Object.freeze({ job, labels: Object.freeze(pairs), id: `${id}}` });
}

/** Text-format escaping of label values: backslash, double quote and newline. */
function escapeLabelValue(value: string): string {
  if (!/[\\"\n]/.test(value)) return value;
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/**
 * The grouping key whose `id` is `id`, read back from the id alone: holders of many keys (the
 * scrape cache holds one per group) keep the id string, a fraction of a key object's memory.
 * Undefined when `id` is not an id buildKey made.
 */
export function groupingKeyFromId(id: string): GroupingKey | undefined {
  if (id.charCodeAt(0) !== 0x7b || id.charCodeAt(id.length - 1) !== 0x7d) return undefined;
  const labels: LabelPair[] = [];
  let job: string | undefined;
  let at = 1;
  while (at < id.length - 1) {
    if (labels.length > 0) {
      if (id.charCodeAt(at) !== 0x2c) return undefined;
      at++;
    }
    let name: string;
    if (id.charCodeAt(at) === 0x22) {
      const quoted = readQuoted(id, at);
      if (quoted === undefined) return undefined;
      [name, at] = quoted;
    } else {
      const eq = id.indexOf('=', at);
      if (eq <= at) return undefined;
      name = id.slice(at, eq);
      at = eq;
    }
    if (id.charCodeAt(at) !== 0x3d) return undefined;
    const value = readQuoted(id, at + 1);
    if (value === undefined) return undefined;
    at = value[1];
    if (name === 'job') job = value[0];
    labels.push(Object.freeze({ name, value: value[0] }));
  }
  if (job === undefined || at !== id.length - 1) return undefined;
  return Object.freeze({ job, labels: Object.freeze(labels), id });
}

/** The unescaped text of the double-quoted string at `at`, and the index after its closing quote. */
function readQuoted(s: string, at: number): [string, number] | undefined {
  if (s.charCodeAt(at) !== 0x22) return undefined;
  let out = '';
  let from = at + 1;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) return [out + s.slice(from, i), i + 1];
    if (c === 0x5c) {
      const next = s[i + 1];
      if (next === undefined) return undefined;
      out += s.slice(from, i) + (next === 'n' ? '\n' : next);
      from = ++i + 1;
    }
  }
  return undefined;
}
