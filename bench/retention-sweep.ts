// Sweeping expired groups (issue 5): fills a fresh SQLite store with N groups whose expiry has
// passed (by default 3 families of 5 series each, as a small batch job pushes) plus N live ones, then times
// one PushService.expire() — the sweep's single DELETE ... RETURNING with its cascades, the name
// registry recount and the scrape cache update.
//
//   node --import tsx bench/retention-sweep.ts [--groups=5000] [--runs=3] [--families=3] [--series=5]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PushService } from '../src/service/push-service.js';
import { parseGroupingPath } from '../src/http/grouping-path.js';
import type { MetricFamily } from '../src/exposition/types.js';
import { ScrapeCache } from '../src/render/scrape-cache.js';
import { RetentionPolicy } from '../src/domain/retention-policy.js';
import { NO_RETENTION } from '../src/domain/retention-policy.js';
import { openDatabase } from '../src/store/dialect/open-database.js';
import { KyselyMetricStore } from '../src/store/kysely-metric-store.js';
import { migrateToLatest } from '../src/store/migrate.js';

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const GROUPS = arg('groups', 5000);
const RUNS = arg('runs', 3);
const FAMILIES = arg('families', 3);
const SERIES = arg('series', 5);

function families(i: number): MetricFamily[] {
  return Array.from({ length: FAMILIES }, (_, f) => `metric_${f}`).map((name) => ({
    name: `batch_${name}`,
    type: 'gauge',
    help: `Batch ${name}.`,
    metrics: Array.from({ length: SERIES }, (_, s) => ({ labels: [{ name: 'stage', value: `s${s}` }], value: i + s })),
  }));
}

async function once(): Promise<{ fillMs: number; sweepMs: number; removed: number; left: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushkeep-sweep-'));
  const database = openDatabase({ sqlitePath: path.join(dir, 'bench.db'), sync: 'normal' });
  try {
    await migrateToLatest(database.db);
    const store = new KyselyMetricStore(database.db, database.dialect);
    let now = Date.now() / 1000;
    const policy = new RetentionPolicy(NO_RETENTION, () => now);
    const service = new PushService(store, new ScrapeCache(() => now), { utf8Names: false, ownTypes: () => new Map(), retention: policy });
    const fillStarted = performance.now();
    const pushes: Promise<unknown>[] = [];
    for (let i = 0; i < 2 * GROUPS; i++) {
      const key = parseGroupingPath(`/job/batch/instance/host-${i}`, { utf8Names: false });
      // Even groups get a 60 s TTL and are swept below; odd ones keep theirs for a day.
      pushes.push(service.push({ key, families: families(i), replace: true, timeSeconds: now, ttlSeconds: i % 2 === 0 ? 60 : 86_400 }));
    }
    await Promise.all(pushes);
    const fillMs = performance.now() - fillStarted;
    now += 61;
    const started = performance.now();
    const expired = await service.expire(now);
    const sweepMs = performance.now() - started;
    const left = (await store.loadHeaders()).length;
    return { fillMs, sweepMs, removed: expired.length, left };
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (let run = 1; run <= RUNS; run++) {
  const r = await once();
  console.log(
    `run ${run}: swept ${r.removed} expired groups (${r.removed * FAMILIES * SERIES} series) of ${2 * GROUPS} in ${r.sweepMs.toFixed(1)} ms; ` +
      `${r.left} groups left; fill took ${(r.fillMs / 1000).toFixed(1)} s`,
  );
}
