import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startPushkeepProcess, type PushkeepProcess } from '../helpers/process-server.js';
import { tempDbPath } from '../helpers/test-server.js';

let proc: PushkeepProcess | undefined;
afterEach(async () => {
  await proc?.kill('SIGKILL');
  proc = undefined;
});

describe('--web.listen-address', () => {
  it('serves the same gateway on every address given, as the official does', async () => {
    const second = await freePort();
    proc = await startPushkeepProcess([`--storage.path=${tempDbPath()}`, `--web.listen-address=127.0.0.1:${second}`]);
    const res = await fetch(`${proc.url}/metrics/job/two_ports`, { method: 'PUT', body: 'seen_on_both 1\n' });
    expect(res.status).toBe(200);
    const scrape = await (await fetch(`http://127.0.0.1:${second}/metrics`)).text();
    expect(scrape).toMatch(/^seen_on_both\{instance="",job="two_ports"\} 1$/m);
  });
});
