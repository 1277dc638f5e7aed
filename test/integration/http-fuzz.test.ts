/**
 * 10,000 random and mutated requests (methods, paths, headers including Pushkeep-Aggregation and
 * Idempotency-Key, bodies, encodings) against a live
 * in-process Pushkeep over a few keep-alive connections: no 5xx, no crash, and the groups the fuzzer
 * cannot address (their job names use characters it never generates) are byte-for-byte unchanged.
 * A second run does the same as a scoped credential (basic user or bearer token, with the admin
 * API on) that also aims at the protected groups: every write to them is refused with 403.
 * Seeded: a failure prints the seed, and FUZZ_SEED=<n> replays it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import nodePath from 'node:path';
import bcrypt from 'bcryptjs';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeDelimited } from '../../src/exposition/protobuf/encode.js';
import { parseText } from '../../src/exposition/text-parser.js';
import { startTestServer, stripOwnFamilies, type TestServer } from '../helpers/test-server.js';
import { FUZZ_SEED } from '../helpers/fuzz-seed.js';

const REQUESTS = 10_000;
const CONCURRENCY = 6;
const SEED = FUZZ_SEED;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

const VALID_TEXT = [
  'fz_metric 1\n',
  '# TYPE fz_c counter\nfz_c{a="1"} 3\n',
  '# HELP fz_h help\n# TYPE fz_h histogram\nfz_h_bucket{le="1"} 1\nfz_h_bucket{le="+Inf"} 2\nfz_h_sum 3\nfz_h_count 2\n',
  '# TYPE fz_s summary\nfz_s{quantile="0.5"} 1\nfz_s_sum 2\nfz_s_count 3\n',
  'fz_g{x="y",z="\\"q\\""} -Inf\nfz_g{x="w"} NaN\n',
  '# TYPE fz_c gauge\nfz_c 1\n',
  'fz_ts 1 1700000000000\n',
  'push_time_seconds 5\n',
  'kept_metric{job="evil"} 666\n',
];
const VALID_OM = '# TYPE fz_om counter\nfz_om_total 1\n# EOF\n';
const PROTOBUF = encodeDelimited(parseText(VALID_TEXT[1]! + VALID_TEXT[2]!));

function mutate(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  for (let i = int(4); i >= 0 && copy.length > 0; i--) {
    const at = int(copy.length);
    switch (int(3)) {
      case 0:
        copy[at] = int(256);
        break;
      case 1:
        return Buffer.concat([
          copy.subarray(0, at),
          Buffer.from(pick(['{', '}', '"', '\n', '\\', '\0', '\xff', '# EOF\n', ' ', '=']), 'latin1'),
          copy.subarray(at),
        ]);
      default:
        return Buffer.concat([copy.subarray(0, at), copy.subarray(at + 1)]);
    }
  }
  return copy;
}

function body(): { body: Buffer; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  let b: Buffer;
  switch (int(8)) {
    case 0:
      b = Buffer.from(pick(VALID_TEXT));
      break;
    case 1:
      b = mutate(Buffer.from(pick(VALID_TEXT)));
      break;
    case 2:
      b = Buffer.from(VALID_OM);
      headers['Content-Type'] = 'application/openmetrics-text; version=1.0.0';
      break;
    case 3:
      b = int(2) ? PROTOBUF : mutate(PROTOBUF);
      headers['Content-Type'] = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';
      break;
    case 4:
      b = Buffer.from(Array.from({ length: int(200) }, () => int(256)));
      break;
    case 5: {
      const gz = zlib.gzipSync(pick(VALID_TEXT));
      b = int(2) ? gz : mutate(gz).subarray(0, int(gz.length + 1));
      headers['Content-Encoding'] = pick(['gzip', 'GZIP', 'snappy', 'br']);
      break;
    }
    case 6:
      b = Buffer.alloc(0);
      break;
    default:
      b = Buffer.from(`fz_many{i="${int(1000)}"} ${random()}\n`.repeat(1 + int(20)));
  }
  if (int(4) === 0)
    headers['Content-Type'] = pick([
      'text/plain',
      'text/plain; version=0.0.4',
      'application/json',
      '*/*',
      'application/vnd.google.protobuf',
      ';;;',
      'text/plain; charset=latin1',
    ]);
  if (int(6) === 0) headers['Content-Encoding'] = pick(['gzip', 'snappy', 'deflate', 'identity', 'x-garbage', '']);
  return { body: b, headers };
}

// Job names the fuzzer may produce: never `keep_` ones, which hold the protected groups.
const SEGMENTS = [
  'fz',
  'fz2',
  'a',
  '',
  '%2F',
  '%',
  '%zz',
  '..',
  '.',
  'instance',
  'job',
  '@base64',
  'Zno=',
  '__x',
  'U__a_2e_b',
  'é',
  '%C3%A9',
  '%FF',
  'x'.repeat(300),
];

function path(): string {
  switch (int(6)) {
    case 0:
    case 1: {
      const parts = Array.from({ length: int(6) }, () => pick(SEGMENTS));
      return `/metrics/${pick(['job', 'job@base64', 'JOB', 'job/'])}/${pick(['fz', 'fz2', 'Zno=', ''])}${parts.length ? '/' : ''}${parts.join('/')}`;
    }
    case 2:
      return pick([
        '/metrics',
        '/metrics/',
        '/api/v1/metrics',
        '/api/v1/status',
        '/api/v1/admin/wipe',
        '/-/healthy',
        '/-/ready',
        '/-/quit',
        '/-/reload',
        '/',
        '/static/../../etc/passwd',
        '/api/v1/',
        '/api/v1/metrics/',
      ]);
    case 3:
      return `/${Array.from({ length: int(5) }, () => pick(SEGMENTS)).join(pick(['/', '//', '/./', '/../']))}`;
    case 4:
      return `/metrics/job/fz?${pick(['x=1', 'a=%', '&&', 'job=keep_x'])}`;
    default:
      return `/${Array.from({ length: int(30) }, () => String.fromCharCode(0x21 + int(0xff - 0x21))).join('')}`;
  }
}

interface Outcome {
  readonly status: number;
  readonly method: string;
  readonly path: string;
  readonly text: string;
}

/** How a run authenticates and which extra paths it aims at; the plain run has none. */
interface Mode {
  readonly credentials: () => Record<string, string>;
  readonly paths: () => string | undefined;
}

const PLAIN: Mode = { credentials: () => ({}), paths: () => undefined };

function send(server: TestServer, agent: http.Agent, mode: Mode = PLAIN): Promise<Outcome | undefined> {
  const url = new URL(server.url);
  const method = pick(['GET', 'GET', 'PUT', 'PUT', 'POST', 'POST', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'FOO']);
  const { body: b, headers } = body();
  Object.assign(headers, mode.credentials());
  if (int(10) === 0) headers['Accept'] = pick(['application/openmetrics-text', 'application/vnd.google.protobuf', '*/*;q=0', 'text/plain;version=9']);
  if (int(20) === 0) headers['Accept-Encoding'] = 'gzip';
  // Aggregating groups: modes that clash with the group's (409), bad ones (400), keys reused on other bodies (422).
  if (int(5) === 0) headers['Pushkeep-Aggregation'] = pick(['sum', 'replace', 'SUM', ' sum ', 'avg', '', 'sum, replace']);
  if (int(5) === 0) headers['Idempotency-Key'] = pick(['k1', 'k2', '"k1"', '""', '', 'x'.repeat(300), `r${int(50)}`]);
  let p = mode.paths() ?? path();
  // Node's client refuses bytes outside 0x21-0xff in a path; keep what it can send.
  p = p.replace(/[^\u0021-\u00ff]/g, '_');
  const payload = method === 'HEAD' ? undefined : b;
  return new Promise((resolve) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method, path: p, agent, headers: { ...headers, 'Content-Length': String(payload?.length ?? 0) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            method,
            path: p,
            text: `${method} ${p} -> ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`,
          }),
        );
        res.on('error', () => resolve(undefined));
      },
    );
    // A request the server closes (bad framing) is not a failure; its status is checked only if it answers.
    req.on('error', () => resolve(undefined));
    req.setTimeout(10_000, () => req.destroy());
    req.end(payload);
  });
}

describe('HTTP fuzzing', () => {
  let server: TestServer;
  const protectedGroups: [string, string][] = [
    ['/metrics/job/keep_one', '# HELP kept_metric Kept.\n# TYPE kept_metric gauge\nkept_metric{a="1"} 1\n'],
    ['/metrics/job/keep_two/instance/i', '# TYPE kept_counter counter\nkept_counter 5\n# TYPE fz_c counter\nfz_c{a="keep"} 1\n'],
    ['/metrics/job@base64/a2VlcF90aHJlZQ==/zone/eu', 'fz_metric{kept="yes"} 3\n'],
  ];
  const isProtected = (line: string) => /job="keep_/.test(line);

  beforeAll(async () => {
    server = await startTestServer();
    for (const [p, b] of protectedGroups) expect((await server.push('PUT', p, b)).status).toBe(200);
  });
  afterAll(() => server?.close());

  it(`answers ${REQUESTS} hostile requests without a 5xx or a crash, and leaves other groups alone (seed ${SEED})`, async () => {
    const before = (await server.scrapePushed()).split('\n').filter(isProtected);
    expect(before.length).toBeGreaterThan(6);
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const failures: string[] = [];
    const counts = new Map<number, number>();
    let sent = 0;
    const deadline = performance.now() + 100_000;
    const worker = async () => {
      while (sent < REQUESTS && performance.now() < deadline) {
        sent++;
        const outcome = await send(server, agent);
        if (!outcome) continue;
        counts.set(outcome.status, (counts.get(outcome.status) ?? 0) + 1);
        if (outcome.status >= 500 && failures.length < 10) failures.push(outcome.text);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    agent.destroy();

    expect(sent, `seed ${SEED}`).toBe(REQUESTS);
    expect(failures, `seed ${SEED}; statuses ${JSON.stringify([...counts])}`).toEqual([]);
    // The run exercised both sides: accepted pushes and refusals.
    expect(counts.get(200) ?? 0).toBeGreaterThan(100);
    expect(counts.get(400) ?? 0).toBeGreaterThan(100);
    expect((await fetch(`${server.url}/-/healthy`)).status).toBe(200);
    const scrape = await (await fetch(`${server.url}/metrics`)).text();
    expect(scrape).toMatch(/^pushgateway_build_info/m);
    const after = (await server.scrapePushed()).split('\n').filter(isProtected);
    // The failure-time gauge of a protected group never moves either: no fuzz request addresses one.
    expect(after, `seed ${SEED}`).toEqual(before);
  }, 120_000);
});

describe('HTTP fuzzing as a scoped credential', () => {
  const requests = 4_000;
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'pushkeep-fuzz-'));
  const hash = bcrypt.hashSync('s3cret', 4);
  const token = 'fuzz-token-0123456789';
  const config = `basic_auth_users:
  fuzzer: ${hash}
  ops: ${hash}
pushkeep_authorization:
  users:
    fuzzer: {roles: [push, scrape, read, admin, health], groups: '{job!~"keep_.*"}'}
    ops: [push, scrape, read, admin, health]
  bearer_tokens:
    - name: fuzz
      sha256: ${crypto.createHash('sha256').update(token).digest('hex')}
      roles: [push, scrape, read, admin, health]
      groups: '{job!~"keep_.*"}'
`;
  const basic = (user: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:s3cret`).toString('base64')}` });
  const ops = basic('ops');
  // Writes to the protected groups, and admin deletes whose selection covers them.
  const KEEP_WRITES = ['/metrics/job/keep_one', '/metrics/job/keep_two/instance/i', '/metrics/job@base64/a2VlcF90aHJlZQ==/zone/eu', '/metrics/job/keep_new'];
  const scoped: Mode = {
    credentials: () => {
      const n = int(20);
      return n < 9 ? basic('fuzzer') : n < 18 ? { Authorization: `Bearer ${token}` } : n === 18 ? { Authorization: 'Bearer guess' } : {};
    },
    paths: () =>
      int(6) === 0
        ? pick([
            ...KEEP_WRITES,
            '/api/v1/admin/wipe',
            `/api/v1/admin/groups?match[]=${encodeURIComponent('{job=~".+"}')}`,
            '/api/v1/admin/groups?match[]=job%3D%22keep_one%22',
          ])
        : undefined,
  };
  const isProtected = (line: string) => /job="keep_/.test(line);
  let server: TestServer;
  const protectedScrape = async () =>
    stripOwnFamilies(await (await fetch(`${server.url}/metrics`, { headers: ops })).text())
      .split('\n')
      .filter(isProtected);

  beforeAll(async () => {
    fs.writeFileSync(nodePath.join(dir, 'web.yml'), config);
    server = await startTestServer({ webConfigFile: nodePath.join(dir, 'web.yml'), adminApi: true });
    for (const [p, b] of [
      ['/metrics/job/keep_one', 'kept_metric{a="1"} 1\n'],
      ['/metrics/job/keep_two/instance/i', '# TYPE fz_c counter\nfz_c{a="keep"} 1\n'],
      ['/metrics/job@base64/a2VlcF90aHJlZQ==/zone/eu', 'fz_metric{kept="yes"} 3\n'],
    ]) {
      expect((await fetch(`${server.url}${p}`, { method: 'PUT', body: b, headers: ops })).status).toBe(200);
    }
  });
  afterAll(() => server?.close());

  it(`answers ${requests} hostile requests without a 5xx, refuses every write to groups outside the scope, and wipes only inside it (seed ${SEED})`, async () => {
    const before = await protectedScrape();
    expect(before.length).toBeGreaterThan(4);
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const failures: string[] = [];
    const counts = new Map<number, number>();
    let sent = 0;
    let wipes = 0;
    const deadline = performance.now() + 100_000;
    const worker = async () => {
      while (sent < requests && performance.now() < deadline) {
        sent++;
        const outcome = await send(server, agent, scoped);
        if (!outcome) continue;
        counts.set(outcome.status, (counts.get(outcome.status) ?? 0) + 1);
        if (outcome.status === 202 && outcome.path === '/api/v1/admin/wipe') wipes++;
        const keepWrite = KEEP_WRITES.includes(outcome.path) && ['PUT', 'POST', 'DELETE'].includes(outcome.method);
        const wrong = outcome.status >= 500 || (keepWrite && outcome.status !== 403 && outcome.status !== 401);
        if (wrong && failures.length < 10) failures.push(outcome.text);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    agent.destroy();

    expect(sent, `seed ${SEED}`).toBe(requests);
    expect(failures, `seed ${SEED}; statuses ${JSON.stringify([...counts])}`).toEqual([]);
    expect(counts.get(200) ?? 0).toBeGreaterThan(50);
    expect(counts.get(400) ?? 0).toBeGreaterThan(50);
    expect(counts.get(403) ?? 0).toBeGreaterThan(50);
    expect(wipes, 'scoped wipes ran').toBeGreaterThan(0);
    expect(await protectedScrape(), `seed ${SEED}`).toEqual(before);
    const own = await (await fetch(`${server.url}/metrics`, { headers: basic('fuzzer') })).text();
    expect(own).not.toMatch(/job="keep_|^pushgateway_build_info/m);
  }, 120_000);
});
