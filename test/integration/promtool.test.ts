import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { missingTools, titleWithTools } from '../helpers/tools.js';

let gw: TestServer;
beforeAll(async () => {
  gw = await startTestServer();
});
afterAll(async () => {
  await gw.close();
});

function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
    child.stdin!.end(text);
  });
}

describe.skipIf(missingTools('promtool'))(titleWithTools('promtool check metrics (Debian prometheus)', 'promtool'), () => {
  it('accepts a scrape holding every metric type, escapes and special values', async () => {
    const pushes: [string, string][] = [
      [
        '/metrics/job/types/instance/a',
        '# HELP c_total A counter.\n# TYPE c_total counter\nc_total{x="1"} 3\n# HELP g A gauge with "quotes" and \\\\ and \\n.\n# TYPE g gauge\ng{v="a\\"b\\\\c\\nd"} -Inf\ng{v="nan"} NaN\n',
      ],
      [
        '/metrics/job/types/instance/b',
        '# HELP s_seconds A summary.\n# TYPE s_seconds summary\ns_seconds{quantile="0.5"} 1.5\ns_seconds{quantile="0.99"} 2e-07\ns_seconds_sum 12\ns_seconds_count 8\n',
      ],
      [
        '/metrics/job/types/instance/c',
        '# HELP h_seconds A histogram.\n# TYPE h_seconds histogram\nh_seconds_bucket{le="0.1"} 1\nh_seconds_bucket{le="1e+06"} 4\nh_seconds_sum 1234567.5\nh_seconds_count 5\n',
      ],
      ['/metrics/job/types/instance/d', '# HELP u An untyped one.\nu 1\n'],
      ['/metrics/job@base64/L3Zhci90bXA', '# HELP g A gauge with another help.\n# TYPE g gauge\ng{v="x"} 1\n'],
    ];
    for (const [path, body] of pushes) expect((await gw.push('PUT', path, body)).status).toBe(200);
    expect((await gw.push('PUT', '/metrics/job/failed', 'x 1 123\n')).status).toBe(400);
    const scrape = await (await fetch(`${gw.url}/metrics`)).text();
    expect(scrape).toMatch(/^# TYPE h_seconds histogram$/m);
    expect(scrape).toMatch(/^# TYPE s_seconds summary$/m);
    const result = await promtoolCheckMetrics(scrape);
    // promtool exits 1 on lint problems and 3 on a parse error: the pushes above are lint-clean,
    // so any complaint is about how Pushkeep renders them or about its own families.
    expect(result).toEqual({ code: 0, output: '' });
  });
});
