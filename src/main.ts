#!/usr/bin/env node
import buffer from 'node:buffer';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, parseListenAddress, type Config } from './config/config.js';
import { helpText } from './config/help.js';
import { limitHeapGrowth, limitYoungGeneration } from './heap-growth.js';
import { createLogger } from './util/logger.js';
import { findAbove } from './util/project-files.js';
import { startServer } from './server.js';
import { runSqlCommand } from './cli/sql-command.js';
import { loadRetentionSettings } from './config/retention-rules.js';
import { loadAggregationPolicy } from './config/aggregation-rules.js';
import type { AggregationPolicy } from './domain/aggregation.js';
import type { RetentionSettings } from './domain/retention-policy.js';

const VERSION = (JSON.parse(readFileSync(findAbove('package.json'), 'utf8')) as { version: string }).version;

/** Process entry: read flags, start the gateway, stop it cleanly on SIGTERM/SIGINT or /-/quit. */
async function main(argv: string[]): Promise<number> {
  // Subcommands come first: `pushkeep sql [flags] "<query>"` has flags of its own.
  if (argv[0] === 'sql') return runSqlCommand(argv.slice(1), process.env, process.stdout, process.stderr);
  let config: Config;
  try {
    config = loadConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pushkeep: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (config.help) {
    process.stdout.write(helpText());
    return 0;
  }
  if (config.version) {
    process.stdout.write(`pushkeep ${VERSION}\n`);
    return 0;
  }
  if (config.args.length > 0) {
    process.stderr.write(`pushkeep: unknown command ${JSON.stringify(config.args[0])} (see --help)\n`);
    return 2;
  }

  let retention: RetentionSettings;
  let aggregation: AggregationPolicy;
  try {
    retention = loadRetentionSettings(config.retention);
    aggregation = loadAggregationPolicy(config.aggregation);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pushkeep: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const logger = createLogger({ level: config.log.level, format: config.log.format });
  for (const warning of config.warnings) logger.warn(warning);
  const server = await startServer(
    {
      database: { url: config.storage.url || undefined, sqlitePath: config.storage.path, sync: config.storage.sync },
      listen: parseListenAddress(config.web.listenAddress),
      alsoListen: config.web.listenAddresses.slice(1).map(parseListenAddress),
      routePrefix: config.web.routePrefix,
      telemetryPath: config.web.telemetryPath,
      utf8Names: config.push.enableUtf8Names,
      consistencyCheck: !config.push.disableConsistencyCheck,
      // 0 = no limit: the largest buffer Node can make.
      bodyLimit: config.push.maxBodyBytes || buffer.constants.MAX_LENGTH,
      webConfigFile: config.web.configFile || undefined,
      limits: {
        maxSeriesPerPush: config.push.maxSeries,
        maxLabelsPerSeries: config.push.maxLabelsPerSeries,
        maxLabelNameLength: config.push.maxLabelNameLength,
        maxLabelValueLength: config.push.maxLabelValueLength,
        maxGroups: config.storage.maxGroups,
        maxSeries: config.storage.maxSeries,
      },
      timeouts: { headersMs: config.web.readHeaderTimeoutMs, requestMs: config.web.readTimeoutMs },
      lifecycle: config.web.enableLifecycle,
      version: VERSION,
      adminApi: config.web.enableAdminApi,
      flags: config.flags,
      retention,
      history: { retentionSeconds: config.history.retentionMs / 1000 },
      aggregation,
      idempotencyWindowSeconds: config.aggregation.idempotencyWindowMs / 1000,
    },
    logger,
  );
  // After the store is loaded: the load itself allocates mostly garbage and is faster with V8's
  // default growth (young generation included: capped from the start, a start with 100k series
  // took longer to a complete scrape).
  limitHeapGrowth();
  limitYoungGeneration();
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    void server.close();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await server.closed;
  logger.info('stopped');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`pushkeep: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
