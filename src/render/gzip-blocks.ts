import zlib from 'node:zlib';

/**
 * A piece of a scrape body that may be reused across scrapes. Its compressed form and checksum
 * are computed on first use and kept on the object, so a block that did not change since the
 * last scrape is never compressed again.
 */
export interface Block {
  readonly text: Buffer;
  deflated?: Buffer;
  crc?: number;
}

// A raw deflate stream ended with a full flush is byte-aligned, not final, and resets the
// dictionary: such streams concatenate into one valid stream. One gzip member is then
// header + every block's stream + an empty final block + CRC-32 and length of the whole text.
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
const FINAL_BLOCK = zlib.deflateRawSync(Buffer.alloc(0));

/**
 * Compresses a scrape made of blocks as ONE gzip member (every gzip client reads it), reusing
 * each block's cached compressed bytes. Costs a compression only for blocks seen the first time.
 */
export function gzipBlocks(blocks: readonly Block[]): Buffer[] {
  const out: Buffer[] = [GZIP_HEADER];
  let crc = 0;
  let length = 0;
  for (const block of blocks) {
    if (block.text.length === 0) continue;
    if (block.deflated === undefined) {
      block.deflated = zlib.deflateRawSync(block.text, { finishFlush: zlib.constants.Z_FULL_FLUSH, level: 6 });
      block.crc = zlib.crc32(block.text);
    }
    out.push(block.deflated);
    crc = crc32Combine(crc, block.crc!, block.text.length);
    length += block.text.length;
  }
  out.push(FINAL_BLOCK);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length >>> 0, 4);
  out.push(trailer);
  return out;
}

// zlib's crc32_combine, which Node does not expose: the CRC of A+B from crc(A), crc(B) and
// len(B), by applying len(B) zero bytes to crc(A) as powers of a GF(2) matrix.
function gf2Times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  for (let i = 0; vec !== 0; i++, vec >>>= 1) if (vec & 1) sum ^= mat[i]!;
  return sum >>> 0;
}

function gf2Square(square: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2Times(mat, mat[n]!);
}

export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  if (len2 <= 0) return crc1 >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = 0xedb88320;
  let row = 1;
  for (let n = 1; n < 32; n++) {
    odd[n] = row;
    row <<= 1;
  }
  gf2Square(even, odd);
  gf2Square(odd, even);
  let c1 = crc1 >>> 0;
  let len = len2;
  do {
    gf2Square(even, odd);
    if (len & 1) c1 = gf2Times(even, c1);
    len = Math.floor(len / 2);
    if (len === 0) break;
    gf2Square(odd, even);
    if (len & 1) c1 = gf2Times(odd, c1);
    len = Math.floor(len / 2);
  } while (len !== 0);
  return (c1 ^ crc2) >>> 0;
}
