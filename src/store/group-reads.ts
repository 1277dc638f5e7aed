import { sql, type Kysely } from 'kysely';
import type { GroupingKey } from '../domain/grouping-key.js';
import type { GroupHeader, StoredFamily, StoredGroup } from './metric-store.js';
import { toFamily, toHeader } from './rows.js';
import type { Database, MetricGroupRow } from './schema.js';
import type { StoreContext } from './store-context.js';

// The store's reads: none takes a lock or a transaction; each statement sees committed data.

// Ids per IN list: far below SQLite's and PostgreSQL's parameter limits.
export const ID_BATCH = 500;

// Groups per page of a full read (allGroupPages).
const PAGE_GROUPS = 500;

export async function loadGroups(db: Kysely<Database>): Promise<StoredGroup[]> {
  const groups = await db.selectFrom('metric_group').selectAll().orderBy('grouping_key').execute();
  const families = await db.selectFrom('metric_family').selectAll().orderBy('name').execute();
  return withFamilies(groups.map(toHeader), families);
}

/**
 * Every group, in pages of PAGE_GROUPS groups (by id) with their families, for a reader that
 * applies each page before it reads the next (a start, a replica's full reload): what a page read
 * (a kept rendering is a JSON text of some hundred bytes a series) is then garbage before V8 next
 * collects, instead of being copied from collection to collection until the whole store is read.
 * A page's families are one range of the (group_id, name) index.
 *
 * metrics_json is read only for families without a rendering: the cache fill never reads it.
 */
export function allGroupPages(ctx: StoreContext): AsyncGenerator<StoredGroup[]> {
  return ctx.dialect.fullRead(ctx.db, async function* () {
    const groups = (await ctx.db.selectFrom('metric_group').selectAll().orderBy('id').execute()).map(toHeader);
    for (let i = 0; i < groups.length; i += PAGE_GROUPS) {
      const page = groups.slice(i, i + PAGE_GROUPS);
      const families = await familiesWithoutSeries(ctx.db)
        .where('group_id', '>=', page[0]!.id)
        .where('group_id', '<=', page[page.length - 1]!.id)
        .orderBy('group_id')
        .orderBy('name')
        .execute();
      yield withFamilies(page, families);
    }
  });
}

export async function loadGroup(db: Kysely<Database>, key: GroupingKey): Promise<StoredGroup | undefined> {
  const g = await db.selectFrom('metric_group').selectAll().where('grouping_key', '=', key.id).executeTakeFirst();
  if (!g) return undefined;
  const families = await db.selectFrom('metric_family').selectAll().where('group_id', '=', g.id).orderBy('name').execute();
  return { ...toHeader(g), families: families.map(toFamily) };
}

export async function loadHeaders(db: Kysely<Database>): Promise<GroupHeader[]> {
  const rows = await db.selectFrom('metric_group').selectAll().orderBy('grouping_key').execute();
  return rows.map(toHeader);
}

export function loadGroupsById(db: Kysely<Database>, ids: readonly number[]): Promise<StoredGroup[]> {
  return loadByIds(db, ids, (batch) => db.selectFrom('metric_family').selectAll().where('group_id', 'in', batch).orderBy('name').execute());
}

async function loadByIds<F extends FamilyRead>(
  db: Kysely<Database>,
  ids: readonly number[],
  familiesOf: (batch: readonly number[]) => Promise<F[]>,
): Promise<StoredGroup[]> {
  if (ids.length === 0) return [];
  const groups: MetricGroupRow[] = [];
  const families: F[] = [];
  for (let i = 0; i < ids.length; i += ID_BATCH) {
    const batch = ids.slice(i, i + ID_BATCH);
    groups.push(...(await db.selectFrom('metric_group').selectAll().where('id', 'in', batch).execute()));
    families.push(...(await familiesOf(batch)));
  }
  groups.sort((a, b) => (a.grouping_key < b.grouping_key ? -1 : a.grouping_key > b.grouping_key ? 1 : 0));
  return withFamilies(groups.map(toHeader), families);
}

type FamilyRead = Parameters<typeof toFamily>[0] & { group_id: number };

/** Family rows with metrics_json only where there is no rendering. */
function familiesWithoutSeries(db: Kysely<Database>) {
  return db
    .selectFrom('metric_family')
    .select(['id', 'group_id', 'name', 'type', 'help', 'pushed_at_seconds', 'rendered_series_json'])
    .select(sql<string | null>`CASE WHEN rendered_series_json IS NULL THEN metrics_json END`.as('metrics_json'));
}

/** The headers with their families from `rows`, each group's in the rows' order. */
function withFamilies(headers: GroupHeader[], rows: readonly (Parameters<typeof toFamily>[0] & { group_id: number })[]): StoredGroup[] {
  const byGroup = new Map<number, StoredFamily[]>();
  for (const f of rows) {
    const list = byGroup.get(Number(f.group_id)) ?? [];
    list.push(toFamily(f));
    byGroup.set(Number(f.group_id), list);
  }
  return headers.map((h) => Object.assign(h, { families: byGroup.get(h.id) ?? [] }));
}
