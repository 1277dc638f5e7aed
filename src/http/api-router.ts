import express, { type Request, type Response } from 'express';
import { parseDuration } from '../exposition/duration.js';
import { GroupSelector } from '../domain/group-matcher.js';
import { PushError } from '../domain/push-error.js';
import type { PushService } from '../service/push-service.js';
import type { Logger } from '../util/logger.js';
import type { HandlerName, Telemetry } from '../service/telemetry.js';
import type { BuildInformation } from '../domain/build-information.js';
import { errorJson, metricsData, statusData, successJson } from './api-json.js';
import { errorStatus } from './error-status.js';
import { sendPlainError } from './plain-error.js';
import { scopeOf } from './request-credential.js';
import type { HistoryService } from '../service/history-service.js';
import { historyJson, parseHistoryParams, rawQuery } from './history-router.js';

export interface ApiRouterOptions {
  readonly service: PushService;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** --web.enable-admin-api: PUT admin/wipe and DELETE admin/groups; 404 otherwise, as the official. */
  readonly adminApi: boolean;
  readonly build: BuildInformation;
  /** Every flag's effective value as strings (Config.flags). */
  readonly flags: Readonly<Record<string, string>>;
  readonly startTimeSeconds: number;
  /** GET /api/v1/history; 404 without it. */
  readonly historyReads?: HistoryService | undefined;
}

const CORS_HEADERS = {
  'Access-Control-Allow-Headers': 'Accept, Authorization, Content-Type, Origin',
  'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Date',
  'Cache-Control': 'no-cache, no-store, must-revalidate',
} as const;

/**
 * /api/v1 as the official answers it (mounted at <prefix>/api/v1), plus Pushkeep's
 * DELETE admin/groups. Paths match exactly and case-sensitively: the official's redirect of
 * /api/v1/metrics/ to the scrape is a bug not copied.
 */
export function apiRouter(options: ApiRouterOptions): express.Router {
  const router = express.Router();
  router.use((req, res, next) => {
    const count = (handler: HandlerName, code: number) => options.telemetry.requests.inc({ code: String(code), handler, method: req.method.toLowerCase() });
    if (req.method === 'OPTIONS') {
      res.set(CORS_HEADERS).status(200).end();
      return count('api/v1/options', 200);
    }
    switch (req.path) {
      case '/metrics':
      case '/status':
        if (req.method !== 'GET') return methodNotAllowed(res, 'GET, OPTIONS');
        if (req.path === '/status') {
          sendJson(res, 200, successJson(statusData(options.build, options.flags, options.startTimeSeconds)), true);
          return count('api/v1/status', 200);
        }
        return void metrics(options, req, res).then((code) => count('api/v1/metrics', code), next);
      case '/history':
        if (!options.historyReads) return next();
        if (req.method !== 'GET') return methodNotAllowed(res, 'GET, OPTIONS');
        return void history(options, options.historyReads, req, res).then((code) => count('api/v1/history', code), next);
      case '/admin/wipe':
        if (!options.adminApi) return next();
        if (req.method !== 'PUT') return methodNotAllowed(res, 'OPTIONS, PUT');
        return void wipe(options, req, res).then((code) => count('wipe', code), next);
      case '/admin/groups':
        if (!options.adminApi) return next();
        if (req.method !== 'DELETE' && req.method !== 'POST') return methodNotAllowed(res, 'DELETE, OPTIONS, POST');
        return void deleteGroups(options, req, res).then((code) => count('api/v1/admin', code), next);
      default:
        return next();
    }
  });
  return router;
}

function methodNotAllowed(res: Response, allow: string): void {
  res.set('Allow', allow);
  sendPlainError(res, 405, 'Method Not Allowed');
}

function sendJson(res: Response, status: number, body: string, cors = false): void {
  if (cors) res.set(CORS_HEADERS);
  // setHeader, not res.set: Express would append a charset the official does not send.
  res.status(status).setHeader('Content-Type', 'application/json');
  res.send(Buffer.from(body));
}

/** Sends the error envelope for a failure and returns its status. */
function sendError(options: ApiRouterOptions, res: Response, err: unknown): number {
  if (err instanceof PushError && err.kind === 'invalid') {
    sendJson(res, 400, errorJson('bad_data', err.message));
    return 400;
  }
  const mapped = errorStatus(err);
  if (!mapped.expected) options.logger.error({ err }, 'api request failed');
  sendJson(res, mapped.status, errorJson(mapped.status === 503 ? 'unavailable' : 'internal', mapped.message));
  return mapped.status;
}

async function metrics(options: ApiRouterOptions, req: Request, res: Response): Promise<number> {
  try {
    const groups = await options.service.groups(scopeOf(req));
    sendJson(res, 200, successJson(metricsData(groups)), true);
    return 200;
  } catch (err) {
    return sendError(options, res, err);
  }
}

/** GET /api/v1/history: push attempts newest first (http/history-router.ts has the parameters). */
async function history(options: ApiRouterOptions, reads: HistoryService, req: Request, res: Response): Promise<number> {
  try {
    // A scoped credential sees the attempts of its own groups only.
    const scope = scopeOf(req);
    const params = parseHistoryParams(rawQuery(req.originalUrl), Date.now() / 1000);
    const page = await reads.query(scope ? { ...params, required: scope } : params);
    sendJson(res, 200, historyJson(page), true);
    return 200;
  } catch (err) {
    return sendError(options, res, err);
  }
}

async function wipe(options: ApiRouterOptions, req: Request, res: Response): Promise<number> {
  try {
    // A scoped credential wipes its own groups only.
    const removed = await options.service.wipe(scopeOf(req));
    options.logger.info({ groups: removed }, 'wiped all groups');
    // 202 as the official, although the wipe is already committed.
    res.status(202).end();
    return 202;
  } catch (err) {
    return sendError(options, res, err);
  }
}

/**
 * DELETE /api/v1/admin/groups?match[]=<selector>&older_than=<duration>: removes, in one
 * transaction, every group matching any selector and/or whose last successful push is older than
 * the age. At least one of the two is required (PUT admin/wipe removes everything).
 */
async function deleteGroups(options: ApiRouterOptions, req: Request, res: Response): Promise<number> {
  try {
    const q = req.originalUrl.indexOf('?');
    // Parsed here, whatever Express' query parser setting: `match[]` is a literal key, repeated.
    const query = new URLSearchParams(q < 0 ? '' : req.originalUrl.slice(q + 1));
    const selectors = [...query.getAll('match[]'), ...query.getAll('match')].map((m) => GroupSelector.parse(m));
    const olderThan = query.get('older_than');
    let pushedBefore: number | undefined;
    if (olderThan !== null) {
      let ms: number;
      try {
        ms = parseDuration(olderThan);
      } catch {
        throw new PushError('invalid', `invalid older_than ${JSON.stringify(olderThan)}: expected a duration such as 90s, 15m, 24h or 7d`);
      }
      pushedBefore = Date.now() / 1000 - ms / 1000;
    }
    if (selectors.length === 0 && pushedBefore === undefined) {
      throw new PushError('invalid', 'give match[]=<selector> and/or older_than=<duration>; PUT /api/v1/admin/wipe removes every group');
    }
    const deleted = await options.service.deleteMatching(selectors, pushedBefore, scopeOf(req));
    options.logger.info({ deleted, match: selectors.length, olderThan }, 'deleted groups');
    sendJson(res, 200, successJson(`{"deleted":${deleted}}`));
    return 200;
  } catch (err) {
    return sendError(options, res, err);
  }
}
