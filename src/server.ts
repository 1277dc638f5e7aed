import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, defaultBuildInformation } from './app.js';
import { scrapeHandler } from './http/scrape-router.js';
import { pushHandler } from './http/push-router.js';
import { PushAdmission } from './http/push-admission.js';
import { OTLP_PATHS, otlpHandler } from './http/otlp-router.js';
import { fastPath } from './http/fast-path.js';
import type { PushLimits } from './domain/push-limits.js';
import { authMiddleware } from './http/auth.js';
import { loadWebConfig } from './security/web-config.js';
import { createHttpServer } from './http/http-server.js';
import { WebConfigSource } from './security/web-config-source.js';
import { PushService } from './service/push-service.js';
import type { Logger } from './util/logger.js';
import { ScrapeCache } from './render/scrape-cache.js';
import { openDatabase, type DatabaseOptions } from './store/dialect/open-database.js';
import { KyselyMetricStore } from './store/kysely-metric-store.js';
import { KyselyHistoryStore } from './store/history-store.js';
import { KyselyIdempotencyStore } from './store/idempotency-keys.js';
import type { AggregationPolicy } from './domain/aggregation.js';
import { PushHistory } from './service/push-history.js';
import { HistoryService } from './service/history-service.js';
import { KyselyHistoryReads } from './store/history-reads.js';
import { migrateToLatest } from './store/migrate.js';
import { Telemetry } from './service/telemetry.js';
import { RetentionPolicy } from './domain/retention-policy.js';
import { NO_RETENTION, type RetentionSettings } from './domain/retention-policy.js';
import { expireGroupsStep, RetentionSweeper } from './service/retention-sweeper.js';
import { untilLoaded } from './load-gate.js';

export interface ListenOn {
  readonly host?: string | undefined;
  readonly port: number;
}

export interface ServerOptions {
  readonly database: DatabaseOptions;
  readonly listen: ListenOn;
  /** More addresses to serve the same app on (--web.listen-address is repeatable, as upstream). */
  readonly alsoListen?: readonly ListenOn[] | undefined;
  readonly routePrefix: string;
  readonly telemetryPath: string;
  readonly utf8Names: boolean;
  readonly consistencyCheck: boolean;
  readonly bodyLimit: number;
  readonly lifecycle: boolean;
  readonly version: string;
  /** --web.config.file: TLS, basic auth, roles (src/security/web-config.ts). */
  readonly webConfigFile?: string | undefined;
  /** Per-push and store-wide limits; absent means none (src/domain/push-limits.ts). */
  readonly limits?: PushLimits | undefined;
  /** Slow-client cut-offs; defaults 10 s for the headers and 60 s for the whole request. */
  readonly timeouts?: { readonly headersMs: number; readonly requestMs: number } | undefined;
  /** --web.enable-admin-api: PUT /api/v1/admin/wipe, DELETE /api/v1/admin/groups, the UI's wipe button. */
  readonly adminApi?: boolean | undefined;
  /** Every flag's effective value, for /api/v1/status and the status page (Config.flags). */
  readonly flags?: Readonly<Record<string, string>> | undefined;
  /** Stale-group expiry (loadRetentionSettings); absent = off except for Pushkeep-TTL headers, default schedule. */
  readonly retention?: RetentionSettings | undefined;
  /** Push history (push_history view): kept retentionSeconds (0 = forever; default 7 days), written every flushDelayMs. */
  readonly history?: { readonly retentionSeconds: number; readonly flushDelayMs?: number } | undefined;
  /** --aggregation.rule: the mode of groups created without a Pushkeep-Aggregation header; absent = replace. */
  readonly aggregation?: AggregationPolicy | undefined;
  /** --push.idempotency-window in seconds (default a day; 0 ignores Idempotency-Key). */
  readonly idempotencyWindowSeconds?: number | undefined;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:9091 (with the actual port when 0 was asked for). */
  readonly url: string;
  readonly service: PushService;
  /** The retention sweep: addStep() plugs in more cleanup; sweep() runs one now. */
  readonly sweeper: RetentionSweeper;
  /** Every push attempt; flush() writes the buffered ones now. */
  readonly history: PushHistory;
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
  const startTimeSeconds = Date.now() / 1000;
  // Read first: a broken web config must stop startup before anything listens or migrates.
  const webConfig = options.webConfigFile ? new WebConfigSource(options.webConfigFile, logger) : undefined;
  const database = openDatabase(options.database);
  await migrateToLatest(database.db, logger);
  const store = new KyselyMetricStore(database.db, database.dialect);
  const retention = new RetentionPolicy(options.retention ?? NO_RETENTION);
  const cache = new ScrapeCache(() => retention.now());
  const telemetry = new Telemetry({
    version: options.version,
    storeStats: () => cache.stats(),
    databaseSizeBytes: () => database.sizeBytes(),
  });
  const service = new PushService(store, cache, {
    utf8Names: options.utf8Names,
    ownTypes: () => telemetry.ownTypes(),
    shared: database.dialect.shared,
    ...(options.limits ? { limits: options.limits } : {}),
    retention,
    ...(options.aggregation ? { aggregation: options.aggregation } : {}),
    ...(options.idempotencyWindowSeconds !== undefined ? { idempotencyWindowSeconds: options.idempotencyWindowSeconds } : {}),
  });
  const sweeper = new RetentionSweeper({
    schedule: retention.settings.schedule,
    steps: [expireGroupsStep({ expire: (now) => service.expire(now), countExpired: (n) => telemetry.groupsExpired.inc(n), logger })],
    metrics: {
      observeSweepSeconds: (seconds) => telemetry.sweepDuration.observe(seconds),
      sweepFailed: () => telemetry.sweepFailures.inc(),
    },
    logger,
    clock: () => retention.now(),
  });
  const history = new PushHistory(new KyselyHistoryStore(database.db, database.dialect), {
    retentionSeconds: options.history?.retentionSeconds ?? 7 * 86_400,
    ...(options.history?.flushDelayMs !== undefined ? { flushDelayMs: options.history.flushDelayMs } : {}),
    onWriteError: (err, dropped) => logger.warn({ err, dropped }, 'push history not written'),
  });
  const historyReads = new HistoryService(history, new KyselyHistoryReads(database.db));
  sweeper.addStep({ name: 'push_history', run: async (now) => void (await history.sweep(now)) });
  const idempotencyKeys = new KyselyIdempotencyStore(database.db);
  sweeper.addStep({ name: 'idempotency_keys', run: async (now) => void (await idempotencyKeys.deleteExpired(now)) });
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const sweepStopped = sweeper.stop();
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeIdleConnections();
            }),
        ),
      );
      await sweepStopped;
      // After the last request: its attempt is in the buffer.
      await history.close();
      await database.close();
      resolveClosed();
    })();
    return closing;
  };

  const scrape = scrapeHandler({ service, telemetry, logger, path: options.telemetryPath });
  const pushBytes = database.dialect.pushBytesAtOnce;
  const admission = pushBytes === undefined ? undefined : new PushAdmission(pushBytes);
  const push = pushHandler({
    service,
    telemetry,
    logger,
    utf8Names: options.utf8Names,
    checked: options.consistencyCheck,
    bodyLimit: options.bodyLimit,
    history,
    admission,
  });
  const otlp = otlpHandler({ service, telemetry, logger, utf8Names: options.utf8Names, bodyLimit: options.bodyLimit, history, admission });
  const app = createApp({
    scrape,
    push,
    otlp,
    service,
    telemetry,
    logger,
    routePrefix: options.routePrefix,
    telemetryPath: options.telemetryPath,
    utf8Names: options.utf8Names,
    consistencyCheck: options.consistencyCheck,
    bodyLimit: options.bodyLimit,
    lifecycle: options.lifecycle,
    // Liveness needs a committed write; readiness (reached after the migrations, which run
    // before listening) needs the database to answer. Both answer while the store loads.
    checkHealthy: () => store.checkWritable(),
    checkReady: () => store.ping(),
    isReady: () => true,
    quit: () => void close(),
    // The web config is re-read by its source when the file changes; a reload checks it now so
    // that a broken edit answers 500 with the reason instead of being only logged.
    reload: async () => {
      if (options.webConfigFile) loadWebConfig(options.webConfigFile);
    },
    adminApi: options.adminApi ?? false,
    history,
    historyReads,
    build: defaultBuildInformation(options.version),
    flags: options.flags ?? {},
    startTimeSeconds,
    ...(webConfig ? { auth: authMiddleware({ source: webConfig, logger, routePrefix: options.routePrefix, telemetryPath: options.telemetryPath }) } : {}),
  });
  // The load runs once the addresses are bound (below), between the requests that arrive
  // meanwhile: every request but the health probes waits for it (untilLoaded). Before it is
  // served, each group gets the expiry the current rules give it (rules may have changed while
  // the gateway was down), computed on the groups the load read, and whatever expired meanwhile
  // is gone.
  let startLoad!: () => void;
  const loaded = new Promise<void>((resolve) => (startLoad = resolve)).then(async () => {
    await service.load({ yieldBetweenPages: true });
    const reexpired = await service.applyRetention();
    if (reexpired > 0) logger.info({ groups: reexpired }, 'retention: expiry times recomputed for the current rules');
    await sweeper.sweep();
  });
  const served: http.RequestListener = webConfig
    ? app
    : fastPath({
        app,
        scrape,
        push,
        logger,
        scrapePath: `${options.routePrefix}${options.telemetryPath}`,
        metricsPath: `${options.routePrefix}/metrics`,
        otlp: { handler: otlp, paths: OTLP_PATHS.map((p) => `${options.routePrefix}${p}`) },
      });
  const listener = untilLoaded(served, loaded, [`${options.routePrefix}/-/ready`, `${options.routePrefix}/-/healthy`]);
  const servers: http.Server[] = [];
  try {
    for (const on of [options.listen, ...(options.alsoListen ?? [])]) {
      const server = createHttpServer(listener, webConfig, options.timeouts ?? { headersMs: 10_000, requestMs: 60_000 }, logger);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(on.port, on.host, () => resolve());
      });
      servers.push(server);
    }
  } catch (err) {
    // One address taken: release the others and the database, so the process can exit.
    await close();
    throw err;
  }
  const address = servers[0]!.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${webConfig?.current().tls ? 'https' : 'http'}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  // The bound addresses as they are (0.0.0.0 or :: for all interfaces), not the URL the tests use.
  const bound = servers.map((srv) => {
    const a = srv.address() as AddressInfo;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  });
  logger.info({ address: bound.join(','), storage: database.dialect.name }, 'listening');
  startLoad();
  try {
    await loaded;
  } catch (err) {
    await close();
    throw err;
  }
  sweeper.start();
  return { url, service, sweeper, history, close, closed };
}
