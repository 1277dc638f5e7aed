import { describe, expect, it } from 'vitest';
import { checkConsistency, namesToLookUp } from '../../src/domain/consistency.js';
import type { MetricFamily, MetricType } from '../../src/exposition/types.js';

const family = (name: string, type: MetricType): MetricFamily => ({ name, type, metrics: [{ labels: [], value: 1 }] }) as MetricFamily;

describe('namesToLookUp', () => {
  it('asks for the pushed names, their suffixes and their bases', () => {
    expect(namesToLookUp([family('x', 'summary'), family('y_sum', 'gauge')], new Map()).sort()).toEqual(
      ['x', 'x_bucket', 'x_count', 'x_sum', 'y', 'y_sum', 'y_sum_bucket', 'y_sum_count', 'y_sum_sum'].sort(),
    );
  });

  it('asks for nothing when every pushed family replaces one of its name and type in the group', () => {
    const existing = new Map<string, MetricType>([
      ['x', 'summary'],
      ['y_sum', 'gauge'],
      ['z', 'counter'],
    ]);
    expect(namesToLookUp([family('x', 'summary'), family('y_sum', 'gauge')], existing)).toEqual([]);
  });

  it('asks for every name when one pushed family is new to the group or changes its type', () => {
    const existing = new Map<string, MetricType>([['x', 'summary']]);
    expect(namesToLookUp([family('x', 'summary'), family('w', 'gauge')], existing)).toContain('w_sum');
    expect(namesToLookUp([family('x', 'gauge')], existing)).toEqual(expect.arrayContaining(['x', 'x_sum', 'x_count', 'x_bucket']));
  });
});

describe('checkConsistency without a registry lookup', () => {
  it("still refuses a re-pushed family that clashes with the gateway's own families", () => {
    const pushed = [family('process_start_time_seconds', 'counter')];
    const existing = new Map<string, MetricType>([['process_start_time_seconds', 'counter']]);
    expect(namesToLookUp(pushed, existing)).toEqual([]);
    const own = new Map<string, MetricType>([['process_start_time_seconds', 'gauge']]);
    expect(checkConsistency({ pushed, replace: false, existing, registry: new Map(), own })).toMatch(/own family/);
  });
});
