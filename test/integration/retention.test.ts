import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRetentionRule } from '../../src/config/retention-rules.js';
import type { RetentionSettings } from '../../src/domain/retention-policy.js';
import { startPushkeepProcess, type PushkeepProcess } from '../helpers/process-server.js';
import { startTestServer, tempDbPath, type TestServer } from '../helpers/test-server.js';

const EVERY_SECOND = '* * * * * *';
// Never within a test: shows what readers do before any sweep ran.
const YEARLY = '0 0 0 1 1 *';

const servers: TestServer[] = [];
const processes: PushkeepProcess[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(processes.splice(0).map((p) => p.kill()));
});

function retention(defaultTtlSeconds: number, schedule: string, rules: string[] = []): RetentionSettings {
  return { rules: rules.map((r) => parseRetentionRule(r)), defaultTtlSeconds, schedule };
}

async function start(settings: RetentionSettings): Promise<TestServer> {
  const server = await startTestServer({ retention: settings });
  servers.push(server);
  return server;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function scrape(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

function counter(scrapeText: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(scrapeText);
  if (!match) throw new Error(`${name} not in the scrape`);
  return Number(match[1]);
}

function expiryColumn(dbPath: string, job: string): number | null | undefined {
  const db = new SQLite(dbPath, { readonly: true });
  try {
    const row = db.prepare('SELECT expires_at_seconds FROM metric_group WHERE job = ?').get(job) as { expires_at_seconds: number | null } | undefined;
    return row?.expires_at_seconds;
  } finally {
    db.close();
  }
}

describe('retention over HTTP', () => {
  it('drops a stale group from the scrape on time and counts it; a group pushed again in time stays', async () => {
    const server = await start(retention(2, EVERY_SECOND));
    expect((await server.push('PUT', '/metrics/job/stale', 'a 1\n')).status).toBe(200);
    expect((await server.push('PUT', '/metrics/job/fresh', 'b 1\n')).status).toBe(200);
    const pushedAt = Date.now();
    expect(await server.scrapePushed()).toMatch(/^a\{instance="",job="stale"\} 1$/m);

    await sleep(1200);
    expect((await server.push('PUT', '/metrics/job/fresh', 'b 2\n')).status).toBe(200);
    await sleep(Math.max(0, pushedAt + 2100 - Date.now()));
    const after = await server.scrapePushed();
    expect(after).not.toMatch(/job="stale"/);
    expect(after).toMatch(/^b\{instance="",job="fresh"\} 2$/m);

    // The sweep runs every second: the row goes and the counter says so. `fresh` would expire
    // 2 s after its push at 1.2 s, right when the counter is read: pushed once more, it stays.
    expect((await server.push('PUT', '/metrics/job/fresh', 'b 3\n')).status).toBe(200);
    await sleep(1200);
    expect(expiryColumn(server.dbPath, 'stale')).toBeUndefined();
    const own = await scrape(server.url);
    expect(counter(own, 'pushkeep_groups_expired_total')).toBe(1);
    expect(counter(own, 'pushkeep_retention_sweep_failures_total')).toBe(0);
    expect(counter(own, 'pushkeep_retention_sweep_duration_seconds_count')).toBeGreaterThanOrEqual(2);
  });

  it('hides an expired group from every reader before the sweep, then the sweep deletes it', async () => {
    const server = await start(retention(1, YEARLY));
    await server.push('PUT', '/metrics/job/gone', 'a 1\n');
    await server.push('PUT', '/metrics/job/kept', 'b 1\n', { 'Pushkeep-TTL': '0' });
    const [header] = (await server.service.groupHeaders()).filter((h) => h.key.job === 'gone');
    expect(header?.expiresAtSeconds).toBeGreaterThan(Date.now() / 1000);
    expect(expiryColumn(server.dbPath, 'gone')).toBe(header?.expiresAtSeconds);
    expect(expiryColumn(server.dbPath, 'kept')).toBeNull();

    await sleep(1100);
    expect(await server.scrapePushed()).not.toMatch(/job="gone"/);
    expect((await server.service.groups()).map((g) => g.key.job)).toEqual(['kept']);
    expect((await server.service.groupHeaders()).map((g) => g.key.job)).toEqual(['kept']);
    expect(expiryColumn(server.dbPath, 'gone')).toBeTypeOf('number');

    expect(await server.sweeper.sweep()).toBe(true);
    expect(expiryColumn(server.dbPath, 'gone')).toBeUndefined();
    // The gateway's own metrics are sampled at most once a second.
    await sleep(1050);
    expect(counter(await scrape(server.url), 'pushkeep_groups_expired_total')).toBe(1);
  });

  it('treats a push to an expired, not yet swept group as a new group', async () => {
    const server = await start(retention(1, YEARLY));
    await server.push('PUT', '/metrics/job/j', 'old_metric 1\n# TYPE shared gauge\nshared 1\n');
    await sleep(1100);
    // POST keeps unpushed families of a live group; of an expired one nothing is left to keep.
    expect((await server.push('POST', '/metrics/job/j', 'new_metric 2\n')).status).toBe(200);
    const text = await server.scrapePushed();
    expect(text).toMatch(/^new_metric\{instance="",job="j"\} 2$/m);
    expect(text).not.toMatch(/old_metric|shared/);
    expect(text).toMatch(/^push_failure_time_seconds\{instance="",job="j"\} 0$/m);
    // Its old family names no longer count: another group may push `shared` as a counter.
    expect((await server.push('PUT', '/metrics/job/other', '# TYPE shared counter\nshared 5\n')).status).toBe(200);
  });

  it("does not let a failed push extend a group's life", async () => {
    const server = await start(retention(1.5, YEARLY, ['job="k"=0']));
    await server.push('PUT', '/metrics/job/k', '# TYPE y gauge\ny 1\n');
    await server.push('PUT', '/metrics/job/j', '# TYPE x gauge\nx 1\n');
    const before = expiryColumn(server.dbPath, 'j');
    await sleep(500);
    // y is a gauge in group k: as a counter here it is inconsistent.
    const failed = await server.push('POST', '/metrics/job/j', '# TYPE y counter\ny 2\n');
    expect(failed.status).toBe(400);
    expect(expiryColumn(server.dbPath, 'j')).toBe(before);
    await sleep(1100);
    expect(await server.scrapePushed()).not.toMatch(/job="j"/);
  });

  it('expires a group created only by a failed push, counted from the failure', async () => {
    const server = await start(retention(1, YEARLY));
    await server.push('PUT', '/metrics/job/a', '# TYPE x gauge\nx 1\n');
    expect((await server.push('PUT', '/metrics/job/b', '# TYPE x counter\nx 1\n')).status).toBe(400);
    expect(await server.scrapePushed()).toMatch(/^push_failure_time_seconds\{instance="",job="b"\} [1-9]/m);
    expect(expiryColumn(server.dbPath, 'b')).toBeTypeOf('number');
    await sleep(1100);
    expect(await server.scrapePushed()).not.toMatch(/job="b"/);
  });

  it('honours the Pushkeep-TTL header, which sticks to the group, and refuses a bad one', async () => {
    // Retention off: only the header makes groups expire.
    const server = await start(retention(0, YEARLY));
    await server.push('PUT', '/metrics/job/short', 'a 1\n', { 'Pushkeep-TTL': '1s' });
    await server.push('PUT', '/metrics/job/forever', 'b 1\n');
    expect(expiryColumn(server.dbPath, 'forever')).toBeNull();

    await sleep(600);
    // No header this time: the TTL the last header set still applies, from this push.
    await server.push('PUT', '/metrics/job/short', 'a 2\n');
    await sleep(600);
    expect(await server.scrapePushed()).toMatch(/^a\{instance="",job="short"\} 2$/m);
    await sleep(500);
    expect(await server.scrapePushed()).not.toMatch(/job="short"/);
    expect(await server.scrapePushed()).toMatch(/job="forever"/);

    const bad = await server.push('PUT', '/metrics/job/bad', 'c 1\n', { 'Pushkeep-TTL': 'six hours' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/invalid Pushkeep-TTL header "six hours": expected a duration/);
    expect(expiryColumn(server.dbPath, 'bad')).toBeUndefined();
  });

  it('lets the header keep a group forever where a rule would expire it', async () => {
    const server = await start(retention(0, YEARLY, ['job=~"flink_.*"=1s']));
    await server.push('PUT', '/metrics/job/flink_tm_1', 'a 1\n');
    await server.push('PUT', '/metrics/job/flink_tm_2', 'a 2\n', { 'Pushkeep-TTL': '0' });
    await server.push('PUT', '/metrics/job/other', 'a 3\n');
    await sleep(1100);
    const jobs = [...(await server.scrapePushed()).matchAll(/^a\{instance="",job="([^"]+)"\}/gm)].map((m) => m[1]);
    expect(jobs).toEqual(['flink_tm_2', 'other']);
  });
});

describe('retention across restarts (real process)', () => {
  it('keeps expiry times across a restart and removes groups that expired while the gateway was down', async () => {
    const dbPath = tempDbPath();
    const args = [`--storage.path=${dbPath}`, '--retention.ttl=1h', '--retention.rule=job="short"=2s', `--retention.schedule=${YEARLY}`];
    const first = await startPushkeepProcess(args);
    processes.push(first);
    await fetch(`${first.url}/metrics/job/short`, { method: 'PUT', body: 'a 1\n' });
    await fetch(`${first.url}/metrics/job/long`, { method: 'PUT', body: 'b 1\n' });
    expect(await first.kill()).toBe(0);
    const longExpiry = expiryColumn(dbPath, 'long');
    expect(longExpiry).toBeTypeOf('number');

    await sleep(2100);
    const second = await startPushkeepProcess(args);
    processes.push(second);
    const text = await scrape(second.url);
    expect(text).not.toMatch(/job="short"/);
    expect(text).toMatch(/^b\{instance="",job="long"\} 1$/m);
    expect(counter(text, 'pushkeep_groups_expired_total')).toBe(1);
    expect(second.log()).toMatch(/group expired.*short|short.*group expired/);
    expect(expiryColumn(dbPath, 'long')).toBe(longExpiry);
    expect(expiryColumn(dbPath, 'short')).toBeUndefined();
  });

  it('applies a TTL turned on while the gateway was down to groups nobody pushes any more', async () => {
    const dbPath = tempDbPath();
    const first = await startPushkeepProcess([`--storage.path=${dbPath}`]);
    processes.push(first);
    await fetch(`${first.url}/metrics/job/abandoned`, { method: 'PUT', body: 'a 1\n' });
    expect(await first.kill()).toBe(0);
    expect(expiryColumn(dbPath, 'abandoned')).toBeNull();

    await sleep(1100);
    const second = await startPushkeepProcess([`--storage.path=${dbPath}`, '--retention.ttl=1s']);
    processes.push(second);
    expect(await scrape(second.url)).not.toMatch(/job="abandoned"/);
    expect(expiryColumn(dbPath, 'abandoned')).toBeUndefined();
  });

  it('hides a group at the expiry a TTL turned on while the gateway was down gives it, sweep or not', async () => {
    const dbPath = tempDbPath();
    const first = await startPushkeepProcess([`--storage.path=${dbPath}`]);
    processes.push(first);
    await fetch(`${first.url}/metrics/job/soon`, { method: 'PUT', body: 'a 1\n' });
    const pushedAt = Date.now();
    expect(await first.kill()).toBe(0);

    const second = await startPushkeepProcess([`--storage.path=${dbPath}`, '--retention.ttl=5s', `--retention.schedule=${YEARLY}`]);
    processes.push(second);
    expect(await scrape(second.url)).toMatch(/^a\{instance="",job="soon"\} 1$/m);
    expect(expiryColumn(dbPath, 'soon')).toBeTypeOf('number');
    await sleep(Math.max(0, pushedAt + 5200 - Date.now()));
    expect(await scrape(second.url)).not.toMatch(/job="soon"/);
  }, 20_000);

  it('refuses a bad rule at startup with a clear message', async () => {
    await expect(startPushkeepProcess([`--storage.path=${tempDbPath()}`, '--retention.rule=job="x"'])).rejects.toThrow(
      /exited with 2: pushkeep: invalid retention rule "job=\\"x\\"" in --retention.rule: expected SELECTOR=DURATION/,
    );
  });
});
