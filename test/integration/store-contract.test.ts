import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { checkConsistency, namesToLookUp } from '../../src/domain/consistency.js';
import { groupingKeyFromLabels, type GroupingKey } from '../../src/domain/grouping-key.js';
import { ConflictError, SeriesNotLoadedError } from '../../src/domain/stored-group.js';
import { parseBody } from '../../src/exposition/parse-body.js';
import { openDatabase, type OpenDatabase } from '../../src/store/dialect/open-database.js';
import { KyselyMetricStore } from '../../src/store/kysely-metric-store.js';
import type { PushWrite } from '../../src/store/metric-store.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { describeDialects, dropDatabases } from '../helpers/dialects.js';

// Every MetricStore operation, called directly on each database: the contract of
// src/store/metric-store.ts, whichever dialect implements it.

afterAll(dropDatabases, 60_000);

const key = (job: string, instance?: string): GroupingKey => groupingKeyFromLabels(instance === undefined ? { job } : { job, instance });

function write(k: GroupingKey, body: string, options: { replace?: boolean; timeSeconds?: number; expiresAt?: number; check?: boolean } = {}): PushWrite {
  const families = parseBody(undefined, Buffer.from(body), { utf8Names: false });
  const replace = options.replace ?? true;
  return {
    key: k,
    families,
    replace,
    timeSeconds: options.timeSeconds ?? 1000,
    lookUpNames: (existing) => namesToLookUp(families, existing),
    ...(options.check === false ? {} : { check: (facts) => checkConsistency({ pushed: families, replace, ...facts, own: new Map() }) }),
    ...(options.expiresAt !== undefined ? { expiry: () => options.expiresAt } : {}),
  };
}

describeDialects('the MetricStore contract', (dialect) => {
  let database: OpenDatabase;
  let store: KyselyMetricStore;
  beforeEach(async () => {
    database = openDatabase(await dialect.freshDatabase());
    await migrateToLatest(database.db);
    store = new KyselyMetricStore(database.db, database.dialect);
  });
  afterEach(async () => {
    await database.close();
  });

  it('writePush stores a group; PUT replaces it whole, POST only the pushed families', async () => {
    const first = await store.writePush(write(key('a'), 'x 1\ny 2\n'));
    expect(first.group.key.id).toBe('{job="a"}');
    expect(first.written.map((f) => f.name)).toEqual(['x', 'y']);
    await store.writePush(write(key('a'), 'x 3\n', { replace: false, timeSeconds: 1001 }));
    let group = await store.loadGroup(key('a'));
    expect(group?.families.map((f) => [f.name, f.metrics[0]!.value])).toEqual([
      ['x', 3],
      ['y', 2],
    ]);
    expect(group?.pushTimeSeconds).toBe(1001);
    const replaced = await store.writePush(write(key('a'), 'z 4\n', { timeSeconds: 1002 }));
    expect(replaced.removed.sort()).toEqual(['x', 'y']);
    group = await store.loadGroup(key('a'));
    expect(group?.families.map((f) => f.name)).toEqual(['z']);
  });

  it('writePush refuses a type clash with ConflictError and changes nothing', async () => {
    await store.writePush(write(key('a'), '# TYPE x counter\nx 1\n'));
    await expect(store.writePush(write(key('b'), '# TYPE x gauge\nx 2\n'))).rejects.toBeInstanceOf(ConflictError);
    expect(await store.loadGroup(key('b'))).toBeUndefined();
    expect((await store.loadGroups()).map((g) => g.key.id)).toEqual(['{job="a"}']);
  });

  it('writePush names the series another group already exposes, as a ConflictError', async () => {
    await store.writePush(write(key('a'), 'x{job="z"} 1\n', { check: false }));
    await expect(store.writePush(write(key('b'), 'x{job="z"} 1\n', { check: false }))).rejects.toThrow(/already pushed by group \{job="a"\}/);
  });

  it('recordFailure creates a group of timestamps only and sets the failure time on an existing one', async () => {
    const created = await store.recordFailure(key('f'), 900);
    expect(created).toMatchObject({ pushTimeSeconds: 0, pushFailureTimeSeconds: 900 });
    await store.writePush(write(key('f'), 'x 1\n', { timeSeconds: 1000 }));
    const failed = await store.recordFailure(key('f'), 1100, () => 5000);
    // A failure never extends the life of a group that has had a successful push.
    expect(failed).toMatchObject({ pushTimeSeconds: 1000, pushFailureTimeSeconds: 1100 });
    expect(failed.expiresAtSeconds).toBeUndefined();
  });

  it('deleteGroup removes one group and says which; deleteAll removes every group', async () => {
    await store.writePush(write(key('a'), 'x 1\n'));
    await store.writePush(write(key('b'), 'y 1\n'));
    await store.writePush(write(key('c'), 'z 1\n'));
    const id = await store.deleteGroup(key('a'));
    expect(typeof id).toBe('number');
    expect(await store.deleteGroup(key('a'))).toBeUndefined();
    expect((await store.loadHeaders()).map((h) => h.key.id)).toEqual(['{job="b"}', '{job="c"}']);
    expect((await store.deleteAll()).length).toBe(2);
    expect(await store.loadGroups()).toEqual([]);
    // The names the deleted groups held are free for any type again.
    await store.writePush(write(key('d'), '# TYPE x gauge\nx 1\n'));
  });

  it('deleteGroupsById skips groups pushed at or after the cut-off', async () => {
    await store.writePush(write(key('old'), 'x 1\n', { timeSeconds: 100 }));
    await store.writePush(write(key('new'), 'y 1\n', { timeSeconds: 300 }));
    const ids = (await store.loadHeaders()).map((h) => h.id);
    const deleted = await store.deleteGroupsById(ids, 200);
    expect(deleted).toHaveLength(1);
    expect((await store.loadHeaders()).map((h) => h.key.id)).toEqual(['{job="new"}']);
    expect(await store.deleteGroupsById([])).toEqual([]);
  });

  it('deleteExpired removes exactly the groups whose expiry has come; setExpiries applies only to unchanged groups', async () => {
    await store.writePush(write(key('soon'), 'x 1\n', { expiresAt: 1500 }));
    await store.writePush(write(key('later'), 'y 1\n', { expiresAt: 2500 }));
    await store.writePush(write(key('never'), 'z 1\n'));
    const [later] = (await store.loadHeaders()).filter((h) => h.key.job === 'later');
    expect(await store.setExpiries([{ id: later!.id, pushTimeSeconds: later!.pushTimeSeconds, pushFailureTimeSeconds: 0, expiresAtSeconds: 1200 }])).toBe(1);
    expect(await store.setExpiries([{ id: later!.id, pushTimeSeconds: 999, pushFailureTimeSeconds: 0, expiresAtSeconds: 9999 }])).toBe(0);
    const expired = await store.deleteExpired(1600);
    expect(expired.map((g) => g.key.id).sort()).toEqual(['{job="later"}', '{job="soon"}']);
    expect(await store.deleteExpired(1600)).toEqual([]);
    expect((await store.loadHeaders()).map((h) => h.key.id)).toEqual(['{job="never"}']);
  });

  it('a push to a group past its expiry starts it anew', async () => {
    await store.writePush(write(key('e'), 'x 1\ny 1\n', { expiresAt: 1500, timeSeconds: 1000 }));
    const result = await store.writePush(write(key('e'), 'z 1\n', { replace: false, timeSeconds: 2000 }));
    expect(result.removed.sort()).toEqual(['x', 'y']);
    expect((await store.loadGroup(key('e')))?.families.map((f) => f.name)).toEqual(['z']);
  });

  it('loadGroups, loadGroup, loadHeaders and loadGroupsById read groups by grouping key', async () => {
    await store.writePush(write(key('b'), 'y 1\n'));
    await store.writePush(write(key('a', 'i'), 'x 1\n'));
    const all = await store.loadGroups();
    expect(all.map((g) => g.key.id)).toEqual(['{instance="i",job="a"}', '{job="b"}']);
    expect((await store.loadHeaders()).map((h) => h.id)).toEqual(all.map((g) => g.id));
    const byId = await store.loadGroupsById([all[1]!.id, all[0]!.id, 999_999]);
    expect(byId.map((g) => g.key.id)).toEqual(all.map((g) => g.key.id));
    expect((await store.loadGroup(key('a', 'i')))?.families[0]?.name).toBe('x');
    expect(await store.loadGroup(key('zzz'))).toBeUndefined();
  });

  it('loadGroupsChangedSince: everything first, then only what changed and what was removed', async () => {
    await store.writePush(write(key('a'), 'x 1\n', { check: false }));
    await store.writePush({ ...write(key('b'), 'y 1\n', { check: false }), render: () => 'opaque' });
    const first = await store.loadGroupsChangedSince(undefined);
    expect(first.full).toBe(true);
    const pages = [];
    for await (const page of first.pages) pages.push(...page);
    expect(pages.map((g) => g.key.id).sort()).toEqual(['{job="a"}', '{job="b"}']);
    // A full read brings series only for families without a kept rendering.
    const b = pages.find((g) => g.key.job === 'b')!;
    expect(b.families[0]!.renderedSeries).toBe('opaque');
    expect(() => b.families[0]!.metrics).toThrow(SeriesNotLoadedError);

    const unchanged = await store.loadGroupsChangedSince(first.cursor);
    expect(unchanged.full).toBe(false);
    const none = [];
    for await (const page of unchanged.pages) none.push(...page);
    expect(none).toEqual([]);

    await store.writePush(write(key('a'), 'x 2\n', { check: false }));
    const removedId = await store.deleteGroup(key('b'));
    const next = await store.loadGroupsChangedSince(unchanged.cursor);
    const changed = [];
    for await (const page of next.pages) changed.push(...page);
    expect(changed.map((g) => [g.key.id, g.families[0]!.metrics[0]!.value])).toEqual([['{job="a"}', 2]]);
    expect(next.removedIds).toEqual([removedId]);

    await store.deleteAll();
    expect((await store.loadGroupsChangedSince(next.cursor)).full).toBe(true);
  });

  it('ping and checkWritable succeed on a working database', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    await expect(store.checkWritable()).resolves.toBeUndefined();
  });

  it('concurrent pushes to one group each commit whole, in some order', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.writePush(write(key('c'), `x ${i}\ny ${i}\n`, { timeSeconds: 1000 + i }))));
    expect(results).toHaveLength(20);
    const group = await store.loadGroup(key('c'));
    const values = group!.families.map((f) => f.metrics[0]!.value);
    expect(values[0]).toBe(values[1]);
  });
  it('a re-push of the same series stores its new values, whatever the family size and series order', async () => {
    // Sizes on each side of the SQLite statement shapes: a few series, one padded list, more than one list.
    const sizes = { few: 3, some: 30, many: 600 };
    const body = (value: (name: string, i: number) => string, reversed: boolean) => {
      let out = '# TYPE s summary\n';
      for (const q of reversed ? ['0.9', '0.5'] : ['0.5', '0.9']) out += `s{quantile="${q}"} ${value('s', Number(q) * 10)}\n`;
      out += `s_sum ${value('s', 100)}\ns_count 4\n`;
      for (const [name, n] of Object.entries(sizes)) {
        out += `# TYPE ${name} gauge\n`;
        for (let k = 0; k < n; k++) {
          const i = reversed ? n - 1 - k : k;
          out += `${name}{i="${i}"} ${value(name, i)}\n`;
        }
      }
      return out;
    };
    await store.writePush(
      write(
        key('v'),
        body((_, i) => String(i), false),
      ),
    );
    const special = ['NaN', '+Inf', '-Inf', '1e-300'];
    const second = (name: string, i: number) => (i < special.length && name !== 's' ? special[i]! : String(i * 2 + 0.5));
    await store.writePush(write(key('v'), body(second, true), { timeSeconds: 1001 }));
    const rows = await database.db.selectFrom('metric_sample').select(['metric_name', 'labels_json', 'value']).execute();
    const stored = new Map(rows.map((r) => [`${r.metric_name}${r.labels_json}`, r.value === null ? null : Number(r.value)]));
    expect(stored.size).toBe(3 + 30 + 600 + 4);
    const expected = (v: string) => (v === 'NaN' ? null : v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v));
    for (const [name, n] of Object.entries(sizes)) {
      for (let i = 0; i < n; i++) expect(stored.get(`${name}{"i":"${i}"}`), `${name} ${i}`).toBe(expected(second(name, i)));
    }
    expect(stored.get('s{"quantile":"0.9"}')).toBe(18.5);
    expect(stored.get('s_sum{}')).toBe(200.5);
    const group = await store.loadGroup(key('v'));
    const many = group!.families.find((f) => f.name === 'many')!;
    expect(many.metrics.find((m) => m.labels.some((l) => l.value === '599'))!.value).toBe(1198.5);
    expect(many.metrics.find((m) => m.labels.some((l) => l.value === '1'))!.value).toBe(Infinity);
  });

  it('a re-push that keeps most values and changes a few stores each series at its latest value', async () => {
    const values = (changed: Record<number, string>) => {
      let out = '# TYPE g gauge\n';
      for (let i = 0; i < 100; i++) out += `g{i="${i}"} ${changed[i] ?? (i < 2 ? 'NaN' : String(i))}\n`;
      return out;
    };
    await store.writePush(write(key('kept'), values({})));
    // Series 0 stays NaN; 1 goes from NaN to a number, 2 from a number to NaN, 3 to another number.
    await store.writePush(write(key('kept'), values({ 1: '7', 2: 'NaN', 3: '-3.5' }), { timeSeconds: 1001 }));
    const rows = await database.db.selectFrom('metric_sample').select(['labels_json', 'value']).where('metric_name', '=', 'g').execute();
    const stored = new Map(rows.map((r) => [r.labels_json, r.value === null ? null : Number(r.value)]));
    expect(stored.size).toBe(100);
    expect([0, 1, 2, 3, 4, 99].map((i) => stored.get(`{"i":"${i}"}`))).toEqual([null, 7, null, -3.5, 4, 99]);
  });
});
