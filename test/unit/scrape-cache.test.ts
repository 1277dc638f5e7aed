import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gzipBlocks } from '../../src/render/gzip-blocks.js';
import { ScrapeCache } from '../../src/render/scrape-cache.js';
import type { GroupHeader, StoredFamily } from '../../src/domain/stored-group.js';

const header = (id: number, instance: string, pushTimeSeconds = 1700000000.5, pushFailureTimeSeconds = 0): GroupHeader => ({
  id,
  key: {
    job: 'j',
    labels: [
      { name: 'instance', value: instance },
      { name: 'job', value: 'j' },
    ],
    id: `{instance="${instance}",job="j"}`,
  },
  pushTimeSeconds,
  pushFailureTimeSeconds,
});

const gauge = (instance: string, ...series: [string, number][]): StoredFamily => ({
  name: 'x',
  type: 'gauge',
  pushedAtSeconds: 0,
  metrics: series.map(([k, value]) => ({
    labels: [
      { name: 'instance', value: instance },
      { name: 'job', value: 'j' },
      { name: 'k', value: k },
    ],
    value,
  })),
});

const text = (cache: ScrapeCache) =>
  Buffer.concat(cache.render([], 'text').map((b) => b.text))
    .toString()
    .split('\n');

describe('ScrapeCache text scrape', () => {
  it('a scrape after writes, removals and replaced groups equals one of a cache filled afresh with the result', () => {
    // Renderings sort from the order of the one before: every step below must still come out as
    // a cache that saw only the final state renders it.
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const cache = new ScrapeCache(() => 0);
    const state = new Map<number, { instance: string; family: StoredFamily; failure: number }>();
    for (let step = 0; step < 400; step++) {
      const id = 1 + random(40);
      const instance = `i${id * 7}`;
      const roll = random(10);
      if (roll === 0) {
        cache.removeGroup(id);
        state.delete(id);
      } else {
        const series = Array.from({ length: 1 + random(3) }, (_, k): [string, number] => [`${random(5)}${k}`, random(100)]);
        const family = gauge(instance, ...series);
        const failure = roll === 1 ? step : (state.get(id)?.failure ?? 0);
        if (roll < 5) cache.replaceGroup(header(id, instance, 1700000000 + step, failure), [family]);
        else cache.applyWrite(header(id, instance, 1700000000 + step, failure), [family], []);
        state.set(id, { instance, family, failure });
      }
      if (step % 9 === 0 || step === 399) {
        const fresh = new ScrapeCache(() => 0);
        for (const [gid, g] of state) {
          fresh.applyWrite(header(gid, g.instance, 1700000000, g.failure), [g.family], []);
        }
        const withoutPushTimes = (lines: string[]) => lines.filter((l) => !l.startsWith('push_time_seconds{'));
        expect(withoutPushTimes(text(cache))).toEqual(withoutPushTimes(text(fresh)));
        expect(text(cache).filter((l) => l.startsWith('push_time_seconds{'))).toHaveLength(state.size);
      }
    }
  });

  it('groups that come and go between two scrapes leave the next scrape as a fresh cache renders it', () => {
    const cache = new ScrapeCache(() => 0);
    for (let id = 1; id <= 5; id++) cache.applyWrite(header(id, `i${id}`), [gauge(`i${id}`, ['1', id])], []);
    text(cache);
    // Many groups pushed and deleted without a scrape in between, then a few kept.
    for (let id = 6; id <= 500; id++) {
      cache.applyWrite(header(id, `i${id}`), [gauge(`i${id}`, ['1', id])], []);
      if (id % 50 !== 0) cache.removeGroup(id);
    }
    const fresh = new ScrapeCache(() => 0);
    for (const id of [1, 2, 3, 4, 5, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500]) {
      fresh.applyWrite(header(id, `i${id}`), [gauge(`i${id}`, ['1', id])], []);
    }
    expect(text(cache)).toEqual(text(fresh));
  });

  it("scrapes between writes to a few of many groups (a HELP changed, groups added and removed) equal a fresh cache's, plain and gzipped", () => {
    // A rendering reuses the segments, and the bytes, of the groups no write replaced since the one before.
    const cache = new ScrapeCache(() => 0);
    const state = new Map<number, StoredFamily>();
    const write = (id: number, value: number, help?: string) => {
      const family = { ...gauge(`i${1000 + id}`, ['a', value], ['b', value + 1]), ...(help ? { help } : {}) };
      cache.applyWrite(header(id, `i${1000 + id}`), [family], []);
      state.set(id, family);
    };
    for (let id = 1; id <= 3000; id++) write(id, id);
    for (let round = 0; round < 30; round++) {
      text(cache);
      for (let k = 0; k < 3; k++) write(1 + ((round * 379 + k * 1013) % 3000), round * 1000.5, round === 10 ? 'another help' : undefined);
      if (round % 3 === 0) write(3001 + round, round);
      if (round % 4 === 0) {
        cache.removeGroup(2 + round * 50);
        state.delete(2 + round * 50);
      }
      const fresh = new ScrapeCache(() => 0);
      for (const [id, family] of state) fresh.applyWrite(header(id, `i${1000 + id}`), [family], []);
      expect(text(cache)).toEqual(text(fresh));
      const gzipped = zlib.gunzipSync(Buffer.concat(gzipBlocks(cache.render([], 'text'))));
      expect(gzipped.toString().split('\n')).toEqual(text(fresh));
    }
  });

  it('replaceGroup drops the families the group no longer has', () => {
    const cache = new ScrapeCache(() => 0);
    cache.applyWrite(header(1, 'a'), [gauge('a', ['1', 1]), { ...gauge('a', ['1', 2]), name: 'y' }], []);
    cache.replaceGroup(header(1, 'a'), [{ ...gauge('a', ['1', 3]), name: 'y' }]);
    expect(text(cache).filter((l) => /^[xy]\{/.test(l))).toEqual(['y{instance="a",job="j",k="1"} 3']);
    expect(cache.stats()).toEqual({ groups: 1, series: 1 });
  });

  it('sorts the series of a family across groups, whether their groups interleave or not', () => {
    const cache = new ScrapeCache(() => 0);
    // Inserted out of order; b's series fall between a's two groups' series only by key.
    cache.applyWrite(header(3, 'c'), [gauge('c', ['2', 5])], []);
    cache.applyWrite(header(1, 'a'), [gauge('a', ['9', 1], ['1', 2])], []);
    cache.applyWrite(header(2, 'b'), [gauge('b', ['5', 3])], []);
    expect(text(cache).filter((l) => l.startsWith('x{'))).toEqual([
      'x{instance="a",job="j",k="1"} 2',
      'x{instance="a",job="j",k="9"} 1',
      'x{instance="b",job="j",k="5"} 3',
      'x{instance="c",job="j",k="2"} 5',
    ]);
    // Same instance in two groups of other grouping labels: their series interleave by k.
    const mixed = new ScrapeCache(() => 0);
    mixed.applyWrite(header(1, 'a'), [gauge('a', ['1', 1], ['3', 3])], []);
    mixed.applyWrite({ ...header(2, 'a'), key: { ...header(2, 'a').key, id: 'other' } }, [gauge('a', ['2', 2])], []);
    expect(text(mixed).filter((l) => l.startsWith('x{'))).toEqual([
      'x{instance="a",job="j",k="1"} 1',
      'x{instance="a",job="j",k="2"} 2',
      'x{instance="a",job="j",k="3"} 3',
    ]);
  });

  it('renders a family of thousands of series, in text and OpenMetrics, byte for byte as its lines in order', () => {
    const cache = new ScrapeCache(() => 0);
    const expected: string[] = [];
    for (const instance of ['d', 'b', 'a', 'c']) {
      const series: [string, number][] = [];
      for (let k = 0; k < 700; k++) series.push([String(k).padStart(4, '0'), k + 0.5]);
      cache.applyWrite(header(instance.charCodeAt(0), instance), [gauge(instance, ...series)], []);
    }
    for (const instance of ['a', 'b', 'c', 'd']) {
      for (let k = 0; k < 700; k++) expected.push(`x{instance="${instance}",job="j",k="${String(k).padStart(4, '0')}"} ${k + 0.5}`);
    }
    expect(text(cache).filter((l) => l.startsWith('x'))).toEqual(expected);
    const om = Buffer.concat(cache.render([], 'openmetrics').map((b) => b.text)).toString();
    expect(om.split('\n').filter((l) => l.startsWith('x'))).toEqual(expected);
    expect(om.endsWith('# EOF\n')).toBe(true);
  });

  it('lists a group pushed out of order by labels, each series with its own exemplar and UTF-8 label names, in every format', () => {
    const ks = ['9', '10', '2', '1'];
    const counter: StoredFamily = {
      name: 'c_total',
      type: 'counter',
      pushedAtSeconds: 0,
      metrics: ks.map((k) => ({
        labels: [
          { name: 'instance', value: 'a' },
          { name: 'job', value: 'j' },
          { name: 'k', value: k },
          { name: 'k.dotted', value: `d${k}` },
        ],
        value: Number(k),
        exemplar: { labels: [{ name: 'trace_id', value: `t${k}` }], value: Number(k) / 10 },
      })),
    };
    // The same without the UTF-8 label name: the series' exemplars then come from their kept metrics.
    const legacy: StoredFamily = {
      ...counter,
      name: 'e_total',
      metrics: counter.metrics.map((m) => ({ ...m, labels: m.labels.filter((l) => l.name !== 'k.dotted') })),
    };
    const cache = new ScrapeCache(() => 0);
    cache.applyWrite(header(1, 'a'), [counter, legacy], []);
    const sorted = [...ks].sort();
    const legacyLines = Buffer.concat(cache.render([], 'openmetrics').map((b) => b.text))
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('e_total{'));
    expect(legacyLines).toEqual(sorted.map((k) => `e_total{instance="a",job="j",k="${k}"} ${k} # {trace_id="t${k}"} ${Number(k) / 10}`));
    const plain = text(cache).filter((l) => l.startsWith('c_total{'));
    expect(plain.map((l) => [l.match(/k="(\d+)"/)![1], l.split(' ')[1]])).toEqual(sorted.map((k) => [k, k]));
    const om = Buffer.concat(cache.render([], 'openmetrics', 'allow-utf-8').map((b) => b.text))
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('c_total{'));
    expect(om).toEqual(sorted.map((k) => `c_total{instance="a",job="j",k="${k}","k.dotted"="d${k}"} ${k} # {trace_id="t${k}"} ${Number(k) / 10}`));
    const pb = Buffer.concat(cache.render([], 'protobuf', 'allow-utf-8').map((b) => b.text)).toString('latin1');
    const at = sorted.map((k) => pb.indexOf(`t${k}`));
    expect(at.every((i, n) => i > pb.indexOf(`d${sorted[n]}`) && (n === 0 || i > at[n - 1]!))).toBe(true);
  });

  it('orders series of several lines, and label values holding U+0000, as the official does, in text and protobuf', () => {
    const histogram = (instance: string, ...ks: string[]): StoredFamily => ({
      name: 'h',
      type: 'histogram',
      pushedAtSeconds: 0,
      metrics: ks.map((k) => ({
        labels: [
          { name: 'instance', value: instance },
          { name: 'job', value: 'j' },
          { name: 'k', value: k },
        ],
        histogram: { sampleCount: 1, sampleSum: 2, buckets: [{ upperBound: Infinity, cumulativeCount: 1 }] },
      })),
    });
    const cache = new ScrapeCache(() => 0);
    const other = (id: number) => ({ ...header(id, 'a'), key: { ...header(id, 'a').key, id: `other${id}` } });
    // Two groups of the same instance: their series interleave by k.
    cache.applyWrite(header(1, 'a'), [histogram('a', '1', '3'), gauge('a', ['x\u0000b', 1], ['x', 2])], []);
    cache.applyWrite(other(2), [histogram('a', '2'), gauge('a', ['x\u0000a', 3])], []);
    const lines = text(cache);
    expect(lines.filter((l) => l.startsWith('h_count')).map((l) => l.match(/k="(\d)"/)![1])).toEqual(['1', '2', '3']);
    expect(lines.filter((l) => l.startsWith('x{')).map((l) => l.split(' ')[1])).toEqual(['2', '3', '1']);
    const pb = Buffer.concat(cache.render([], 'protobuf').map((b) => b.text));
    expect(pb.includes('x\u0000a')).toBe(true);
    expect(pb.indexOf('x\u0000a')).toBeLessThan(pb.indexOf('x\u0000b'));
  });

  it("shows each group's timestamp gauges with its labels, updated by every write to the group", () => {
    const cache = new ScrapeCache(() => 0);
    cache.applyWrite(header(1, 'a"b'), [gauge('a"b', ['1', 1])], []);
    cache.applyWrite(header(2, 'c'), [gauge('c', ['1', 1])], []);
    cache.applyWrite(header(1, 'a"b', 1700000100, 1700000050), [gauge('a"b', ['1', 2])], []);
    const lines = text(cache).filter((l) => l.startsWith('push_'));
    expect(lines).toEqual([
      'push_failure_time_seconds{instance="a\\"b",job="j"} 1.70000005e+09',
      'push_failure_time_seconds{instance="c",job="j"} 0',
      'push_time_seconds{instance="a\\"b",job="j"} 1.7000001e+09',
      'push_time_seconds{instance="c",job="j"} 1.7000000005e+09',
    ]);
  });
});

describe('ScrapeCache scrape of some groups (renderMatching)', () => {
  const only = (cache: ScrapeCache, instances: string[], format: 'text' | 'openmetrics' = 'text') =>
    Buffer.concat(cache.renderMatching(format, (key) => instances.includes(key.labels[0]!.value)).map((b) => b.text)).toString();
  const keep = (full: string, instances: string[], emptyFamilies: string[]) =>
    full
      .split('\n')
      .filter((l) => (l.startsWith('#') ? !emptyFamilies.some((f) => l.startsWith(`# TYPE ${f} `)) : instances.some((i) => l.includes(`instance="${i}"`))))
      .map((l) => `${l}\n`)
      .join('');

  it('is the full scrape without the other groups, interleaved series still in order; drops families left empty and expired groups', () => {
    let now = 0;
    const cache = new ScrapeCache(() => now);
    cache.applyWrite(header(1, 'a'), [gauge('a', ['1', 1], ['9', 9])], []);
    // Another group of the same instance (its key has one more label): its series interleave with group 1's.
    const other = { job: 'j', labels: [...header(2, 'a').key.labels, { name: 'zone', value: 'z' }], id: '{instance="a",job="j",zone="z"}' };
    cache.applyWrite({ ...header(2, 'a'), key: other }, [gauge('a', ['5', 5])], []);
    cache.applyWrite({ ...header(3, 'c'), expiresAtSeconds: 10 }, [{ ...gauge('c', ['2', 2]), name: 'y' }], []);
    const full = text(cache).join('\n');
    expect(only(cache, ['a'])).toBe(keep(full, ['a'], ['y']));
    expect(only(cache, ['a'])).toContain('x{instance="a",job="j",k="1"} 1\nx{instance="a",job="j",k="5"} 5\nx{instance="a",job="j",k="9"} 9\n');
    expect(only(cache, ['c'])).toMatch(/^# TYPE y gauge\ny\{instance="c",job="j",k="2"\} 2\n/m);
    expect(only(cache, ['c'], 'openmetrics')).toMatch(/# EOF\n$/);
    now = 11;
    expect(only(cache, ['c'])).toBe('');
    expect(only(cache, [], 'openmetrics')).toBe('# EOF\n');
    // The full scrape's cached blocks are not disturbed by scoped renders.
    expect(text(cache).join('\n')).not.toContain('instance="c"');
  });
});
