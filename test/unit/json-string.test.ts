import { describe, expect, it } from 'vitest';
import { jsonString } from '../../src/exposition/json-string.js';

describe('jsonString', () => {
  it('writes exactly what JSON.stringify writes for any string, escapes and surrogates included', () => {
    const strings = [
      '',
      'bench',
      'a b',
      'g15',
      'x"y',
      'back\\slash',
      'new\nline',
      'tab\t',
      '\u0000',
      '\u001f',
      '\u007f',
      '\u2028\u2029',
      'é',
      '日本',
      '😀',
      '\ud800',
      'x\udfffy',
      '\udc00\ud800',
      '/',
      '</script>',
    ];
    for (const s of strings) expect(jsonString(s), JSON.stringify(s)).toBe(JSON.stringify(s));
    // Every code unit alone and after a plain prefix.
    for (let c = 0; c < 0x10000; c += 7) {
      const s = `v${String.fromCharCode(c)}`;
      expect(jsonString(s)).toBe(JSON.stringify(s));
    }
  });
});
