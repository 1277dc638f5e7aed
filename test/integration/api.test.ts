import SQLite from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseGroupingPath } from '../../src/http/grouping-path.js';
import { startGateway, type Gateway } from '../helpers/official-gateway.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { missingTools, titleWithTools } from '../helpers/tools.js';

// Pushes whose /api/v1/metrics answer must be field for field the official's. Bucket and
// quantile keys avoid integer-like strings, which JSON.parse would reorder.
const PUSHES: [method: 'PUT' | 'POST', path: string, body: string][] = [
  [
    'PUT',
    '/metrics/job/some_job/instance/some_instance',
    '# TYPE some_metric counter\nsome_metric{label="val1"} 42\n# TYPE another_metric gauge\n# HELP another_metric Just an example.\nanother_metric 2398.283\n',
  ],
  ['PUT', '/metrics/job/t', 'b 1 1000\n'],
  ['PUT', '/metrics/job/ok_after_fail', 'b 1 1000\n'],
  ['POST', '/metrics/job/ok_after_fail', 'c 2\n'],
  ['PUT', '/metrics/job/esc/who/Bj%C3%B6rn', `# HELP q Line one\\nline <two> & "three"\nq{v="'\\"\\\\<script>alert(1)</script>"} -0\n`],
  [
    'PUT',
    '/metrics/job/o',
    '# TYPE s summary\ns{zz="1",quantile="0.5"} 1\ns{zz="1",quantile="0.99"} 2\ns_sum{zz="1"} 1\ns_count{zz="1"} 1234567\n# TYPE e summary\ne_sum 0\ne_count 0\n# TYPE h histogram\nh_bucket{zz="1",le="0.1"} 1\nh_bucket{zz="1",le="1e+06"} 2\nh_bucket{zz="1",le="+Inf"} 3\nh_sum{zz="1"} 0.00001234\nh_count{zz="1"} 3\n',
  ],
  ['PUT', '/metrics/job/f', 'v{n="a"} 1234567\nv{n="b"} NaN\nv{n="c"} +Inf\nv{n="d"} -1.5e-7\n'],
];

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

/** Groups in a fixed order; times (time_stamp and non-zero push time values) replaced by T. */
function normalise(body: string): unknown[] {
  const parsed = JSON.parse(body) as { status: string; data: Record<string, unknown>[] };
  expect(parsed.status).toBe('success');
  const groups = parsed.data.map((group) => {
    for (const [name, family] of Object.entries(group)) {
      if (typeof family !== 'object' || family === null || !('time_stamp' in family)) continue;
      const f = family as { time_stamp: string; metrics: { value?: string }[] };
      expect(f.time_stamp).toMatch(TIME);
      f.time_stamp = 'T';
      if (name === 'push_time_seconds' || name === 'push_failure_time_seconds') {
        for (const m of f.metrics) if (m.value !== '0') m.value = 'T';
      }
    }
    return group;
  });
  return groups.sort((a, b) => (JSON.stringify(a['labels']) < JSON.stringify(b['labels']) ? -1 : 1));
}

async function send(base: string, method: string, path: string, body?: string) {
  const res = await fetch(base + path, { method, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

describe.skipIf(missingTools('prometheus-pushgateway'))(titleWithTools('/api/v1 against the official Pushgateway 1.5.1', 'prometheus-pushgateway'), () => {
  let official: Gateway;
  let pushkeep: TestServer;
  beforeAll(async () => {
    [official, pushkeep] = await Promise.all([startGateway({ args: ['--web.enable-admin-api'] }), startTestServer({ adminApi: true })]);
    for (const [method, path, body] of PUSHES) {
      const [a, b] = await Promise.all([send(official.baseUrl, method, path, body), send(pushkeep.url, method, path, body)]);
      expect([path, b.status]).toEqual([path, a.status]);
    }
  });
  afterAll(async () => {
    await Promise.all([official?.stop(), pushkeep?.close()]);
  });

  it('GET /api/v1/metrics gives the same groups, families, values, key order and escaping', async () => {
    const [a, b] = await Promise.all([send(official.baseUrl, 'GET', '/api/v1/metrics'), send(pushkeep.url, 'GET', '/api/v1/metrics')]);
    expect(b.status).toBe(200);
    expect(JSON.stringify(normalise(b.body))).toBe(JSON.stringify(normalise(a.body)));
    // Go's escaping of <, > and & survives only in the raw text.
    expect(b.body).toContain('\\u003cscript\\u003e');
    expect(b.body.endsWith('}')).toBe(true);
  });

  it('answers with the same headers, statuses and Allow lists around the API', async () => {
    const cases: [method: string, path: string][] = [
      ['GET', '/api/v1/metrics'],
      ['GET', '/api/v1/status'],
      ['OPTIONS', '/api/v1/status'],
      ['OPTIONS', '/api/v1/anything'],
      ['POST', '/api/v1/status'],
      ['DELETE', '/api/v1/metrics'],
      ['GET', '/api/v1/nope'],
      ['GET', '/api/v2/status'],
      ['GET', '/api/v1/admin/wipe'],
      ['DELETE', '/api/v1/admin/wipe'],
      ['GET', '/-/healthy'],
      ['GET', '/-/ready'],
      ['POST', '/-/healthy'],
      ['HEAD', '/-/ready'],
      ['PUT', '/-/quit'],
      ['GET', '/-/quit'],
    ];
    const headerNames = [
      'content-type',
      'allow',
      'access-control-allow-headers',
      'access-control-allow-methods',
      'access-control-allow-origin',
      'access-control-expose-headers',
      'cache-control',
    ];
    const view = (r: Awaited<ReturnType<typeof send>>, path: string) => ({
      status: r.status,
      headers: Object.fromEntries(headerNames.map((h) => [h, r.headers.get(h)])),
      body: path.startsWith('/api/v1/metrics') || path === '/api/v1/status' ? '' : r.body,
    });
    for (const [method, path] of cases) {
      const [a, b] = await Promise.all([send(official.baseUrl, method, path), send(pushkeep.url, method, path)]);
      expect({ req: `${method} ${path}`, ...view(b, path) }).toEqual({ req: `${method} ${path}`, ...view(a, path) });
    }
  });

  it('GET /api/v1/status has the official shape, build fields and flag names', async () => {
    const [a, b] = await Promise.all([send(official.baseUrl, 'GET', '/api/v1/status'), send(pushkeep.url, 'GET', '/api/v1/status')]);
    type Status = { status: string; data: { build_information: Record<string, string>; flags: Record<string, string>; start_time: string } };
    const ours = JSON.parse(b.body) as Status;
    const theirs = JSON.parse(a.body) as Status;
    expect(Object.keys(ours)).toEqual(Object.keys(theirs));
    expect(Object.keys(ours.data)).toEqual(Object.keys(theirs.data));
    expect(Object.keys(ours.data.build_information)).toEqual(Object.keys(theirs.data.build_information));
    expect(ours.data.start_time).toMatch(TIME);
    expect(Object.values(ours.data.build_information).every((v) => typeof v === 'string')).toBe(true);
  });

  it('PUT /api/v1/admin/wipe answers 202 and removes every group, as the official', async () => {
    const [a, b] = await Promise.all([send(official.baseUrl, 'PUT', '/api/v1/admin/wipe'), send(pushkeep.url, 'PUT', '/api/v1/admin/wipe')]);
    expect([b.status, b.body]).toEqual([a.status, a.body]);
    expect(b.status).toBe(202);
    // The official applies the wipe through its queue after answering.
    let theirs = '';
    for (let i = 0; i < 50 && theirs !== '{"status":"success","data":[]}'; i++) {
      theirs = (await send(official.baseUrl, 'GET', '/api/v1/metrics')).body;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await send(pushkeep.url, 'GET', '/api/v1/metrics')).body).toBe(theirs);
  });
});

describe('status flags', () => {
  it('shows the flags it was given, including the computed route prefix', async () => {
    const gw = await startTestServer({ flags: { 'web.route-prefix': '/ext', 'retention.ttl': '0s' } });
    try {
      const status = JSON.parse((await send(gw.url, 'GET', '/api/v1/status')).body) as { data: { flags: Record<string, string> } };
      expect(status.data.flags).toEqual({ 'retention.ttl': '0s', 'web.route-prefix': '/ext' });
    } finally {
      await gw.close();
    }
  });
});

describe('admin API', () => {
  let gw: TestServer;
  afterEach(async () => {
    await gw?.close();
  });

  it('is absent (404) without --web.enable-admin-api', async () => {
    gw = await startTestServer();
    expect((await send(gw.url, 'PUT', '/api/v1/admin/wipe')).status).toBe(404);
    expect((await send(gw.url, 'DELETE', '/api/v1/admin/groups?match[]={job="a"}')).status).toBe(404);
  });

  it('wipes 5,000 groups in one transaction', async () => {
    gw = await startTestServer({ adminApi: true });
    const now = Date.now() / 1000;
    await Promise.all(
      Array.from({ length: 5000 }, (_, i) =>
        gw.service.push({
          key: parseGroupingPath(`/job/j${i % 50}/instance/i${i}`, { utf8Names: false }),
          families: [{ name: 'm', type: 'gauge', metrics: [{ labels: [{ name: 'x', value: String(i) }], value: i }] }],
          replace: true,
          timeSeconds: now,
        }),
      ),
    );
    expect((await gw.service.groupHeaders()).length).toBe(5000);
    // How long it takes is measured by `npm run bench` (retention_wipe), not asserted here.
    const res = await send(gw.url, 'PUT', '/api/v1/admin/wipe');
    expect(res.status).toBe(202);
    expect(await gw.scrapePushed()).toBe('');
    expect((await send(gw.url, 'GET', '/api/v1/metrics')).body).toBe('{"status":"success","data":[]}');
  });

  it('deletes the groups matching label matchers and/or older than an age, and says how many', async () => {
    gw = await startTestServer({ adminApi: true });
    for (const path of ['/job/backup/instance/db-1', '/job/backup/instance/db-2', '/job/backup/instance/web-1', '/job/other/instance/db-3']) {
      expect((await gw.push('PUT', `/metrics${path}`, 'm 1\n')).status).toBe(200);
    }
    const del = (query: string) => send(gw.url, 'DELETE', `/api/v1/admin/groups?${query}`);
    const matched = await del(`match[]=${encodeURIComponent('{job="backup",instance=~"db-.*"}')}`);
    expect([matched.status, matched.body]).toEqual([200, '{"status":"success","data":{"deleted":2}}']);
    expect(await gw.scrapePushed()).not.toMatch(/instance="db-[12]"/);
    expect(await gw.scrapePushed()).toMatch(/instance="web-1"/);

    // Nothing is older than an hour; everything is older than 0s.
    expect((await del('older_than=1h')).body).toBe('{"status":"success","data":{"deleted":0}}');
    expect((await del(`match[]=${encodeURIComponent('{instance!~"web.*"}')}&older_than=0s`)).body).toBe('{"status":"success","data":{"deleted":1}}');
    expect(await gw.scrapePushed()).toMatch(/instance="web-1"/);
    expect(await gw.scrapePushed()).not.toMatch(/job="other"/);
  });

  it.each([
    ['', 'give match[]'],
    ['match[]=%7Bjob%3D%22a%22', 'invalid matcher'],
    ['match[]=%7Bjob%3D~%22(%22%7D', 'bad regular expression'],
    ['match[]=%7B%7D', 'at least one matcher'],
    ['older_than=soon', 'invalid older_than'],
  ])('refuses %j with the error envelope', async (query, message) => {
    gw = await startTestServer({ adminApi: true });
    const res = await send(gw.url, 'DELETE', `/api/v1/admin/groups?${query}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = JSON.parse(res.body) as Record<string, string>;
    expect(Object.keys(body)).toEqual(['status', 'errorType', 'error']);
    expect(body['status']).toBe('error');
    expect(body['errorType']).toBe('bad_data');
    expect(body['error']).toContain(message);
  });
});

describe('lifecycle', () => {
  let gw: TestServer;
  afterEach(async () => {
    await gw?.close();
  });

  it('refuses /-/reload and /-/quit with 403 unless --web.enable-lifecycle', async () => {
    gw = await startTestServer();
    for (const path of ['/-/reload', '/-/quit']) {
      const res = await send(gw.url, 'POST', path);
      expect([res.status, res.body]).toEqual([403, 'Lifecycle API is not enabled.']);
    }
    expect((await send(gw.url, 'GET', '/-/reload')).status).toBe(405);
  });

  it('reloads with 200 and quits with the official goodbye', async () => {
    gw = await startTestServer({ lifecycle: true });
    expect((await send(gw.url, 'PUT', '/-/reload')).status).toBe(200);
    const res = await send(gw.url, 'PUT', '/-/quit');
    expect([res.status, res.body]).toEqual([200, 'Requesting termination... Goodbye!']);
    await gw.closed;
  });

  it('/-/healthy fails while the database cannot be written, /-/ready still answers', async () => {
    // No scheduled sweep (default: every 30 s) while the lock is held below: each of its writes
    // would wait out the busy timeout too, blocking the event loop, and the test its time limit.
    gw = await startTestServer({ retention: { rules: [], defaultTtlSeconds: 0, schedule: '0 0 1 1 *' } });
    expect((await send(gw.url, 'GET', '/-/healthy')).body).toBe('OK');
    // A scrape waits for the start's load and expiry sweep: neither is then left to run under the lock.
    expect((await send(gw.url, 'GET', '/metrics')).status).toBe(200);
    // Another connection holds SQLite's write lock longer than the busy timeout (5 s).
    const other = new SQLite(gw.dbPath);
    other.exec('BEGIN IMMEDIATE');
    try {
      const [healthy, ready] = await Promise.all([send(gw.url, 'GET', '/-/healthy'), send(gw.url, 'GET', '/-/ready')]);
      expect(healthy.status).toBe(503);
      expect(healthy.body).toMatch(/database unavailable/);
      expect([ready.status, ready.body]).toEqual([200, 'OK']);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect((await send(gw.url, 'GET', '/-/healthy')).body).toBe('OK');
  }, 15_000);
});
