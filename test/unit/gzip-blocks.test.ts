import { spawnSync } from 'node:child_process';
import zlib from 'node:zlib';
import fc from 'fast-check';
import '../helpers/fuzz-seed.js';
import { describe, expect, it } from 'vitest';
import { crc32Combine, gzipBlocks, type Block } from '../../src/render/gzip-blocks.js';
import { missingTools, titleWithTools } from '../helpers/tools.js';

describe('gzipBlocks', () => {
  it('produces one gzip member whose content is the blocks in order', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 }), (parts) => {
        const blocks: Block[] = parts.map((p) => ({ text: Buffer.from(p) }));
        const gz = Buffer.concat(gzipBlocks(blocks));
        expect(zlib.gunzipSync(gz).equals(Buffer.concat(blocks.map((b) => b.text)))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('reuses a block compressed by an earlier scrape after the same block, and recompresses it after another', () => {
    const head: Block = { text: Buffer.from('# TYPE a gauge\n') };
    const cached: Block = { text: Buffer.from('a{job="j"} 1\n'.repeat(1000)) };
    gzipBlocks([head, cached]);
    const first = cached.deflated;
    gzipBlocks([head, cached]);
    expect(cached.deflated).toBe(first);
    const fresh: Block = { text: Buffer.from('own 1\n') };
    const gz = Buffer.concat(gzipBlocks([fresh, cached]));
    expect(cached.deflated).not.toBe(first);
    expect(zlib.gunzipSync(gz).toString()).toBe('own 1\n' + cached.text.toString());
  });

  it('compresses a text cut into blocks about as small as the text in one piece', () => {
    let text = '';
    for (let i = 0; i < 20_000; i++) text += `bench_gauge{group="g${i >> 3}",instance="",job="bench",series="${i & 7}"} ${(i & 7) * 0.25}\n`;
    const whole = Buffer.from(text);
    const blocks: Block[] = [];
    for (let at = 0; at < whole.length; at += 20_000) blocks.push({ text: whole.subarray(at, at + 20_000) });
    const gz = Buffer.concat(gzipBlocks(blocks));
    expect(zlib.gunzipSync(gz).equals(whole)).toBe(true);
    expect(gz.length).toBeLessThan(zlib.gzipSync(whole).length * 1.05);
  });

  it.skipIf(missingTools('gzip'))(titleWithTools('is read by the gzip tool as a single valid member', 'gzip'), () => {
    const blocks: Block[] = ['one\n', 'two\n', 'three\n'].map((t) => ({ text: Buffer.from(t) }));
    const result = spawnSync('gzip', ['-dc'], { input: Buffer.concat(gzipBlocks(blocks)) });
    expect({ status: result.status, out: result.stdout.toString(), err: result.stderr.toString() }).toEqual({
      status: 0,
      out: 'one\ntwo\nthree\n',
      err: '',
    });
  });
});

describe('crc32Combine', () => {
  it('equals the CRC-32 of the concatenation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.uint8Array({ maxLength: 500 }), (a, b) => {
        const combined = crc32Combine(zlib.crc32(a), zlib.crc32(b), b.length);
        expect(combined).toBe(zlib.crc32(Buffer.concat([a, b])));
      }),
      { numRuns: 300 },
    );
  });
});
