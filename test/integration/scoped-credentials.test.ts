/**
 * Scoped credentials (`{roles: [...], groups: '<selector>'}` in pushkeep_authorization): one shared
 * gateway for two teams, a Prometheus credential and scoped admins, with basic users and bearer
 * tokens, on SQLite and PostgreSQL. Writes across teams are refused and change nothing, scoped reads
 * and scrapes (every format) show only the scope's groups, scoped wipes and deletes stay inside the
 * scope, and a reload changes a scope.
 */
import { execFile, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDelimited } from '../../src/exposition/protobuf/decode.js';
import { parseOpenMetrics } from '../../src/exposition/openmetrics-parser.js';
import { parseText } from '../../src/exposition/text-parser.js';
import { parseWebConfig, WebConfigError } from '../../src/security/web-config.js';
import { openReadOnly } from '../../src/store/dialect/open-database.js';
import { describeDialects, dropDatabases } from '../helpers/dialects.js';
import { startTestServer, stripOwnFamilies, type TestServer } from '../helpers/test-server.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-scoped-'));
const file = (name: string) => path.join(dir, name);
const HASH = bcrypt.hashSync('s3cret', 4);
const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

const TOKENS = { ciA: 'ci-a-token-0123456789', ciB: 'ci-b-token-0123456789', adminB: 'admin-b-token-0123456789' };
const SCOPE_A = '{job=~"team_a_.*"}';
const SCOPE_B = '{job=~"team_b_.*"}';

function config(scopeA = SCOPE_A): string {
  return `basic_auth_users:
  team-a: ${HASH}
  team-b: ${HASH}
  team-a-admin: ${HASH}
  prometheus: ${HASH}
  ops: ${HASH}
pushkeep_authorization:
  users:
    team-a: {roles: [push, scrape, read], groups: '${scopeA}'}
    team-b: {roles: [push, scrape, read], groups: '${SCOPE_B}'}
    team-a-admin:
      roles: [admin, read]
      groups: '${scopeA}'
    prometheus: [scrape]
    ops: [admin, push, scrape, read, health]
  bearer_tokens:
    - name: ci-a
      sha256: ${sha256(TOKENS.ciA)}
      roles: [push, scrape, read]
      groups: '${scopeA}'
    - name: ci-b
      sha256: ${sha256(TOKENS.ciB)}
      roles: [push, scrape, read]
      groups: '${SCOPE_B}'
    - name: admin-b
      sha256: ${sha256(TOKENS.adminB)}
      roles: [admin, read]
      groups: '${SCOPE_B}'
`;
}

type Who = 'team-a' | 'team-b' | 'team-a-admin' | 'prometheus' | 'ops' | keyof typeof TOKENS;

function authorization(who: Who): string {
  if (who in TOKENS) return `Bearer ${TOKENS[who as keyof typeof TOKENS]}`;
  return `Basic ${Buffer.from(`${who}:s3cret`).toString('base64')}`;
}

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
  readonly text: string;
}

async function call(server: TestServer, who: Who, method: string, p: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${server.url}${p}`, { method, headers: { Authorization: authorization(who), ...headers }, ...(body !== undefined ? { body } : {}) });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body: bytes, text: bytes.toString() };
}

/** Every pushed series (and timestamp gauge) as the unscoped ops credential scrapes it. */
async function pushedAsOps(server: TestServer): Promise<string> {
  return stripOwnFamilies((await call(server, 'ops', 'GET', '/metrics')).text);
}

/** A text scrape with only the series of jobs `keep` accepts: families left without series go, their HELP/TYPE with them. */
function keepJobs(scrape: string, keep: (job: string) => boolean): string {
  const out: string[] = [];
  let header: string[] = [];
  let samples: string[] = [];
  let inSamples = false;
  const flush = () => {
    if (samples.length > 0) out.push(...header, ...samples);
    header = [];
    samples = [];
    inSamples = false;
  };
  for (const line of scrape.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      if (inSamples) flush();
      header.push(line);
      continue;
    }
    inSamples = true;
    const job = /[{,]job="([^"]*)"/.exec(line)?.[1] ?? '';
    if (keep(job)) samples.push(line);
  }
  flush();
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
    child.stdin!.end(text);
  });
}

// Both teams push a family of the same name (merged per family in a scrape), plus their own.
const PUSHES: [Who, string, string][] = [
  [
    'team-a',
    '/metrics/job/team_a_backup/instance/db1',
    '# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total{kind="full"} 3\n# HELP team_a_only A.\nteam_a_only 1\n',
  ],
  [
    'ciA',
    '/metrics/job/team_a_etl',
    '# TYPE jobs_total counter\njobs_total{kind="incr"} 7\n# HELP lag_seconds Lag.\n# TYPE lag_seconds histogram\nlag_seconds_bucket{le="1"} 1\nlag_seconds_bucket{le="+Inf"} 2\nlag_seconds_sum 3\nlag_seconds_count 2\n',
  ],
  [
    'team-b',
    '/metrics/job/team_b_backup/instance/db1',
    '# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total{kind="full"} 5\n# HELP team_b_only B.\nteam_b_only 2\n',
  ],
  ['ciB', '/metrics/job/team_b_report', '# TYPE jobs_total counter\njobs_total{kind="report"} 1\n'],
];

async function pushAll(server: TestServer): Promise<void> {
  for (const [who, p, body] of PUSHES) expect((await call(server, who, 'PUT', p, body)).status, `${who} PUT ${p}`).toBe(200);
}

describeDialects('scoped credentials: a gateway shared by two teams', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    fs.writeFileSync(file(`shared-${dialect.name}.yml`), config());
    server = await startTestServer({
      database: await dialect.freshDatabase(),
      webConfigFile: file(`shared-${dialect.name}.yml`),
      adminApi: true,
      lifecycle: true,
      history: { retentionSeconds: 0, flushDelayMs: 10 },
    });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await dropDatabases();
  });

  it('refuses pushes and deletes across teams with 403, stores nothing and records the refusal', async () => {
    await pushAll(server);
    const before = await pushedAsOps(server);
    const cases: [Who, string, string][] = [
      ['team-a', '/metrics/job/team_b_backup/instance/db1', 'Forbidden: user "team-a" may only push to groups matching {job=~"team_a_.*"}'],
      ['ciA', '/metrics/job/team_b_report', 'Forbidden: token "ci-a" may only push to groups matching {job=~"team_a_.*"}'],
      ['team-b', '/metrics/job/team_a_etl', 'Forbidden: user "team-b" may only push to groups matching {job=~"team_b_.*"}'],
      ['ciB', '/metrics/job/shared/instance/team_b_x', 'Forbidden: token "ci-b" may only push to groups matching {job=~"team_b_.*"}'],
    ];
    for (const [who, p, message] of cases) {
      for (const method of ['PUT', 'POST', 'DELETE']) {
        const reply = await call(server, who, method, p, method === 'DELETE' ? undefined : 'jobs_total{kind="evil"} 666\n');
        expect(reply.status, `${who} ${method} ${p}`).toBe(403);
        expect(reply.text).toBe(`${message}\n`);
      }
    }
    // The other team's data, timestamp gauges included, is byte for byte what it was.
    expect(await pushedAsOps(server)).toBe(before);
    await server.history.flush();
    const db = await openReadOnly(server.database);
    try {
      const result = await db.query('SELECT method, job, status_code, outcome, reason FROM push_history WHERE status_code = 403 ORDER BY time_seconds, method');
      expect(result.rows).toHaveLength(12);
      const rows = result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c, r[i]])));
      expect(rows.map((r) => r['outcome'])).toEqual(Array(12).fill('rejected'));
      expect(rows.map((r) => r['reason'])).toContain(cases[0]![2]);
      expect(rows.map((r) => r['reason'])).toContain(cases[1]![2]);
      expect(rows.filter((r) => r['job'] === 'team_b_backup')).toHaveLength(3);
    } finally {
      await db.close();
    }
  });

  it('checks an OTLP request against the group of every resource it carries, before storing any', async () => {
    await pushAll(server);
    const before = await pushedAsOps(server);
    const resource = (service: string) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeMetrics: [{ metrics: [{ name: 'otel.runs', gauge: { dataPoints: [{ asInt: '1', timeUnixNano: '1' }] } }] }],
    });
    const json = { 'Content-Type': 'application/json' };
    // One resource in the scope and one outside: refused whole.
    const mixed = await call(
      server,
      'team-a',
      'POST',
      '/v1/metrics',
      JSON.stringify({ resourceMetrics: [resource('team_a_otel'), resource('team_b_otel')] }),
      json,
    );
    expect(mixed.status).toBe(403);
    // A google.rpc.Status in the request's encoding, as OTLP/HTTP answers errors.
    expect(JSON.parse(mixed.text)).toEqual({ code: 7, message: 'Forbidden: user "team-a" may only push to groups matching {job=~"team_a_.*"}' });
    expect(await pushedAsOps(server)).toBe(before);
    const own = await call(server, 'team-a', 'POST', '/v1/metrics', JSON.stringify({ resourceMetrics: [resource('team_a_otel')] }), json);
    expect(own.status).toBe(200);
    expect(await pushedAsOps(server)).toContain('otel_runs{instance="",job="team_a_otel"} 1');
    // The suite's later tests expect the groups pushAll makes, and only those.
    expect((await call(server, 'team-a', 'DELETE', '/metrics/job/team_a_otel')).status).toBe(202);
  });

  it("a scoped scrape shows only its own groups, merged and ordered per family, without the gateway's own metrics", async () => {
    await pushAll(server);
    const all = await pushedAsOps(server);
    for (const [who, team] of [
      ['team-a', 'team_a_'],
      ['ciB', 'team_b_'],
    ] as const) {
      const reply = await call(server, who, 'GET', '/metrics');
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(reply.text).toBe(keepJobs(all, (job) => job.startsWith(team)));
      expect(reply.text).toMatch(new RegExp(`^push_time_seconds\\{instance="db1",job="${team}backup"\\} \\d`, 'm'));
      expect(reply.text).toMatch(new RegExp(`^push_failure_time_seconds\\{instance="db1",job="${team}backup"\\} 0$`, 'm'));
      expect(reply.text).not.toMatch(/pushgateway_|process_|nodejs_|pushkeep_/);
      expect(reply.text).not.toContain(team === 'team_a_' ? 'team_b_' : 'team_a_');
    }
    // Prometheus' unscoped credential sees both teams and the gateway's own metrics, as today.
    const prometheus = (await call(server, 'prometheus', 'GET', '/metrics')).text;
    expect(prometheus).toMatch(/^pushgateway_build_info/m);
    expect(stripOwnFamilies(prometheus)).toBe(all);
  });

  it('a scoped scrape is the same in OpenMetrics, protobuf and gzip, and promtool accepts it', async () => {
    await pushAll(server);
    const text = (await call(server, 'team-a', 'GET', '/metrics')).text;
    const families = parseText(text);
    expect(families.map((f) => f.name)).toEqual(['jobs_total', 'lag_seconds', 'push_failure_time_seconds', 'push_time_seconds', 'team_a_only']);
    expect(families[0]!.metrics.map((m) => m.labels.find((l) => l.name === 'kind')?.value)).toEqual(['incr', 'full']);

    // Each format is the unscoped ops scrape in that format with team B's series and the own families left out.
    const OM = { Accept: 'application/openmetrics-text; version=1.0.0' };
    const om = await call(server, 'ciA', 'GET', '/metrics', undefined, OM);
    expect(om.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
    expect(om.text).toBe(`${keepJobs((await call(server, 'ops', 'GET', '/metrics', undefined, OM)).text, (job) => job.startsWith('team_a_'))}# EOF\n`);
    expect(parseOpenMetrics(om.text).map((f) => f.name)).toEqual([
      'jobs_total',
      'lag_seconds',
      'push_failure_time_seconds',
      'push_time_seconds',
      'team_a_only',
    ]);

    const PB = { Accept: 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited' };
    const decoded = decodeDelimited((await call(server, 'team-a', 'GET', '/metrics', undefined, PB)).body);
    const jobOf = (m: { labels: readonly { name: string; value: string }[] }) => m.labels.find((l) => l.name === 'job')?.value ?? '';
    const expected = decodeDelimited((await call(server, 'ops', 'GET', '/metrics', undefined, PB)).body)
      .map((f) => ({ ...f, metrics: f.metrics.filter((m) => jobOf(m).startsWith('team_a_')) }))
      .filter((f) => f.metrics.length > 0);
    expect(decoded).toEqual(expected);
    expect(decoded.map((f) => [f.name, f.type, f.metrics.length])).toEqual(families.map((f) => [f.name, f.type, f.metrics.length]));

    const gz = await fetch(`${server.url}/metrics`, { headers: { Authorization: authorization('ciA'), 'Accept-Encoding': 'gzip' } });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    // fetch decodes gzip itself; the raw bytes are checked through node's zlib below.
    expect(await gz.text()).toBe(text);
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const url = new URL(server.url);
      http
        .get(
          { host: url.hostname, port: url.port, path: '/metrics', headers: { Authorization: authorization('team-a'), 'Accept-Encoding': 'gzip' } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks)));
          },
        )
        .on('error', reject);
    });
    expect(zlib.gunzipSync(raw).toString()).toBe(text);

    if (!hasPromtool) return console.warn('promtool not runnable: skipping its check of the scoped scrape');
    expect(await promtoolCheckMetrics(text)).toEqual({ code: 0, output: '' });
  });

  it('/api/v1/metrics, the UI and the status page show a scoped credential only its own groups', async () => {
    await pushAll(server);
    const jobs = async (who: Who) => {
      const reply = await call(server, who, 'GET', '/api/v1/metrics');
      expect(reply.status).toBe(200);
      const data = (JSON.parse(reply.text) as { data: { labels: Record<string, string>; push_time_seconds: unknown; push_failure_time_seconds: unknown }[] })
        .data;
      for (const group of data) {
        expect(group.push_time_seconds).toBeDefined();
        expect(group.push_failure_time_seconds).toBeDefined();
      }
      return data.map((g) => g.labels['job']).sort();
    };
    expect(await jobs('team-a')).toEqual(['team_a_backup', 'team_a_etl']);
    expect(await jobs('ciB')).toEqual(['team_b_backup', 'team_b_report']);
    expect(await jobs('team-a-admin')).toEqual(['team_a_backup', 'team_a_etl']);
    expect(await jobs('ops')).toEqual(['team_a_backup', 'team_a_etl', 'team_b_backup', 'team_b_report']);

    const page = (await call(server, 'team-b', 'GET', '/')).text;
    expect(page).toContain('team_b_backup');
    expect(page).not.toContain('team_a_');
    expect((await call(server, 'ops', 'GET', '/')).text).toContain('team_a_backup');
  });

  it('a scoped wipe and a scoped delete-by-matcher delete only inside the scope and count only that', async () => {
    await pushAll(server);
    expect((await call(server, 'team-a-admin', 'PUT', '/api/v1/admin/wipe')).status).toBe(202);
    let left = await pushedAsOps(server);
    expect(left).not.toContain('team_a_');
    expect(left).toContain('job="team_b_backup"');
    expect(left).toContain('job="team_b_report"');

    await pushAll(server);
    const before = await pushedAsOps(server);
    // Selects every group; the token's scope narrows it to team B's two.
    const reply = await call(server, 'adminB', 'DELETE', `/api/v1/admin/groups?match[]=${encodeURIComponent('{job=~".+"}')}`);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toEqual({ status: 'success', data: { deleted: 2 } });
    left = await pushedAsOps(server);
    expect(left).toBe(keepJobs(before, (job) => job.startsWith('team_a_')));
    // A selection disjoint from the scope deletes nothing.
    const none = await call(server, 'adminB', 'DELETE', `/api/v1/admin/groups?match[]=${encodeURIComponent('{job="team_a_etl"}')}`);
    expect(JSON.parse(none.text)).toEqual({ status: 'success', data: { deleted: 0 } });
    expect(await pushedAsOps(server)).toBe(left);
  });

  it('a scoped admin may not stop or reload the whole gateway; an unscoped one still may reach them', async () => {
    const quit = await call(server, 'team-a-admin', 'POST', '/-/quit');
    expect(quit.status).toBe(403);
    expect(quit.text).toBe('Forbidden: user "team-a-admin" may only act on groups matching {job=~"team_a_.*"}, not on the whole gateway\n');
    expect((await call(server, 'adminB', 'POST', '/-/reload')).status).toBe(403);
    expect((await call(server, 'ops', 'POST', '/-/reload')).status).toBe(200);
  });

  it('a reload changes a scope', async () => {
    const cfg = file(`reload-${dialect.name}.yml`);
    fs.writeFileSync(cfg, config());
    const s = await startTestServer({ database: await dialect.freshDatabase(), webConfigFile: cfg });
    try {
      expect((await call(s, 'team-a', 'PUT', '/metrics/job/team_a_x', 'm 1\n')).status).toBe(200);
      expect((await call(s, 'ciA', 'PUT', '/metrics/job/team_c_x', 'm 1\n')).status).toBe(403);
      fs.writeFileSync(cfg, config('{job=~"team_c_.*"}'));
      await new Promise((r) => setTimeout(r, 1100));
      expect((await call(s, 'ciA', 'PUT', '/metrics/job/team_c_x', 'm 2\n')).status).toBe(200);
      const refused = await call(s, 'team-a', 'PUT', '/metrics/job/team_a_x', 'm 2\n');
      expect(refused.text).toBe('Forbidden: user "team-a" may only push to groups matching {job=~"team_c_.*"}\n');
      expect((await call(s, 'team-a', 'GET', '/metrics')).text).toBe(
        keepJobs(stripOwnFamilies((await call(s, 'ops', 'GET', '/metrics')).text), (j) => j === 'team_c_x'),
      );
      // A broken selector in an edit is refused; the last good scopes keep serving.
      fs.writeFileSync(cfg, config('{job=~"team_(c"}'));
      await new Promise((r) => setTimeout(r, 1100));
      expect((await call(s, 'ciA', 'PUT', '/metrics/job/team_c_x', 'm 3\n')).status).toBe(200);
      expect((await call(s, 'ciA', 'PUT', '/metrics/job/team_a_x', 'm 3\n')).status).toBe(403);
    } finally {
      await s.close();
    }
  });
});

describe('scoped credential parsing', () => {
  const parse = (text: string) => parseWebConfig(text, file('scoped.yml'));
  const users = `basic_auth_users:\n  a: ${HASH}\npushkeep_authorization:\n  users:\n`;

  it('reads the scoped form for users and tokens, and keeps the list form unscoped', () => {
    const auth = parse(
      `${users}    a: {roles: [push, read], groups: '{ job =~ "team_a_.*" , env="prod"}'}\n  bearer_tokens:\n    - name: t\n      sha256: ${sha256('x')}\n      roles: [scrape]\n      groups: job="b"\n    - name: u\n      sha256: ${sha256('y')}\n      roles: [scrape]\n`,
    ).authorization!;
    expect([...auth.users.get('a')!.roles]).toEqual(['push', 'read']);
    expect(String(auth.users.get('a')!.scope)).toBe('{job=~"team_a_.*",env="prod"}');
    expect(String(auth.tokens[0]!.scope)).toBe('{job="b"}');
    expect(auth.tokens[1]!.scope).toBeUndefined();
    expect(parse(`${users}    a: [push]\n`).authorization!.users.get('a')!.scope).toBeUndefined();
  });

  it.each([
    [
      'a bad regex',
      `${users}    a: {roles: [push], groups: '{job=~"team_(a"}'}\n`,
      /line 5: pushkeep_authorization: users\.a: groups: invalid matcher .*bad regular expression/,
    ],
    ['an unterminated selector', `${users}    a:\n      roles: [push]\n      groups: '{job="a"'\n`, /line 7: .*users\.a: groups: invalid matcher/],
    ['an empty selector', `${users}    a: {roles: [push], groups: '{}'}\n`, /line 5: .*at least one matcher is needed/],
    ['an unknown key', `${users}    a: {roles: [push], group: '{job="a"}'}\n`, /line 5: field group not found in type scoped credential/],
    [
      "a token's bad selector",
      `pushkeep_authorization:\n  bearer_tokens:\n    - name: t\n      sha256: ${sha256('x')}\n      roles: [push]\n      groups: '{job~"a"}'\n`,
      /line 6: .*bearer_tokens\.t: groups: invalid matcher/,
    ],
  ])('refuses %s with the file, the line and the reason', (_what, text, message) => {
    expect(() => parse(text)).toThrow(WebConfigError);
    expect(() => parse(text)).toThrow(message);
    expect(() => parse(text)).toThrow(/^web config file ".*scoped\.yml": /);
  });

  it('refuses to start on a bad selector', async () => {
    fs.writeFileSync(file('bad-scope.yml'), `${users}    a: {roles: [push], groups: 'job=~"("'}\n`);
    await expect(startTestServer({ webConfigFile: file('bad-scope.yml') })).rejects.toThrow(/bad-scope\.yml": line 5: .*bad regular expression/);
  });
});
