import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import type { PushService } from '../service/push-service.js';
import { negotiateScrape, type Negotiated } from '../exposition/negotiate.js';
import { OPENMETRICS_CONTENT_TYPE } from '../exposition/openmetrics-renderer.js';
import { PROTOBUF_CONTENT_TYPE } from '../exposition/protobuf/schema.js';
import { ScrapeBodyCache, type ScrapeBody } from '../render/scrape-body.js';
import type { Logger } from '../util/logger.js';
import type { Telemetry } from '../service/telemetry.js';
import { errorStatus } from './error-status.js';
import { scopeOf } from './request-credential.js';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The Content-Type of a negotiated scrape: the format's, with the text version asked for and the
 * `escaping=` scheme echoed when the scraper named one (as expfmt does).
 */
function contentType(n: Negotiated): string {
  const base = n.format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : n.format === 'protobuf' ? PROTOBUF_CONTENT_TYPE : textContentType(n.textVersion);
  return n.echoEscaping === undefined ? base : `${base}; escaping=${n.echoEscaping}`;
}

const textContentType = (version: Negotiated['textVersion']): string => (version === '0.0.4' ? TEXT_CONTENT_TYPE : 'text/plain; version=1.0.0; charset=utf-8');

export interface ScrapeRouterOptions {
  readonly service: PushService;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** Where Prometheus scrapes, relative to the route prefix (--web.telemetry-path). */
  readonly path: string;
}

/**
 * GET <telemetry path>: every pushed family merged with the gateway's own, in the format the Accept
 * header asks for (text 0.0.4, OpenMetrics 1.0.0 or protobuf delimited; see negotiate.ts).
 */
export function scrapeRouter(options: ScrapeRouterOptions, handler = scrapeHandler(options)): express.Router {
  const router = express.Router();
  router.get(options.path, (req, res, next) => {
    handler(req, res).catch(next);
  });
  return router;
}

/**
 * The scrape as a plain node:http handler, so that fast-path.ts can also answer it in front of
 * Express: a 100k-series scrape is mostly cached bytes, and Express' routing then costs as much as
 * the rest of the request. Both paths share one handler and so one body cache.
 */
export type ScrapeHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export function scrapeHandler(options: ScrapeRouterOptions): ScrapeHandler {
  const bodies = new ScrapeBodyCache();
  return (req, res) => scrape(options, bodies, req, res);
}

async function scrape(options: ScrapeRouterOptions, bodies: ScrapeBodyCache, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    // Writes by other replicas first (one query on a shared store): the scrape shows every push
    // acknowledged before it, by any replica.
    await options.service.refresh();
    const gzip = acceptsGzip(req);
    const { service } = options;
    const negotiated = negotiateScrape(req.headers.accept);
    const { format, escaping } = negotiated;
    const variant = `${format}/${escaping}/${gzip ? 'gzip' : 'identity'}`;
    // A scoped credential sees its own groups only, and not the gateway's own families.
    const scope = scopeOf(req);
    let body: ScrapeBody;
    if (scope === undefined) {
      const own = await options.telemetry.snapshot();
      body = bodies.get(variant, service.scrapeVersion(), own.id, () => service.scrape(format, own.families, escaping));
    } else {
      body = bodies.get(`${String(scope)} ${variant}`, service.scrapeVersion(), 0, () => service.scrapeScoped(format, scope, escaping));
    }
    res.writeHead(200, {
      'Content-Type': contentType(negotiated),
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
    if (res.headersSent) return void res.destroy();
    const body = `An error has occurred while serving metrics:\n\n${mapped.message}\n`;
    res.writeHead(mapped.status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  }
}

function acceptsGzip(req: IncomingMessage): boolean {
  const header = req.headers['accept-encoding'];
  return typeof header === 'string' && /(^|[,\s])gzip(\s*;\s*q=(?!0(\.0*)?\s*($|,))[\d.]+)?\s*($|,)/i.test(header);
}
