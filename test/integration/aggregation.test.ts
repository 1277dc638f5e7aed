import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseAggregationRule } from '../../src/config/aggregation-rules.js';
import { AggregationPolicy } from '../../src/domain/aggregation.js';
import { openReadOnly, type DatabaseOptions } from '../../src/store/dialect/open-database.js';
import { parseBody } from '../../src/exposition/parse-body.js';
import { parseText } from '../../src/exposition/text-parser.js';
import { parseGroupingPath } from '../../src/http/grouping-path.js';
import { encodeDelimited } from '../../src/exposition/protobuf/encode.js';
import type { MetricFamily, NativeHistogram } from '../../src/exposition/types.js';
import { describeDialects, dropDatabases } from '../helpers/dialects.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const SUM = { 'Pushkeep-Aggregation': 'sum' };

function value(scrape: string, series: string): number | undefined {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(scrape);
  return match ? Number(match[1]) : undefined;
}

describeDialects('aggregating groups', (dialect) => {
  let gw: TestServer;
  let database: DatabaseOptions;
  const policy = new AggregationPolicy([parseAggregationRule('job=~"rule_.*"=sum')]);
  const restart = async (overrides: Parameters<typeof startTestServer>[0] = {}) => {
    await gw.close();
    gw = await startTestServer({ database, aggregation: policy, ...overrides });
  };

  beforeAll(async () => {
    database = await dialect.freshDatabase();
    gw = await startTestServer({ database, aggregation: policy });
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await dropDatabases();
  });

  it('adds counters and untyped, keeps the last gauge, starts new series from the pushed value, leaves unnamed families alone', async () => {
    const path = '/metrics/job/adds/instance/a';
    expect((await gw.push('POST', path, '# TYPE c counter\nc{k="x"} 2\n# TYPE g gauge\ng 5\nu 1.5\n# TYPE other counter\nother 7\n', SUM)).status).toBe(200);
    expect((await gw.push('POST', path, '# TYPE c counter\nc{k="x"} 3\nc{k="y"} 1\n# TYPE g gauge\ng 4\nu 1\n')).status).toBe(200);
    const scrape = await gw.scrapePushed();
    expect(value(scrape, 'c{instance="a",job="adds",k="x"}')).toBe(5);
    expect(value(scrape, 'c{instance="a",job="adds",k="y"}')).toBe(1);
    expect(value(scrape, 'g{instance="a",job="adds"}')).toBe(4);
    expect(value(scrape, 'u{instance="a",job="adds"}')).toBe(2.5);
    expect(value(scrape, 'other{instance="a",job="adds"}')).toBe(7);
  });

  it('adds classic histograms bucket by bucket and refuses other bounds naming both lists; summaries lose quantiles', async () => {
    const path = '/metrics/job/hist';
    const histogram = (a: number, b: number, inf: number, sum: number) =>
      `# TYPE h histogram\nh_bucket{le="0.1"} ${a}\nh_bucket{le="1"} ${b}\nh_bucket{le="+Inf"} ${inf}\nh_sum ${sum}\nh_count ${inf}\n`;
    expect((await gw.push('POST', path, histogram(1, 2, 3, 4.5), SUM)).status).toBe(200);
    expect((await gw.push('POST', path, histogram(0, 1, 1, 0.5) + '# TYPE s summary\ns{quantile="0.5"} 3\ns_sum 3\ns_count 1\n')).status).toBe(200);
    expect((await gw.push('POST', path, '# TYPE s summary\ns{quantile="0.5"} 9\ns_sum 9\ns_count 1\n')).status).toBe(200);
    let scrape = await gw.scrapePushed();
    expect(value(scrape, 'h_bucket{job="hist",instance="",le="0.1"}') ?? value(scrape, 'h_bucket{instance="",job="hist",le="0.1"}')).toBe(1);
    expect(value(scrape, 'h_bucket{instance="",job="hist",le="1"}')).toBe(3);
    expect(value(scrape, 'h_count{instance="",job="hist"}')).toBe(4);
    expect(value(scrape, 'h_sum{instance="",job="hist"}')).toBe(5);
    expect(value(scrape, 's_sum{instance="",job="hist"}')).toBe(12);
    expect(value(scrape, 's_count{instance="",job="hist"}')).toBe(2);
    expect(scrape).not.toMatch(/quantile=/);

    const other = '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n# TYPE s summary\ns_sum 1\ns_count 1\n';
    const refused = await gw.push('POST', path, other);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toMatch(/^cannot add histogram h: pushed bucket bounds \[0\.5, Infinity\] differ from the stored \[0\.1, 1, Infinity\]/);
    scrape = await gw.scrapePushed();
    // Nothing of the refused push was added: not even the summary before or after it.
    expect(value(scrape, 's_count{instance="",job="hist"}')).toBe(2);
    expect(value(scrape, 'h_count{instance="",job="hist"}')).toBe(4);
    expect(value(scrape, 'push_failure_time_seconds{instance="",job="hist"}')).toBeGreaterThan(0);
  });

  it('adds native histograms pushed in protobuf at different schemas, at the coarser one', async () => {
    const PROTOBUF = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';
    const nativeFamily = (schema: number, deltas: number[], count: number): MetricFamily => {
      const native: NativeHistogram = {
        schema,
        zeroThreshold: 1e-128,
        zeroCount: 1,
        zeroCountFloat: 0,
        sampleCountFloat: 0,
        negativeSpans: [],
        negativeDeltas: [],
        negativeCounts: [],
        positiveSpans: [{ offset: 1, length: deltas.length }],
        positiveDeltas: deltas,
        positiveCounts: [],
      };
      return {
        name: 'nh',
        type: 'histogram',
        help: 'Native.',
        metrics: [{ labels: [], histogram: { sampleCount: count, sampleSum: count, buckets: [], native } }],
      };
    };
    const path = '/metrics/job/native';
    // Schema 1 buckets 1..3 hold 1, 2, 3; schema 0 bucket 1 holds 5: at schema 0, buckets 1 and 2 hold 3+5 and 3.
    const first = await gw.push('POST', path, encodeDelimited([nativeFamily(1, [1, 1, 1], 7)]), { ...SUM, 'Content-Type': PROTOBUF });
    expect(first.status).toBe(200);
    expect((await gw.push('POST', path, encodeDelimited([nativeFamily(0, [5], 6)]), { 'Content-Type': PROTOBUF })).status).toBe(200);
    const scrape = await fetch(`${gw.url}/metrics`, { headers: { Accept: PROTOBUF } });
    const families = parseBody(scrape.headers.get('content-type') ?? PROTOBUF, Buffer.from(await scrape.arrayBuffer()), { utf8Names: false });
    const h = families.find((f) => f.name === 'nh')!.metrics[0]!.histogram!;
    expect(h.sampleCount).toBe(13);
    expect(h.native!.schema).toBe(0);
    expect(h.native!.zeroCount).toBe(2);
    expect(h.native!.positiveSpans).toEqual([{ offset: 1, length: 2 }]);
    expect(h.native!.positiveDeltas).toEqual([8, -5]);
  });

  it('adds the families a push names in addFamilies (deltas) whatever the group mode, with the same rules', async () => {
    const key = parseGroupingPath('/job/deltas', { utf8Names: false });
    expect((await gw.push('PUT', '/metrics/job/deltas', '# TYPE d_total counter\nd_total 5\ncum 1\n')).status).toBe(200);
    const push = (text: string) =>
      gw.service.push({ key, families: parseText(text), replace: false, timeSeconds: Date.now() / 1000, addFamilies: new Set(['d_total']) });
    await push('# TYPE d_total counter\nd_total 2\ncum 4\n');
    let scrape = await gw.scrapePushed();
    expect(value(scrape, 'd_total{instance="",job="deltas"}')).toBe(7);
    expect(value(scrape, 'cum{instance="",job="deltas"}')).toBe(4);
    await expect(push('# TYPE d_total counter\nd_total -1\ncum 9\n')).rejects.toThrow(/counter increment must be a non-negative number/);
    scrape = await gw.scrapePushed();
    expect(value(scrape, 'd_total{instance="",job="deltas"}')).toBe(7);
    expect(value(scrape, 'cum{instance="",job="deltas"}')).toBe(4);
  });

  it('refuses a negative or NaN counter increment as a whole push', async () => {
    const path = '/metrics/job/neg';
    expect((await gw.push('POST', path, '# TYPE a counter\na 1\n# TYPE b counter\nb 1\n', SUM)).status).toBe(200);
    const negative = await gw.push('POST', path, '# TYPE a counter\na 1\n# TYPE b counter\nb -1\n');
    expect(negative.status).toBe(400);
    expect(await negative.text()).toMatch(/counter increment must be a non-negative number, got -1/);
    expect((await gw.push('POST', path, '# TYPE a counter\na NaN\n')).status).toBe(400);
    const scrape = await gw.scrapePushed();
    expect(value(scrape, 'a{instance="",job="neg"}')).toBe(1);
    expect(value(scrape, 'b{instance="",job="neg"}')).toBe(1);
  });

  it('keeps the mode of the push that created the group: another header is 409, a bad one 400; PUT is a new baseline; DELETE ends the mode', async () => {
    const path = '/metrics/job/mode';
    expect((await gw.push('POST', path, 'x 1\n', SUM)).status).toBe(200);
    const conflict = await gw.push('POST', path, 'x 1\n', { 'Pushkeep-Aggregation': 'replace' });
    expect(conflict.status).toBe(409);
    expect(await conflict.text()).toMatch(/aggregates by sum; a push with Pushkeep-Aggregation: replace cannot change that/);
    const bad = await gw.push('POST', path, 'x 1\n', { 'Pushkeep-Aggregation': 'avg' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/invalid Pushkeep-Aggregation header "avg": expected sum or replace/);
    expect(value(await gw.scrapePushed(), 'x{instance="",job="mode"}')).toBe(1);

    expect((await gw.push('PUT', path, 'x 10\n')).status).toBe(200);
    expect((await gw.push('POST', path, 'x 1\n', SUM)).status).toBe(200);
    expect(value(await gw.scrapePushed(), 'x{instance="",job="mode"}')).toBe(11);

    expect((await gw.push('DELETE', path)).status).toBe(202);
    expect((await gw.push('POST', path, 'x 1\n')).status).toBe(200);
    expect((await gw.push('POST', path, 'x 1\n')).status).toBe(200);
    expect(value(await gw.scrapePushed(), 'x{instance="",job="mode"}')).toBe(1);
  });

  it('takes the mode from --aggregation.rule; the header beats the rule', async () => {
    expect((await gw.push('POST', '/metrics/job/rule_a', 'r 1\n')).status).toBe(200);
    expect((await gw.push('POST', '/metrics/job/rule_a', 'r 1\n')).status).toBe(200);
    expect((await gw.push('POST', '/metrics/job/rule_b', 'r 1\n', { 'Pushkeep-Aggregation': 'replace' })).status).toBe(200);
    expect((await gw.push('POST', '/metrics/job/rule_b', 'r 1\n')).status).toBe(200);
    const scrape = await gw.scrapePushed();
    expect(value(scrape, 'r{instance="",job="rule_a"}')).toBe(2);
    expect(value(scrape, 'r{instance="",job="rule_b"}')).toBe(1);
  });

  it('replays a repeated Idempotency-Key without adding again, refuses it on another request (422), for PUT, POST and DELETE', async () => {
    const path = '/metrics/job/idem';
    const once = { ...SUM, 'Idempotency-Key': 'k-1' };
    expect((await gw.push('POST', path, 'n 1\n', once)).status).toBe(200);
    expect((await gw.push('POST', path, 'n 1\n', once)).status).toBe(200);
    expect(value(await gw.scrapePushed(), 'n{instance="",job="idem"}')).toBe(1);
    const other = await gw.push('POST', path, 'n 2\n', once);
    expect(other.status).toBe(422);
    expect(await other.text()).toMatch(/Idempotency-Key "k-1" was already used for group \{job="idem"\} with another request/);
    // Scoped to the grouping key: another group may use the same key.
    expect((await gw.push('POST', '/metrics/job/idem2', 'n 1\n', once)).status).toBe(200);
    expect((await gw.push('POST', path, 'n 1\n', { 'Idempotency-Key': 'k-2' })).status).toBe(200);
    expect(value(await gw.scrapePushed(), 'n{instance="",job="idem"}')).toBe(2);

    expect((await gw.push('DELETE', path, undefined, { 'Idempotency-Key': 'd-1' })).status).toBe(202);
    expect((await gw.push('PUT', path, 'n 5\n', { ...SUM, 'Idempotency-Key': 'p-1' })).status).toBe(200);
    // A late repeat of the DELETE deletes nothing; a repeat of the PUT changes nothing.
    expect((await gw.push('DELETE', path, undefined, { 'Idempotency-Key': 'd-1' })).status).toBe(202);
    expect((await gw.push('POST', path, 'n 1\n', { 'Idempotency-Key': 'k-3' })).status).toBe(200);
    expect((await gw.push('PUT', path, 'n 5\n', { 'Idempotency-Key': 'p-1' })).status).toBe(200);
    expect(value(await gw.scrapePushed(), 'n{instance="",job="idem"}')).toBe(5 + 1);
    expect((await gw.push('DELETE', path, undefined, { 'Idempotency-Key': 'p-1' })).status).toBe(422);
    expect((await gw.push('POST', path, 'n 1\n', { 'Idempotency-Key': '' })).status).toBe(400);
  });

  it('forgets keys after --push.idempotency-window at the retention sweep', async () => {
    await restart({ idempotencyWindowSeconds: 1 });
    const path = '/metrics/job/window';
    const key = { ...SUM, 'Idempotency-Key': 'w' };
    expect((await gw.push('POST', path, 'w 1\n', key)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    await gw.sweeper.sweep();
    const db = await openReadOnly(database);
    try {
      const rows = await db.query("SELECT count(*) AS n FROM idempotency_key WHERE idempotency_key = 'w'");
      expect(Number(rows.rows[0]![0])).toBe(0);
    } finally {
      await db.close();
    }
    expect((await gw.push('POST', path, 'w 1\n', key)).status).toBe(200);
    expect(value(await gw.scrapePushed(), 'w{instance="",job="window"}')).toBe(2);
    await restart();
  });

  it('stores the sums: after a restart the scrape, /api/v1/metrics and pushed_groups show them and the mode', async () => {
    const path = '/metrics/job/kept';
    expect((await gw.push('POST', path, '# TYPE k counter\nk 2\n', SUM)).status).toBe(200);
    expect((await gw.push('POST', path, '# TYPE k counter\nk 3\n')).status).toBe(200);
    await restart();
    expect(value(await gw.scrapePushed(), 'k{instance="",job="kept"}')).toBe(5);
    const api = (await (await fetch(`${gw.url}/api/v1/metrics`)).json()) as {
      data: { labels: { job: string }; aggregation?: string; k?: { metrics: { value: string }[] } }[];
    };
    const kept = api.data.find((g) => g.labels.job === 'kept')!;
    expect(kept.aggregation).toBe('sum');
    expect(kept.k!.metrics[0]!.value).toBe('5');
    expect(api.data.find((g) => g.labels.job === 'rule_b')!.aggregation).toBeUndefined();
    const db = await openReadOnly(database);
    try {
      const rows = await db.query("SELECT job, aggregation FROM pushed_groups WHERE job IN ('kept', 'rule_b') ORDER BY job");
      expect(rows.rows).toEqual([
        ['kept', 'sum'],
        ['rule_b', 'replace'],
      ]);
    } finally {
      await db.close();
    }
    const page = await (await fetch(`${gw.url}/`)).text();
    expect(page).toMatch(/aggregation: sum/);
  });
});
