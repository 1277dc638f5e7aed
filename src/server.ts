import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { PushService } from './domain/push-service.js';
import type { Logger } from './logger.js';
import { ScrapeCache } from './render/scrape-cache.js';
import { openDatabase, type DatabaseOptions } from './store/database.js';
import { KyselyMetricStore } from './store/kysely-metric-store.js';
import { migrateToLatest } from './store/migrate.js';
import { Telemetry } from './telemetry.js';

export interface ServerOptions {
  readonly database: DatabaseOptions;
  readonly listen: { readonly host?: string | undefined; readonly port: number };
  readonly routePrefix: string;
  readonly telemetryPath: string;
  readonly utf8Names: boolean;
  readonly consistencyCheck: boolean;
  readonly bodyLimit: number;
  readonly lifecycle: boolean;
  readonly version: string;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:9091 (with the actual port when 0 was asked for). */
  readonly url: string;
  readonly service: PushService;
  /** Stops accepting connections, lets in-flight requests finish, closes the database. */
  close(): Promise<void>;
  /** Resolves when something (SIGTERM, /-/quit) asked the server to stop and it has. */
  readonly closed: Promise<void>;
}

/**
 * Opens the database, migrates it, loads the scrape cache and listens. The composition root
 * shared by main.ts and the integration tests, which run it in-process on port 0.
 */
export async function startServer(options: ServerOptions, logger: Logger): Promise<RunningServer> {
  const database = openDatabase(options.database);
  await migrateToLatest(database.db, logger);
  const store = new KyselyMetricStore(database.db, { groupCommit: database.kind === 'sqlite' });
  const cache = new ScrapeCache();
  const telemetry = new Telemetry({
    version: options.version,
    storeStats: () => cache.stats(),
    databaseSizeBytes: () => database.sizeBytes(),
  });
  const service = new PushService(store, cache, {
    utf8Names: options.utf8Names,
    ownTypes: () => telemetry.ownTypes(),
  });
  await service.load();

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await database.close();
      resolveClosed();
    })();
    return closing;
  };

  const app = createApp({
    service,
    telemetry,
    logger,
    routePrefix: options.routePrefix,
    telemetryPath: options.telemetryPath,
    utf8Names: options.utf8Names,
    consistencyCheck: options.consistencyCheck,
    bodyLimit: options.bodyLimit,
    lifecycle: options.lifecycle,
    checkHealthy: () => store.ping(),
    isReady: () => true,
    quit: () => void close(),
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  logger.info({ address: url, storage: database.kind }, 'listening');
  return { url, service, close, closed };
}
