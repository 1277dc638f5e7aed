import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import client from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { missingTools, TEST_PYTHON, titleWithTools } from '../helpers/tools.js';

const run = promisify(execFile);
const PYTHON = TEST_PYTHON;

let gw: TestServer;
beforeAll(async () => {
  gw = await startTestServer();
});
afterAll(async () => {
  await gw.close();
});

describe('prom-client Pushgateway', () => {
  it('push, pushAdd and delete behave as against the official gateway', async () => {
    const registry = new client.Registry();
    const gauge = new client.Gauge({ name: 'pc_gauge', help: 'A gauge.', labelNames: ['kind'], registers: [registry] });
    const counter = new client.Counter({ name: 'pc_ops_total', help: 'Ops.', registers: [registry] });
    gauge.set({ kind: 'a/b c' }, 3);
    counter.inc(2);
    const pg = new client.Pushgateway(gw.url, {}, registry);
    await pg.push({ jobName: 'pc job', groupings: { instance: 'host/1' } });
    let scrape = await gw.scrapePushed();
    expect(scrape).toMatch(/^pc_gauge\{instance="host\/1",job="pc job",kind="a\/b c"\} 3$/m);
    expect(scrape).toMatch(/^pc_ops_total\{instance="host\/1",job="pc job"\} 2$/m);

    gauge.reset();
    gauge.set({ kind: 'x' }, 9);
    const only = new client.Registry();
    only.registerMetric(gauge);
    await new client.Pushgateway(gw.url, {}, only).pushAdd({ jobName: 'pc job', groupings: { instance: 'host/1' } });
    scrape = await gw.scrapePushed();
    expect(scrape).toMatch(/^pc_gauge\{instance="host\/1",job="pc job",kind="x"\} 9$/m);
    expect(scrape).not.toMatch(/kind="a\/b c"/);
    expect(scrape).toMatch(/^pc_ops_total\{instance="host\/1",job="pc job"\} 2$/m);

    await pg.delete({ jobName: 'pc job', groupings: { instance: 'host/1' } });
    expect(await gw.scrapePushed()).not.toMatch(/job="pc job"/);
  });
});

describe.skipIf(missingTools('python3-prometheus-client'))(
  titleWithTools('Python prometheus_client (Debian python3-prometheus-client)', 'python3-prometheus-client'),
  () => {
    const address = () => gw.url.replace('http://', '');

    it('push_to_gateway, pushadd_to_gateway and delete_from_gateway', async () => {
      const script = `
import sys
from prometheus_client import CollectorRegistry, Gauge, Counter, push_to_gateway, pushadd_to_gateway, delete_from_gateway
gw = sys.argv[1]
r = CollectorRegistry()
Gauge('py_gauge', 'A gauge', ['kind'], registry=r).labels(kind='x y').set(1.5)
Counter('py_runs', 'Runs', registry=r).inc()
push_to_gateway(gw, job='py job', registry=r, grouping_key={'path': '/var/tmp', 'empty': ''})
r2 = CollectorRegistry()
Gauge('py_other', 'Other', registry=r2).set(7)
pushadd_to_gateway(gw, job='py job', registry=r2, grouping_key={'path': '/var/tmp', 'empty': ''})
print('pushed')
if len(sys.argv) > 2:
    delete_from_gateway(gw, job='py job', grouping_key={'path': '/var/tmp', 'empty': ''})
`;
      await run(PYTHON, ['-c', script, address()]);
      const scrape = await gw.scrapePushed();
      // Debian's client (0.16) quotes the job with quote_plus: the space arrives as '+', which the
      // official gateway (and Pushkeep) keep literally (client_python#1064).
      expect(scrape).toMatch(/^py_gauge\{empty="",instance="",job="py\+job",kind="x y",path="\/var\/tmp"\} 1\.5$/m);
      expect(scrape).toMatch(/^py_runs_total\{empty="",instance="",job="py\+job",path="\/var\/tmp"\} 1$/m);
      expect(scrape).toMatch(/^py_other\{empty="",instance="",job="py\+job",path="\/var\/tmp"\} 7$/m);
      await run(PYTHON, ['-c', script, address(), 'delete']);
      expect(await gw.scrapePushed()).not.toMatch(/job="py\+job"/);
    });

    it('the nightly backup example: job nightly_backup, instance database-01', async () => {
      const script = `
import sys, time
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
registry = CollectorRegistry()
Gauge('backup_success', 'Whether the backup succeeded (1 for success, 0 for failure)', registry=registry).set(1)
Gauge('backup_duration_seconds', 'Time taken to perform backup', registry=registry).set(2.5)
Gauge('backup_size_bytes', 'Size of the backup in bytes', registry=registry).set(3456789)
Gauge('backup_last_timestamp', 'Unix timestamp of the last backup attempt', registry=registry).set(1764043200)
push_to_gateway(sys.argv[1], job='nightly_backup', registry=registry, grouping_key={'instance': 'database-01'})
`;
      await run(PYTHON, ['-c', script, address()]);
      const scrape = await gw.scrapePushed();
      expect(scrape).toContain(
        '# HELP backup_size_bytes Size of the backup in bytes\n# TYPE backup_size_bytes gauge\nbackup_size_bytes{instance="database-01",job="nightly_backup"} 3.456789e+06\n',
      );
      expect(scrape).toMatch(/^backup_success\{instance="database-01",job="nightly_backup"\} 1$/m);
      expect(scrape).toMatch(/^backup_last_timestamp\{instance="database-01",job="nightly_backup"\} 1\.7640432e\+09$/m);
    });

    it('its strict OpenMetrics parser reads an OpenMetrics scrape of every family type', async () => {
      const body = [
        '# TYPE om_requests_total counter\nom_requests_total{code="200"} 3\n',
        '# TYPE om_plain_counter counter\nom_plain_counter 1\n',
        'om_untyped 2\n',
        '# HELP om_temp_celsius A "quoted" help.\n# TYPE om_temp_celsius gauge\nom_temp_celsius -1.5\n',
        '# TYPE om_s summary\nom_s{quantile="0.5"} 1\nom_s_sum 2\nom_s_count 3\n',
        '# TYPE om_h histogram\nom_h_bucket{le="1"} 1\nom_h_bucket{le="+Inf"} 2\nom_h_sum 3\nom_h_count 2\n',
      ].join('');
      expect((await gw.push('PUT', '/metrics/job/om', body)).status).toBe(200);
      const scrape = await (await fetch(`${gw.url}/metrics`, { headers: { Accept: 'application/openmetrics-text; version=1.0.0' } })).text();
      const script = `
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    if f.name.startswith('om_'):
        print(f.name, f.type, len(f.samples))
`;
      const out = await new Promise<string>((resolve, reject) => {
        const child = execFile(PYTHON, ['-c', script], (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
        child.stdin?.end(scrape);
      });
      expect(out.trim().split('\n').sort()).toEqual([
        'om_h histogram 4',
        'om_plain_counter unknown 1',
        'om_requests counter 1',
        'om_s summary 3',
        'om_temp_celsius gauge 1',
        'om_untyped unknown 1',
      ]);
    });
  },
);
