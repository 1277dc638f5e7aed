import { afterEach, describe, expect, it } from 'vitest';
import { startPushkeepProcess, type PushkeepProcess } from '../helpers/process-server.js';
import { stripOwnFamilies, tempDbPath } from '../helpers/test-server.js';

let proc: PushkeepProcess | undefined;
afterEach(async () => {
  await proc?.kill('SIGKILL');
  proc = undefined;
});

async function scrape(p: PushkeepProcess): Promise<string> {
  return stripOwnFamilies(await (await fetch(`${p.url}/metrics`)).text());
}

describe('durability', () => {
  it('keeps every acknowledged push across SIGKILL, byte for byte', async () => {
    const db = tempDbPath();
    proc = await startPushkeepProcess([`--storage.path=${db}`]);
    const acked: string[] = [];
    // Eight clients push without pause; the process is killed once 100 pushes were acknowledged,
    // so some pushes are in flight at the kill. Every one answered 200 must survive it.
    let killed = false;
    const worker = async (w: number) => {
      for (let i = 0; i < 1000 && !killed; i++) {
        const instance = `w${w}i${i}`;
        try {
          const r = await fetch(`${proc!.url}/metrics/job/dur/instance/${instance}`, {
            method: 'PUT',
            body: `# TYPE d gauge\nd{n="${i}"} ${i}\n`,
          });
          if (r.status === 200) acked.push(instance);
        } catch {
          return;
        }
        if (acked.length >= 100 && !killed) {
          killed = true;
          void proc!.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    const exit = await proc.kill('SIGKILL');
    expect(exit).toBeNull();
    expect(acked.length).toBeGreaterThanOrEqual(100);

    proc = await startPushkeepProcess([`--storage.path=${db}`]);
    const after = await scrape(proc);
    for (const instance of acked) {
      expect(after).toMatch(new RegExp(`^d\\{instance="${instance}",job="dur",n="\\d+"\\} \\d+$`, 'm'));
    }
  });

  it('serves the identical scrape after SIGKILL and restart', async () => {
    const db = tempDbPath();
    proc = await startPushkeepProcess([`--storage.path=${db}`]);
    const bodies: [string, string][] = [
      [
        '/metrics/job/nightly_backup/instance/database-01',
        '# HELP backup_success Whether it worked.\n# TYPE backup_success gauge\nbackup_success 1\nbackup_size_bytes 1.234567e+06\n',
      ],
      ['/metrics/job@base64/L3Zhci90bXA', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n'],
      ['/metrics/job/s', '# TYPE q summary\nq{quantile="0.9"} NaN\nq_sum 0\nq_count 0\nweird{v="a\\"b\\\\c\\nd"} -Inf\n'],
    ];
    for (const [p, body] of bodies) expect((await fetch(`${proc.url}${p}`, { method: 'PUT', body })).status).toBe(200);
    expect((await fetch(`${proc.url}/metrics/job/t`, { method: 'PUT', body: 'b 1 1000\n' })).status).toBe(400);
    const before = await scrape(proc);
    await proc.kill('SIGKILL');
    proc = await startPushkeepProcess([`--storage.path=${db}`]);
    expect(await scrape(proc)).toBe(before);
  });

  it('exits 0 on SIGTERM', async () => {
    proc = await startPushkeepProcess([`--storage.path=${tempDbPath()}`]);
    expect(await proc.kill('SIGTERM')).toBe(0);
  });
});
