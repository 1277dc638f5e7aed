import { GroupSelector } from '../domain/group-matcher.js';
import {
  DEFAULT_HISTORY_LIMIT,
  MAX_HISTORY_LIMIT,
  decodeCursor,
  encodeCursor,
  type HistoryEntry,
  type HistoryPage,
  type HistoryQuery,
} from '../domain/history-query.js';
import { PushError } from '../domain/push-error.js';
import { parseDuration } from '../exposition/duration.js';
import { formatApiTime, goJsonObject, goJsonString } from './api-json.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** The query string of a request, parsed here whatever Express' query parser does: `match[]` is a literal, repeatable key. */
export function rawQuery(originalUrl: string): URLSearchParams {
  const q = originalUrl.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : originalUrl.slice(q + 1));
}

/**
 * GET /api/v1/history's parameters (job, match[], outcome, since, limit, before, and Pushkeep's
 * grouping_key for one exact group) as a HistoryQuery. Throws PushError('invalid') naming the
 * parameter; empty values count as absent, as an HTML form sends them.
 */
export function parseHistoryParams(params: URLSearchParams, nowSeconds: number): HistoryQuery {
  const given = (name: string): string | undefined => {
    const v = params.get(name)?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const job = given('job');
  const groupingKey = given('grouping_key');
  const selectors = [...params.getAll('match[]'), ...params.getAll('match')].filter((m) => m.trim() !== '').map((m) => GroupSelector.parse(m));
  const outcomeText = given('outcome');
  if (outcomeText !== undefined && outcomeText !== 'accepted' && outcomeText !== 'rejected') {
    throw new PushError('invalid', `invalid outcome ${JSON.stringify(outcomeText)}: expected accepted or rejected`);
  }
  const sinceText = given('since');
  const limitText = given('limit');
  let limit = DEFAULT_HISTORY_LIMIT;
  if (limitText !== undefined) {
    limit = /^\d+$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= MAX_HISTORY_LIMIT)) {
      throw new PushError('invalid', `invalid limit ${JSON.stringify(limitText)}: expected a whole number from 1 to ${MAX_HISTORY_LIMIT}`);
    }
  }
  const beforeText = given('before');
  return {
    limit,
    ...(job !== undefined ? { job } : {}),
    ...(groupingKey !== undefined ? { groupingKey } : {}),
    ...(selectors.length > 0 ? { selectors } : {}),
    ...(outcomeText !== undefined ? { outcome: outcomeText } : {}),
    ...(sinceText !== undefined ? { sinceSeconds: parseSince(sinceText, nowSeconds) } : {}),
    ...(beforeText !== undefined ? { before: decodeCursor(beforeText) } : {}),
  };
}

/** A Prometheus duration back from now (`15m`, `24h`, `7d`) or an RFC 3339 time. */
function parseSince(given: string, nowSeconds: number): number {
  // An unencoded `+` of a UTC offset arrives as a space.
  const text = given.replace(/(:\d\d(?:\.\d+)?) (\d\d:\d\d)$/, '$1+$2');
  const rfc3339 = RFC3339.exec(text);
  if (rfc3339) {
    // Date.parse keeps milliseconds only; the API shows times to the microsecond, rounded. Half a
    // microsecond earlier, a time shown for an entry given back as since always takes that entry in.
    const ms = Date.parse(text.replace(' ', 'T').replace(/\.\d+/, ''));
    if (Number.isFinite(ms)) return ms / 1000 + Number(`0${rfc3339[1] ?? ''}`) - 5e-7;
  } else {
    try {
      return nowSeconds - parseDuration(text) / 1000;
    } catch {
      // falls through to the error below
    }
  }
  throw new PushError(
    'invalid',
    `invalid since ${JSON.stringify(text)}: expected a duration such as 15m, 24h or 7d, or an RFC 3339 time such as 2024-05-01T12:00:00Z`,
  );
}

/** The answer's JSON: entries with the push_history view's column names, times as the rest of /api/v1 writes them. */
export function historyJson(page: HistoryPage): string {
  const data = page.entries.map(entryJson).join(',');
  return `{"status":"success","data":[${data}],"next":${page.next ? goJsonString(encodeCursor(page.next)) : 'null'}}`;
}

function entryJson(e: HistoryEntry): string {
  const str = (v: string | null) => (v === null ? 'null' : goJsonString(v));
  const num = (v: number | null) => (v === null ? 'null' : String(v));
  return (
    `{"time":${goJsonString(formatApiTime(e.timeSeconds))},"method":${str(e.method)},"path":${str(e.path)},` +
    `"grouping_key":${str(e.groupingKey)},"job":${str(e.job)},"instance":${str(e.instance)},` +
    `"labels":${goJsonObject(e.labels.map((l) => [l.name, goJsonString(l.value)] as const))},"outcome":${str(e.outcome)},` +
    `"status_code":${num(e.statusCode)},"reason":${str(e.reason)},"body_bytes":${num(e.bodyBytes)},` +
    `"series_count":${num(e.seriesCount)},"client_address":${str(e.clientAddress)}}`
  );
}
