import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../helpers/official-gateway.js';
import { startPushkeepGateway } from '../helpers/pushkeep-gateway.js';
import { maskTimes, startTestServer, stripOwnFamilies, type TestServer } from '../helpers/test-server.js';
import { missingTools, titleWithTools } from '../helpers/tools.js';

// The same requests go to the official Pushgateway (Debian 1.5.1) and to Pushkeep; statuses and
// scrapes (own families removed, push times masked) must be identical. Only behaviour both
// documents agree on is sent here; the deliberate differences (docs/differences.md) are shown side
// by side in the second suite below.
const REQUESTS: [method: 'PUT' | 'POST' | 'DELETE', path: string, body: string][] = [
  [
    'PUT',
    '/metrics/job/some_job/instance/some_instance',
    '# TYPE some_metric counter\nsome_metric{label="val1"} 42\n# TYPE another_metric gauge\n# HELP another_metric Just an example.\nanother_metric 2398.283\n',
  ],
  ['PUT', '/metrics/job/some_job', 'some_metric 3.14\n'],
  ['PUT', '/metrics/job/j', 'a 1\nb 2\n'],
  ['POST', '/metrics/job/j', 'b 3\nc 4\n'],
  ['PUT', '/metrics/job/m', 'm{a="1"} 1\nm{a="2"} 2\nk 1\n'],
  ['POST', '/metrics/job/m', 'm{a="3"} 3\n'],
  ['PUT', '/metrics/job@base64/dGVzdC9qb2I/path@base64/L3Zhci90bXA', 'x 1\n'],
  ['PUT', '/metrics/job/directory_cleaner/path/x', 'x 2\n'],
  ['PUT', '/metrics/job/b/instance/i', 'body{job="other",instance="x",foo="1"} 1\n'],
  ['PUT', '/metrics/job/b2', 'body{instance="x"} 5\n'],
  [
    'PUT',
    '/metrics/job/f',
    'v{n="a"} 1234567\nv{n="b"} 0.00001234\nv{n="c"} 1e6\nv{n="d"} -1.5e-7\nv{n="e"} 123456789012\nv{n="f"} NaN\nv{n="g"} +Inf\nv{n="h"} -0\n',
  ],
  ['PUT', '/metrics/job/h', '# HELP hm Line one\\nline two \\\\ backslash "quote"\n# TYPE hm gauge\nhm{l="a\\"b\\\\c\\nd"} NaN\n'],
  [
    'PUT',
    '/metrics/job/o',
    '# TYPE s summary\ns{zz="1",quantile="0.5"} 1\ns_sum{zz="1"} 1\ns_count{zz="1"} 1\n# TYPE h histogram\nh_bucket{zz="1",le="0.1"} 1\nh_bucket{zz="1",le="1e+06"} 2\nh_sum{zz="1"} 3\nh_count{zz="1"} 4\n',
  ],
  ['PUT', '/metrics/job/tc1', '# TYPE tc counter\ntc 1\n'],
  ['PUT', '/metrics/job/tc2', '# TYPE tc gauge\ntc 2\n'],
  ['PUT', '/metrics/job/ts', 'b 1 1000\n'],
  ['PUT', '/metrics/job/e', 'x 1\n'],
  ['PUT', '/metrics/job/e', ''],
  ['POST', '/metrics/job/e2', ''],
  ['PUT', '/metrics/job/d', 'gone 1\n'],
  ['PUT', '/metrics/job/d/instance/stay', 'gone 1\n'],
  ['DELETE', '/metrics/job/d', ''],
  ['PUT', '/metrics/job/bad', 'blablabla\n'],
  ['PUT', '/metrics/job/bad/a-b/1', 'x 1\n'],
  ['PUT', '/metrics/job/bad/instance', 'x 1\n'],
  // Series order across groups: interleaved (a body label sorts before the grouping labels) and
  // apart (a grouping label sorts first), each group's series pushed out of order.
  ['PUT', '/metrics/job/il/instance/b', 'il{cpu="1"} 1\nil{cpu="0"} 2\n'],
  ['PUT', '/metrics/job/il/instance/a', 'il{cpu="1"} 3\nil{cpu="0"} 4\nil{cpu="10"} 5\n'],
  ['PUT', '/metrics/job/dj/a/2', 'dj{x="1"} 1\ndj{x="0"} 2\n'],
  ['PUT', '/metrics/job/dj/a/1', 'dj{x="1"} 3\ndj{x="0"} 4\n'],
  ['PUT', '/metrics/job/dj/a/3', 'dj 5\n'],
  ['PUT', '/metrics/job/g5/instance/i', 'dup 1\n'],
  ['PUT', '/metrics/job/g5', 'dup{instance="i"} 2\n'],
];

describe.skipIf(missingTools('prometheus-pushgateway'))(
  titleWithTools('differential: official Pushgateway 1.5.1 vs Pushkeep', 'prometheus-pushgateway'),
  () => {
    let official: Gateway;
    let pushkeep: TestServer;
    beforeAll(async () => {
      [official, pushkeep] = await Promise.all([startGateway(), startTestServer()]);
    });
    afterAll(async () => {
      await Promise.all([official?.stop(), pushkeep?.close()]);
    });

    it('answers every request with the same status and serves the same scrape', async () => {
      const statuses: string[][] = [];
      for (const [method, path, body] of REQUESTS) {
        const init = { method, ...(method === 'DELETE' ? {} : { body }) };
        const a = await fetch(`${official.baseUrl}${path}`, init);
        const b = await fetch(`${pushkeep.url}${path}`, init);
        statuses.push([`${method} ${path}`, String(a.status), String(b.status)]);
        await Promise.all([a.text(), b.text()]);
      }
      expect(statuses.filter(([, a, b]) => a !== b)).toEqual([]);

      // DELETE answers 202 at the official before the write queue applied it.
      const scrape = async (url: string) => maskTimes(stripOwnFamilies(await (await fetch(`${url}/metrics`)).text()));
      let expected = '';
      for (let i = 0; i < 50; i++) {
        expected = await scrape(official.baseUrl);
        if (!/job="d"\}/.test(expected)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(expected).toContain('another_metric{instance="some_instance",job="some_job"} 2398.283\n');
      expect(expected).toContain('push_failure_time_seconds{instance="",job="tc2"} T\n');
      expect(await scrape(pushkeep.url)).toBe(expected);
    });
  },
);

// Every deliberate difference docs/differences.md lists, shown side by side: the same requests go to
// the official Pushgateway (Debian 1.5.1) and to Pushkeep (the built server, default flags), and each
// test asserts what each of them answers. A difference that goes away breaks its test here.

const MF = new protobuf.Root().loadSync(path.join(import.meta.dirname, '../../proto/metrics.proto')).lookupType('io.prometheus.client.MetricFamily');
const PB = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

function protobufBody(families: object[]): Buffer {
  const w = protobuf.Writer.create();
  for (const f of families) MF.encodeDelimited(MF.fromObject(f), w);
  return Buffer.from(w.finish());
}

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A request sent as written: no URL normalisation (`//`, `%FF`), no redirect following. */
function send(base: string, method: string, rawPath: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: rawPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe.skipIf(missingTools('prometheus-pushgateway'))(
  titleWithTools('deliberate differences from the official Pushgateway 1.5.1', 'prometheus-pushgateway'),
  () => {
    let official: Gateway;
    let pushkeep: Gateway;
    beforeAll(async () => {
      [official, pushkeep] = await Promise.all([startGateway(), startPushkeepGateway()]);
    });
    afterAll(async () => {
      await Promise.all([official?.stop(), pushkeep?.stop()]);
    });

    /** The same request to both: [official, pushkeep]. */
    const both = (method: string, rawPath: string, body?: string | Buffer, headers?: Record<string, string>) =>
      Promise.all([send(official.baseUrl, method, rawPath, body, headers), send(pushkeep.baseUrl, method, rawPath, body, headers)]);
    const scrapes = (accept?: string) => both('GET', '/metrics', undefined, accept ? { Accept: accept } : {});

    const lines = (reply: Reply, pattern: RegExp): string[] => reply.body.split('\n').filter((l) => pattern.test(l));

    it('an empty instance in the grouping key: the official makes a second group and breaks the scrape; Pushkeep addresses one group', async () => {
      const [o1, p1] = await both('PUT', '/metrics/job/ei', 'ei_x 1\n');
      const [o2, p2] = await both('PUT', '/metrics/job/ei/instance@base64/=', 'ei_y 2\n');
      expect([o1!.status, o2!.status]).toEqual([200, 400]);
      expect([p1!.status, p2!.status]).toEqual([200, 200]);
      const [os, ps] = await scrapes();
      expect(os!.status).toBe(500);
      expect(ps!.status).toBe(200);
      expect(lines(ps!, /^ei_/)).toEqual(['ei_y{instance="",job="ei"} 2']);
      await both('DELETE', '/metrics/job/ei');
      await both('DELETE', '/metrics/job/ei/instance@base64/=');
    });

    it('invalid UTF-8 in the path: both refuse the push, but the official keeps a group that breaks the scrape', async () => {
      const [o, p] = await both('PUT', '/metrics/job/a%FF', 'ff 1\n');
      expect([o!.status, p!.status]).toEqual([400, 400]);
      expect(p!.body).toBe('invalid UTF-8 in label value for job\n');
      const [os, ps] = await scrapes();
      expect([os!.status, ps!.status]).toEqual([500, 200]);
      await both('DELETE', '/metrics/job/a%FF');
      expect((await scrapes())[0]!.status).toBe(200);
    });

    it.each([
      ['%2F inside a path segment is a / in the value', 'PUT', '/metrics/job/a%2Fb', 'sl 1\n', 400, 'sl{instance="",job="a/b"} 1'],
      ['a last line without a newline is accepted', 'PUT', '/metrics/job/nl', 'nl 1', 400, 'nl{instance="",job="nl"} 1'],
      [
        'a pushed go_goroutines counter is accepted (no go_* own families)',
        'PUT',
        '/metrics/job/go',
        '# TYPE go_goroutines counter\ngo_goroutines 1\n',
        400,
        'go_goroutines{instance="",job="go"} 1',
      ],
      [
        '// in the grouping path is an empty value (prom-client sends it); the official redirects',
        'PUT',
        '/metrics/job/j/a//b/c',
        'ds 1\n',
        301,
        'ds{a="",b="c",instance="",job="j"} 1',
      ],
    ])('%s', async (_name, method, rawPath, body, officialStatus, pushkeepLine) => {
      const [o, p] = await both(method, rawPath, body);
      expect(o!.status).toBe(officialStatus);
      expect(p!.status).toBe(200);
      const [os, ps] = await scrapes();
      expect(os!.body).not.toContain(pushkeepLine);
      expect(ps!.body).toContain(`${pushkeepLine}\n`);
    });

    it('/./ in the grouping path: the official redirects, Pushkeep refuses it', async () => {
      const [o, p] = await both('PUT', '/metrics/job/j/a/./b', 'dot 1\n');
      expect(o!.status).toBe(301);
      expect(p!.status).toBe(400);
    });

    it("a pushed push_time_seconds family is ignored by both: the gateway's own gauge wins", async () => {
      const [o, p] = await both('PUT', '/metrics/job/rs', 'push_time_seconds 5\nrs 1\n');
      expect([o!.status, p!.status]).toEqual([200, 200]);
      for (const s of await scrapes())
        expect(lines(s, /^push_time_seconds\{instance="",job="rs"\}/)).not.toContain('push_time_seconds{instance="",job="rs"} 5');
    });

    it('OpenMetrics: the official refuses an OpenMetrics push and serves text; Pushkeep takes it and serves OpenMetrics', async () => {
      const [o, p] = await both('PUT', '/metrics/job/om', '# TYPE om counter\nom_total 1 # {a="b"} 1\n# EOF\n', {
        'Content-Type': 'application/openmetrics-text; version=1.0.0',
      });
      expect([o!.status, p!.status]).toEqual([400, 200]);
      const [os, ps] = await scrapes('application/openmetrics-text;version=1.0.0');
      expect(os!.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(ps!.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    });

    it('escaping= in Accept: 1.5.1 ignores it, Pushkeep echoes it (as 1.11 does)', async () => {
      const [os, ps] = await scrapes('text/plain;version=0.0.4;escaping=underscores');
      expect(os!.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(ps!.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8; escaping=underscores');
    });

    it('duplicate families in one protobuf push: the official keeps the last, Pushkeep merges them', async () => {
      const dup = protobufBody([
        { name: 'dup', type: 'GAUGE', metric: [{ label: [{ name: 'k', value: '1' }], gauge: { value: 1 } }] },
        { name: 'dup', type: 'GAUGE', metric: [{ label: [{ name: 'k', value: '2' }], gauge: { value: 2 } }] },
      ]);
      const [o, p] = await both('PUT', '/metrics/job/dup', dup, { 'Content-Type': PB });
      expect([o!.status, p!.status]).toEqual([200, 200]);
      const [os, ps] = await scrapes();
      expect(lines(os!, /^dup\{/)).toEqual(['dup{instance="",job="dup",k="2"} 2']);
      expect(lines(ps!, /^dup\{/)).toEqual(['dup{instance="",job="dup",k="1"} 1', 'dup{instance="",job="dup",k="2"} 2']);
    });

    it('HELP conflicts: Pushkeep shows the HELP of the group that sorts first on every scrape', async () => {
      await both('PUT', '/metrics/job/h1', '# HELP hc one\nhc 1\n');
      await both('PUT', '/metrics/job/h2', '# HELP hc two\nhc 2\n');
      const seen = { official: new Set<string>(), pushkeep: new Set<string>() };
      for (let i = 0; i < 5; i++) {
        const [os, ps] = await scrapes();
        for (const l of lines(os!, /^# HELP hc /)) seen.official.add(l);
        for (const l of lines(ps!, /^# HELP hc /)) seen.pushkeep.add(l);
      }
      // The official picks at random: one or both of the two, never another.
      for (const l of seen.official) expect(['# HELP hc one', '# HELP hc two']).toContain(l);
      expect([...seen.pushkeep]).toEqual(['# HELP hc one']);
    });

    it('no longer different: a 64 KiB label value and a protobuf metric of another type than its family', async () => {
      const [o1, p1] = await both('PUT', '/metrics/job/big', `big{v="${'x'.repeat(65536)}"} 1\n`);
      expect([o1!.status, p1!.status]).toEqual([200, 200]);
      const mismatch = protobufBody([{ name: 'mm', type: 'GAUGE', metric: [{ counter: { value: 1 } }] }]);
      const [o2, p2] = await both('PUT', '/metrics/job/mm', mismatch, { 'Content-Type': PB });
      expect([o2!.status, p2!.status]).toEqual([400, 400]);
      for (const s of await scrapes()) {
        const [failure] = lines(s, /^push_failure_time_seconds\{instance="",job="mm"\}/);
        expect(Number(failure?.split(' ')[1])).toBeGreaterThan(0);
      }
    });

    it('durability: after a SIGKILL the official has lost an acknowledged push, Pushkeep has it', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-deliberate-'));
      let o = await startGateway({ persistenceFile: path.join(dir, 'official.snapshot') });
      let p = await startPushkeepGateway({ dbPath: path.join(dir, 'pushkeep.db') });
      try {
        expect((await send(o.baseUrl, 'PUT', '/metrics/job/durable', 'kept 1\n')).status).toBe(200);
        expect((await send(p.baseUrl, 'PUT', '/metrics/job/durable', 'kept 1\n')).status).toBe(200);
        await Promise.all([o.kill(), p.kill()]);
        o = await startGateway({ persistenceFile: path.join(dir, 'official.snapshot') });
        p = await startPushkeepGateway({ dbPath: path.join(dir, 'pushkeep.db') });
        expect((await send(o.baseUrl, 'GET', '/metrics')).body).not.toContain('kept{');
        expect((await send(p.baseUrl, 'GET', '/metrics')).body).toContain('kept{instance="",job="durable"} 1\n');
      } finally {
        await Promise.all([o.stop(), p.stop()]);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 30_000);

    it('--push.disable-consistency-check: both answer 202, but only the official stores the push that breaks the scrape', async () => {
      const flag = ['--push.disable-consistency-check'];
      const [o, p] = await Promise.all([startGateway({ args: flag }), startPushkeepGateway({ args: flag })]);
      try {
        for (const [job, body] of [
          ['tc1', '# TYPE tc counter\ntc 1\n'],
          ['tc2', '# TYPE tc gauge\ntc 2\n'],
        ] as const) {
          expect((await send(o.baseUrl, 'PUT', `/metrics/job/${job}`, body)).status).toBe(202);
          expect((await send(p.baseUrl, 'PUT', `/metrics/job/${job}`, body)).status).toBe(202);
        }
        // The official applies pushes after answering them.
        let official: Reply | undefined;
        for (let i = 0; i < 50 && official?.status !== 500; i++) official = await send(o.baseUrl, 'GET', '/metrics');
        expect(official?.status).toBe(500);
        const scrape = await send(p.baseUrl, 'GET', '/metrics');
        expect(scrape.status).toBe(200);
        expect(lines(scrape, /^tc\{/)).toEqual(['tc{instance="",job="tc1"} 1']);
      } finally {
        await Promise.all([o.stop(), p.stop()]);
      }
    }, 30_000);
  },
);
