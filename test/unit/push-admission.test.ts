import { describe, expect, it } from 'vitest';
import { PushAdmission } from '../../src/http/push-admission.js';

describe('PushAdmission', () => {
  it('lets `capacity` pushes in at once and the rest in arrival order, each as one leaves', async () => {
    const admission = new PushAdmission(2);
    const entered: string[] = [];
    const enter = async (name: string) => {
      const turn = admission.enter();
      if (turn) await turn;
      entered.push(name);
    };
    const all = ['a', 'b', 'c', 'd', 'e'].map(enter);
    await new Promise((resolve) => setImmediate(resolve));
    expect(entered).toEqual(['a', 'b']);
    expect(admission.load).toEqual({ active: 2, waiting: 3 });
    admission.leave();
    await new Promise((resolve) => setImmediate(resolve));
    expect(entered).toEqual(['a', 'b', 'c']);
    expect(admission.load).toEqual({ active: 2, waiting: 2 });
    admission.leave();
    admission.leave();
    await Promise.all(all);
    expect(entered).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(admission.load).toEqual({ active: 2, waiting: 0 });
    admission.leave();
    admission.leave();
    expect(admission.load).toEqual({ active: 0, waiting: 0 });
    // Free again: no waiting at all.
    expect(admission.enter()).toBeUndefined();
  });
});
