import { sql, type Expression, type ExpressionBuilder, type Kysely, type Selectable, type SqlBool } from 'kysely';
import type { GroupSelector, LabelMatcher } from '../domain/group-matcher.js';
import { compareUtf8 } from '../domain/grouping-key.js';
import {
  matchesExactly,
  type HistoryCursor,
  type HistoryEntry,
  type HistoryPage,
  type HistoryQuery,
  type HistoryReads,
  type Timeline,
  type TimelineSlot,
} from '../domain/history-query.js';
import { jsonString } from '../exposition/json-string.js';
import type { LabelPair } from '../exposition/types.js';
import type { Database, PushAttemptTable } from './schema.js';

// Rows one request may examine when the filters reject most of them: the page then ends early,
// with a cursor where the reading stopped.
const SCAN_BUDGET = 100_000;
// Windows grow fast while SQL states every filter (what it returns is nearly all kept), and
// slowly, to a small size, while a regex or != leaves SQL returning rows for JS to test.
const SQL_WINDOW = { growth: 4, max: 50_000 } as const;
const JS_WINDOW = { growth: 2, max: 5000 } as const;

const COLUMNS = [
  'id',
  'time_seconds',
  'method',
  'path',
  'grouping_key',
  'job',
  'labels_json',
  'outcome',
  'status_code',
  'reason',
  'body_bytes',
  'series_count',
  'client_address',
] as const;

type Where = ExpressionBuilder<Database, 'push_attempt'>;

/** A push_attempt row as read: PostgreSQL returns its bigint columns as strings. */
type AttemptRow = Omit<Selectable<PushAttemptTable>, 'id' | 'body_bytes'> & { id: number | string; body_bytes: number | string };

/**
 * The push_attempt table read newest first through its (…, time_seconds, id) indexes (migration
 * 0008). A page is read in windows of the most selective index (leading()); within a window SQL
 * applies every filter it can state (job, group, outcome, since, `name="value"` as text of the
 * labels' JSON, label text), and the selector semantics SQL cannot state portably (anchored
 * regexes, a missing label reading as "") are checked exactly on what it returns.
 */
export class KyselyHistoryReads implements HistoryReads {
  constructor(private readonly db: Kysely<Database>) {}

  async queryHistory(query: HistoryQuery): Promise<HistoryPage> {
    const entries: HistoryEntry[] = [];
    let position = query.before;
    let scanned = 0;
    let pageEnd: HistoryCursor | undefined;
    // The first window holds one page and one more row; it grows while the filters reject most rows.
    let window = query.limit + 1;
    const growth = [...(query.selectors ?? []), ...(query.required ? [query.required] : [])].every((sel) => sel.matchers.every(statedInSql))
      ? SQL_WINDOW
      : JS_WINDOW;
    for (;;) {
      // Where the next `window` rows of the leading index end: an ordered index-only walk, so
      // the filters below are applied to a bounded range instead of to every row they might
      // match (PostgreSQL would otherwise collect and sort all of a job's rows for a selective filter).
      const end = await this.db
        .selectFrom('push_attempt')
        .select(['time_seconds', 'id'])
        .where((eb) => eb.and(leading(eb, query, position)))
        .orderBy('time_seconds', 'desc')
        .orderBy('id', 'desc')
        .offset(window - 1)
        .limit(1)
        .executeTakeFirst();
      const boundary = end ? { timeSeconds: end.time_seconds, id: Number(end.id) } : undefined;
      const rows = (await this.db
        .selectFrom('push_attempt')
        .select(COLUMNS)
        .where((eb) => {
          const where = conditions(eb, query, position);
          // The plain range beside the tuple gives the planner an estimate it can use.
          if (boundary)
            where.push(
              eb('time_seconds', '>=', boundary.timeSeconds),
              eb(eb.refTuple('time_seconds', 'id'), '>=', eb.tuple(boundary.timeSeconds, boundary.id)),
            );
          return eb.and(where);
        })
        .orderBy('time_seconds', 'desc')
        .orderBy('id', 'desc')
        .execute()) as AttemptRow[];
      for (const row of rows) {
        const entry = toEntry(row);
        if (!matchesExactly(query, entry)) continue;
        // One match beyond the page: there is a next page, and it starts after the page's last entry.
        if (entries.length === query.limit) return { entries, ...(pageEnd ? { next: pageEnd } : {}) };
        entries.push(entry);
        pageEnd = { timeSeconds: row.time_seconds, id: Number(row.id) };
      }
      if (!boundary) return { entries };
      position = boundary;
      scanned += window;
      if (scanned >= SCAN_BUDGET) return { entries, next: boundary };
      window = Math.min(window * growth.growth, growth.max);
    }
  }

  async groupTimelines(groupingKeys: readonly string[], startSeconds: number, slotSeconds: number, slotCount: number): Promise<Map<string, Timeline>> {
    const out = new Map<string, Timeline>();
    if (groupingKeys.length === 0) return out;
    // One range of the (grouping_key, time_seconds, id) index per group; the counting happens in SQL
    // so that a group pushed every few seconds costs its slots, not its pushes, in memory.
    const rows = await sql<{ grouping_key: string; slot: number; rejected: number | string; total: number | string }>`
      SELECT grouping_key, slot, sum(CASE WHEN outcome = 'rejected' THEN 1 ELSE 0 END) AS rejected, count(*) AS total
      FROM (
        SELECT grouping_key, outcome, floor((time_seconds - ${startSeconds}) / ${slotSeconds}) AS slot
        FROM push_attempt
        WHERE grouping_key IN (${sql.join(groupingKeys)}) AND time_seconds >= ${startSeconds} AND time_seconds < ${startSeconds + slotSeconds * slotCount}
      ) AS a
      GROUP BY grouping_key, slot`.execute(this.db);
    for (const key of groupingKeys) out.set(key, emptyTimeline(startSeconds, slotSeconds, slotCount));
    for (const row of rows.rows) addToSlot(out.get(row.grouping_key), row);
    return out;
  }

  async overallTimeline(startSeconds: number, slotSeconds: number, slotCount: number): Promise<Timeline> {
    const rows = await sql<{ slot: number; rejected: number | string; total: number | string }>`
      SELECT slot, sum(CASE WHEN outcome = 'rejected' THEN 1 ELSE 0 END) AS rejected, count(*) AS total
      FROM (
        SELECT outcome, floor((time_seconds - ${startSeconds}) / ${slotSeconds}) AS slot
        FROM push_attempt
        WHERE time_seconds >= ${startSeconds} AND time_seconds < ${startSeconds + slotSeconds * slotCount}
      ) AS a
      GROUP BY slot`.execute(this.db);
    const timeline = emptyTimeline(startSeconds, slotSeconds, slotCount);
    for (const row of rows.rows) addToSlot(timeline, row);
    return timeline;
  }
}

/**
 * The one condition whose index yields rows in (time_seconds, id) order, most selective first: a
 * group, a job (given, or pinned by the required selector), an outcome, or none (the time index).
 */
function leading(eb: Where, query: HistoryQuery, position: HistoryCursor | undefined): Expression<SqlBool>[] {
  const where: Expression<SqlBool>[] = [];
  const requiredJob = query.required?.matchers.find((m) => m.name === 'job' && m.op === '=' && m.value !== '')?.value;
  if (query.groupingKey !== undefined) where.push(eb('grouping_key', '=', query.groupingKey));
  else if (query.job !== undefined) where.push(eb('job', '=', query.job));
  else if (requiredJob !== undefined) where.push(eb('job', '=', requiredJob));
  else if (query.outcome !== undefined) where.push(eb('outcome', '=', query.outcome));
  if (query.sinceSeconds !== undefined) where.push(eb('time_seconds', '>=', query.sinceSeconds));
  if (position) where.push(eb(eb.refTuple('time_seconds', 'id'), '<', eb.tuple(position.timeSeconds, position.id)));
  return where;
}

function conditions(eb: Where, query: HistoryQuery, position: HistoryCursor | undefined): Expression<SqlBool>[] {
  const where: Expression<SqlBool>[] = [];
  if (query.job !== undefined) where.push(eb('job', '=', query.job));
  if (query.groupingKey !== undefined) where.push(eb('grouping_key', '=', query.groupingKey));
  if (query.outcome !== undefined) where.push(eb('outcome', '=', query.outcome));
  if (query.sinceSeconds !== undefined) where.push(eb('time_seconds', '>=', query.sinceSeconds));
  if (position)
    where.push(eb('time_seconds', '<=', position.timeSeconds), eb(eb.refTuple('time_seconds', 'id'), '<', eb.tuple(position.timeSeconds, position.id)));
  if (query.required) where.push(...narrowing(eb, query.required));
  if (query.selectors && query.selectors.length > 0) {
    const each = query.selectors.map((s) => narrowing(eb, s));
    // A selector SQL cannot narrow admits every row, and so does their OR.
    if (each.every((c) => c.length > 0)) where.push(eb.or(each.map((c) => eb.and(c))));
  }
  if (query.labelText) {
    // Over the JSON text, names and quoting included: a superset of the rows matchesExactly keeps.
    where.push(eb(eb.fn('lower', ['labels_json']), 'like', `%${likeEscape(jsonString(query.labelText.toLowerCase()).slice(1, -1))}%`));
  }
  return where;
}

/**
 * What SQL can check of a selector: `job="x"` on the indexed column, and every other `name="value"`
 * (value not empty) as its exact text in the labels' JSON, where `"name":"value"` can only appear
 * as that label (JSON escaping leaves no unescaped quote inside a value). The rest is left to
 * matchesExactly.
 */
function narrowing(eb: Where, selector: GroupSelector): Expression<SqlBool>[] {
  const out: Expression<SqlBool>[] = [];
  for (const m of selector.matchers) {
    if (m.op !== '=' || m.value === '') continue;
    if (m.name === 'job') out.push(eb('job', '=', m.value));
    else out.push(sql<SqlBool>`labels_json LIKE ${`%${likeEscape(`${jsonString(m.name)}:${jsonString(m.value)}`)}%`} ESCAPE '!'`);
  }
  return out;
}

/** `name="value"` (not empty): SQL narrows by it to nearly exactly the rows it matches. */
function statedInSql(m: LabelMatcher): boolean {
  return m.op === '=' && m.value !== '';
}

function likeEscape(text: string): string {
  return text.replace(/[!%_]/g, (c) => `!${c}`);
}

function toEntry(row: AttemptRow): HistoryEntry {
  const labels = parseLabels(row.labels_json);
  return {
    timeSeconds: row.time_seconds,
    method: row.method,
    path: row.path,
    groupingKey: row.grouping_key,
    job: row.job,
    instance: labels.find((l) => l.name === 'instance')?.value ?? null,
    labels,
    outcome: row.outcome,
    statusCode: Number(row.status_code),
    reason: row.reason,
    bodyBytes: Number(row.body_bytes),
    seriesCount: row.series_count === null ? null : Number(row.series_count),
    clientAddress: row.client_address,
  };
}

function parseLabels(json: string | null): LabelPair[] {
  if (json === null) return [];
  const object = JSON.parse(json) as Record<string, string>;
  return Object.entries(object)
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => compareUtf8(a.name, b.name));
}

function emptyTimeline(startSeconds: number, slotSeconds: number, slotCount: number): Timeline {
  return { startSeconds, slotSeconds, slots: Array.from({ length: slotCount }, () => ({ accepted: 0, rejected: 0 })) };
}

function addToSlot(timeline: Timeline | undefined, row: { slot: number; rejected: number | string; total: number | string }): void {
  const slot = Number(row.slot);
  if (!timeline || slot < 0 || slot >= timeline.slots.length) return;
  const rejected = Number(row.rejected);
  (timeline.slots as TimelineSlot[])[slot] = { accepted: Number(row.total) - rejected, rejected };
}
