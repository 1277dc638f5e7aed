import express, { type Request, type Response } from 'express';
import { parseBody } from '../exposition/parse-body.js';
import { parseGroupingPath } from '../domain/grouping-key.js';
import { PushError } from '../domain/push-error.js';
import type { PushService } from '../domain/push-service.js';
import type { Logger } from '../logger.js';
import type { Telemetry } from '../telemetry.js';
import { decodeBody } from './body-decoding.js';
import { errorStatus } from './error-status.js';
import { sendPlainError } from './plain-error.js';
import { readRawBody } from './raw-body.js';

export interface PushRouterOptions {
  readonly service: PushService;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly utf8Names: boolean;
  /** false = --push.disable-consistency-check: pushes answer 202, as the official does. */
  readonly checked: boolean;
  /** Largest accepted body, before and after decompression. */
  readonly bodyLimit: number;
}

const ALLOW = 'DELETE, OPTIONS, POST, PUT';

/**
 * PUT, POST and DELETE on /metrics/job/<job>{/<label>/<value>} (and the @base64 forms). Mounted
 * at <prefix>/metrics; req.path is then the raw, still percent-encoded rest of the path, which
 * the grouping-key parser needs to tell a `%2F` inside a value from a separator.
 */
export function pushRouter(options: PushRouterOptions): express.Router {
  const router = express.Router();
  router.use((req, res, next) => {
    if (!req.path.startsWith('/job/') && !req.path.startsWith('/job@base64/')) return next();
    if (req.method === 'OPTIONS') return void res.set('Allow', ALLOW).status(200).end();
    if (req.method !== 'PUT' && req.method !== 'POST' && req.method !== 'DELETE') {
      res.set('Allow', ALLOW);
      return sendPlainError(res, 405, 'Method Not Allowed');
    }
    handle(options, req, res).catch(next);
  });
  return router;
}

async function handle(options: PushRouterOptions, req: Request, res: Response): Promise<void> {
  const { service, telemetry, logger } = options;
  const started = performance.now();
  const timeSeconds = (performance.timeOrigin + started) / 1000;
  const method = req.method.toLowerCase();
  const handler = method === 'delete' ? 'delete' : 'push';
  let status = 500;
  let bodyBytes = 0;
  try {
    const key = parseGroupingPath(req.path, { utf8Names: options.utf8Names });
    if (method === 'delete') {
      await service.delete(key);
      status = 202;
    } else {
      const raw = await readRawBody(req, options.bodyLimit);
      bodyBytes = raw.length;
      const body = decodeBody(raw, req.headers['content-encoding'], options.bodyLimit);
      const families = parseBody(req.headers['content-type'], body, { utf8Names: options.utf8Names });
      try {
        await service.push({ key, families, replace: method === 'put', timeSeconds });
      } catch (err) {
        // Unchecked mode answers before checking, as the official does; the push is refused all
        // the same and its failure recorded, so the store never becomes inconsistent.
        if (!options.checked && err instanceof PushError && err.kind === 'inconsistent') {
          logger.warn({ path: req.originalUrl, reason: err.message }, 'push rejected');
          status = 202;
          return void res.status(202).end();
        }
        throw err;
      }
      status = options.checked ? 200 : 202;
    }
    res.status(status).end();
  } catch (err) {
    const mapped = errorStatus(err);
    status = mapped.status;
    if (mapped.expected) logger.warn({ method: req.method, path: req.originalUrl, status, reason: mapped.message }, 'push rejected');
    else logger.error({ err, method: req.method, path: req.originalUrl }, 'push failed');
    sendPlainError(res, status, mapped.message);
  } finally {
    telemetry.requests.inc({ code: String(status), handler, method });
    if (handler === 'push') {
      telemetry.pushDuration.observe({ method }, (performance.now() - started) / 1000);
      telemetry.pushSize.observe({ method }, approximateRequestSize(req, bodyBytes));
    }
  }
}

/** As the official: URL, method, protocol, header bytes, host and body length. */
function approximateRequestSize(req: Request, bodyBytes: number): number {
  let size = req.originalUrl.length + req.method.length + 8;
  for (let i = 0; i < req.rawHeaders.length; i++) size += req.rawHeaders[i]!.length;
  return size + bodyBytes;
}
