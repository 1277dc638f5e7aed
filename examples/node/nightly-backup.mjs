#!/usr/bin/env node
// The seed guide's nightly backup job with prom-client: four gauges pushed (PUT) to Pushkeep
// under job="nightly_backup", instance="database-01".
//
//   PUSHGATEWAY=localhost:9091 BACKUP_OUTCOME=failure BACKUP_SECONDS=0 node examples/node/nightly-backup.mjs
//
// PUSHGATEWAY     gateway address, host:port or URL (default localhost:9091)
// BACKUP_OUTCOME  success | failure | random (default random, 80% success)
// BACKUP_SECONDS  simulated duration in seconds (default random between 1 and 3)
import { setTimeout as sleep } from 'node:timers/promises';
import { Gauge, Pushgateway, Registry } from 'prom-client';

function gatewayUrl() {
  const address = process.env.PUSHGATEWAY || 'localhost:9091';
  // prom-client resolves paths against a URL, so a bare host:port needs its scheme.
  return address.includes('://') ? address : `http://${address}`;
}

async function performBackup() {
  const start = performance.now();
  const forced = Number.parseFloat(process.env.BACKUP_SECONDS ?? '');
  await sleep(1000 * (Number.isFinite(forced) && forced >= 0 ? forced : 1 + 2 * Math.random()));
  const outcome = process.env.BACKUP_OUTCOME ?? 'random';
  const success = outcome === 'success' ? true : outcome === 'failure' ? false : Math.random() > 0.2;
  return { success, durationSeconds: (performance.now() - start) / 1000 };
}

// An own registry keeps Node's default process metrics out of the push.
const registry = new Registry();
const backupSuccess = new Gauge({
  name: 'backup_success',
  help: 'Whether the backup succeeded (1 for success, 0 for failure)',
  registers: [registry],
});
const backupDuration = new Gauge({
  name: 'backup_duration_seconds',
  help: 'Time taken to perform backup',
  registers: [registry],
});
const backupSize = new Gauge({
  name: 'backup_size_bytes',
  help: 'Size of the backup in bytes',
  registers: [registry],
});
const backupLastTimestamp = new Gauge({
  name: 'backup_last_timestamp',
  help: 'Unix timestamp of the last backup attempt',
  registers: [registry],
});

const { success, durationSeconds } = await performBackup();

backupSuccess.set(success ? 1 : 0);
backupDuration.set(durationSeconds);
// prom-client omits a gauge that was never set; the other clients export 0, so do the same.
backupSize.set(success ? 1_000_000 + Math.floor(Math.random() * 4_000_001) : 0);
backupLastTimestamp.set(Date.now() / 1000);

try {
  await new Pushgateway(gatewayUrl(), { timeout: 5000 }, registry).push({
    jobName: 'nightly_backup',
    groupings: { instance: 'database-01' },
  });
} catch (err) {
  // The backup's outcome must not depend on whether monitoring is reachable.
  console.error(`Failed to push metrics: ${err instanceof Error ? err.message : String(err)}`);
}

console.log(`Backup ${success ? 'succeeded' : 'failed'} in ${durationSeconds.toFixed(2)} seconds`);
