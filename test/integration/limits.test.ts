/**
 * Hostile and careless input: oversized, inflated and over-labelled pushes, store-wide limits,
 * slow clients, SQL-looking label values, and a database that cannot be written. Each refusal
 * names its limit, leaves the stored metrics as they were and keeps the process serving.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const MiB = 1024 * 1024;

/** The pushed metrics without the failure-time gauges (refusals may move those, nothing else). */
async function storedState(server: TestServer): Promise<string> {
  return (await server.scrapePushed())
    .split('\n')
    .filter((l) => !l.startsWith('push_failure_time_seconds'))
    .join('\n');
}

/** The rejection counter as scraped; the gateway samples its own metrics at most once a second. */
async function limitCount(server: TestServer, limit: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 1100));
  const scrape = await (await fetch(`${server.url}/metrics`)).text();
  const line = scrape.split('\n').find((l) => l.startsWith(`pushkeep_limit_rejections_total{limit="${limit}"}`));
  return Number(line?.split(' ')[1] ?? NaN);
}

describe('per-push limits and the body size', () => {
  let server: TestServer;
  let before: string;
  beforeAll(async () => {
    server = await startTestServer({
      bodyLimit: 16 * MiB,
      limits: {
        maxSeriesPerPush: 1000,
        maxLabelsPerSeries: 128,
        maxLabelNameLength: 1024,
        maxLabelValueLength: 8 * 1024,
        maxGroups: 0,
        maxSeries: 0,
      },
    });
    expect((await server.push('PUT', '/metrics/job/victim', 'kept{a="1"} 1\nkept{a="2"} 2\n')).status).toBe(200);
    expect((await server.push('PUT', '/metrics/job/other/instance/i', 'other 3\n')).status).toBe(200);
    before = await storedState(server);
  });
  afterAll(() => server?.close());

  const bigLabelSet = (n: number) => `m{${Array.from({ length: n }, (_, i) => `l${i}="v"`).join(',')}} 1\n`;
  const cases: [string, () => Promise<Response>, number, string | undefined, RegExp][] = [
    [
      'a compression bomb (64 MiB of text in 64 KiB of gzip)',
      () => server.push('PUT', '/metrics/job/victim', zlib.gzipSync(Buffer.alloc(64 * MiB, 'a')), { 'Content-Encoding': 'gzip' }),
      413,
      'push.max-body-bytes',
      /exceeds the limit of 16777216 bytes after decompression/,
    ],
    [
      'a declared 17 MiB body',
      () => server.push('POST', '/metrics/job/victim', Buffer.alloc(17 * MiB, 'b')),
      413,
      'push.max-body-bytes',
      /exceeds the limit of 16777216 bytes/,
    ],
    [
      '100k labels on one series',
      () => server.push('PUT', '/metrics/job/victim', bigLabelSet(100_000)),
      413,
      'push.max-labels-per-series',
      /has 100002 labels, the limit is 128/,
    ],
    [
      'a 10 MB label value',
      () => server.push('POST', '/metrics/job/victim', `m{l="${'x'.repeat(10_000_000)}"} 1\n`),
      413,
      'push.max-label-value-length',
      /label l of m has a value of 10000000 bytes, the limit is 8192/,
    ],
    [
      'a 2 KB label name',
      () => server.push('POST', '/metrics/job/victim', `m{${'n'.repeat(2048)}="v"} 1\n`),
      413,
      'push.max-label-name-length',
      /has 2048 bytes, the limit is 1024/,
    ],
    [
      'a grouping-key value longer than the limit, in the URL',
      () => server.push('POST', `/metrics/job@base64/${Buffer.from('v'.repeat(10_000)).toString('base64url')}`, 'm 1\n'),
      413,
      'push.max-label-value-length',
      /label job of m has a value of 10000 bytes, the limit is 8192/,
    ],
    // Node refuses request lines and headers beyond 16 KiB before any handler runs.
    ['a 17 KB URL', () => server.push('POST', `/metrics/job/victim/k/${'v'.repeat(17_000)}`, 'm 1\n'), 431, undefined, /^$/],
    [
      '1001 series in one push',
      () => server.push('POST', '/metrics/job/victim', Array.from({ length: 1001 }, (_, i) => `s{i="${i}"} 1\n`).join('')),
      413,
      'push.max-series',
      /the push has 1001 series, the limit is 1000/,
    ],
  ];

  const refusals = new Map<string, number>();
  it.each(cases)('refuses %s with %i, names the limit %s, and changes nothing', async (_what, send, status, limit, message) => {
    const reply = await send();
    expect(reply.status).toBe(status);
    const body = await reply.text();
    expect(body).toMatch(message);
    if (limit && limit !== 'push.max-body-bytes') expect(body).toContain(`limit ${limit} exceeded`);
    if (limit) refusals.set(limit, (refusals.get(limit) ?? 0) + 1);
    expect(await storedState(server)).toBe(before);
  });

  it('counted every refusal in pushkeep_limit_rejections_total by limit', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const scrape = await (await fetch(`${server.url}/metrics`)).text();
    for (const [limit, n] of refusals) {
      expect(scrape).toContain(`pushkeep_limit_rejections_total{limit="${limit}"} ${n}\n`);
    }
    expect(scrape).toContain('pushkeep_limit_rejections_total{limit="storage.max-groups"} 0\n');
  });

  it('cuts a streamed 1 GB body early instead of buffering it, and memory stays bounded', async () => {
    const rssBefore = process.memoryUsage().rss;
    const url = new URL(`${server.url}/metrics/job/victim`);
    const chunk = Buffer.alloc(MiB, 'c');
    let sent = 0;
    const outcome = await new Promise<{ status: number | string; sent: number }>((resolve) => {
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PUT' }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, sent });
        req.destroy();
      });
      req.on('error', (err) => resolve({ status: (err as NodeJS.ErrnoException).code ?? 'error', sent }));
      const pump = () => {
        while (sent < 1024 * MiB) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    // The reply (413) or the connection's close arrives after ~16 MiB, far from the full gigabyte.
    expect([413, 'EPIPE', 'ECONNRESET']).toContain(outcome.status);
    expect(outcome.sent).toBeLessThan(256 * MiB);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * MiB);
    expect(await storedState(server)).toBe(before);
  });

  it('stores and scrapes SQL-looking label values verbatim (everything reaches SQL as parameters)', async () => {
    const values = [
      `'; DROP TABLE metric_sample; --`,
      `" OR 1=1; DELETE FROM metric_group WHERE ''='`,
      `Robert'); DROP TABLE metric_family;--`,
      `\\'; SELECT * FROM sqlite_master; /*`,
      `UNION SELECT name FROM metric_name --`,
    ];
    const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    const body = values.map((v, i) => `sqlish{i="${i}",v="${escape(v)}"} ${i}\n`).join('');
    const job = encodeURIComponent(`x'; DROP TABLE metric_group; --`);
    expect((await server.push('PUT', `/metrics/job/${job}`, body)).status).toBe(200);
    const scrape = await server.scrapePushed();
    for (const [i, v] of values.entries()) {
      expect(scrape).toContain(`sqlish{i="${i}",instance="",job="x'; DROP TABLE metric_group; --",v="${escape(v)}"} ${i}`);
    }
    expect(scrape).toContain('kept{a="1",instance="",job="victim"} 1');
    expect((await server.push('DELETE', `/metrics/job/${job}`)).status).toBe(202);
    expect(await storedState(server)).toBe(before);
  });
});

describe('store-wide limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      limits: { maxSeriesPerPush: 0, maxLabelsPerSeries: 0, maxLabelNameLength: 0, maxLabelValueLength: 0, maxGroups: 3, maxSeries: 10 },
    });
  });
  afterAll(() => server?.close());

  it('refuses a new group beyond storage.max-groups with 429, and lets existing groups update', async () => {
    for (const job of ['a', 'b', 'c']) expect((await server.push('PUT', `/metrics/job/${job}`, 'g 1\n')).status).toBe(200);
    const before = await storedState(server);
    const refused = await server.push('PUT', '/metrics/job/d', 'g 1\n');
    expect(refused.status).toBe(429);
    expect(await refused.text()).toMatch(/^limit storage\.max-groups exceeded: the store holds 3 groups, the limit is 3\n$/);
    expect(await storedState(server)).toBe(before);
    expect(await server.scrapePushed()).not.toContain('job="d"');
    expect((await server.push('PUT', '/metrics/job/a', 'g 2\n')).status).toBe(200);
    expect(await limitCount(server, 'storage.max-groups')).toBe(1);
  });

  it('counts series net of what a push replaces against storage.max-series', async () => {
    // 3 series stored (one per group); 8 more would make 11.
    const eight = Array.from({ length: 8 }, (_, i) => `s{i="${i}"} 1\n`).join('');
    const refused = await server.push('POST', '/metrics/job/b', eight);
    expect(refused.status).toBe(429);
    expect(await refused.text()).toMatch(/limit storage\.max-series exceeded: the push would bring the store to 11 series, the limit is 10/);
    // Replacing group b (PUT drops its one series) makes room for exactly 8.
    expect((await server.push('PUT', '/metrics/job/b', eight)).status).toBe(200);
    const failure = (await server.scrapePushed()).split('\n').find((l) => l.startsWith('push_failure_time_seconds{instance="",job="b"}'));
    expect(Number(failure?.split(' ')[1])).toBeGreaterThan(0);
  });

  it('holds under concurrent pushes: the store never passes the limit', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => server.push('PUT', '/metrics/job/c', `c{k="${i}"} 1\nc{k="x${i}"} 1\n`)));
    expect(replies.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    const series = (await server.scrapePushed()).split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('push_')).length;
    expect(series).toBeLessThanOrEqual(10);
  });
});

describe('slow clients', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ timeouts: { headersMs: 500, requestMs: 1500 } });
  });
  afterAll(() => server?.close());

  /** Sends `head` and then one byte of `drip` every 100 ms; resolves with how long the server let it last. */
  function slowClient(head: string, drip: string): Promise<number> {
    const url = new URL(server.url);
    const started = performance.now();
    return new Promise((resolve) => {
      const socket = net.connect(Number(url.port), url.hostname, () => socket.write(head));
      let i = 0;
      const timer = setInterval(() => {
        if (!socket.destroyed && socket.writable) socket.write(drip[i++ % drip.length]!);
      }, 100);
      const done = () => {
        clearInterval(timer);
        resolve(performance.now() - started);
      };
      socket.on('close', done);
      socket.on('error', () => undefined);
      socket.resume();
      setTimeout(() => socket.destroy(), 10_000);
    });
  }

  it('cuts a client that sends its headers byte by byte (slowloris)', async () => {
    const lasted = await slowClient('PUT /metrics/job/slow HTTP/1.1\r\nHost: x\r\n', 'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    expect(lasted).toBeLessThan(3000);
  });

  it('cuts a client that sends its body byte by byte', async () => {
    const lasted = await slowClient('PUT /metrics/job/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n', 'm 1\n');
    expect(lasted).toBeLessThan(4000);
    expect(await server.scrapePushed()).not.toContain('job="slow"');
  });
});

/**
 * A database on a tiny tmpfs that the test fills up or remounts read-only. As root, chmod does
 * not stop SQLite from writing (and files already open stay writable anyway); a full or read-only
 * file system stops everyone. Needs root and mount(2); skipped otherwise.
 */
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1M', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
})();

describe.skipIf(!canMount)('a full disk', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-fs-'));
  let server: TestServer;
  let before: string;
  beforeAll(async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8M', 'tmpfs', dir]);
    server = await startTestServer({}, path.join(dir, 'pushkeep.db'));
    expect((await server.push('PUT', '/metrics/job/stored', 'stored{a="1"} 1\n')).status).toBe(200);
    before = await storedState(server);
  });
  afterAll(async () => {
    await server?.close();
    execFileSync('umount', ['-l', dir]);
  });

  const bigPush = () => Array.from({ length: 3000 }, (_, i) => `big{i="${i}",pad="${'p'.repeat(100)}"} ${i}\n`).join('');

  it('disk full: pushes get 503 with a reason, /-/healthy reports it, nothing stored changes, and it recovers', async () => {
    const filler = path.join(dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
    const refused = await server.push('PUT', '/metrics/job/full', bigPush());
    const reason = await refused.text();
    expect(refused.status, reason).toBe(503);
    expect(reason).toMatch(/^database unavailable: .*(full|disk|I\/O)/i);
    // /-/healthy may still pass here: its probe write is tiny and fits in the WAL space the
    // failed push left allocated. The read-only case below checks it.
    expect(await storedState(server)).toBe(before);

    fs.rmSync(filler);
    expect((await server.push('PUT', '/metrics/job/full', bigPush())).status).toBe(200);
    expect((await fetch(`${server.url}/-/healthy`)).status).toBe(200);
    expect((await server.push('DELETE', '/metrics/job/full')).status).toBe(202);
    expect(await storedState(server)).toBe(before);
  });
});

/**
 * `chattr +i` makes a file immutable even for root and even through file handles already open
 * (chmod stops neither). It needs CAP_LINUX_IMMUTABLE and a file system that honours it (ext4
 * does, tmpfs does not), so the probe tries it on a file in the test's own directory.
 */
const immutableWorks = (dir: string): boolean => {
  const probe = path.join(dir, 'probe');
  const fd = fs.openSync(probe, 'w');
  try {
    execFileSync('chattr', ['+i', probe], { stdio: 'pipe' });
    try {
      fs.writeSync(fd, 'x');
      return false;
    } catch {
      return true;
    } finally {
      execFileSync('chattr', ['-i', probe], { stdio: 'pipe' });
    }
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(probe, { force: true });
  }
};
const roDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-ro-'));

describe.skipIf(!immutableWorks(roDir))('a read-only database file', () => {
  const dir = roDir;
  let server: TestServer;
  let before: string;
  beforeAll(async () => {
    server = await startTestServer({}, path.join(dir, 'pushkeep.db'));
    expect((await server.push('PUT', '/metrics/job/stored', 'stored{a="1"} 1\n')).status).toBe(200);
    before = await storedState(server);
  });
  afterAll(() => server?.close());

  it('read-only files (chattr +i, which stops root and open file handles too): 503, scrapes answer, it recovers', async () => {
    // Not the -shm file: SQLite maps it into memory, and a store to a mapped page of an immutable
    // file is a SIGBUS, not an error code (a real read-only remount would not hit that page).
    const files = ['pushkeep.db', 'pushkeep.db-wal'].map((f) => path.join(dir, f));
    execFileSync('chattr', ['+i', ...files]);
    try {
      const refused = await server.push('PUT', '/metrics/job/ro', 'ro 1\n');
      expect(refused.status).toBe(503);
      expect(await refused.text()).toMatch(/^database unavailable: /);
      expect((await server.push('DELETE', '/metrics/job/stored')).status).toBe(503);
      expect((await fetch(`${server.url}/-/healthy`)).status).toBe(503);
      expect(await storedState(server)).toBe(before);
    } finally {
      execFileSync('chattr', ['-i', ...files]);
    }
    expect((await server.push('PUT', '/metrics/job/ro', 'ro 1\n')).status).toBe(200);
    expect((await fetch(`${server.url}/-/healthy`)).status).toBe(200);
    expect(await server.scrapePushed()).toContain('stored{a="1",instance="",job="stored"} 1');
  });
});
