import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import type { GroupSelector } from '../domain/group-matcher.js';
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
import type { Database } from './schema.js';

// Rows one request may read when filters the SQL can only narrow down (regexes, !=, label text)
// reject most of them: the page then ends early with a cursor where the reading stopped.
const SCAN_BUDGET = 20_000;
const MAX_CHUNK = 5000;

type Where = ExpressionBuilder<Database, 'push_attempt'>;

interface AttemptRow {
  id: number | string;
  time_seconds: number;
  method: string;
  path: string;
  grouping_key: string | null;
  job: string | null;
  labels_json: string | null;
  outcome: 'accepted' | 'rejected';
  status_code: number;
  reason: string | null;
  body_bytes: number | string;
  series_count: number | null;
  client_address: string | null;
}

/**
 * The push_attempt table read newest first through its (…, time_seconds, id) indexes (migration
 * 0008): every filter narrows the index range or is tested on it in SQL; the selector semantics
 * SQL cannot state portably (anchored regexes, a missing label reading as "") are then checked
 * exactly on the candidate rows, which SQL already narrowed by job and by `name="value"` text.
 */
export class KyselyHistoryReads implements HistoryReads {
  constructor(private readonly db: Kysely<Database>) {}

  async queryHistory(query: HistoryQuery): Promise<HistoryPage> {
    const entries: HistoryEntry[] = [];
    let position = query.before;
    let scanned = 0;
    let pageEnd: HistoryCursor | undefined;
    // One page and one more row; grown while a filter checked here rejects most of what SQL returns.
    let chunk = query.limit + 1;
    for (;;) {
      const rows = (await this.db
        .selectFrom('push_attempt')
        .select([
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
        ])
        .where((eb) => eb.and(conditions(eb, query, position)))
        .orderBy('time_seconds', 'desc')
        .orderBy('id', 'desc')
        .limit(chunk)
        .execute()) as AttemptRow[];
      for (const row of rows) {
        const entry = toEntry(row);
        scanned++;
        position = { timeSeconds: row.time_seconds, id: Number(row.id) };
        if (!matchesExactly(query, entry)) continue;
        // One match beyond the page: there is a next page, and it starts after the page's last entry.
        if (entries.length === query.limit) return { entries, ...(pageEnd ? { next: pageEnd } : {}) };
        entries.push(entry);
        pageEnd = position;
      }
      if (rows.length < chunk) return { entries };
      chunk = Math.min(chunk * 4, MAX_CHUNK);
      if (scanned >= SCAN_BUDGET) return { entries, ...(position ? { next: position } : {}) };
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

function conditions(eb: Where, query: HistoryQuery, position: HistoryCursor | undefined): Expression<SqlBool>[] {
  const where: Expression<SqlBool>[] = [];
  if (query.job !== undefined) where.push(eb('job', '=', query.job));
  if (query.groupingKey !== undefined) where.push(eb('grouping_key', '=', query.groupingKey));
  if (query.outcome !== undefined) where.push(eb('outcome', '=', query.outcome));
  if (query.sinceSeconds !== undefined) where.push(eb('time_seconds', '>=', query.sinceSeconds));
  if (position) where.push(eb(eb.refTuple('time_seconds', 'id'), '<', eb.tuple(position.timeSeconds, position.id)));
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
