import { describe, expect, it } from 'vitest';
import { PushAdmission } from '../../src/http/push-admission.js';

describe('PushAdmission', () => {
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it('lets bodies up to its capacity in at once and the rest in arrival order as others leave', async () => {
    const admission = new PushAdmission(100);
    const entered: string[] = [];
    const enter = async (name: string, bytes: number) => {
      const turn = admission.enter(bytes);
      if (turn) await turn;
      entered.push(name);
    };
    const all = [enter('a', 40), enter('b', 60), enter('c', 30), enter('d', 10), enter('e', 50)];
    await settle();
    expect(entered).toEqual(['a', 'b']);
    // c and d fit in what a frees; e, behind them, not yet.
    admission.leave(40);
    await settle();
    expect(entered).toEqual(['a', 'b', 'c', 'd']);
    admission.leave(60);
    await Promise.all(all);
    expect(entered).toEqual(['a', 'b', 'c', 'd', 'e']);
    admission.leave(30);
    admission.leave(10);
    admission.leave(50);
    // Every byte given back: the whole capacity is free again.
    expect(admission.enter(100)).toBeUndefined();
  });

  it('lets a body larger than the whole capacity in alone, and a small one never past the queue', async () => {
    const admission = new PushAdmission(100);
    expect(admission.enter(500)).toBeUndefined();
    const entered: string[] = [];
    const small = admission.enter(10)!.then(() => entered.push('small'));
    const tiny = admission.enter(1)!.then(() => entered.push('tiny'));
    await settle();
    expect(entered).toEqual([]);
    admission.leave(500);
    await Promise.all([small, tiny]);
    expect(entered).toEqual(['small', 'tiny']);
  });
});
