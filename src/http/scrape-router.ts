import express, { type Request, type Response } from 'express';
import type { PushService } from '../domain/push-service.js';
import { ScrapeBodyCache } from '../render/scrape-body.js';
import type { Logger } from '../logger.js';
import type { Telemetry } from '../telemetry.js';
import { sendPlainError } from './plain-error.js';
import { errorStatus } from './error-status.js';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface ScrapeRouterOptions {
  readonly service: PushService;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** Where Prometheus scrapes, relative to the route prefix (--web.telemetry-path). */
  readonly path: string;
}

/** GET <telemetry path>: every pushed family merged with the gateway's own, text format 0.0.4. */
export function scrapeRouter(options: ScrapeRouterOptions): express.Router {
  const router = express.Router();
  const bodies = new ScrapeBodyCache();
  router.get(options.path, (req, res, next) => {
    scrape(options, bodies, req, res).catch(next);
  });
  return router;
}

async function scrape(options: ScrapeRouterOptions, bodies: ScrapeBodyCache, req: Request, res: Response): Promise<void> {
  try {
    const own = await options.telemetry.snapshot();
    const gzip = acceptsGzip(req);
    const { service } = options;
    const body = bodies.get(gzip ? 'gzip' : 'identity', service.scrapeVersion(), own.id, () => service.scrapeText(own.families));
    res.writeHead(200, {
      'Content-Type': TEXT_CONTENT_TYPE,
      'Content-Length': body.length,
      ...(gzip ? { 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' } : {}),
    });
    // Megabytes of cached blocks go out as they are, without joining them into one buffer.
    res.cork();
    for (const c of body.chunks) res.write(c);
    res.end();
  } catch (err) {
    const mapped = errorStatus(err);
    options.logger.error({ err }, 'scrape failed');
    sendPlainError(res, mapped.status, `An error has occurred while serving metrics:\n\n${mapped.message}`);
  }
}

function acceptsGzip(req: Request): boolean {
  const header = req.headers['accept-encoding'];
  return typeof header === 'string' && /(^|[,\s])gzip(\s*;\s*q=(?!0(\.0*)?\s*($|,))[\d.]+)?\s*($|,)/i.test(header);
}
