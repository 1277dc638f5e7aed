import express, { type Request, type Response } from 'express';
import type { PushService } from '../service/push-service.js';
import type { Logger } from '../util/logger.js';
import type { GroupHeader } from '../domain/stored-group.js';
import type { Telemetry } from '../service/telemetry.js';
import { renderGroupsPage } from '../ui/groups-page.js';
import { renderStatusPage } from '../ui/status-page.js';
import type { BuildInformation } from '../domain/build-information.js';
import { errorStatus } from './error-status.js';
import { sendPlainError } from './plain-error.js';
import { scopeOf } from './request-credential.js';
import type { HistoryService } from '../service/history-service.js';
import { renderHistoryPage, type HistoryFilter } from '../ui/history-page.js';
import { encodeCursor } from '../domain/history-query.js';
import { parseHistoryParams, rawQuery } from './history-router.js';

export interface UiRouterOptions {
  readonly service: PushService;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly adminApi: boolean;
  readonly utf8Names: boolean;
  readonly build: BuildInformation;
  readonly flags: Readonly<Record<string, string>>;
  readonly startTimeSeconds: number;
  /** The push history behind /history, the group timelines and the status chart; without it they are left out. */
  readonly historyReads?: HistoryService | undefined;
}

/** Groups per page: a page renders in milliseconds whatever the store holds. */
export const GROUPS_PER_PAGE = 100;
/** Job suggestions in the filter box. */
const JOBS_SUGGESTED = 1000;

/**
 * GET <prefix>/ (groups, filterable by job and label text, paginated) and GET <prefix>/status.
 * Only the page's groups are loaded with their families; the rest is headers.
 */
export function uiRouter(options: UiRouterOptions): express.Router {
  const router = express.Router({ caseSensitive: true, strict: true });
  router.get('/', (req, res, next) => {
    // Under a prefix, /pushkeep must become /pushkeep/ for the page's relative links to resolve.
    const path = req.originalUrl.split('?')[0]!;
    if (!path.endsWith('/')) return res.redirect(301, `${path}/${req.originalUrl.slice(path.length)}`);
    groupsPage(options, req, res).catch(next);
  });
  router.get('/history', (req, res, next) => {
    historyPage(options, req, res).catch(next);
  });
  router.get('/status', (req, res, next) => {
    statusPage(options, req, res).catch(next);
  });
  return router;
}

function html(res: Response, body: string): void {
  res.status(200).set('Content-Type', 'text/html; charset=utf-8').set('Cache-Control', 'no-store').send(body);
}

function queryString(req: Request, name: string): string {
  const v = req.query[name];
  return typeof v === 'string' ? v.trim() : '';
}

async function groupsPage(options: UiRouterOptions, req: Request, res: Response): Promise<void> {
  try {
    const now = Date.now() / 1000;
    const job = queryString(req, 'job');
    const q = queryString(req, 'q').toLowerCase();
    const headers = await options.service.groupHeaders(scopeOf(req));
    const jobs = new Set<string>();
    for (const h of headers) if (jobs.size < JOBS_SUGGESTED) jobs.add(h.key.job);
    const matching = headers.filter((h) => matches(h, job, q));
    const pageCount = Math.max(1, Math.ceil(matching.length / GROUPS_PER_PAGE));
    const requested = Number.parseInt(queryString(req, 'page'), 10);
    const page = Number.isFinite(requested) ? Math.min(Math.max(1, requested), pageCount) : 1;
    const slice = matching.slice((page - 1) * GROUPS_PER_PAGE, page * GROUPS_PER_PAGE);
    const groups = await options.service.groupsById(slice.map((h) => h.id));
    const timelines = await options.historyReads?.groupTimelines(
      groups.map((g) => g.key.id),
      now,
    );
    html(
      res,
      renderGroupsPage({
        groups,
        matching: matching.length,
        total: headers.length,
        page,
        pageCount,
        filter: { job, q },
        jobs: [...jobs].sort(),
        nowSeconds: now,
        adminApi: options.adminApi,
        utf8Names: options.utf8Names,
        version: options.build.version,
        ...(timelines ? { timelines } : {}),
      }),
    );
    options.telemetry.requests.inc({ code: '200', handler: 'status', method: 'get' });
  } catch (err) {
    fail(options, res, err);
  }
}

/** GET /history: the API's list with the UI's filters (job, label text, outcome, one group); a bad parameter is a 400 page. */
async function historyPage(options: UiRouterOptions, req: Request, res: Response): Promise<void> {
  if (!options.historyReads) return void sendPlainError(res, 404, 'Not Found');
  try {
    const now = Date.now() / 1000;
    const params = rawQuery(req.originalUrl);
    const query = parseHistoryParams(params, now);
    const labelText = params.get('q')?.trim() ?? '';
    // A scoped credential sees the attempts of its own groups only.
    const scope = scopeOf(req);
    const scoped = scope ? { ...query, required: scope } : query;
    const page = await options.historyReads.query(labelText !== '' ? { ...scoped, labelText } : scoped);
    const jobs = new Set<string>();
    for (const h of await options.service.groupHeaders(scope)) if (jobs.size < JOBS_SUGGESTED) jobs.add(h.key.job);
    const filter: HistoryFilter = { job: query.job ?? '', q: labelText, outcome: query.outcome ?? '', groupingKey: query.groupingKey ?? '' };
    html(
      res,
      renderHistoryPage({
        entries: page.entries,
        filter,
        next: page.next ? encodeCursor(page.next) : undefined,
        older: query.before !== undefined,
        limit: query.limit,
        jobs: [...jobs].sort(),
        nowSeconds: now,
        version: options.build.version,
      }),
    );
    options.telemetry.requests.inc({ code: '200', handler: 'history', method: 'get' });
  } catch (err) {
    fail(options, res, err);
  }
}

function matches(h: GroupHeader, job: string, q: string): boolean {
  if (job !== '' && h.key.job !== job) return false;
  if (q === '') return true;
  return h.key.labels.some((l) => l.value.toLowerCase().includes(q));
}

async function statusPage(options: UiRouterOptions, req: Request, res: Response): Promise<void> {
  try {
    const now = Date.now() / 1000;
    const groups = (await options.service.groupHeaders(scopeOf(req))).length;
    // The pushes-per-minute chart counts every group's attempts: not shown to a scoped credential.
    const lastHour = scopeOf(req) === undefined ? await options.historyReads?.lastHour(now) : undefined;
    html(
      res,
      renderStatusPage({
        build: options.build,
        flags: options.flags,
        startTimeSeconds: options.startTimeSeconds,
        nowSeconds: now,
        groups,
        version: options.build.version,
        ...(lastHour ? { lastHour } : {}),
      }),
    );
    options.telemetry.requests.inc({ code: '200', handler: 'status', method: 'get' });
  } catch (err) {
    fail(options, res, err);
  }
}

function fail(options: UiRouterOptions, res: Response, err: unknown): void {
  const mapped = errorStatus(err);
  if (!mapped.expected) options.logger.error({ err }, 'ui request failed');
  sendPlainError(res, mapped.status, mapped.message);
}
