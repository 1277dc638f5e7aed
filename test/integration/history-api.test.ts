import { afterAll, beforeAll, expect, it } from 'vitest';
import { GroupSelector } from '../../src/domain/group-matcher.js';
import { openDatabase } from '../../src/store/dialect/open-database.js';
import type { DatabaseOptions } from '../../src/store/dialect/open-database.js';
import { KyselyHistoryReads } from '../../src/store/history-reads.js';
import { describeDialects, dropDatabases } from '../helpers/dialects.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

interface Entry {
  time: string;
  method: string;
  path: string;
  grouping_key: string | null;
  job: string | null;
  instance: string | null;
  labels: Record<string, string>;
  outcome: string;
  status_code: number;
  reason: string | null;
  body_bytes: number;
  series_count: number | null;
  client_address: string | null;
}

interface Answer {
  status: string;
  data: Entry[];
  next: string | null;
}

const FIELDS = [
  'time',
  'method',
  'path',
  'grouping_key',
  'job',
  'instance',
  'labels',
  'outcome',
  'status_code',
  'reason',
  'body_bytes',
  'series_count',
  'client_address',
];

describeDialects('GET /api/v1/history', (dialect) => {
  let gw: TestServer;
  let database: DatabaseOptions;
  const get = (query: string) => fetch(`${gw.url}/api/v1/history${query}`);
  const answer = async (query: string): Promise<Answer> => {
    const res = await get(query);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as Answer;
  };
  const paths = async (query: string) => (await answer(query)).data.map((e) => `${e.method} ${e.path}`);

  beforeAll(async () => {
    database = await dialect.freshDatabase();
    // A flush delay longer than any test: an attempt is visible only because a read flushes first.
    gw = await startTestServer({ database, history: { retentionSeconds: 0, flushDelayMs: 600_000 } });
    const pushes: [method: 'PUT' | 'POST' | 'DELETE', path: string, body?: string][] = [
      ['PUT', '/metrics/job/backup/instance/db1', 'a 1\n'],
      ['PUT', '/metrics/job/backup/instance/db2', 'a 1 1000\n'],
      ['POST', '/metrics/job/cleaner/path/tmp', 'b 2\n'],
      ['PUT', '/metrics/job/backup/instance/db1', 'garbage{\n'],
      ['DELETE', '/metrics/job/cleaner/path/tmp'],
      ['PUT', `/metrics/job/xss/v@base64/${Buffer.from('<b>&').toString('base64url')}`, 'c 3\n'],
    ];
    for (const [method, path, body] of pushes) await gw.push(method, path, body);
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await dropDatabases();
  });

  it('answers every attempt newest first, with the push_history columns, without waiting for the recorder', async () => {
    const body = await answer('');
    expect(body.status).toBe('success');
    expect(body.next).toBeNull();
    expect(body.data.map((e) => `${e.method} ${e.path} ${e.outcome} ${e.status_code}`)).toEqual([
      `PUT /metrics/job/xss/v@base64/${Buffer.from('<b>&').toString('base64url')} accepted 200`,
      'DELETE /metrics/job/cleaner/path/tmp accepted 202',
      'PUT /metrics/job/backup/instance/db1 rejected 400',
      'POST /metrics/job/cleaner/path/tmp accepted 200',
      'PUT /metrics/job/backup/instance/db2 rejected 400',
      'PUT /metrics/job/backup/instance/db1 accepted 200',
    ]);
    for (const e of body.data) expect(Object.keys(e)).toEqual(FIELDS);
    const rejected = body.data[4]!;
    expect(rejected).toMatchObject({
      grouping_key: '{instance="db2",job="backup"}',
      job: 'backup',
      instance: 'db2',
      labels: { instance: 'db2', job: 'backup' },
      body_bytes: 9,
      series_count: 1,
    });
    expect(rejected.reason).toMatch(/timestamp/);
    expect(rejected.client_address).toMatch(/127\.0\.0\.1/);
    expect(Date.parse(rejected.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(rejected.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    const deleted = body.data[1]!;
    expect(deleted).toMatchObject({ reason: null, series_count: null, labels: { job: 'cleaner', path: 'tmp' }, instance: null });
  });

  it('escapes pushed strings as the rest of /api/v1 does', async () => {
    const text = await (await get('?job=xss')).text();
    expect(text).toContain('"v":"\\u003cb\\u003e\\u0026"');
    expect(((JSON.parse(text) as Answer).data[0]!.labels as Record<string, string>)['v']).toBe('<b>&');
  });

  it('filters by job, outcome and match[] (selectors OR-ed, regexes anchored, a missing label reading as "")', async () => {
    expect(await paths('?job=cleaner')).toEqual(['DELETE /metrics/job/cleaner/path/tmp', 'POST /metrics/job/cleaner/path/tmp']);
    expect(await paths('?job=backup&outcome=rejected')).toEqual(['PUT /metrics/job/backup/instance/db1', 'PUT /metrics/job/backup/instance/db2']);
    expect((await answer('?outcome=accepted')).data.every((e) => e.outcome === 'accepted' && e.reason === null)).toBe(true);
    expect(await paths(`?match[]=${encodeURIComponent('{instance="db1"}')}`)).toEqual([
      'PUT /metrics/job/backup/instance/db1',
      'PUT /metrics/job/backup/instance/db1',
    ]);
    expect(await paths(`?match[]=${encodeURIComponent('{instance=~"db"}')}`)).toEqual([]);
    expect(await paths(`?match[]=${encodeURIComponent('{instance=~"db.*",instance!="db1"}')}`)).toEqual(['PUT /metrics/job/backup/instance/db2']);
    expect(await paths(`?match[]=${encodeURIComponent('{path="tmp"}')}&match[]=${encodeURIComponent('{instance="db2"}')}`)).toEqual([
      'DELETE /metrics/job/cleaner/path/tmp',
      'POST /metrics/job/cleaner/path/tmp',
      'PUT /metrics/job/backup/instance/db2',
    ]);
    // Regexes SQL narrows by their literal start: a quantifier may drop its last character, an alternative starts elsewhere, case counts.
    expect(await paths(`?match[]=${encodeURIComponent('{instance=~"db?1"}')}`)).toEqual([
      'PUT /metrics/job/backup/instance/db1',
      'PUT /metrics/job/backup/instance/db1',
    ]);
    expect(await paths(`?match[]=${encodeURIComponent('{instance=~"db2|db1"}')}&outcome=rejected`)).toEqual([
      'PUT /metrics/job/backup/instance/db1',
      'PUT /metrics/job/backup/instance/db2',
    ]);
    expect(await paths(`?match[]=${encodeURIComponent('{instance=~"DB.*"}')}`)).toEqual([]);
    expect(await paths(`?match[]=${encodeURIComponent('{job=~"clean.+",path=~"t.p"}')}`)).toEqual([
      'DELETE /metrics/job/cleaner/path/tmp',
      'POST /metrics/job/cleaner/path/tmp',
    ]);
    expect(await paths(`?match[]=${encodeURIComponent('{job="backup",instance="db2"}')}`)).toEqual(['PUT /metrics/job/backup/instance/db2']);
    expect(await paths(`?match[]=${encodeURIComponent('{job="cleaner",instance="db2"}')}`)).toEqual([]);
    expect(
      await paths(
        `?match[]=${encodeURIComponent('{instance="db1"}')}&match[]=${encodeURIComponent('{job="backup",instance=~"db.*"}')}&match[]=${encodeURIComponent('{path="tmp"}')}`,
      ),
    ).toEqual([
      'DELETE /metrics/job/cleaner/path/tmp',
      'PUT /metrics/job/backup/instance/db1',
      'POST /metrics/job/cleaner/path/tmp',
      'PUT /metrics/job/backup/instance/db2',
      'PUT /metrics/job/backup/instance/db1',
    ]);
    expect((await answer(`?match[]=${encodeURIComponent('{job="backup",instance=""}')}`)).data).toEqual([]);
    expect((await answer(`?match[]=${encodeURIComponent('{job=~"x.*",instance=""}')}`)).data.map((e) => e.job)).toEqual(['xss']);
    expect(await paths(`?grouping_key=${encodeURIComponent('{instance="db2",job="backup"}')}`)).toEqual(['PUT /metrics/job/backup/instance/db2']);
  });

  it('takes since as a duration or an RFC 3339 time', async () => {
    expect((await answer('?since=1h')).data).toHaveLength(6);
    expect((await answer(`?since=${new Date(Date.now() + 60_000).toISOString()}`)).data).toHaveLength(0);
    const all = (await answer('')).data;
    const third = all[2]!.time;
    const newer = (await answer(`?since=${encodeURIComponent(third)}`)).data;
    expect(newer.length).toBeGreaterThanOrEqual(3);
    expect(newer.length).toBeLessThan(6);
    expect((await answer('?since=2000-01-01T00:00:00%2B02:00')).data).toHaveLength(6);
    // An unencoded + reads as a space; the offset still counts.
    expect((await answer(`?since=${new Date(Date.now() + 3_600_000).toISOString().slice(0, 19)}+02:00`)).data).toHaveLength(6);
  });

  it('pages with limit and the next cursor, also under a filter, without gaps or repeats', async () => {
    const all = await paths('');
    const seen: string[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const page: Answer = await answer(`?limit=2${next ? `&before=${encodeURIComponent(next)}` : ''}`);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((e) => `${e.method} ${e.path}`));
      next = page.next;
      pages++;
    } while (next && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(all);

    const first = await answer('?job=backup&limit=1');
    expect(first.data).toHaveLength(1);
    expect(first.next).toEqual(expect.any(String));
    const rest = await answer(`?job=backup&limit=1000&before=${encodeURIComponent(first.next!)}`);
    expect(rest.data.map((e) => e.instance)).toEqual(['db2', 'db1']);
    expect(rest.next).toBeNull();
    expect((await answer('?limit=6')).next).toBeNull();
  });

  it('walks one entry a page under every filter to the same list as one page', async () => {
    const filters = [
      '',
      'job=backup',
      'outcome=rejected',
      'job=backup&outcome=accepted',
      `match[]=${encodeURIComponent('{instance="db1"}')}`,
      `match[]=${encodeURIComponent('{instance=~"db.*"}')}&outcome=accepted`,
      `match[]=${encodeURIComponent('{job="xss"}')}`,
      // Several selectors, each walking its own index; db1 matches two of them and comes once.
      `match[]=${encodeURIComponent('{instance="db1"}')}&match[]=${encodeURIComponent('{path="tmp"}')}&match[]=${encodeURIComponent('{job="backup",instance=~"db1|db2"}')}`,
      `match[]=${encodeURIComponent('{instance="db2"}')}&match[]=${encodeURIComponent('{job="cleaner"}')}&outcome=accepted`,
      `grouping_key=${encodeURIComponent('{instance="db1",job="backup"}')}`,
      'since=1h&job=cleaner',
    ];
    for (const filter of filters) {
      const whole = await paths(`?${filter}`);
      const walked: string[] = [];
      let next: string | null = null;
      for (let i = 0; i < 10; i++) {
        const page: Answer = await answer(`?${filter}&limit=1${next ? `&before=${encodeURIComponent(next)}` : ''}`);
        walked.push(...page.data.map((e) => `${e.method} ${e.path}`));
        next = page.next;
        if (!next) break;
      }
      expect(walked, filter).toEqual(whole);
      expect(next, filter).toBeNull();
    }
  });

  it('answers 400 with the reason for a bad parameter, 405 for another method', async () => {
    const cases: [string, RegExp][] = [
      ['?outcome=failed', /invalid outcome "failed": expected accepted or rejected/],
      ['?limit=0', /invalid limit "0"/],
      ['?limit=1001', /from 1 to 1000/],
      ['?limit=ten', /invalid limit "ten"/],
      ['?since=yesterday', /invalid since "yesterday"/],
      ['?since=2024-13-45T00:00:00Z', /invalid since/],
      ['?before=not-a-cursor', /invalid before "not-a-cursor"/],
      [`?match[]=${encodeURIComponent('{job=')}`, /invalid matcher/],
      [`?match[]=${encodeURIComponent('{job=~"("}')}`, /bad regular expression/],
    ];
    for (const [query, reason] of cases) {
      const res = await get(query);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { status: string; errorType: string; error: string };
      expect(body.status).toBe('error');
      expect(body.errorType).toBe('bad_data');
      expect(body.error, query).toMatch(reason);
    }
    const post = await fetch(`${gw.url}/api/v1/history`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('lets a caller confine every answer to a required selector (for scoped credentials)', async () => {
    const db = openDatabase(database);
    try {
      const reads = new KyselyHistoryReads(db.db);
      const required = GroupSelector.parse('{job="backup"}');
      const page = await reads.queryHistory({
        limit: 100,
        required,
        selectors: [GroupSelector.parse('{path="tmp"}'), GroupSelector.parse('{instance="db2"}')],
      });
      expect(page.entries.map((e) => e.groupingKey)).toEqual(['{instance="db2",job="backup"}']);
      const all = await reads.queryHistory({ limit: 100, required });
      expect(new Set(all.entries.map((e) => e.job))).toEqual(new Set(['backup']));
      expect(all.entries).toHaveLength(3);
    } finally {
      await db.close();
    }
  });
});
