import type { Block } from './gzip-blocks.js';
import { wholeText, type GroupPart } from './group-part.js';

/** A run of consecutive groups' parts of a family's text rendering, sent (and compressed) as one block. */
interface TextSegment {
  readonly ids: readonly number[];
  readonly parts: readonly GroupPart[];
  /** Where each part's lines end in block.text. */
  readonly ends: Int32Array;
  readonly block: Block;
}

/** A family's last text rendering under underscores: its header, then its parts in order, cut into segments. */
export interface TextRendering {
  readonly header: string;
  readonly blocks: readonly Block[];
  readonly segments: readonly TextSegment[];
  readonly partCount: number;
}

// A segment ends after a group its id picks (one in eight) once it holds this many characters, so
// the cuts depend on the groups around them, not on their positions: a group added or removed
// moves the cuts of its own segment only. It ends anyway at the maximum.
const MIN_SEGMENT_CHARS = 16 * 1024;
const MAX_SEGMENT_CHARS = 256 * 1024;

/**
 * The header and the lines of each part, in order (`ids` are the parts' groups). A segment whose
 * groups and parts are those of a segment of the last rendering is that segment again, bytes and
 * compressed bytes included; another copies the parts that sit where they sat in the last
 * segment starting with the same group. Rendering a family after some of its groups changed thus
 * costs the segments those groups fall in, not the family, and allocates no copy of the rest.
 * `last` is the family's previous rendering.
 */
export function renderTextBlock(last: TextRendering | undefined, header: string, ids: readonly number[], parts: readonly GroupPart[]): TextRendering {
  const byFirst = new Map<number, TextSegment>();
  if (last !== undefined) for (const segment of last.segments) byFirst.set(segment.ids[0]!, segment);
  const headerBlock = last?.header === header ? last.blocks[0]! : { text: Buffer.from(header) };
  const segments: TextSegment[] = [];
  const blocks: Block[] = [headerBlock];
  let start = 0;
  let chars = 0;
  for (let i = 0; i < parts.length; i++) {
    chars += textLength(parts[i]!);
    const cut = i === parts.length - 1 || chars >= MAX_SEGMENT_CHARS || (chars >= MIN_SEGMENT_CHARS && Math.imul(ids[i]!, 0x9e3779b1) >>> 29 === 0);
    if (!cut) continue;
    const segment = segmentOf(byFirst.get(ids[start]!), ids, parts, start, i + 1);
    segments.push(segment);
    blocks.push(segment.block);
    start = i + 1;
    chars = 0;
  }
  return { header, blocks, segments, partCount: parts.length };
}

function textLength(part: GroupPart): number {
  if (typeof part.texts === 'string') return part.texts.length;
  let n = 0;
  for (const t of part.texts) n += t.length;
  return n;
}

/** The segment of parts [start, end), `old` (the last segment that started with the same group) reused where it can be. */
function segmentOf(old: TextSegment | undefined, ids: readonly number[], parts: readonly GroupPart[], start: number, end: number): TextSegment {
  const n = end - start;
  if (old !== undefined && old.parts.length === n) {
    let same = true;
    for (let i = 0; i < n && same; i++) same = old.parts[i] === parts[start + i] && old.ids[i] === ids[start + i];
    if (same) return old;
  }
  const kept = (i: number): boolean => old?.parts[i] === parts[start + i];
  const startOf = (ends: Int32Array, i: number): number => (i === 0 ? 0 : ends[i - 1]!);
  const ends = new Int32Array(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    size += kept(i) ? old!.ends[i]! - startOf(old!.ends, i) : Buffer.byteLength(wholeText(parts[start + i]!));
    ends[i] = size;
  }
  const bytes = Buffer.allocUnsafe(size);
  let at = 0;
  // The run of kept parts not written yet, as a range of the old segment's bytes.
  let runFrom = -1;
  let runTo = 0;
  for (let i = 0; i < n; i++) {
    if (kept(i)) {
      if (runFrom < 0) runFrom = startOf(old!.ends, i);
      runTo = old!.ends[i]!;
      continue;
    }
    if (runFrom >= 0) at += old!.block.text.copy(bytes, at, runFrom, runTo);
    runFrom = -1;
    at += bytes.write(wholeText(parts[start + i]!), at);
  }
  if (runFrom >= 0) old!.block.text.copy(bytes, at, runFrom, runTo);
  return { ids: ids.slice(start, end), parts: parts.slice(start, end), ends, block: { text: bytes } };
}
