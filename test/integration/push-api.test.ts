import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { openDatabase, openReadOnly, type DatabaseOptions } from '../../src/store/dialect/open-database.js';
import { parseGroupingPath } from '../../src/http/grouping-path.js';
import { PushError } from '../../src/domain/push-error.js';
import { parseText } from '../../src/exposition/text-parser.js';
import type { Database } from '../../src/store/schema.js';
import { seriesDigest } from '../../src/store/series-digest.js';
import { activeDialect } from '../helpers/dialects.js';
import { maskTimes, startTestServer, type TestServer } from '../helpers/test-server.js';

// SQLite here; push-api.postgres.test.ts runs this file again on PostgreSQL.
const startFresh = async (overrides: Parameters<typeof startTestServer>[0] = {}) =>
  startTestServer({ database: await activeDialect().freshDatabase(), ...overrides });

let gw: TestServer;
beforeEach(async () => {
  gw = await startFresh();
});
afterEach(async () => {
  await gw.close();
});

async function expectStatus(res: Response, status: number, body = ''): Promise<void> {
  expect({ status: res.status, body: await res.text() }).toEqual({ status, body });
}

describe('PUT, POST and DELETE on /metrics/job/...', () => {
  it('answers 200 with an empty body and serves the README example byte for byte', async () => {
    const res = await gw.push(
      'PUT',
      '/metrics/job/some_job/instance/some_instance',
      '# TYPE some_metric counter\nsome_metric{label="val1"} 42\n# TYPE another_metric gauge\n# HELP another_metric Just an example.\nanother_metric 2398.283\n',
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBeNull();
    expect(await res.text()).toBe('');
    expect(maskTimes(await gw.scrapePushed())).toBe(
      [
        '# HELP another_metric Just an example.',
        '# TYPE another_metric gauge',
        'another_metric{instance="some_instance",job="some_job"} 2398.283',
        '# HELP push_failure_time_seconds Last Unix time when changing this group in the Pushgateway failed.',
        '# TYPE push_failure_time_seconds gauge',
        'push_failure_time_seconds{instance="some_instance",job="some_job"} 0',
        '# HELP push_time_seconds Last Unix time when changing this group in the Pushgateway succeeded.',
        '# TYPE push_time_seconds gauge',
        'push_time_seconds{instance="some_instance",job="some_job"} T',
        '# TYPE some_metric counter',
        'some_metric{instance="some_instance",job="some_job",label="val1"} 42',
        '',
      ].join('\n'),
    );
  });

  it('PUT replaces the group, POST replaces only the pushed families', async () => {
    await expectStatus(await gw.push('PUT', '/metrics/job/j', 'a 1\nb 2\n'), 200);
    await expectStatus(await gw.push('POST', '/metrics/job/j', 'b 3\nc 4\n'), 200);
    let scrape = await gw.scrapePushed();
    expect(scrape).toMatch(/^a\{instance="",job="j"\} 1$/m);
    expect(scrape).toMatch(/^b\{instance="",job="j"\} 3$/m);
    expect(scrape).toMatch(/^c\{instance="",job="j"\} 4$/m);
    await expectStatus(await gw.push('PUT', '/metrics/job/j', 'd 5\n'), 200);
    scrape = await gw.scrapePushed();
    expect(scrape).not.toMatch(/^[abc]\{/m);
    expect(scrape).toMatch(/^d\{instance="",job="j"\} 5$/m);
  });

  it('POST replaces every series of a pushed family, including ones with other labels', async () => {
    await gw.push('PUT', '/metrics/job/j', 'm{a="1"} 1\nm{a="2"} 2\nk 1\n');
    await gw.push('POST', '/metrics/job/j', 'm{a="3"} 3\n');
    const scrape = await gw.scrapePushed();
    expect(scrape.match(/^m\{.*$/gm)).toEqual(['m{a="3",instance="",job="j"} 3']);
    expect(scrape).toMatch(/^k\{instance="",job="j"\} 1$/m);
  });

  it('empty PUT clears the families but keeps the group; empty POST only moves push_time_seconds', async () => {
    await gw.push('PUT', '/metrics/job/e', 'x 1\n');
    await expectStatus(await gw.push('POST', '/metrics/job/e', ''), 200);
    expect(await gw.scrapePushed()).toMatch(/^x\{instance="",job="e"\} 1$/m);
    await expectStatus(await gw.push('PUT', '/metrics/job/e', ''), 200);
    const scrape = await gw.scrapePushed();
    expect(scrape).not.toMatch(/^x\{/m);
    expect(scrape).toMatch(/^push_time_seconds\{instance="",job="e"\} \d/m);
  });

  it('DELETE removes exactly one group and answers 202, also for a group that does not exist', async () => {
    await gw.push('PUT', '/metrics/job/d', 'x 1\n');
    await gw.push('PUT', '/metrics/job/d/instance/i', 'y 1\n');
    await expectStatus(await gw.push('DELETE', '/metrics/job/d'), 202);
    const scrape = await gw.scrapePushed();
    expect(scrape).not.toMatch(/^x\{/m);
    expect(scrape).toMatch(/^y\{instance="i",job="d"\} 1$/m);
    await expectStatus(await gw.push('DELETE', '/metrics/job/nothing/here/x'), 202);
  });

  it('grouping labels override body labels and instance="" is added when absent', async () => {
    await gw.push('PUT', '/metrics/job/b/instance/i', 'm{job="other",instance="x",foo="1"} 1\n');
    await gw.push('PUT', '/metrics/job/b2', 'm2{instance="x"} 1\nm3 1\n');
    const scrape = await gw.scrapePushed();
    expect(scrape).toMatch(/^m\{foo="1",instance="i",job="b"\} 1$/m);
    expect(scrape).toMatch(/^m2\{instance="x",job="b2"\} 1$/m);
    expect(scrape).toMatch(/^m3\{instance="",job="b2"\} 1$/m);
  });

  it('reads the job and values from base64 and %2F, and keeps + literal', async () => {
    await expectStatus(await gw.push('PUT', '/metrics/job@base64/dGVzdC9qb2I/path@base64/L3Zhci90bXA', 'x 1\n'), 200);
    await expectStatus(await gw.push('PUT', '/metrics/job/a%2Fb/v/c+d', 'x 2\n'), 200);
    const scrape = await gw.scrapePushed();
    expect(scrape).toMatch(/^x\{instance="",job="test\/job",path="\/var\/tmp"\} 1$/m);
    expect(scrape).toMatch(/^x\{instance="",job="a\/b",v="c\+d"\} 2$/m);
  });

  it('takes gzip bodies', async () => {
    const res = await gw.push('PUT', '/metrics/job/gz', gzipSync('gz_metric 7\n'), { 'Content-Encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(await gw.scrapePushed()).toMatch(/^gz_metric\{instance="",job="gz"\} 7$/m);
  });

  it('accepts a body whose last line has no newline, as curl -d sends it', async () => {
    await expectStatus(await gw.push('POST', '/metrics/job/batch_processor/instance/server-01', 'process_runtime_seconds 42.125'), 200);
    expect(await gw.scrapePushed()).toMatch(/^process_runtime_seconds\{instance="server-01",job="batch_processor"\} 42.125$/m);
  });
});

describe('bad input: 400 with a one-line reason, nothing stored', () => {
  it.each([
    ['an odd label path', '/metrics/job/j/instance', 'odd number of components in label string "/instance"'],
    ['an improper label name', '/metrics/job/j/a-b/1', 'improper label name "a-b"'],
    ['an empty base64 job', '/metrics/job@base64/=', 'job name is required'],
  ])('%s', async (_name, path, message) => {
    await expectStatus(await gw.push('PUT', path, 'x 1\n'), 400, `${message}\n`);
    expect(await gw.scrapePushed()).toBe('');
  });

  it('names the line of a syntax error and records nothing', async () => {
    await expectStatus(
      await gw.push('PUT', '/metrics/job/p', 'ok 1\nblablabla\n'),
      400,
      'text format parsing error in line 2: expected float as value, got ""\n',
    );
    expect(await gw.scrapePushed()).toBe('');
  });

  it('refuses timestamps and records the failure on the group', async () => {
    const res = await gw.push('PUT', '/metrics/job/t', 'b 1 1000\n');
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('pushed metrics are invalid or inconsistent with existing metrics: pushed metrics must not have timestamps\n');
    const scrape = await gw.scrapePushed();
    expect(scrape).toMatch(/^push_time_seconds\{instance="",job="t"\} 0$/m);
    expect(scrape).toMatch(/^push_failure_time_seconds\{instance="",job="t"\} 1\.\d+e\+09$/m);
    expect(scrape).not.toMatch(/^b\{/m);
  });

  it('refuses bad gzip with the reason', async () => {
    const res = await gw.push('PUT', '/metrics/job/g', 'not gzip', { 'Content-Encoding': 'gzip' });
    expect(res.status).toBe(400);
    expect((await res.text()).split('\n').length).toBe(2);
  });
});

describe('consistency across groups', () => {
  it('refuses a name with another type in another group, and keeps what is stored', async () => {
    await expectStatus(await gw.push('PUT', '/metrics/job/a', '# TYPE tc counter\ntc 1\n'), 200);
    const before = await gw.scrapePushed();
    const res = await gw.push('PUT', '/metrics/job/b', '# TYPE tc gauge\ntc 2\n');
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/^pushed metrics are invalid or inconsistent with existing metrics: .*tc.*\n$/);
    const after = await gw.scrapePushed();
    expect(after).not.toMatch(/^tc\{instance="",job="b"\}/m);
    expect(after).toMatch(/^push_failure_time_seconds\{instance="",job="b"\} 1\.\d+e\+09$/m);
    expect(after.replace(/^push_.*job="b".*\n/gm, '')).toBe(before);
  });

  it('refuses bad pushes committed together with good ones without touching the others', async () => {
    await expectStatus(await gw.push('PUT', '/metrics/job/base', '# TYPE shared counter\nshared 1\n'), 200);
    await expectStatus(await gw.push('PUT', '/metrics/job/held/instance/x', '# TYPE shared counter\nshared 1\n'), 200);
    // Started in one go on the service, so that on SQLite they all queue for one transaction
    // (group commit): a type clash (refused by the check before any write) and a duplicate series
    // (refused by the unique index after the push has written rows) must each roll back alone.
    const kinds = Array.from({ length: 60 }, (_, i) => (i % 6 === 1 ? 'clash' : i % 6 === 4 ? 'dup' : 'ok'));
    const push = (path: string, body: string) =>
      gw.service.push({ key: parseGroupingPath(path, { utf8Names: false }), families: parseText(body), replace: true, timeSeconds: Date.now() / 1000 });
    const outcomes = await Promise.allSettled(
      kinds.map((kind, i) =>
        kind === 'ok'
          ? push(`/job/ok${i}`, `# TYPE shared counter\nshared{n="${i}"} ${i}\nown_${i} ${i}\n`)
          : kind === 'clash'
            ? push(`/job/bad${i}`, `# TYPE shared gauge\nshared{n="${i}"} 1\nbad_${i} 1\n`)
            : push('/job/held', `bad_${i} 1\n# TYPE shared counter\nshared{instance="x"} 2\n`),
      ),
    );
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : o.reason instanceof PushError && o.reason.kind))).toEqual(
      kinds.map((kind) => (kind === 'ok' ? 'ok' : 'inconsistent')),
    );
    const scrape = await gw.scrapePushed();
    kinds.forEach((kind, i) => {
      if (kind === 'ok') expect(scrape).toMatch(new RegExp(`^own_${i}\\{instance="",job="ok${i}"\\} ${i}$`, 'm'));
    });
    expect(scrape).not.toMatch(/^bad_/m);
    expect(scrape).toMatch(/^shared\{instance="",job="base"\} 1$/m);
    expect(scrape).toMatch(/^shared\{instance="x",job="held"\} 1$/m);
    // The ten groups of the clashes, and the one group all duplicates went to.
    expect(scrape.match(/^push_failure_time_seconds\{.*\} 1\.\d+e\+09$/gm)).toHaveLength(11);
    // What the database holds, not only the cache: a refused push left no row behind.
    await gw.close();
    gw = await startTestServer({ database: gw.database });
    expect(await gw.scrapePushed()).toBe(scrape);
  });

  it('lets a group change the type of a name only it holds', async () => {
    await gw.push('PUT', '/metrics/job/a', '# TYPE solo counter\nsolo 1\n');
    await expectStatus(await gw.push('PUT', '/metrics/job/a', '# TYPE solo gauge\nsolo 2\n'), 200);
    expect(await gw.scrapePushed()).toMatch(/^# TYPE solo gauge$/m);
  });

  it('refuses a series that another group already exposes', async () => {
    await expectStatus(await gw.push('PUT', '/metrics/job/g5/instance/i', 'x 1\n'), 200);
    const res = await gw.push('PUT', '/metrics/job/g5', 'x{instance="i"} 2\n');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('already pushed by group {instance="i",job="g5"}');
    expect(await gw.scrapePushed()).toMatch(/^x\{instance="i",job="g5"\} 1$/m);
  });

  it('refuses a summary next to a family named like its _count', async () => {
    await gw.push('PUT', '/metrics/job/a', '# TYPE sc summary\nsc_sum 1\nsc_count 1\n');
    const res = await gw.push('PUT', '/metrics/job/b', 'sc_count{x="y"} 3\n');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('"sc_count" collides with summary named "sc"');
  });

  it("refuses a type clash with the gateway's own families", async () => {
    const res = await gw.push('PUT', '/metrics/job/a', '# TYPE pushgateway_http_requests_total gauge\npushgateway_http_requests_total 1\n');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("gateway's own family");
  });

  it('treats /instance/ (empty) and no instance as one group instead of poisoning the store', async () => {
    await expectStatus(await gw.push('PUT', '/metrics/job/j', 'a 1\n'), 200);
    await expectStatus(await gw.push('PUT', '/metrics/job/j/instance/', 'a 2\n'), 200);
    await expectStatus(await gw.push('PUT', '/metrics/job/j/instance@base64/=', 'a 3\n'), 200);
    const scrape = await gw.scrapePushed();
    expect(scrape.match(/^push_time_seconds.*$/gm)).toHaveLength(1);
    expect(scrape).toMatch(/^a\{instance="",job="j"\} 3$/m);
    await expectStatus(await gw.push('PUT', '/metrics/job/other', 'b 1\n'), 200);
  });

  it('with --push.disable-consistency-check answers 202 but still refuses what would break scrapes', async () => {
    await gw.close();
    gw = await startFresh({ consistencyCheck: false });
    await expectStatus(await gw.push('PUT', '/metrics/job/a', '# TYPE tc counter\ntc 1\n'), 202);
    await expectStatus(await gw.push('PUT', '/metrics/job/b', '# TYPE tc gauge\ntc 2\n'), 202);
    const res = await fetch(`${gw.url}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^# TYPE tc counter$/m);
  });
});

describe('scrape', () => {
  it('merges a family across groups, sorts series as the official does, writes floats as Go does', async () => {
    await gw.push('PUT', '/metrics/job/z', 'v 1234567\n');
    await gw.push('PUT', '/metrics/job/a/instance/x', 'v 0.00001234\n');
    await gw.push('PUT', '/metrics/job/directory_cleaner/path/%2Fvar%2Ftmp', 'v 1e6\n');
    const scrape = await gw.scrapePushed();
    expect(scrape.match(/^v\{.*$/gm)).toEqual([
      'v{instance="",job="z"} 1.234567e+06',
      'v{instance="x",job="a"} 1.234e-05',
      'v{instance="",job="directory_cleaner",path="/var/tmp"} 1e+06',
    ]);
    expect(scrape.match(/^# TYPE v untyped$/gm)).toHaveLength(1);
  });

  it('renders summaries and histograms with quantile and le last, and the implicit +Inf bucket', async () => {
    await gw.push(
      'PUT',
      '/metrics/job/o',
      '# TYPE s summary\ns{zz="1",quantile="0.5"} 1\ns_sum{zz="1"} 1\ns_count{zz="1"} 1\n' +
        '# TYPE h histogram\nh_bucket{zz="1",le="0.1"} 1\nh_bucket{zz="1",le="1e+06"} 2\nh_sum{zz="1"} 3\nh_count{zz="1"} 4\n',
    );
    const scrape = await gw.scrapePushed();
    expect(scrape).toContain(
      [
        '# TYPE h histogram',
        'h_bucket{instance="",job="o",zz="1",le="0.1"} 1',
        'h_bucket{instance="",job="o",zz="1",le="1e+06"} 2',
        'h_bucket{instance="",job="o",zz="1",le="+Inf"} 4',
        'h_sum{instance="",job="o",zz="1"} 3',
        'h_count{instance="",job="o",zz="1"} 4',
      ].join('\n'),
    );
    expect(scrape).toContain(
      [
        '# TYPE s summary',
        's{instance="",job="o",zz="1",quantile="0.5"} 1',
        's_sum{instance="",job="o",zz="1"} 1',
        's_count{instance="",job="o",zz="1"} 1',
      ].join('\n'),
    );
  });

  it('serves the official content type, gzip on request, and own metrics', async () => {
    await gw.push('PUT', '/metrics/job/a', 'x 1\n');
    const res = await fetch(`${gw.url}/metrics`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers.get('content-encoding')).toBe('gzip');
    const text = await res.text();
    expect(text).toMatch(/^pushgateway_http_requests_total\{code="200",handler="push",method="put"\} 1$/m);
    expect(text).toMatch(/^pushgateway_build_info\{/m);
    expect(text).toMatch(/^pushkeep_groups 1$/m);
    expect(text).toMatch(/^pushkeep_series 1$/m);
  });

  it('answers unknown paths with 404 and wrong methods with 405', async () => {
    await expectStatus(await fetch(`${gw.url}/nope`), 404, '404 page not found\n');
    const res = await fetch(`${gw.url}/metrics/job/x`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('DELETE, OPTIONS, POST, PUT');
  });
});

describe('restart', () => {
  it('a re-push of the same series changes their values in the scrape, in SQL and after a reopen', async () => {
    const body = (v: string) => `# TYPE g gauge\ng{a="x"} ${v}\ng{a="y"} 1\n# TYPE s summary\ns{quantile="0.5"} ${v}\ns_sum 2\ns_count 3\n`;
    await gw.push('PUT', '/metrics/job/v', body('1'));
    await gw.push('PUT', '/metrics/job/w', 'g{a="z"} 9\n');
    for (const [method, v] of [
      ['POST', 'NaN'],
      ['PUT', '+Inf'],
      ['POST', '-7.5'],
    ] as const) {
      expect((await gw.push(method, '/metrics/job/v', body(v))).status).toBe(200);
      const scrape = await gw.scrapePushed();
      expect(scrape).toContain(`g{a="x",instance="",job="v"} ${v}\n`);
      expect(scrape).toContain(`s{instance="",job="v",quantile="0.5"} ${v}\n`);
      const db = await openReadOnly(gw.database);
      try {
        const { rows } = await db.query("SELECT metric_name, labels_json, value FROM pushed_samples WHERE job = 'v' ORDER BY metric_name, labels_json");
        const value = v === 'NaN' ? null : v === '+Inf' ? Infinity : Number(v);
        expect(rows.map((r) => [r[0], r[2]])).toEqual([
          ['g', value],
          ['g', 1],
          ['s', value],
          ['s_count', 3],
          ['s_sum', 2],
        ]);
      } finally {
        await db.close();
      }
    }
    const before = await gw.scrapePushed();
    await gw.close();
    gw = await startTestServer({ database: gw.database });
    expect(await gw.scrapePushed()).toBe(before);
  });

  it('a re-push of a family of many series sets each its own value, in the order first pushed or another', async () => {
    const series = Array.from({ length: 60 }, (_, i) => i);
    const body = (order: readonly number[], value: (i: number) => number) =>
      `# TYPE big gauge\n${order.map((i) => `big{i="${i}"} ${value(i)}\n`).join('')}# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n`;
    const stored = async () => {
      const db = await openReadOnly(gw.database);
      try {
        const { rows } = await db.query("SELECT labels_json, value FROM pushed_samples WHERE job = 'big' AND metric_name = 'big'");
        return new Map(rows.map((r) => [JSON.parse(r[0] as string).i as string, r[1]]));
      } finally {
        await db.close();
      }
    };
    const expectValues = async (value: (i: number) => number) => {
      const scrape = await gw.scrapePushed();
      const db = await stored();
      for (const i of series) {
        expect(scrape).toContain(`big{i="${i}",instance="",job="big"} ${value(i)}\n`);
        expect(db.get(String(i))).toBe(value(i));
      }
    };
    await gw.push(
      'PUT',
      '/metrics/job/big',
      body(series, (i) => i),
    );
    const reversed = [...series].reverse();
    const shuffled = series.map((_, k) => (k * 7) % series.length);
    for (const [order, value] of [
      [series, (i: number) => i * 2],
      [series, (i: number) => i * 2],
      [reversed, (i: number) => i * 3],
      [reversed, (i: number) => (i % 2 === 0 ? i * 3 : -i)],
      [shuffled, (i: number) => i + 0.5],
      [series, (i: number) => i * 4],
    ] as const) {
      expect((await gw.push('PUT', '/metrics/job/big', body(order, value))).status).toBe(200);
      await expectValues(value);
    }
    await gw.close();
    gw = await startTestServer({ database: gw.database });
    await expectValues((i) => i * 4);
    // A row written into the family outside the gateway: its rows no longer line up with its
    // series, which a re-push then finds by their labels.
    await gw.close();
    await withDatabase(gw.database, async (db) => {
      const row = await db.selectFrom('metric_sample').selectAll().where('metric_name', '=', 'big').limit(1).executeTakeFirstOrThrow();
      await db
        .insertInto('metric_sample')
        .values({ ...row, labels_json: '{"i":"written by hand"}' })
        .execute();
    });
    gw = await startTestServer({ database: gw.database });
    expect(
      (
        await gw.push(
          'PUT',
          '/metrics/job/big',
          body(series, (i) => i * 5),
        )
      ).status,
    ).toBe(200);
    await expectValues((i) => i * 5);
  });
  it('serves the same scrape after the process reopens the same database, with or without the renderings kept', async () => {
    await gw.push('PUT', '/metrics/job/r/instance/i', '# HELP r_total Help.\n# TYPE r_total counter\nr_total{a="x"} 5\n');
    await gw.push('PUT', '/metrics/job/t', 'b 1 1000\n');
    await gw.push(
      'PUT',
      '/metrics/job/h',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum -0\nh_count 2\n# TYPE g gauge\ng{v="a\\"b"} NaN\ng -Inf\n',
    );
    const before = await gw.scrapePushed();
    // As pushed; as rows written before migration 0005 hold them; as another version wrote them.
    for (const kept of [undefined, null, '[0,[],[]]']) {
      await gw.close();
      if (kept !== undefined) await withDatabase(gw.database, (db) => db.updateTable('metric_family').set({ rendered_series_json: kept }).execute());
      gw = await startTestServer({ database: gw.database });
      expect(await gw.scrapePushed()).toBe(before);
    }
  });

  it('starts from the rendering kept with the series instead of rendering them again', async () => {
    await gw.push('PUT', '/metrics/job/r', 'r 5\n');
    await gw.close();
    // A kept rendering that differs from the series: the start shows it, so it read the rendering.
    await withDatabase(gw.database, async (db) => {
      const row = await db.selectFrom('metric_family').select('rendered_series_json').where('name', '=', 'r').executeTakeFirstOrThrow();
      expect(row.rendered_series_json).toContain(' 5\\n');
      await db
        .updateTable('metric_family')
        .set({ rendered_series_json: row.rendered_series_json!.replace(' 5\\n', ' 6\\n') })
        .execute();
    });
    gw = await startTestServer({ database: gw.database });
    expect(await gw.scrapePushed()).toMatch(/^r\{instance="",job="r"\} 6$/m);
  });

  it("keeps each family's series digest true to its stored series, whatever path a push takes", async () => {
    const samples = async () => (await gw.scrapePushed()).split('\n').filter((l) => l.startsWith('d{'));
    // Each family's digest against its metric_sample rows; null where none is stored.
    const digests = async () => {
      const found: Record<string, boolean | null> = {};
      await withDatabase(gw.database, async (db) => {
        for (const f of await db.selectFrom('metric_family').select(['id', 'name', 'series_digest']).execute()) {
          const rows = await db.selectFrom('metric_sample').select(['metric_name', 'labels_json']).where('family_id', '=', f.id).execute();
          found[f.name] = f.series_digest === null ? null : f.series_digest === seriesDigest(rows);
        }
      });
      return found;
    };
    await gw.push('PUT', '/metrics/job/d', '# TYPE d gauge\nd{a="1"} 1\nd{a="2"} 2\n# TYPE e counter\ne 1\n');
    expect(await digests()).toEqual({ d: true, e: true });
    // The same series again: values in place.
    await gw.push('POST', '/metrics/job/d', '# TYPE d gauge\nd{a="2"} 4\nd{a="1"} 3\n');
    expect(await digests()).toEqual({ d: true, e: true });
    // As rows written before migration 0006 hold them: the push reads the series back and stores a digest.
    await gw.close();
    await withDatabase(gw.database, (db) => db.updateTable('metric_family').set({ series_digest: null }).execute());
    gw = await startTestServer({ database: gw.database });
    expect(await digests()).toEqual({ d: null, e: null });
    await gw.push('POST', '/metrics/job/d', '# TYPE d gauge\nd{a="1"} 5\nd{a="2"} 6\n');
    expect(await digests()).toEqual({ d: true, e: null });
    // As many series, other ones: replaced, not updated in place.
    await gw.push('POST', '/metrics/job/d', '# TYPE d gauge\nd{a="1"} 7\nd{a="3"} 8\n');
    expect(await digests()).toEqual({ d: true, e: null });
    expect(await samples()).toEqual(['d{a="1",instance="",job="d"} 7', 'd{a="3",instance="",job="d"} 8']);
    await gw.close();
    gw = await startTestServer({ database: gw.database });
    expect(await samples()).toEqual(['d{a="1",instance="",job="d"} 7', 'd{a="3",instance="",job="d"} 8']);
    await withDatabase(gw.database, async (db) => {
      const rows = await db.selectFrom('metric_sample').select(['labels_json', 'value']).where('metric_name', '=', 'd').orderBy('labels_json').execute();
      expect(rows).toEqual([
        { labels_json: '{"a":"1","instance":"","job":"d"}', value: 7 },
        { labels_json: '{"a":"3","instance":"","job":"d"}', value: 8 },
      ]);
    });
  });
});

async function withDatabase(options: DatabaseOptions, work: (db: Kysely<Database>) => Promise<unknown>): Promise<void> {
  const open = openDatabase(options);
  try {
    await work(open.db);
  } finally {
    await open.close();
  }
}
