import fs from 'node:fs';
import zlib from 'node:zlib';
import SnappyJS from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { BodyError, decodeBody } from '../../src/http/body-decoding.js';

/**
 * Snappy framed bodies made by python-snappy's StreamCompressor, which is what prometheus_client 0.20+ uses
 * for `compression='snappy'`, kept as files (test/fixtures/snappy-framed/README.md says what is in each).
 */
function pythonSnappyFramed(name: 'small' | 'some-metric' | 'large' | 'zeros-1mib'): Buffer {
  return fs.readFileSync(new URL(`../fixtures/snappy-framed/${name}.sz`, import.meta.url));
}

function error(fn: () => unknown): BodyError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BodyError) return e;
    throw e;
  }
  throw new Error('expected a BodyError');
}

const text = Buffer.from('# TYPE some_metric counter\nsome_metric{label="val1"} 42\n');
const MB = 1 << 20;

describe('decodeBody', () => {
  it.each([undefined, '', 'identity', 'br', 'deflate'])('returns the body unchanged for encoding %s', (enc) => {
    expect(decodeBody(text, enc, MB)).toBe(text);
  });

  it.each(['gzip', 'GZIP', ' Gzip '])('gunzips with Content-Encoding %s', (enc) => {
    expect(decodeBody(zlib.gzipSync(text), enc, MB).equals(text)).toBe(true);
  });

  it('refuses a gzip bomb with 413 instead of inflating it', () => {
    const bomb = zlib.gzipSync(Buffer.alloc(64 * MB));
    expect(bomb.length).toBeLessThan(MB);
    const e = error(() => decodeBody(bomb, 'gzip', MB));
    expect(e.status).toBe(413);
    expect(e.message).toBe(`request body exceeds the limit of ${MB} bytes after decompression`);
  });

  it('accepts a gzip body exactly at the limit', () => {
    const body = Buffer.alloc(1000, 'a');
    expect(decodeBody(zlib.gzipSync(body), 'gzip', 1000).length).toBe(1000);
  });

  it('rejects bad gzip data with 400 carrying the zlib error', () => {
    const e = error(() => decodeBody(text, 'gzip', MB));
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/^gzip: incorrect header check$/);
    const truncated = zlib.gzipSync(text).subarray(0, 20);
    expect(error(() => decodeBody(truncated, 'gzip', MB)).status).toBe(400);
  });

  it('refuses an identity body over the limit with 413', () => {
    expect(error(() => decodeBody(text, undefined, 10)).status).toBe(413);
  });

  describe('snappy framed (Python client)', () => {
    const big = Buffer.from(Array.from({ length: 5000 }, (_, i) => `metric_${i % 97}{job="j",i="${i}"} ${i * 1.5}\n`).join(''));

    it.each([
      ['a small, incompressible body (uncompressed chunk)', 'small', Buffer.from('x 1\n')],
      ['a large body spanning several compressed chunks', 'large', big],
    ] as const)('decodes %s', (_name, file, data) => {
      const framed = pythonSnappyFramed(file);
      expect(framed.subarray(0, 10).toString('latin1')).toBe('\xff\x06\x00\x00sNaPpY');
      expect(decodeBody(framed, 'snappy', MB).equals(data)).toBe(true);
      expect(decodeBody(framed, 'SNAPPY', MB).equals(data)).toBe(true);
    });

    it('refuses a framed bomb with 413', () => {
      const framed = pythonSnappyFramed('zeros-1mib');
      expect(framed.length).toBeLessThan(64 * 1024);
      expect(error(() => decodeBody(framed, 'snappy', 256 * 1024)).status).toBe(413);
    });

    it('rejects a wrong checksum with 400', () => {
      const framed = Buffer.from(pythonSnappyFramed('large'));
      framed[14] = (framed[14] ?? 0) ^ 0xff; // inside the first chunk's CRC
      const e = error(() => decodeBody(framed, 'snappy', MB));
      expect(e.status).toBe(400);
      expect(e.message).toBe('snappy: corrupt input: checksum mismatch');
    });

    it('skips padding and skippable chunks, rejects unskippable ones', () => {
      const framed = pythonSnappyFramed('some-metric');
      const padding = Buffer.from([0xfe, 0x02, 0x00, 0x00, 0x00, 0x00]);
      const skippable = Buffer.from([0x80, 0x01, 0x00, 0x00, 0x42]);
      const withExtras = Buffer.concat([framed.subarray(0, 10), padding, skippable, framed.subarray(10)]);
      expect(decodeBody(withExtras, 'snappy', MB).equals(text)).toBe(true);
      const unskippable = Buffer.concat([framed, Buffer.from([0x02, 0x00, 0x00, 0x00])]);
      expect(error(() => decodeBody(unskippable, 'snappy', MB)).message).toBe('snappy: unsupported chunk type 0x02');
    });

    it('rejects a truncated stream with 400', () => {
      const framed = pythonSnappyFramed('large');
      expect(error(() => decodeBody(framed.subarray(0, framed.length - 5), 'snappy', MB)).status).toBe(400);
    });
  });

  describe('snappy raw block (Rust client push_raw)', () => {
    it('decodes a raw block', () => {
      expect(decodeBody(Buffer.from(SnappyJS.compress(text)), 'snappy', MB).equals(text)).toBe(true);
    });

    it('refuses a block declaring more than the limit before decompressing it', () => {
      // Varint 0x7fffffff as the declared length, then a literal too short to ever produce it.
      const block = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x07, 0x00, 0x61]);
      const e = error(() => decodeBody(block, 'snappy', MB));
      expect(e.status).toBe(413);
    });

    it('rejects a corrupt block with 400', () => {
      const block = Buffer.from(SnappyJS.compress(Buffer.alloc(1000, 'ab')));
      const e = error(() => decodeBody(block.subarray(0, block.length - 2), 'snappy', MB));
      expect(e.status).toBe(400);
      expect(e.message).toBe('snappy: corrupt input');
    });
  });
});
