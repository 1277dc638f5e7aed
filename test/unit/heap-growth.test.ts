import { describe, expect, it } from 'vitest';
import { limitHeapGrowth } from '../../src/heap-growth.js';

describe('limitHeapGrowth', () => {
  it("leaves an operator's own node flag alone, in either spelling", () => {
    expect(limitHeapGrowth(['--heap-growing-percent=50'])).toBe(false);
    expect(limitHeapGrowth(['--expose-gc', '--heap_growing_percent=80'])).toBe(false);
  });

  it('applies its own limit otherwise', () => {
    expect(limitHeapGrowth(['--heap-growing-percentage-of-nothing', '--expose-gc'])).toBe(true);
  });
});
