import zlib from 'node:zlib';

/**
 * A piece of a scrape body that may be reused across scrapes. Its compressed form and checksum
 * are computed on first use and kept on the object, so a block that did not change since the
 * last scrape, nor the block before it, is never compressed again.
 */
export interface Block {
  readonly text: Buffer;
  deflated?: Buffer;
  crc?: number;
  /** The serial of the block `deflated` follows (0: none): its back-references reach into that block's text. */
  deflatedAfter?: number;
  /** A number of its own, given when a block first precedes another (a number, so no block keeps its predecessor alive). */
  serial?: number;
}

// Deflate's window: how far back a block's compressed bytes may refer into what precedes it.
const WINDOW = 32 * 1024;
let serials = 0;

// A raw deflate stream ended with a full flush is byte-aligned, not final, and resets the
// dictionary: such streams concatenate into one valid stream. One gzip member is then
// header + every block's stream + an empty final block + CRC-32 and length of the whole text.
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
const FINAL_BLOCK = zlib.deflateRawSync(Buffer.alloc(0));

/**
 * Compresses a scrape made of blocks as ONE gzip member (every gzip client reads it), reusing
 * each block's cached compressed bytes. Costs a compression only for blocks seen the first time
 * or after another block than before.
 *
 * Each block is compressed with the end of the block before it as its dictionary: the reader's
 * window holds those very bytes, so a block of a family cut into segments compresses about as
 * well as the family in one piece.
 */
export function gzipBlocks(blocks: readonly Block[]): Buffer[] {
  const out: Buffer[] = [GZIP_HEADER];
  let crc = 0;
  let length = 0;
  let previous: Block | undefined;
  for (const block of blocks) {
    if (block.text.length === 0) continue;
    const after = previous === undefined ? 0 : (previous.serial ??= ++serials);
    if (block.deflated === undefined || block.deflatedAfter !== after) {
      const options: zlib.ZlibOptions = { finishFlush: zlib.constants.Z_FULL_FLUSH, level: 6 };
      if (previous !== undefined) options.dictionary = previous.text.subarray(Math.max(0, previous.text.length - WINDOW));
      block.deflated = zlib.deflateRawSync(block.text, options);
      block.deflatedAfter = after;
      block.crc ??= zlib.crc32(block.text);
    }
    previous = block;
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
// len(B). Appending len(B) zero bytes to A multiplies its CRC by x^(8·len(B)) modulo the CRC
// polynomial, here as a product of precomputed powers x^(2^k): a few dozen shifts per block, so
// that a scrape of hundreds of segments combines their checksums in microseconds.
const POLY = 0xedb88320;

/** a·b modulo the polynomial, in CRC-32's reflected bit order. */
function multModP(a: number, b: number): number {
  let product = 0;
  for (let m = 0x80000000; m !== 0; m >>>= 1) {
    if (a & m) {
      product ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0..31. */
const X_POW_2K = new Uint32Array(32);
X_POW_2K[0] = 0x40000000;
for (let k = 1; k < 32; k++) X_POW_2K[k] = multModP(X_POW_2K[k - 1]!, X_POW_2K[k - 1]!);

export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  if (len2 <= 0) return crc1 >>> 0;
  // x^(8·len2): the bits of len2, from x^(2^3) upwards.
  let power = 0x80000000;
  for (let n = len2, k = 3; n > 0; n = Math.floor(n / 2), k++) if (n % 2 === 1) power = multModP(X_POW_2K[k % 32]!, power);
  return (multModP(power, crc1) ^ crc2) >>> 0;
}
