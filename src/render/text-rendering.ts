import { wholeText, type GroupPart } from './group-part.js';

/** A family's last text rendering under underscores: its header, its parts in order, and where each one's lines end. */
export interface TextRendering {
  readonly bytes: Buffer;
  readonly header: string;
  readonly parts: readonly GroupPart[];
  readonly ends: Int32Array;
}

/**
 * The header and the lines of each part, in order. A part at the same place in the block's last
 * text rendering is copied from its bytes (a run of such parts at once), so rendering a family
 * after some of its groups changed costs copying its bytes, not encoding every series again.
 * `last` is the family's previous rendering with the same header.
 */
export function renderTextBlock(last: TextRendering | undefined, header: string, parts: readonly GroupPart[]): TextRendering {
  const headerBytes = Buffer.byteLength(header);
  const startOf = (ends: Int32Array, i: number): number => (i === 0 ? headerBytes : ends[i - 1]!);
  const ends = new Int32Array(parts.length);
  let end = headerBytes;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    end += last?.parts[i] === part ? last.ends[i]! - startOf(last.ends, i) : Buffer.byteLength(wholeText(part));
    ends[i] = end;
  }
  const bytes = Buffer.allocUnsafe(end);
  let at = bytes.write(header, 0);
  // The run of copied parts not written yet, as a range of the last rendering's bytes.
  let runFrom = -1;
  let runTo = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (last?.parts[i] === part) {
      if (runFrom < 0) runFrom = startOf(last.ends, i);
      runTo = last.ends[i]!;
      continue;
    }
    if (runFrom >= 0) at += last!.bytes.copy(bytes, at, runFrom, runTo);
    runFrom = -1;
    at += bytes.write(wholeText(part), at);
  }
  if (runFrom >= 0) last!.bytes.copy(bytes, at, runFrom, runTo);
  return { bytes, header, parts, ends };
}
