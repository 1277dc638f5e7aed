import type http from 'node:http';
import type { Logger } from '../util/logger.js';
import { sendPlainError } from './plain-error.js';
import type { OtlpHandler } from './otlp-router.js';
import { isPushPath, type PushHandler } from './push-router.js';
import type { ScrapeHandler } from './scrape-router.js';

export interface FastPathOptions {
  /** Everything the fast path does not answer. */
  readonly app: http.RequestListener;
  readonly scrape: ScrapeHandler;
  readonly push: PushHandler;
  readonly logger: Logger;
  /** The scrape's exact path, route prefix included. */
  readonly scrapePath: string;
  /** `<prefix>/metrics`, below which the push paths lie. */
  readonly metricsPath: string;
  /** OTLP exports, on these exact paths (route prefix included). */
  readonly otlp?: { readonly handler: OtlpHandler; readonly paths: readonly string[] };
}

/**
 * Answers the scrape and the push routes before Express routes anything: Express costs a push
 * about as much as parsing and storing it. The same handlers serve these routes through Express
 * (push-router, scrape-router); this only skips the routing. Used when no web config is set, as
 * then no middleware runs before those routes.
 */
export function fastPath(options: FastPathOptions): http.RequestListener {
  const { app, scrape, push, logger, scrapePath, metricsPath, otlp } = options;
  return (req, res) => {
    const url = req.url ?? '';
    const end = url.indexOf('?');
    const path = end < 0 ? url : url.slice(0, end);
    const method = req.method;
    const belowMetrics = path.startsWith(metricsPath) ? path.slice(metricsPath.length) : undefined;
    if (method === 'GET' && path === scrapePath) {
      scrape(req, res).catch((err: unknown) => {
        logger.error({ err }, 'scrape failed');
        res.destroy();
      });
    } else if ((method === 'PUT' || method === 'POST' || method === 'DELETE') && belowMetrics !== undefined && isPushPath(belowMetrics)) {
      // The handler answers every failure itself; what reaches here broke after the reply.
      push(req, res, belowMetrics, url).catch((err: unknown) => {
        logger.error({ err, method, path: url }, 'request failed');
        if (!res.headersSent) sendPlainError(res, 500, 'internal error');
      });
    } else if (method === 'POST' && otlp && otlp.paths.includes(path)) {
      otlp.handler(req, res, url).catch((err: unknown) => {
        logger.error({ err, method, path: url }, 'request failed');
        if (!res.headersSent) sendPlainError(res, 500, 'internal error');
      });
    } else {
      app(req, res);
    }
  };
}
