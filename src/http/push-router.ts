import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { parseBody } from '../exposition/parse-body.js';
import { parseGroupingPath } from './grouping-path.js';
import { PushError } from '../domain/push-error.js';
import type { PushService } from '../service/push-service.js';
import { seriesCount } from '../domain/push-attempt.js';
import type { PushHistory } from '../service/push-history.js';
import type { GroupingKey } from '../domain/grouping-key.js';
import { parseTtlHeader } from '../domain/retention-policy.js';
import type { Logger } from '../util/logger.js';
import type { Telemetry } from '../service/telemetry.js';
import { decodeBody } from './body-decoding.js';
import { AGGREGATION_HEADER, parseAggregationHeader } from '../domain/aggregation.js';
import { idempotencyOf } from './idempotency-header.js';
import { errorStatus } from './error-status.js';
import { sendPlainError } from './plain-error.js';
import { readRawBody } from './raw-body.js';
import type { PushAdmission } from './push-admission.js';
import { checkPushScope } from './request-credential.js';

export interface PushRouterOptions {
  readonly service: PushService;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly utf8Names: boolean;
  /** false = --push.disable-consistency-check: pushes answer 202, as the official does. */
  readonly checked: boolean;
  /** Largest accepted body, before and after decompression. */
  readonly bodyLimit: number;
  /** Records every push attempt (push_history); absent records nothing. */
  readonly history?: PushHistory | undefined;
  /** Bounds the pushes parsed and written at once; absent, none. */
  readonly admission?: PushAdmission | undefined;
}

const ALLOW = 'DELETE, OPTIONS, POST, PUT';

/** Handles a push request; `path` is the raw path below <prefix>/metrics, `url` the request's whole URL. */
export type PushHandler = (req: IncomingMessage, res: ServerResponse, path: string, url: string) => Promise<void>;

/** Whether a path below <prefix>/metrics names a group: `/job/<job>…` or `/job@base64/<job>…`. */
export function isPushPath(path: string): boolean {
  return path.startsWith('/job/') || path.startsWith('/job@base64/');
}

/**
 * PUT, POST and DELETE on /metrics/job/<job>{/<label>/<value>} (and the @base64 forms). Mounted
 * at <prefix>/metrics; req.path is then the raw, still percent-encoded rest of the path, which
 * the grouping-key parser needs to tell a `%2F` inside a value from a separator.
 */
export function pushRouter(options: PushRouterOptions, handler = pushHandler(options)): express.Router {
  const router = express.Router();
  router.use((req, res, next) => {
    if (!isPushPath(req.path)) return next();
    if (req.method === 'OPTIONS') return void res.set('Allow', ALLOW).status(200).end();
    if (req.method !== 'PUT' && req.method !== 'POST' && req.method !== 'DELETE') {
      res.set('Allow', ALLOW);
      return sendPlainError(res, 405, 'Method Not Allowed');
    }
    handler(req, res, req.path, req.originalUrl).catch(next);
  });
  return router;
}

/**
 * The push handler on plain node requests: Express calls it from pushRouter, and fast-path.ts
 * before Express routes anything when no web config (authentication) applies.
 */
export function pushHandler(options: PushRouterOptions): PushHandler {
  return (req, res, path, url) => handle(options, req, res, path, url);
}

async function handle(options: PushRouterOptions, req: IncomingMessage, res: ServerResponse, path: string, url: string): Promise<void> {
  const { service, telemetry, logger } = options;
  const started = performance.now();
  const timeSeconds = (performance.timeOrigin + started) / 1000;
  const method = (req.method ?? '').toLowerCase();
  const handler = method === 'delete' ? 'delete' : 'push';
  let status = 500;
  let bodyBytes = 0;
  let key: GroupingKey | undefined;
  let series: number | undefined;
  let reason: string | undefined;
  let admitted = false;
  try {
    key = parseGroupingPath(path, { utf8Names: options.utf8Names });
    checkPushScope(req, key);
    if (method === 'delete') {
      await service.delete(key, { timeSeconds, idempotency: idempotencyOf(req.headers, method, url, undefined, 202) });
      status = 202;
    } else {
      // Checked before the body is read: a bad header costs the client nothing but the 400.
      const ttlSeconds = parseTtlHeader(req.headers['pushkeep-ttl']);
      const aggregation = parseAggregationHeader(req.headers[AGGREGATION_HEADER]);
      const raw = await readRawBody(req, options.bodyLimit);
      bodyBytes = raw.length;
      // Admitted once the body is in: a client sending its body slowly holds no turn.
      if (options.admission) {
        const turn = options.admission.enter(raw.length);
        admitted = true;
        if (turn) await turn;
      }
      const body = decodeBody(raw, req.headers['content-encoding'], options.bodyLimit);
      const families = parseBody(req.headers['content-type'], body, { utf8Names: options.utf8Names });
      series = seriesCount(families);
      const idempotency = idempotencyOf(req.headers, method, url, raw, options.checked ? 200 : 202);
      try {
        const outcome = await service.push({ key, families, replace: method === 'put', timeSeconds, ttlSeconds, aggregation, idempotency });
        if (outcome.replayedStatus !== undefined) {
          res.statusCode = status = outcome.replayedStatus;
          return void res.end();
        }
      } catch (err) {
        // Unchecked mode answers before checking, as the official does; the push is refused all
        // the same and its failure recorded, so the store never becomes inconsistent.
        if (!options.checked && err instanceof PushError && err.kind === 'inconsistent') {
          logger.warn({ path: url, reason: err.message }, 'push rejected');
          status = 202;
          reason = err.message;
          res.statusCode = 202;
          return void res.end();
        }
        throw err;
      }
      status = options.checked ? 200 : 202;
    }
    res.statusCode = status;
    res.end();
  } catch (err) {
    const mapped = errorStatus(err);
    status = mapped.status;
    reason = mapped.message;
    if (mapped.limit) telemetry.limitRejections.inc({ limit: mapped.limit });
    // An oversized body still arriving is not read to its end: the connection closes after the reply.
    if (!req.complete) res.setHeader('Connection', 'close');
    if (mapped.expected) logger.warn({ method: req.method, path: url, status, reason: mapped.message }, 'push rejected');
    else logger.error({ err, method: req.method, path: url }, 'push failed');
    sendPlainError(res, status, mapped.message);
  } finally {
    if (admitted) options.admission!.leave(bodyBytes);
    options.history?.record({
      timeSeconds,
      method: req.method as 'PUT' | 'POST' | 'DELETE',
      path: url,
      ...(key ? { key } : {}),
      outcome: reason === undefined ? 'accepted' : 'rejected',
      statusCode: status,
      ...(reason !== undefined ? { reason } : {}),
      bodyBytes,
      ...(series !== undefined ? { seriesCount: series } : {}),
      ...(req.socket.remoteAddress ? { clientAddress: req.socket.remoteAddress } : {}),
    });
    telemetry.requests.inc({ code: String(status), handler, method });
    if (handler === 'push') {
      telemetry.pushDuration.observe({ method }, (performance.now() - started) / 1000);
      telemetry.pushSize.observe({ method }, approximateRequestSize(req, url, bodyBytes));
    }
  }
}

/** As the official: URL, method, protocol, header bytes, host and body length. */
function approximateRequestSize(req: IncomingMessage, url: string, bodyBytes: number): number {
  let size = url.length + (req.method?.length ?? 0) + 8;
  for (let i = 0; i < req.rawHeaders.length; i++) size += req.rawHeaders[i]!.length;
  return size + bodyBytes;
}
