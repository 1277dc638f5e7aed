#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, helpText, loadConfig, parseListenAddress, type Config } from './config.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';

const VERSION = (
  JSON.parse(readFileSync(path.join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
).version;

/** Process entry: read flags, start the gateway, stop it cleanly on SIGTERM/SIGINT or /-/quit. */
async function main(argv: string[]): Promise<number> {
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

  const logger = createLogger({ level: config.log.level, format: config.log.format });
  for (const warning of config.warnings) logger.warn(warning);
  const server = await startServer(
    {
      database: { url: config.storage.url || undefined, sqlitePath: config.storage.path, sync: config.storage.sync },
      listen: parseListenAddress(config.web.listenAddress),
      routePrefix: config.web.routePrefix,
      telemetryPath: config.web.telemetryPath,
      utf8Names: config.push.enableUtf8Names,
      consistencyCheck: !config.push.disableConsistencyCheck,
      bodyLimit: 64 * 1024 * 1024,
      lifecycle: config.web.enableLifecycle,
      version: VERSION,
    },
    logger,
  );
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
