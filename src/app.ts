import express from 'express';
import type { PushService } from './domain/push-service.js';
import type { Logger } from './logger.js';
import type { Telemetry } from './telemetry.js';
import { errorStatus } from './http/error-status.js';
import { healthRouter } from './http/health-router.js';
import { sendPlainError } from './http/plain-error.js';
import { pushRouter } from './http/push-router.js';
import { scrapeRouter } from './http/scrape-router.js';

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
}

/** Builds the Express app; never listens (main.ts and the tests do). */
export function createApp(options: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const prefix = options.routePrefix;

  app.use(prefix || '/', scrapeRouter({ ...options, path: options.telemetryPath }));
  app.use(`${prefix}/metrics`, pushRouter({ ...options, checked: options.consistencyCheck }));
  app.use(prefix || '/', healthRouter(options));
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
