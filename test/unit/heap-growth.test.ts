import { describe, expect, it } from 'vitest';
import { growingPercent, isSteady, limitHeapGrowth, limitYoungGeneration } from '../../src/heap-growth.js';

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

describe('isSteady: when the young generation may grow past its filling size', () => {
  it('waits for three full collections', () => {
    expect(isSteady([])).toBe(false);
    expect(isSteady([20 * MB, 20 * MB])).toBe(false);
    expect(isSteady([20 * MB, 20 * MB, 20 * MB])).toBe(true);
  });

  it('says no while the live data grows, as a store filling makes it', () => {
    expect(isSteady([20 * MB, 22 * MB, 24 * MB])).toBe(false);
    expect(isSteady([20 * MB, 20 * MB, 21.5 * MB])).toBe(false);
    expect(isSteady([30 * MB, 20 * MB, 20.5 * MB, 22 * MB])).toBe(false);
  });

  it('says yes once it stays within 5% or shrinks, judged on the last three', () => {
    expect(isSteady([20 * MB, 20.9 * MB, 19 * MB])).toBe(true);
    expect(isSteady([10 * MB, 15 * MB, 40 * MB, 30 * MB, 31 * MB])).toBe(true);
  });
});
