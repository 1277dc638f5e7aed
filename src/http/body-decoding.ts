/**
 * Request body decompression by `Content-Encoding`, with the decompressed size
 * held to the body limit so that a compression bomb is refused with 413 before it is inflated.
 *
 * - `gzip` (any case): gunzip, output capped at the limit.
 * - `snappy` (any case): the snappy framed stream format as Python's client sends it (CRC-32C of every chunk
 *   verified); a body that does not start with the stream identifier is read as one raw snappy block, as the
 *   Rust client's push_raw sends it. Each block's declared length is checked before it is decompressed.
 * - anything else (`identity`, `br`, `deflate`, none): the body is returned unchanged, as the official does.
 */
import zlib from 'node:zlib';
import SnappyJS from 'snappyjs';

/** A body that cannot be decoded (400) or is too large once decoded (413). The message is one line. */
export class BodyError extends Error {
  override readonly name = 'BodyError';
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message);
  }
}

const tooLarge = (maxBytes: number): BodyError => new BodyError(413, `request body exceeds the limit of ${maxBytes} bytes after decompression`);

/** Returns the decoded body; throws BodyError. `raw` is returned as is for unknown encodings. */
export function decodeBody(raw: Buffer, contentEncoding: string | undefined, maxBytes: number): Buffer {
  const encoding = contentEncoding?.trim().toLowerCase();
  if (encoding === 'gzip') return gunzip(raw, maxBytes);
  if (encoding === 'snappy') {
    return startsWithStreamIdentifier(raw) ? snappyFramed(raw, maxBytes) : snappyBlock(raw, maxBytes, 0);
  }
  if (raw.length > maxBytes) throw tooLarge(maxBytes);
  return raw;
}

function gunzip(raw: Buffer, maxBytes: number): Buffer {
  try {
    return zlib.gunzipSync(raw, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (err) {
    if (err instanceof RangeError || (err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw tooLarge(maxBytes);
    }
    const message = err instanceof Error ? err.message : String(err);
    throw new BodyError(400, `gzip: ${message.replace(/\s*\n\s*/g, ' ')}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Snappy (https://github.com/google/snappy/blob/main/framing_format.txt).

const STREAM_IDENTIFIER = Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]);

function startsWithStreamIdentifier(raw: Buffer): boolean {
  return raw.length >= STREAM_IDENTIFIER.length && raw.subarray(0, STREAM_IDENTIFIER.length).equals(STREAM_IDENTIFIER);
}

/** The uncompressed length a raw snappy block declares (its leading varint), or -1 when unreadable. */
function declaredLength(block: Uint8Array): number {
  let result = 0;
  for (let i = 0, shift = 0; i < block.length && shift <= 28; i++, shift += 7) {
    const byte = block[i] ?? 0;
    result += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return result;
  }
  return -1;
}

function snappyBlock(block: Uint8Array, maxBytes: number, alreadyDecoded: number): Buffer {
  const length = declaredLength(block);
  if (length < 0) throw new BodyError(400, 'snappy: corrupt input');
  if (alreadyDecoded + length > maxBytes) throw tooLarge(maxBytes);
  try {
    const out = SnappyJS.uncompress(block, length);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  } catch {
    throw new BodyError(400, 'snappy: corrupt input');
  }
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function maskedCrc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  crc = (crc ^ 0xffffffff) >>> 0;
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

function snappyFramed(raw: Buffer, maxBytes: number): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  let pos = 0;
  while (pos < raw.length) {
    if (pos + 4 > raw.length) throw new BodyError(400, 'snappy: corrupt input: truncated chunk header');
    const type = raw[pos] ?? 0;
    const length = raw.readUIntLE(pos + 1, 3);
    const start = pos + 4;
    const end = start + length;
    if (end > raw.length) throw new BodyError(400, 'snappy: corrupt input: truncated chunk');
    const chunk = raw.subarray(start, end);
    pos = end;
    if (type === 0xff) {
      if (!raw.subarray(start - 4, end).equals(STREAM_IDENTIFIER)) {
        throw new BodyError(400, 'snappy: corrupt input: bad stream identifier');
      }
      continue;
    }
    if (type === 0x00 || type === 0x01) {
      if (length < 4) throw new BodyError(400, 'snappy: corrupt input: chunk too short');
      const checksum = chunk.readUInt32LE(0);
      const data = type === 0x00 ? snappyBlock(chunk.subarray(4), maxBytes, total) : chunk.subarray(4);
      if (type === 0x01 && total + data.length > maxBytes) throw tooLarge(maxBytes);
      if (maskedCrc32c(data) !== checksum) throw new BodyError(400, 'snappy: corrupt input: checksum mismatch');
      parts.push(data);
      total += data.length;
      continue;
    }
    // 0x80-0xfd are skippable reserved chunks and 0xfe is padding; 0x02-0x7f must not be skipped.
    if (type < 0x80) throw new BodyError(400, `snappy: unsupported chunk type 0x${type.toString(16).padStart(2, '0')}`);
  }
  return Buffer.concat(parts, total);
}
