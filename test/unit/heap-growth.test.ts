import { describe, expect, it } from 'vitest';
import { growingPercent, limitHeapGrowth, limitYoungGeneration } from '../../src/heap-growth.js';

const MB = 1024 * 1024;

describe('limitHeapGrowth', () => {
  it("leaves an operator's own node flag alone, in either spelling", () => {
    expect(limitHeapGrowth(['--heap-growing-percent=50'])).toBe(false);
    expect(limitHeapGrowth(['--expose-gc', '--heap_growing_percent=80'])).toBe(false);
  });

  it('applies its own limit otherwise', () => {
    expect(limitHeapGrowth(['--heap-growing-percentage-of-nothing', '--expose-gc'])).toBe(true);
  });
});

describe('limitYoungGeneration', () => {
  it("leaves an operator's own semi-space size alone, in either spelling", () => {
    expect(limitYoungGeneration(['--max-semi-space-size=16'])).toBe(false);
    expect(limitYoungGeneration(['--expose-gc', '--min_semi_space_size=4'])).toBe(false);
  });

  it('applies its own limit otherwise', () => {
    expect(limitYoungGeneration(['--max-old-space-size=512'])).toBe(true);
  });
});

describe('growingPercent', () => {
  it('lets a large heap grow by 30% of its live data', () => {
    expect(growingPercent(400 * MB)).toBe(30);
    expect(growingPercent(2048 * MB)).toBe(30);
  });

  it("gives a small heap 8 MB of room instead, within V8's own 4x", () => {
    expect(growingPercent(32 * MB)).toBe(30);
    expect(growingPercent(16 * MB)).toBe(50);
    expect(growingPercent(8 * MB)).toBe(100);
    expect(growingPercent(4 * MB)).toBe(200);
    expect(growingPercent(2 * MB)).toBe(300);
    expect(growingPercent(0)).toBe(300);
  });
});
