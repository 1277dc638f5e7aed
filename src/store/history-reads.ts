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
import { HISTORY_COLUMNS } from './dialect/store-dialect.js';

// Rows one request may examine when the filters reject most of them: the page then ends early,
// with a cursor where the reading stopped.
const SCAN_BUDGET = 100_000;
// Windows grow fast while SQL states every filter (what it returns is nearly all kept), and
// slowly, to a small size, while a regex or != leaves SQL returning rows for JS to test.
const SQL_WINDOW = { growth: 4, max: 50_000 } as const;
const JS_WINDOW = { growth: 2, max: 5000 } as const;
// Between the two while SQL narrows a regex by its literal prefix: what it returns is a superset
// of the matches, usually a close one.
const PREFIX_WINDOW = { growth: 8, max: 20_000 } as const;

const COLUMNS = ['id', ...HISTORY_COLUMNS] as const;

// Selectors merged from one walk each at most; more walk the time index once.
const MAX_MERGED = 10;

type Where = ExpressionBuilder<Database, 'push_attempt'>;

/** An entry with its place in the (time_seconds, id) order. */
interface Positioned {
  readonly entry: HistoryEntry;
  readonly at: HistoryCursor;
}

interface PositionedPage {
  readonly entries: readonly Positioned[];
  readonly next?: HistoryCursor;
}

/** Sorts newer positions first. */
function newestFirst(a: HistoryCursor, b: HistoryCursor): number {
  return b.timeSeconds - a.timeSeconds || b.id - a.id;
}

/** A push_attempt row as read: PostgreSQL returns its bigint columns as strings. */
type AttemptRow = Omit<Selectable<PushAttemptTable>, 'id' | 'body_bytes'> & { id: number | string; body_bytes: number | string };

/**
 * The push_attempt table read newest first through its (…, time_seconds, id) indexes (migration
 * 0008) and push_attempt_label's (name, value, time_seconds, attempt_id) (0009). A page is read in
 * windows of the most selective index (leadingIndex()); within a window SQL applies every filter
 * it can state (job, group, outcome, since, `name="value"` and a regex's literal start as text of
 * the labels' JSON, label text), and the selector semantics SQL cannot state portably (anchored
 * regexes, a missing label reading as "") are checked exactly on what it returns.
 */
export class KyselyHistoryReads implements HistoryReads {
  constructor(private readonly db: Kysely<Database>) {}

  async queryHistory(query: HistoryQuery): Promise<HistoryPage> {
    const selectors = query.selectors ?? [];
    const page =
      query.groupingKey === undefined && selectors.length > 1 && selectors.length <= MAX_MERGED && selectors.every((sel) => sel.matchers.some(statedInSql))
        ? await this.merged(query, selectors)
        : await this.scan(query);
    return { entries: page.entries.map((p) => p.entry), ...(page.next ? { next: page.next } : {}) };
  }

  /**
   * Several match[] selectors that each have a `name="value"`: each walks its own index for a page,
   * and the pages merge. Every selector's walk has seen all of its matches newer than where it
   * stopped, so the merged list is complete down to the newest of those stops and ends there.
   */
  private async merged(query: HistoryQuery, selectors: readonly GroupSelector[]): Promise<PositionedPage> {
    const parts: PositionedPage[] = [];
    for (const selector of selectors) parts.push(await this.scan({ ...query, selectors: [selector] }));
    let frontier: HistoryCursor | undefined;
    for (const part of parts) if (part.next && (!frontier || newestFirst(part.next, frontier) < 0)) frontier = part.next;
    // An attempt matching several selectors comes once.
    const byId = new Map<number, Positioned>();
    for (const part of parts) for (const p of part.entries) if (!frontier || newestFirst(p.at, frontier) <= 0) byId.set(p.at.id, p);
    const sorted = [...byId.values()].sort((a, b) => newestFirst(a.at, b.at));
    const entries = sorted.slice(0, query.limit);
    const next = sorted.length > query.limit ? entries[entries.length - 1]!.at : frontier;
    return { entries, ...(next ? { next } : {}) };
  }

  /** One walk of the leading index (leadingIndex()) in windows, newest first. */
  private async scan(query: HistoryQuery): Promise<PositionedPage> {
    const entries: Positioned[] = [];
    let position = query.before;
    let scanned = 0;
    let pageEnd: HistoryCursor | undefined;
    // The first window holds one page and one more row; it grows while the filters reject most rows.
    let window = query.limit + 1;
    const lead = leadingIndex(query);
    const matchers = [...(query.selectors ?? []), ...(query.required ? [query.required] : [])].flatMap((sel) => sel.matchers);
    const growth = matchers.every(statedInSql) ? SQL_WINDOW : matchers.every((m) => statedInSql(m) || prefixOf(m) !== '') ? PREFIX_WINDOW : JS_WINDOW;
    for (;;) {
      const end = await this.windowEnd(lead, query, position, window);
      const boundary = end ? { timeSeconds: end.time_seconds, id: Number(end.id) } : undefined;
      const rows = (await this.db
        .selectFrom('push_attempt')
        .select(COLUMNS)
        .where((eb) => {
          const where = conditions(eb, query, position);
          if (lead.label) where.push(eb('id', 'in', labelled(eb, lead.label, query, position, boundary)));
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
        pageEnd = { timeSeconds: row.time_seconds, id: Number(row.id) };
        entries.push({ entry, at: pageEnd });
      }
      if (!boundary) return { entries };
      position = boundary;
      scanned += window;
      if (scanned >= SCAN_BUDGET) return { entries, next: boundary };
      window = Math.min(window * growth.growth, growth.max);
    }
  }

  /**
   * Where the next `window` rows of the leading index end: an ordered index-only walk, so the
   * filters are applied to a bounded range instead of to every row they might match (PostgreSQL
   * would otherwise collect and sort all of a job's rows for a selective filter).
   */
  private async windowEnd(lead: Leading, query: HistoryQuery, position: HistoryCursor | undefined, window: number) {
    if (lead.label) {
      const { name, value } = lead.label;
      return this.db
        .selectFrom('push_attempt_label')
        .select(['time_seconds', 'attempt_id as id'])
        .where((eb) => {
          const where = [eb('name', '=', name), eb('value', '=', value)];
          if (query.sinceSeconds !== undefined) where.push(eb('time_seconds', '>=', query.sinceSeconds));
          if (position) where.push(eb(eb.refTuple('time_seconds', 'attempt_id'), '<', eb.tuple(position.timeSeconds, position.id)));
          return eb.and(where);
        })
        .orderBy('time_seconds', 'desc')
        .orderBy('attempt_id', 'desc')
        .offset(window - 1)
        .limit(1)
        .executeTakeFirst();
    }
    return this.db
      .selectFrom('push_attempt')
      .select(['time_seconds', 'id'])
      .where((eb) => eb.and(leading(eb, lead, query, position)))
      .orderBy('time_seconds', 'desc')
      .orderBy('id', 'desc')
      .offset(window - 1)
      .limit(1)
      .executeTakeFirst();
  }

  async groupTimelines(groupingKeys: readonly string[], startSeconds: number, slotSeconds: number, slotCount: number): Promise<Map<string, Timeline>> {
    const out = new Map<string, Timeline>();
    if (groupingKeys.length === 0) return out;
    // One range of the (grouping_key, time_seconds, id, outcome) index per group, read in its order
    // and handed back as one text per group: a token per push, its slot and `a` (accepted) or `r`.
    // Counting per (group, slot) in SQL hashed every push and sent a row per slot back, which cost
    // several times this; the price is a token per push, so a group pushed every few seconds sends
    // thousands (docs/performance.md).
    const rows = await sql<{ grouping_key: string; pushes: string }>`
      SELECT grouping_key,
        string_agg(CAST(floor((time_seconds - ${startSeconds}) / ${slotSeconds}) AS text) || CASE WHEN outcome = 'rejected' THEN 'r' ELSE 'a' END, ',') AS pushes
      FROM push_attempt
      WHERE grouping_key IN (${sql.join(groupingKeys)}) AND time_seconds >= ${startSeconds} AND time_seconds < ${startSeconds + slotSeconds * slotCount}
      GROUP BY grouping_key`.execute(this.db);
    for (const key of groupingKeys) out.set(key, emptyTimeline(startSeconds, slotSeconds, slotCount));
    for (const row of rows.rows) {
      const timeline = out.get(row.grouping_key);
      if (!timeline) continue;
      const slots = timeline.slots as TimelineSlot[];
      for (const token of row.pushes.split(',')) {
        // SQLite writes the slot as `12.0`, PostgreSQL as `12`.
        const slot = Number.parseInt(token, 10);
        const s = slots[slot];
        if (!s) continue;
        slots[slot] = token.endsWith('r') ? { accepted: s.accepted, rejected: s.rejected + 1 } : { accepted: s.accepted + 1, rejected: s.rejected };
      }
    }
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

/** The index a read walks newest first: a column of push_attempt, or one label value of push_attempt_label. */
interface Leading {
  readonly column?: { readonly name: 'grouping_key' | 'job' | 'outcome'; readonly value: string };
  readonly label?: { readonly name: string; readonly value: string };
}

/**
 * The one condition every returned row must meet whose index yields rows in (time_seconds, id)
 * order, most selective first: a group, a grouping label other than job (`instance="db1"` names
 * fewer attempts than a job in the usual layout of one job over many instances), a job, an
 * outcome, or none (the time index). The matchers that must hold are the scope's and those of a
 * single match[] selector; of several selectors any one may hold, so none of them leads.
 */
function leadingIndex(query: HistoryQuery): Leading {
  if (query.groupingKey !== undefined) return { column: { name: 'grouping_key', value: query.groupingKey } };
  const mandatory = [...(query.required?.matchers ?? []), ...(query.selectors?.length === 1 ? query.selectors[0]!.matchers : [])].filter(statedInSql);
  const label = mandatory.find((m) => m.name !== 'job');
  if (label) return { label: { name: label.name, value: label.value } };
  const job = query.job ?? mandatory.find((m) => m.name === 'job')?.value;
  if (job !== undefined) return { column: { name: 'job', value: job } };
  if (query.outcome !== undefined) return { column: { name: 'outcome', value: query.outcome } };
  return {};
}

function leading(eb: Where, lead: Leading, query: HistoryQuery, position: HistoryCursor | undefined): Expression<SqlBool>[] {
  const where: Expression<SqlBool>[] = [];
  if (lead.column) where.push(eb(lead.column.name, '=', lead.column.value));
  if (query.sinceSeconds !== undefined) where.push(eb('time_seconds', '>=', query.sinceSeconds));
  if (position) where.push(eb(eb.refTuple('time_seconds', 'id'), '<', eb.tuple(position.timeSeconds, position.id)));
  return where;
}

/** The ids of a window of the leading label's attempts, from its (name, value, time_seconds, attempt_id) index. */
function labelled(
  eb: Where,
  label: NonNullable<Leading['label']>,
  query: HistoryQuery,
  position: HistoryCursor | undefined,
  boundary: HistoryCursor | undefined,
) {
  return eb
    .selectFrom('push_attempt_label')
    .select('attempt_id')
    .where((l) => {
      const where = [l('name', '=', label.name), l('value', '=', label.value)];
      if (query.sinceSeconds !== undefined) where.push(l('time_seconds', '>=', query.sinceSeconds));
      if (position) where.push(l('time_seconds', '<=', position.timeSeconds));
      if (boundary) where.push(l('time_seconds', '>=', boundary.timeSeconds));
      return l.and(where);
    });
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
 * as that label (JSON escaping leaves no unescaped quote inside a value). A regex that starts with
 * literal text (`=~"db-.*"`) narrows the same way to the values starting with it. The rest is
 * left to matchesExactly.
 */
function narrowing(eb: Where, selector: GroupSelector): Expression<SqlBool>[] {
  const out: Expression<SqlBool>[] = [];
  for (const m of selector.matchers) {
    if (statedInSql(m)) {
      if (m.name === 'job') out.push(eb('job', '=', m.value));
      else out.push(sql<SqlBool>`labels_json LIKE ${`%${likeEscape(`${jsonString(m.name)}:${jsonString(m.value)}`)}%`} ESCAPE '!'`);
      continue;
    }
    const prefix = prefixOf(m);
    if (prefix === '') continue;
    // Without the closing quote: the value starts with the prefix. SQLite's LIKE ignores ASCII case: still a superset.
    if (m.name === 'job') out.push(sql<SqlBool>`job LIKE ${`${likeEscape(prefix)}%`} ESCAPE '!'`);
    else out.push(sql<SqlBool>`labels_json LIKE ${`%${likeEscape(`${jsonString(m.name)}:${jsonString(prefix).slice(0, -1)}`)}%`} ESCAPE '!'`);
  }
  return out;
}

/** `name="value"` (not empty): SQL narrows by it to nearly exactly the rows it matches. */
function statedInSql(m: LabelMatcher): boolean {
  return m.op === '=' && m.value !== '';
}

/**
 * The text every value an `=~` matcher accepts starts with ('' when there is none or it cannot
 * tell): its leading plain characters, less the last one when a quantifier follows it that may
 * leave it out. Any `|` gives up, as an alternative may start differently.
 */
function prefixOf(m: LabelMatcher): string {
  if (m.op !== '=~' || m.value.includes('|')) return '';
  const plain = /^[A-Za-z0-9_:/@,;= -]*/.exec(m.value)![0];
  const next = m.value.charAt(plain.length);
  return next === '*' || next === '?' || next === '{' ? plain.slice(0, -1) : plain;
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

// Shared by every empty slot: a slot with pushes gets an object of its own. An object per slot
// made a page of 100 timelines allocate 28,800 of them.
const NO_PUSHES: TimelineSlot = Object.freeze({ accepted: 0, rejected: 0 });

function emptyTimeline(startSeconds: number, slotSeconds: number, slotCount: number): Timeline {
  return { startSeconds, slotSeconds, slots: new Array<TimelineSlot>(slotCount).fill(NO_PUSHES) };
}

function addToSlot(timeline: Timeline | undefined, row: { slot: number; rejected: number | string; total: number | string }): void {
  const slot = Number(row.slot);
  if (!timeline || slot < 0 || slot >= timeline.slots.length) return;
  const rejected = Number(row.rejected);
  (timeline.slots as TimelineSlot[])[slot] = { accepted: Number(row.total) - rejected, rejected };
}
