import express from 'express';
import type { PushService } from './service/push-service.js';
import type { Logger } from './util/logger.js';
import type { Telemetry } from './service/telemetry.js';
import type { BuildInformation } from './domain/build-information.js';
import { apiRouter } from './http/api-router.js';
import { errorStatus } from './http/error-status.js';
import { healthRouter } from './http/health-router.js';
import { sendPlainError } from './http/plain-error.js';
import { otlpRouter, type OtlpHandler } from './http/otlp-router.js';
import { pushHandler, pushRouter, type PushHandler } from './http/push-router.js';
import type { PushHistory } from './service/push-history.js';
import type { HistoryService } from './service/history-service.js';
import { scrapeHandler, scrapeRouter, type ScrapeHandler } from './http/scrape-router.js';
import { uiRouter } from './http/ui-router.js';

export interface AppOptions {
  readonly service: PushService;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** Normalised route prefix: '' or '/something' without a trailing slash. */
  readonly routePrefix: string;
  readonly telemetryPath: string;
  readonly utf8Names: boolean;
  readonly consistencyCheck: boolean;
  readonly bodyLimit: number;
  readonly lifecycle: boolean;
  readonly checkHealthy: () => Promise<void>;
  readonly isReady: () => boolean;
  readonly quit: () => void;
  /** Readiness probe beyond isReady: the database answers. Defaults to checkHealthy. */
  readonly checkReady?: () => Promise<void>;
  /** /-/reload with --web.enable-lifecycle; defaults to nothing to reload. */
  readonly reload?: () => Promise<void>;
  /** --web.enable-admin-api. */
  readonly adminApi?: boolean;
  /** For /api/v1/status and the status page. */
  readonly build?: BuildInformation;
  readonly flags?: Readonly<Record<string, string>>;
  readonly startTimeSeconds?: number;
  /** Headers, rate limit and authentication from --web.config.file; runs before every route. */
  readonly auth?: express.RequestHandler;
  /** Records push attempts for the push_history view. */
  readonly history?: PushHistory;
  /** Reads of the push history: GET /api/v1/history, /history, the timelines and the status chart. */
  readonly historyReads?: HistoryService;
  /** The scrape handler, when the fast path also calls it directly (http/fast-path.ts); else one is made. */
  readonly scrape?: ScrapeHandler;
  /** The push handler, when the fast path also calls it directly (http/fast-path.ts); else one is made. */
  readonly push?: PushHandler;
  /** The OTLP handler, when the fast path also calls it directly; else one is made. */
  readonly otlp?: OtlpHandler;
}

/** Build information as /api/v1/status shows it, in the official's field names. */
export function defaultBuildInformation(version: string): BuildInformation {
  return {
    branch: '',
    buildDate: '',
    buildUser: '',
    goVersion: `node${process.versions.node}`,
    revision: '',
    version,
  };
}

/** Builds the Express app; never listens (main.ts and the tests do). */
export function createApp(options: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const prefix = options.routePrefix;
  if (options.auth) app.use(options.auth);

  const scrapeOptions = { ...options, path: options.telemetryPath };
  app.use(prefix || '/', scrapeRouter(scrapeOptions, options.scrape ?? scrapeHandler(scrapeOptions)));
  const pushOptions = { ...options, checked: options.consistencyCheck };
  app.use(`${prefix}/metrics`, pushRouter(pushOptions, options.push ?? pushHandler(pushOptions)));
  app.use(prefix || '/', healthRouter({ ...options, checkReady: options.checkReady ?? options.checkHealthy, reload: options.reload ?? (async () => {}) }));
  const shown = {
    adminApi: options.adminApi ?? false,
    build: options.build ?? defaultBuildInformation('unknown'),
    flags: options.flags ?? {},
    startTimeSeconds: options.startTimeSeconds ?? Date.now() / 1000,
  };
  app.use(prefix || '/', otlpRouter(options, options.otlp));
  app.use(`${prefix}/api/v1`, apiRouter({ ...options, ...shown }));
  app.use(prefix || '/', uiRouter({ ...options, ...shown }));
  // The official answers GET /-/quit at the root even under a prefix.
  app.get('/-/quit', (_req, res) => {
    res.status(405).set('Content-Type', 'text/plain; charset=utf-8').send('Only POST or PUT requests allowed.');
  });

  app.use((_req, res) => sendPlainError(res, 404, '404 page not found'));
  app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const mapped = errorStatus(err);
    if (!mapped.expected) options.logger.error({ err, method: req.method, path: req.originalUrl }, 'request failed');
    if (!res.headersSent) sendPlainError(res, mapped.status, mapped.message);
  });
  return app;
}
