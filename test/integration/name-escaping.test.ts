import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDelimited } from '../../src/exposition/protobuf/decode.js';
import { parseText } from '../../src/exposition/text-parser.js';
import { startTestServer, stripOwnFamilies, type TestServer } from '../helpers/test-server.js';
import { missingTools } from '../helpers/tools.js';

// Scrapes with the `escaping=` parameter of Accept, sent exactly as the scrapers send it.
const PROMETHEUS_3 =
  'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';
const PROMETHEUS_2 = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const PB = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited';

const BODY =
  '{"my.dotted_metric",label="x"} 1\n# TYPE legacy_total counter\nlegacy_total{"some.label"="v"} 2\n# TYPE h histogram\nh_bucket{"le.x"="1",le="1"} 1\nh_sum{"le.x"="1"} 2\nh_count{"le.x"="1"} 3\n';

async function scrape(gw: TestServer, accept: string): Promise<{ type: string; body: Buffer }> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { Accept: accept } });
  expect(res.status).toBe(200);
  return { type: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) };
}

function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
    child.stdin!.end(text);
  });
}

describe('escaping= in scrapes, with --push.enable-utf8-names', () => {
  let gw: TestServer;
  beforeAll(async () => {
    gw = await startTestServer({ utf8Names: true });
    expect((await gw.push('PUT', '/metrics/job/j/U__grp_2e_key/g', BODY)).status).toBe(200);
  });
  afterAll(async () => {
    await gw.close();
  });

  it("Prometheus 3's Accept header gets OpenMetrics with the names as pushed, quoted, and escaping=allow-utf-8 echoed", async () => {
    const { type, body } = await scrape(gw, PROMETHEUS_3);
    expect(type).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8');
    const text = body.toString();
    expect(text).toContain('# TYPE "my.dotted_metric" unknown\n{"my.dotted_metric","grp.key"="g",instance="",job="j",label="x"} 1\n');
    expect(text).toContain('# TYPE legacy counter\nlegacy_total{"grp.key"="g",instance="",job="j","some.label"="v"} 2\n');
    expect(text).toContain('h_bucket{"grp.key"="g",instance="",job="j","le.x"="1",le="1"} 1\n');
    expect(text).toContain('push_time_seconds{"grp.key"="g",instance="",job="j"} ');
    expect(text.endsWith('# EOF\n')).toBe(true);
  });

  it('text 1.0.0 with allow-utf-8 quotes the names, and reads back to the names as pushed', async () => {
    const { type, body } = await scrape(gw, 'text/plain;version=1.0.0;escaping=allow-utf-8');
    expect(type).toBe('text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8');
    const text = stripOwnFamilies(body.toString());
    expect(text).toContain('# TYPE "my.dotted_metric" untyped\n{"my.dotted_metric","grp.key"="g",instance="",job="j",label="x"} 1\n');
    const families = parseText(text, { utf8Names: true });
    expect(families.map((f) => f.name)).toEqual(['h', 'legacy_total', 'my.dotted_metric', 'push_failure_time_seconds', 'push_time_seconds']);
    expect(families.find((f) => f.name === 'my.dotted_metric')?.metrics[0]?.labels.map((l) => l.name)).toEqual(['grp.key', 'instance', 'job', 'label']);
  });

  it.each([
    ['text/plain;version=0.0.4', 'text/plain; version=0.0.4; charset=utf-8', 'my_dotted_metric', 'grp_key', 'some_label'],
    [PROMETHEUS_2, 'application/openmetrics-text; version=1.0.0; charset=utf-8', 'my_dotted_metric', 'grp_key', 'some_label'],
    [
      'text/plain;version=0.0.4;escaping=underscores',
      'text/plain; version=0.0.4; charset=utf-8; escaping=underscores',
      'my_dotted_metric',
      'grp_key',
      'some_label',
    ],
    [
      'text/plain;version=1.0.0;escaping=dots',
      'text/plain; version=1.0.0; charset=utf-8; escaping=dots',
      'my_dot_dotted__metric',
      'grp_dot_key',
      'some_dot_label',
    ],
    [
      'application/openmetrics-text;version=1.0.0;escaping=dots',
      'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=dots',
      'my_dot_dotted__metric',
      'grp_dot_key',
      'some_dot_label',
    ],
    [
      'text/plain;version=0.0.4;escaping=values',
      'text/plain; version=0.0.4; charset=utf-8; escaping=values',
      'U__my_2e_dotted__metric',
      'U__grp_2e_key',
      'U__some_2e_label',
    ],
  ])('Accept %s: Content-Type %s, names escaped (%s)', async (accept, contentType, metric, groupLabel, label) => {
    const { type, body } = await scrape(gw, accept);
    expect(type).toBe(contentType);
    const text = body.toString();
    expect(text).toContain(`${metric}{${groupLabel}="g",instance="",job="j",label="x"} 1\n`);
    expect(text).toContain(`legacy_total{${groupLabel}="g",instance="",job="j",${label}="v"} 2\n`);
    expect(text).not.toContain('"my.dotted_metric"');
    if (missingTools('promtool') === undefined && !accept.startsWith('application/openmetrics')) {
      // promtool 2.42 reads text 0.0.4 only: it exits 1 with `error while linting` on a parse
      // error, and 3 on lint complaints (the pushed families have no HELP).
      const result = await promtoolCheckMetrics(text);
      expect(result.output).not.toMatch(/error while linting/);
      expect(result.code).not.toBe(1);
    }
  });

  it.each([
    [`${PB};escaping=allow-utf-8`, 'my.dotted_metric', 'grp.key'],
    [PB, 'my_dotted_metric', 'grp_key'],
    [`${PB};escaping=dots`, 'my_dot_dotted__metric', 'grp_dot_key'],
    [`${PB};escaping=values`, 'U__my_2e_dotted__metric', 'U__grp_2e_key'],
  ])('protobuf with Accept %s names the family %s', async (accept, metric, groupLabel) => {
    const { type, body } = await scrape(gw, accept);
    const escaping = /escaping=([\w-]+)/.exec(accept)?.[1];
    expect(type).toBe(
      `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited${escaping ? `; escaping=${escaping}` : ''}`,
    );
    const family = decodeDelimited(body).find((f) => f.name === metric);
    expect(family?.metrics[0]?.labels.map((l) => l.name)).toEqual([groupLabel, 'instance', 'job', 'label']);
  });

  it('an unknown escaping value is ignored: names are escaped to underscores and nothing is echoed', async () => {
    const { type, body } = await scrape(gw, 'text/plain;version=0.0.4;escaping=bogus');
    expect(type).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(body.toString()).toContain('my_dotted_metric{grp_key="g",');
  });

  it('keeps each scheme rendered: a repeated scrape is the same bytes, and a push changes every scheme', async () => {
    const first = await scrape(gw, PROMETHEUS_3);
    expect((await scrape(gw, PROMETHEUS_3)).body.equals(first.body)).toBe(true);
    expect((await gw.push('POST', '/metrics/job/j/U__grp_2e_key/g', '{"my.dotted_metric",label="x"} 5\n')).status).toBe(200);
    expect((await scrape(gw, PROMETHEUS_3)).body.toString()).toContain('{"my.dotted_metric","grp.key"="g",instance="",job="j",label="x"} 5\n');
    expect((await scrape(gw, 'text/plain;version=1.0.0;escaping=dots')).body.toString()).toContain(
      'my_dot_dotted__metric{grp_dot_key="g",instance="",job="j",label="x"} 5\n',
    );
  });
});

describe('escaping= in scrapes, without --push.enable-utf8-names', () => {
  let gw: TestServer;
  beforeAll(async () => {
    gw = await startTestServer();
    expect((await gw.push('PUT', '/metrics/job/j', '# TYPE legacy_total counter\nlegacy_total{some_label="v"} 2\nplain_name 1\n')).status).toBe(200);
  });
  afterAll(async () => {
    await gw.close();
  });

  it('serves the same series under every scheme: legacy names are never escaped, not even by dots', async () => {
    const reference = stripOwnFamilies((await scrape(gw, 'text/plain;version=0.0.4')).body.toString());
    expect(reference).toContain('legacy_total{instance="",job="j",some_label="v"} 2\n');
    for (const escaping of ['allow-utf-8', 'underscores', 'dots', 'values']) {
      const { type, body } = await scrape(gw, `text/plain;version=0.0.4;escaping=${escaping}`);
      expect(type).toBe(`text/plain; version=0.0.4; charset=utf-8; escaping=${escaping}`);
      expect(stripOwnFamilies(body.toString())).toBe(reference);
    }
  });
});
