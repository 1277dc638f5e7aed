import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../helpers/official-gateway.js';
import { maskTimes, startTestServer, stripOwnFamilies, type TestServer } from '../helpers/test-server.js';
import { missingTools, titleWithTools } from '../helpers/tools.js';

// The same requests go to the official Pushgateway (Debian 1.5.1) and to Pushkeep; statuses and
// scrapes (own families removed, push times masked) must be identical. Only behaviour both
// documents agree on is sent here; deliberate differences are tested in push-api.test.ts.
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
