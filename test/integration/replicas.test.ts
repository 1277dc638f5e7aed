import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase, dropDatabases, POSTGRES } from '../helpers/dialects.js';
import { startPushkeepProcess, type PushkeepProcess } from '../helpers/process-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { stripOwnFamilies } from '../helpers/test-server.js';

// Two real Pushkeep processes (dist/, `npx tsc -p tsconfig.json` first; `npm test` builds) on one
// PostgreSQL database, reached through a TCP proxy that the last test cuts and restores.

const title = POSTGRES.skipReason ? `two replicas on PostgreSQL [SKIPPED: ${POSTGRES.skipReason}]` : 'two replicas on PostgreSQL';

describe.skipIf(POSTGRES.skipReason !== undefined)(title, () => {
  let proxy: TcpProxy;
  let a: PushkeepProcess;
  let b: PushkeepProcess;
  let db: pg.Pool;

  beforeAll(async () => {
    const url = new URL(await createPostgresDatabase());
    db = new pg.Pool({ connectionString: url.toString(), max: 2 });
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    // Started together on an empty database: both run the migrations at once.
    [a, b] = await Promise.all([
      startPushkeepProcess([`--storage.url=${url.toString()}`, '--log.level=warn']),
      startPushkeepProcess([`--storage.url=${url.toString()}`, '--log.level=warn']),
    ]);
  }, 60_000);

  afterAll(async () => {
    await a?.kill('SIGKILL');
    await b?.kill('SIGKILL');
    await proxy?.close();
    await db?.end();
    await dropDatabases();
  });

  const push = (p: PushkeepProcess, method: 'PUT' | 'POST', path: string, body: string) => fetch(`${p.url}/metrics${path}`, { method, body });
  const scrape = async (p: PushkeepProcess) => stripOwnFamilies(await (await fetch(`${p.url}/metrics`)).text());

  it('migrated once, and a push to one is in the very next scrape of the other', async () => {
    const applied = await db.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name');
    expect(new Set(applied.rows.map((r) => r.name)).size).toBe(applied.rowCount);
    for (let i = 0; i < 20; i++) {
      const [to, from] = i % 2 === 0 ? [a, b] : [b, a];
      expect((await push(to, 'PUT', '/job/seen', `v ${i}\n`)).status).toBe(200);
      expect(await scrape(from)).toMatch(new RegExp(`^v\\{instance="",job="seen"\\} ${i}$`, 'm'));
    }
    expect((await fetch(`${a.url}/metrics/job/seen`, { method: 'DELETE' })).status).toBe(202);
    expect(await scrape(b)).not.toMatch(/job="seen"/);
  });

  it('of two concurrent pushes of one name with different types, one answers 200 and one 400, every round', async () => {
    for (let round = 0; round < 50; round++) {
      const name = `conflict_${round}`;
      const [ra, rb] = await Promise.all([
        push(a, 'PUT', `/job/ca/instance/${round}`, `# TYPE ${name} counter\n${name} 1\n`),
        push(b, 'PUT', `/job/cb/instance/${round}`, `# TYPE ${name} gauge\n${name} 2\n`),
      ]);
      expect([ra.status, rb.status].sort()).toEqual([200, 400]);
      const stored = await db.query('SELECT type FROM metric_family WHERE name = $1', [name]);
      expect(stored.rowCount).toBe(1);
      const seen = await scrape(a);
      expect(seen.match(new RegExp(`^${name}\\{`, 'gm'))).toHaveLength(1);
      expect(await scrape(b)).toBe(seen);
    }
  }, 60_000);

  it('of two concurrent PUTs to one group one is left whole, never a mix', async () => {
    for (let round = 0; round < 30; round++) {
      const [ra, rb] = await Promise.all([
        push(a, 'PUT', '/job/whole', `left_a ${round}\nleft_b ${round}\nleft_c ${round}\n`),
        push(b, 'PUT', '/job/whole', `right_a ${round}\nright_b ${round}\n`),
      ]);
      expect([ra.status, rb.status]).toEqual([200, 200]);
      const rows = await db.query<{ name: string }>(
        'SELECT f.name FROM metric_family f JOIN metric_group g ON g.id = f.group_id WHERE g.grouping_key = \'{job="whole"}\' ORDER BY f.name',
      );
      expect([
        ['left_a', 'left_b', 'left_c'],
        ['right_a', 'right_b'],
      ]).toContainEqual(rows.rows.map((r) => r.name));
    }
  }, 60_000);

  it('with the database cut off under push load: only 503s, then recovery, and every 200 is stored', async () => {
    const acked: string[] = [];
    const whileCut: number[] = [];
    const other: number[] = [];
    let cutAt = Infinity;
    let restoredAt = Infinity;
    let stop = false;
    const worker = async (p: PushkeepProcess, w: string) => {
      for (let i = 0; i < 5000 && !stop; i++) {
        const instance = `${w}-${i}`;
        const started = Date.now();
        const res = await push(p, 'PUT', `/job/load/instance/${instance}`, `load_value ${i}\n`);
        await res.text();
        if (res.status === 200) acked.push(instance);
        // Requests wholly inside the outage (1 s margin for in-flight ones at the cut).
        if (started > cutAt + 1000 && Date.now() < restoredAt) whileCut.push(res.status);
        else other.push(res.status);
        if (res.status !== 200) await new Promise((r) => setTimeout(r, 20));
      }
    };
    const load = Promise.all([worker(a, 'a1'), worker(a, 'a2'), worker(b, 'b1'), worker(b, 'b2')]);
    await new Promise((r) => setTimeout(r, 1000));
    const ackedBeforeCut = acked.length;
    proxy.cut();
    cutAt = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    // While down: scrapes and readiness fail too, with a reason, and nobody crashed.
    for (const p of [a, b]) {
      const s = await fetch(`${p.url}/metrics`);
      expect(s.status).toBe(503);
      expect(await s.text()).toMatch(/database unavailable/);
      expect((await fetch(`${p.url}/-/ready`)).status).toBe(503);
    }
    restoredAt = Date.now();
    proxy.restore();
    await new Promise((r) => setTimeout(r, 2000));
    stop = true;
    await load;

    expect(ackedBeforeCut).toBeGreaterThan(0);
    expect(whileCut.length).toBeGreaterThan(0);
    expect(new Set(whileCut)).toEqual(new Set([503]));
    expect(other.every((s) => s === 200 || s === 503)).toBe(true);
    // Recovered by themselves: both replicas take pushes and serve scrapes again.
    for (const p of [a, b]) {
      expect(p.child.exitCode).toBeNull();
      expect((await push(p, 'PUT', '/job/after', 'after 1\n')).status).toBe(200);
      expect((await fetch(`${p.url}/-/ready`)).status).toBe(200);
      expect(await scrape(p)).toMatch(/^after\{instance="",job="after"\} 1$/m);
    }
    expect(acked.length).toBeGreaterThan(ackedBeforeCut);
    const stored = await db.query<{ grouping_key: string }>("SELECT grouping_key FROM metric_group WHERE job = 'load'");
    const keys = new Set(stored.rows.map((r) => r.grouping_key));
    const lost = acked.filter((i) => !keys.has(`{instance="${i}",job="load"}`));
    expect(lost).toEqual([]);
  }, 60_000);
});
