import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase, dropDatabases, POSTGRES } from '../helpers/dialects.js';
import { startPushkeepProcess, type PushkeepProcess } from '../helpers/process-server.js';
import { stripOwnFamilies, tempDbPath } from '../helpers/test-server.js';

// Sums under a real process (dist/, `npm run build` first): kill -9 during increments, and two
// replicas on one PostgreSQL database.

const SUM_RULE = '--aggregation.rule=job=~"inc|dist"=sum';

async function scraped(p: PushkeepProcess, series: string): Promise<number | undefined> {
  const text = stripOwnFamilies(await (await fetch(`${p.url}/metrics`)).text());
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('sums across kill -9', () => {
  let proc: PushkeepProcess | undefined;
  afterEach(async () => {
    await proc?.kill('SIGKILL');
    proc = undefined;
  });

  it('after SIGKILL under increment load, the stored sum is at least the acknowledged increments and at most the attempted ones', async () => {
    const db = tempDbPath();
    proc = await startPushkeepProcess([`--storage.path=${db}`, SUM_RULE]);
    let acknowledged = 0;
    let attempted = 0;
    let killed = false;
    const worker = async () => {
      for (let i = 0; i < 2000 && !killed; i++) {
        attempted++;
        try {
          const r = await fetch(`${proc!.url}/metrics/job/inc`, { method: 'POST', body: '# TYPE inc_total counter\ninc_total 1\n' });
          if (r.status === 200) acknowledged++;
          else throw new Error(`status ${r.status}: ${await r.text()}`);
        } catch (err) {
          if (!killed) throw err;
          return;
        }
        if (acknowledged >= 300 && !killed) {
          killed = true;
          void proc!.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(killed).toBe(true);
    await proc.kill('SIGKILL');
    proc = await startPushkeepProcess([`--storage.path=${db}`, SUM_RULE]);
    const stored = await scraped(proc, 'inc_total{instance="",job="inc"}');
    expect(stored).toBeGreaterThanOrEqual(acknowledged);
    expect(stored).toBeLessThanOrEqual(attempted);
  }, 60_000);
});

const title = POSTGRES.skipReason ? `sums on two replicas [SKIPPED: ${POSTGRES.skipReason}]` : 'sums on two replicas on PostgreSQL';

describe.skipIf(POSTGRES.skipReason !== undefined)(title, () => {
  let a: PushkeepProcess;
  let b: PushkeepProcess;

  beforeAll(async () => {
    const url = await createPostgresDatabase();
    [a, b] = await Promise.all([
      startPushkeepProcess([`--storage.url=${url}`, '--log.level=warn', SUM_RULE]),
      startPushkeepProcess([`--storage.url=${url}`, '--log.level=warn', SUM_RULE]),
    ]);
  }, 60_000);
  afterAll(async () => {
    await a?.kill('SIGKILL');
    await b?.kill('SIGKILL');
    await dropDatabases();
  });

  it('1,000 concurrent increments spread over both store exactly 1,000, in both scrapes', async () => {
    const INCREMENTS = 1000;
    let next = 0;
    const statuses: number[] = [];
    // 64 in flight at a time, alternating between the replicas.
    const client = async () => {
      while (next < INCREMENTS) {
        const i = next++;
        const to = i % 2 === 0 ? a : b;
        const r = await fetch(`${to.url}/metrics/job/dist`, { method: 'POST', body: '# TYPE dist_total counter\ndist_total 1\n' });
        statuses.push(r.status);
      }
    };
    await Promise.all(Array.from({ length: 64 }, client));
    expect(statuses.filter((s) => s === 200)).toHaveLength(INCREMENTS);
    expect(await scraped(a, 'dist_total{instance="",job="dist"}')).toBe(INCREMENTS);
    expect(await scraped(b, 'dist_total{instance="",job="dist"}')).toBe(INCREMENTS);
  }, 120_000);

  it('a retry with the same Idempotency-Key sent to both replicas at once is applied once', async () => {
    for (let round = 0; round < 20; round++) {
      const init = { method: 'POST', body: 'idem_total 1\n', headers: { 'Pushkeep-Aggregation': 'sum', 'Idempotency-Key': `r${round}` } };
      const [ra, rb] = await Promise.all([fetch(`${a.url}/metrics/job/idem2`, init), fetch(`${b.url}/metrics/job/idem2`, init)]);
      expect([ra.status, rb.status]).toEqual([200, 200]);
    }
    expect(await scraped(a, 'idem_total{instance="",job="idem2"}')).toBe(20);
    expect(await scraped(b, 'idem_total{instance="",job="idem2"}')).toBe(20);
  }, 60_000);
});
