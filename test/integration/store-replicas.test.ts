import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { groupingKeyFromLabels } from '../../src/domain/grouping-key.js';
import { PushError } from '../../src/domain/push-error.js';
import { PushService } from '../../src/service/push-service.js';
import { parseBody } from '../../src/exposition/parse-body.js';
import { ScrapeCache } from '../../src/render/scrape-cache.js';
import { openDatabase, type DatabaseOptions, type OpenDatabase } from '../../src/store/dialect/open-database.js';
import { KyselyMetricStore } from '../../src/store/kysely-metric-store.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { describeDialects, dropDatabases } from '../helpers/dialects.js';
import { stripOwnFamilies } from '../helpers/test-server.js';

// Two "replicas" in one process: each its own connection(s), store, scrape cache and service, on
// one database, as server.ts composes them. On SQLite (one file, two connections) this checks
// the change tracking; on PostgreSQL also the locking, with writers truly in parallel.

interface Replica {
  readonly database: OpenDatabase;
  readonly service: PushService;
  push(job: string, body: string, replace?: boolean, ttlSeconds?: number): Promise<'ok' | 'inconsistent'>;
  /** The scrape's pushed families after catching up with the other replica. */
  scrape(): Promise<string>;
}

async function openReplica(options: DatabaseOptions): Promise<Replica> {
  const database = openDatabase(options);
  await migrateToLatest(database.db);
  const store = new KyselyMetricStore(database.db, database.dialect);
  const service = new PushService(store, new ScrapeCache(), { utf8Names: false, ownTypes: () => new Map(), shared: true });
  await service.load();
  return {
    database,
    service,
    async push(job, body, replace = true, ttlSeconds) {
      try {
        await service.push({
          key: groupingKeyFromLabels({ job }),
          families: parseBody(undefined, Buffer.from(body), { utf8Names: false }),
          replace,
          timeSeconds: 1000,
          ttlSeconds,
        });
        return 'ok';
      } catch (err) {
        if (err instanceof PushError && err.kind === 'inconsistent') return 'inconsistent';
        throw err;
      }
    },
    async scrape() {
      await service.refresh();
      return stripOwnFamilies(Buffer.concat(service.scrape('text', []).map((b) => b.text)).toString());
    },
  };
}

afterAll(dropDatabases, 60_000);

describeDialects('replicas on one database', (dialect) => {
  let a: Replica;
  let b: Replica;
  beforeEach(async () => {
    const options = await dialect.freshDatabase();
    if (dialect.name === 'postgres') {
      // Both migrate at once, as replicas starting together do (kysely's migrator lock).
      [a, b] = await Promise.all([openReplica(options), openReplica(options)]);
    } else {
      // kysely takes no migration lock on SQLite, which serves one process; here a second
      // connection to the file stands in for a second process.
      a = await openReplica(options);
      b = await openReplica(options);
    }
  });
  afterEach(async () => {
    await a.database.close();
    await b.database.close();
  });

  it('a push to one is in the next scrape of the other, and so are PUT, DELETE and wipe', async () => {
    expect(await a.push('j1', 'x 1\ny 2\n')).toBe('ok');
    expect(await b.scrape()).toMatch(/^x\{instance="",job="j1"\} 1$/m);
    expect(await b.push('j1', 'x 3\n')).toBe('ok');
    const seen = await a.scrape();
    expect(seen).toMatch(/^x\{instance="",job="j1"\} 3$/m);
    expect(seen).not.toMatch(/^y\{/m);
    await b.push('j2', 'z 1\n');
    await a.service.delete(groupingKeyFromLabels({ job: 'j1' }));
    expect(await b.scrape()).not.toMatch(/job="j1"/);
    expect(await b.scrape()).toMatch(/^z\{instance="",job="j2"\} 1$/m);
    await b.service.wipe();
    expect(await a.scrape()).toBe('');
    await a.push('j3', 'w 1\n');
    expect(await b.scrape()).toMatch(/^w\{instance="",job="j3"\} 1$/m);
  });

  it('removals by selection and failure times propagate too', async () => {
    await a.push('old', 'o 1\n');
    await a.push('keep', 'k 1\n');
    expect(await b.scrape()).toMatch(/job="old"/);
    expect(await a.service.deleteMatching([], 1001)).toBe(2);
    expect(await b.scrape()).toBe('');
    await a.push('f', '# TYPE t counter\nt 1\n');
    expect(await b.push('g', '# TYPE t gauge\nt 1\n')).toBe('inconsistent');
    expect(await a.scrape()).toMatch(/^push_failure_time_seconds\{instance="",job="g"\} 1000$/m);
  });

  // Two SQLite connections sweeping at once fail with SQLITE_BUSY (a read transaction cannot
  // become a write one once another committed); SQLite serves one process, which sweeps alone.
  it.skipIf(dialect.name === 'sqlite')('retention sweeps on both at once remove, and report, each expired group once', async () => {
    for (let i = 0; i < 30; i++) await (i % 2 ? a : b).push(`ttl${i}`, `ttl_${i} 1\n`, true, 60);
    await a.push('forever', 'kept 1\n');
    const [byA, byB] = await Promise.all([a.service.expire(1100), b.service.expire(1100)]);
    expect(byA.length + byB.length).toBe(30);
    expect(new Set([...byA, ...byB].map((g) => g.key.id)).size).toBe(30);
    expect((await b.service.groups()).map((g) => g.key.job)).toEqual(['forever']);
  });

  it('scrapes started while others still catch up show every push acknowledged before them, never an older state after a newer', async () => {
    const scrapes: Promise<void>[] = [];
    const seenInOrder: number[] = [];
    for (let i = 1; i <= 30; i++) {
      expect(await a.push('j', `x ${i}\n`)).toBe('ok');
      // Several at once, so that later ones start while earlier ones still read.
      for (let k = 0; k < 3; k++) {
        scrapes.push(
          b.scrape().then((text) => {
            const value = Number(/^x\{instance="",job="j"\} (\d+)$/m.exec(text)?.[1]);
            expect(value).toBeGreaterThanOrEqual(i);
            seenInOrder.push(value);
          }),
        );
      }
    }
    await Promise.all(scrapes);
    expect(seenInOrder).toEqual([...seenInOrder].sort((x, y) => x - y));
    expect(seenInOrder.at(-1)).toBe(30);
  });

  it('while a long transaction holds the snapshot horizon back, scrapes miss nothing and read nothing again', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding = Promise.resolve();
    if (dialect.name === 'postgres') {
      // A transaction with an id, left open: PostgreSQL's horizon (its oldest running id) stays below every push that follows.
      let begun = () => {};
      const started = new Promise<void>((resolve) => (begun = resolve));
      holding = a.database.db.transaction().execute(async (trx) => {
        await sql`SELECT pg_current_xact_id()`.execute(trx);
        begun();
        await held;
      });
      await started;
    }
    try {
      for (let i = 1; i <= 20; i++) expect(await a.push(`j${i}`, `x ${i}\n`)).toBe('ok');
      expect(await b.scrape()).toMatch(/^x\{instance="",job="j20"\} 20$/m);
      for (let round = 0; round < 3; round++) {
        const version = b.service.scrapeVersion();
        await b.scrape();
        await b.scrape();
        expect(b.service.scrapeVersion()).toBe(version);
        expect(await a.push(`j${3 + round}`, `x ${100 + round}\n`)).toBe('ok');
        const text = await b.scrape();
        expect(text).toMatch(new RegExp(`^x\\{instance="",job="j${3 + round}"\\} ${100 + round}$`, 'm'));
        expect(text.match(/^x\{/gm)).toHaveLength(20);
      }
    } finally {
      release();
      await holding;
    }
  });

  it('catching up costs nothing when nothing changed', async () => {
    await a.push('j', 'x 1\n');
    await b.scrape();
    const version = b.service.scrapeVersion();
    await b.scrape();
    expect(b.service.scrapeVersion()).toBe(version);
  });

  it('of two concurrent pushes of one name with different types exactly one is stored, every round', async () => {
    for (let round = 0; round < 20; round++) {
      const name = `m${round}`;
      const results = await Promise.all([
        a.push(`ja${round}`, `# TYPE ${name} counter\n${name} 1\n`),
        b.push(`jb${round}`, `# TYPE ${name} gauge\n${name} 2\n`),
      ]);
      expect(results.sort()).toEqual(['inconsistent', 'ok']);
      const scrape = await a.scrape();
      expect(scrape.match(new RegExp(`^${name}\\{`, 'gm'))).toHaveLength(1);
      expect(await b.scrape()).toBe(scrape);
    }
  });

  it('a group changing the type of a name it alone holds races a push of the old type elsewhere: one wins', async () => {
    for (let round = 0; round < 20; round++) {
      const name = `retype_${round}`;
      expect(await a.push(`ra${round}`, `# TYPE ${name} counter\n${name} 1\n`)).toBe('ok');
      const results = await Promise.all([
        a.push(`ra${round}`, `# TYPE ${name} gauge\n${name} 2\n`),
        b.push(`rb${round}`, `# TYPE ${name} counter\n${name} 3\n`),
      ]);
      expect(results.sort()).toEqual(['inconsistent', 'ok']);
      const types = (await a.service.groups()).flatMap((g) => g.families.filter((f) => f.name === name).map((f) => f.type));
      expect(new Set(types).size).toBe(1);
    }
  });

  it('the same holds for pushes of hundreds of families (more names than lock buckets)', async () => {
    const many = Array.from({ length: 300 }, (_, i) => `# TYPE wide_${i} gauge\nwide_${i} ${i}\n`).join('');
    for (let round = 0; round < 5; round++) {
      const name = `wide_clash_${round}`;
      const results = await Promise.all([
        a.push(`wa${round}`, `${many.replaceAll('wide_', `wide${round}a_`)}# TYPE ${name} counter\n${name} 1\n`),
        b.push(`wb${round}`, `${many.replaceAll('wide_', `wide${round}b_`)}# TYPE ${name} gauge\n${name} 2\n`),
      ]);
      expect(results.sort()).toEqual(['inconsistent', 'ok']);
      expect((await b.scrape()).match(new RegExp(`^${name}\\{`, 'gm'))).toHaveLength(1);
    }
  });

  it('two concurrent PUTs to one group leave one of them whole', async () => {
    for (let round = 0; round < 20; round++) {
      const results = await Promise.all([a.push('same', 'a1 1\na2 1\na3 1\n'), b.push('same', 'b1 2\nb2 2\n')]);
      expect(results).toEqual(['ok', 'ok']);
      const names = [...(await a.scrape()).matchAll(/^(\w+)\{instance="",job="same"\}/gm)].map((m) => m[1]).filter((n) => !n!.startsWith('push_'));
      expect([
        ['a1', 'a2', 'a3'],
        ['b1', 'b2'],
      ]).toContainEqual(names);
      expect(await b.scrape()).toBe(await a.scrape());
    }
  });

  it('a POST that waited for a concurrent PUT of its group applies to what that PUT left', async () => {
    // The PUT gives family f another series set (a new row); the POST, if it waited for the PUT's
    // lock, must find that row, not the one it would have seen before the wait: otherwise its f is
    // written nowhere and only its new family k is kept, a state neither order of the two leaves.
    for (let round = 0; round < 30; round++) {
      const job = `race${round}`;
      expect(await a.push(job, 'f{s="1"} 1\nf{s="2"} 1\n')).toBe('ok');
      const results = await Promise.all([a.push(job, 'f{s="3"} 3\n'), b.push(job, 'f{s="1"} 7\nf{s="2"} 7\nk 7\n', false)]);
      expect(results).toEqual(['ok', 'ok']);
      const lines = (await a.scrape())
        .split('\n')
        .filter((l) => l.includes(`job="${job}"`) && !l.startsWith('push_'))
        .sort();
      const putLast = [`f{instance="",job="${job}",s="3"} 3`];
      const postLast = [`f{instance="",job="${job}",s="1"} 7`, `f{instance="",job="${job}",s="2"} 7`, `k{instance="",job="${job}"} 7`];
      expect([putLast, postLast]).toContainEqual(lines);
    }
  });

  it('a re-push to a group the other replica changed since applies to what that replica left', async () => {
    // Pushed three times, the group's series and values are what a replica has seen last; the
    // other one then changes the group in ways its re-push cannot tell from the push alone.
    const scraped = async (job: string) =>
      (await a.scrape())
        .split('\n')
        .filter((l) => l.includes(`job="${job}"`) && !l.startsWith('push_'))
        .sort();
    const settled = async (job: string) => {
      for (let i = 1; i <= 3; i++) expect(await a.push(job, `f{s="1"} ${i}\nf{s="2"} ${i}\n`)).toBe('ok');
    };
    // Another series set (f's rows replaced): the same POST must write f whole again.
    await settled('moved');
    expect(await b.push('moved', 'f{s="3"} 5\n')).toBe('ok');
    expect(await a.push('moved', 'f{s="1"} 9\nf{s="2"} 9\n', false)).toBe('ok');
    expect(await scraped('moved')).toEqual(['f{instance="",job="moved",s="1"} 9', 'f{instance="",job="moved",s="2"} 9']);
    // A family added (f's rows kept): a PUT of f alone must remove it.
    await settled('added');
    expect(await b.push('added', 'k 5\n', false)).toBe('ok');
    expect(await a.push('added', 'f{s="1"} 9\nf{s="2"} 9\n')).toBe('ok');
    expect(await scraped('added')).toEqual(['f{instance="",job="added",s="1"} 9', 'f{instance="",job="added",s="2"} 9']);
    // Deleted: the re-push starts the group anew.
    await settled('deleted');
    await b.service.delete(groupingKeyFromLabels({ job: 'deleted' }));
    expect(await a.push('deleted', 'f{s="1"} 9\nf{s="2"} 9\n')).toBe('ok');
    expect(await scraped('deleted')).toEqual(['f{instance="",job="deleted",s="1"} 9', 'f{instance="",job="deleted",s="2"} 9']);
    expect(await b.scrape()).toBe(await a.scrape());
  });

  it('a re-push racing a PUT of other series to its group from the other replica leaves one of them whole', async () => {
    for (let round = 0; round < 20; round++) {
      const job = `rerace${round}`;
      for (let i = 1; i <= 3; i++) expect(await a.push(job, `f{s="1"} ${i}\nf{s="2"} ${i}\n`)).toBe('ok');
      const results = await Promise.all([a.push(job, 'f{s="1"} 7\nf{s="2"} 7\n', false), b.push(job, 'f{s="3"} 3\n')]);
      expect(results).toEqual(['ok', 'ok']);
      const lines = (await b.scrape())
        .split('\n')
        .filter((l) => l.includes(`job="${job}"`) && !l.startsWith('push_'))
        .sort();
      const putLast = [`f{instance="",job="${job}",s="3"} 3`];
      const postLast = [`f{instance="",job="${job}",s="1"} 7`, `f{instance="",job="${job}",s="2"} 7`];
      expect([putLast, postLast]).toContainEqual(lines);
    }
  });

  it('re-pushes of many groups at once each store their own values, beside changes from the other replica', async () => {
    // Re-pushes waiting together are written together: each must land on its own group, whole,
    // and one whose group the other replica changed meanwhile must apply to what it left.
    const jobs = Array.from({ length: 40 }, (_, i) => `many${i}`);
    for (let i = 1; i <= 3; i++) await Promise.all(jobs.map((job) => a.push(job, `f{s="1"} ${i}\nf{s="2"} ${i}\ng 1\n`)));
    for (let round = 0; round < 5; round++) {
      const value = (job: string) => 100 * round + jobs.indexOf(job);
      // Changed before the re-pushes: they must apply to what the other replica left. Changed
      // while they run: either order leaves one of the two whole.
      const before = jobs.filter((_, i) => i % 8 === round);
      const during = jobs.filter((_, i) => i % 8 === round + 1);
      await Promise.all(before.map((job) => b.push(job, 'f{s="3"} 3\n', false)));
      const results = await Promise.all([
        ...jobs.map((job) => a.push(job, `f{s="1"} ${value(job)}\nf{s="2"} ${value(job)}\n`, false)),
        ...during.map((job) => b.push(job, 'f{s="3"} 3\n', false)),
      ]);
      expect(new Set(results)).toEqual(new Set(['ok']));
      const scrape = await a.scrape();
      for (const job of jobs) {
        const lines = scrape
          .split('\n')
          .filter((l) => l.includes(`job="${job}"`) && l.startsWith('f{'))
          .sort();
        const ours = [`f{instance="",job="${job}",s="1"} ${value(job)}`, `f{instance="",job="${job}",s="2"} ${value(job)}`];
        if (during.includes(job)) expect([ours, [`f{instance="",job="${job}",s="3"} 3`]]).toContainEqual(lines);
        else expect(lines).toEqual(ours);
        expect(scrape).toContain(`g{instance="",job="${job}"} 1`);
      }
      expect(await b.scrape()).toBe(scrape);
    }
  });

  it('the first pushes of a new group from both at once both succeed', async () => {
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all([a.push(`new${round}`, 'p 1\n', false), b.push(`new${round}`, 'q 1\n', false)]);
      expect(results).toEqual(['ok', 'ok']);
      const scrape = await b.scrape();
      expect(scrape).toMatch(new RegExp(`^p\\{instance="",job="new${round}"\\} 1$`, 'm'));
      expect(scrape).toMatch(new RegExp(`^q\\{instance="",job="new${round}"\\} 1$`, 'm'));
    }
  });
});
