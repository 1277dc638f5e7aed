import { describe, expect, it } from 'vitest';
import { PrefixReusingText } from '../../src/util/prefix-reusing-text.js';

describe('PrefixReusingText', () => {
  const text = () =>
    new PrefixReusingText<string>(
      '<',
      (item, first) => (first ? item : `,${item}`),
      (a, b) => a === b,
    );

  it('gives each list the text it would have alone, whatever came before', () => {
    const t = text();
    const lists = [['a', 'b', 'c'], ['a', 'b', 'd'], ['a'], ['a', 'x', 'y', 'z'], [], ['b', 'b'], ['a', 'x']];
    for (const list of lists) expect(t.of(list)).toBe(`<${list.join(',')}`);
  });

  it('is not misled by a caller that changes its array between lists', () => {
    const t = text();
    const list = ['a', 'b'];
    expect(t.of(list)).toBe('<a,b');
    list[1] = 'c';
    list.push('d');
    expect(t.of(list)).toBe('<a,c,d');
    list.length = 1;
    expect(t.of(list)).toBe('<a');
  });
});
