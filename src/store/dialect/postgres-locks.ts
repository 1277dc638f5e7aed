import { sql, type Transaction } from 'kysely';
import type { GroupingKey } from '../../domain/grouping-key.js';
import type { CompiledStatements } from '../compiled-statements.js';
import { GROUP_AND_FAMILIES, newGroupRow, splitGroupRows, type GroupAndFamily } from '../group-rows.js';
import type { Database, MetricGroupRow } from '../schema.js';
import type { FamilyHead, PushedFamilies, StoreDialect } from './store-dialect.js';

// PostgreSQL's locks for writers running in parallel: the group's row, and advisory locks on the
// metric names the consistency check reads.

// Advisory lock classes (the first key of the two-key form), apart from kysely's migration lock.
export const ALL_NAMES_LOCK = 0x706b0001;
export const NAME_LOCK = 0x706b0002;
// A power of two. Bounds the advisory locks one transaction holds: each takes a slot of
// PostgreSQL's shared lock table, sized 64 per connection by default.
export const NAME_LOCK_BUCKETS = 128;

/**
 * The group's row, created if missing, locked until COMMIT: two writes to one group then run one
 * after the other, each seeing the other's result whole.
 */
export async function lockGroup(trx: Transaction<Database>, key: GroupingKey, _statements?: CompiledStatements): Promise<MetricGroupRow> {
  const locked = () => trx.selectFrom('metric_group').selectAll().where('grouping_key', '=', key.id).forUpdate().executeTakeFirst();
  for (let attempt = 0; attempt < 3; attempt++) {
    const found = await locked();
    if (found) return found;
    // DO NOTHING waits for a concurrent insert of the same key to commit or roll back instead
    // of failing on the unique index; the SELECT after it sees whichever row won.
    await trx
      .insertInto('metric_group')
      .values(newGroupRow(key))
      .onConflict((oc) => oc.column('grouping_key').doNothing())
      .execute();
  }
  throw vanished();
}

/**
 * StoreDialect.groupForPush: the group and its families in one statement, the group's row locked
 * (and, given the pushed families, their names where the push changes none, as lockPushedNames
 * would); a group not there yet is inserted, or, if another transaction inserts it first, read
 * again once that commits.
 *
 * A statement that waited for the row's lock returns the row as the other writer committed it,
 * but the families as they were when the statement started (PostgreSQL re-reads only the locked
 * row): when the row it locked is not the one its snapshot holds, the families are read again,
 * by a statement that starts after that commit.
 */
export const lockGroupForPush: StoreDialect['groupForPush'] = async (trx, key, statements, pushed) => {
  for (let attempt = 0; attempt < 3; attempt++) {
    const rows = await (pushed ? lockedGroupAndNames(trx, key, statements, pushed) : lockedGroup(trx, key, statements));
    const stale = rows[0]?.stale !== false;
    for (const r of rows) delete r.stale;
    const found = splitGroupRows(rows);
    if (found) {
      if (stale) return { group: found.group, families: await familiesOf(trx, found.group.id, statements) };
      if (pushed && namesUnchanged(found.families, pushed)) namesLocked.set(found.families, pushed);
      return found;
    }
    const inserted = await trx
      .insertInto('metric_group')
      .values(newGroupRow(key))
      .onConflict((oc) => oc.column('grouping_key').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { group: inserted, families: [] };
  }
  throw vanished();
};

/** StoreDialect.lockPushedNames: nothing left to lock when lockGroupForPush took them. */
export const lockPushedNames: StoreDialect['lockPushedNames'] = (trx, { existingRows, existing, pushed, replace }, statements) => {
  const locked = namesLocked.get(existingRows);
  if (locked && locked.pushed === pushed && locked.replace === replace) return Promise.resolve();
  // A family that replaces one of the same type changes nothing in the name registry, so it
  // locks shared: the periodic re-push of the same group, by far the commonest push, runs in
  // parallel with pushes of the same names to other groups.
  const pushedNames = new Set(pushed.map((f) => f.name));
  const dropping = replace ? existingRows.filter((r) => !pushedNames.has(r.name)).map((r) => r.name) : [];
  const same = pushed.filter((f) => existing.get(f.name) === f.type).map((f) => f.name);
  const changing = pushed.filter((f) => existing.get(f.name) !== f.type).map((f) => f.name);
  return lockNames(trx, [...changing, ...dropping], same, statements);
};

/** A group's families, read by a statement of their own (lockGroupForPush). */
async function familiesOf(trx: Transaction<Database>, groupId: number, statements: CompiledStatements): Promise<FamilyHead[]> {
  const rows = await statements.rows(
    trx,
    'families of a locked group',
    [groupId],
    () => sql<FamilyHead>`SELECT id, name, type, series_digest FROM metric_family WHERE group_id = ${groupId}`,
  );
  return rows.map((r) => ({ id: r.id, name: r.name, type: r.type, series_digest: r.series_digest }));
}

/** A row of the locking reads: whether the group's row locked differs from the one the statement's snapshot holds. */
type LockedRow = GroupAndFamily & { stale?: boolean | null };

// The version of the locked row against the one the statement's snapshot sees (xmin changes with
// every UPDATE of the row, and every write that changes a group's families updates its row).
const STALE = (keyParameter: unknown) => sql`g.xmin <> (SELECT s.xmin FROM metric_group s WHERE s.grouping_key = ${keyParameter}) AS stale`;

/** The group's row, locked, with its families. */
function lockedGroup(trx: Transaction<Database>, key: GroupingKey, statements: CompiledStatements): Promise<LockedRow[]> {
  const values = [key.id, key.id] as const;
  return statements.rows(
    trx,
    'group and its families, locked',
    values,
    () => sql<LockedRow>`SELECT ${STALE(values[0])}, ${sql.raw(GROUP_AND_FAMILIES)} WHERE g.grouping_key = ${values[1]} FOR UPDATE OF g`,
  );
}

/**
 * The families groupForPush returned whose names it locked, and for which push: lockPushedNames
 * with those families (the group was not emptied in between) has nothing left to lock.
 */
const namesLocked = new WeakMap<readonly FamilyHead[], PushedFamilies>();

/**
 * Whether the push changes no name of the group: it pushes only names the group holds, each with
 * the type it holds, and, for a PUT, drops none. lockedGroupAndNames's SQL asks the same.
 */
function namesUnchanged(families: readonly FamilyHead[], { pushed, replace }: PushedFamilies): boolean {
  const held = new Map(families.map((f) => [f.name, f.type] as const));
  if (!pushed.every((f) => held.get(f.name) === f.type)) return false;
  if (!replace) return true;
  const names = new Set(pushed.map((f) => f.name));
  return families.every((f) => names.has(f.name));
}

/**
 * lockedGroup plus, for a push that changes no name of the group (namesUnchanged: the periodic
 * re-push), the shared locks lockPushedNames would take, in one statement; keys, buckets and
 * their order are lockNames's, and they are taken after the group's row, as two statements would.
 * A push that adds, changes or drops a name locks nothing here: its exclusive locks are taken by
 * lockPushedNames, in the round trip that writes and commits, so that they are held for one round
 * trip, not two.
 */
function lockedGroupAndNames(trx: Transaction<Database>, key: GroupingKey, statements: CompiledStatements, families: PushedFamilies): Promise<LockedRow[]> {
  const values = [
    key.id,
    key.id,
    families.pushed.map((f) => f.name),
    families.pushed.map((f) => f.type),
    families.replace,
    ALL_NAMES_LOCK,
    NAME_LOCK,
    NAME_LOCK_BUCKETS - 1,
  ] as const;
  return statements.rows(
    trx,
    'group and its families, locked with their unchanged names',
    values,
    () => sql<LockedRow>`WITH g AS MATERIALIZED (SELECT ${STALE(values[0])}, g.* FROM metric_group g WHERE grouping_key = ${values[1]} FOR UPDATE),
      r AS MATERIALIZED (SELECT g.*, f.id AS family_id, f.name AS family_name, f.type AS family_type, f.series_digest AS family_digest
        FROM g LEFT JOIN metric_family f ON f.group_id = g.id),
      p AS (SELECT * FROM unnest(${values[2]}::text[], ${values[3]}::text[]) AS p(name, type)),
      unchanged AS (
        SELECT NOT EXISTS (SELECT 1 FROM p WHERE NOT EXISTS (SELECT 1 FROM r WHERE r.family_name = p.name AND r.family_type = p.type))
          AND NOT (${values[4]}::boolean AND EXISTS (
            SELECT 1 FROM r WHERE r.family_name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM p WHERE p.name = r.family_name))) AS yes),
      keys AS (
        SELECT k.key FROM p, unnest(ARRAY[p.name, substring(p.name FROM '^(.+)_(?:sum|count|bucket)$')]) AS k(key) WHERE k.key IS NOT NULL),
      locks AS MATERIALIZED (
        SELECT CASE WHEN l.c = 0 THEN pg_advisory_xact_lock_shared(${values[5]}, 0) ELSE pg_advisory_xact_lock_shared(${values[6]}, l.b) END
        FROM (SELECT 0 AS c, 0 AS b FROM g
              UNION
              SELECT 1, hashtext(key) & ${values[7]} FROM keys
              ORDER BY 1, 2) AS l
        WHERE (SELECT yes FROM unchanged))
      SELECT r.* FROM r WHERE (SELECT count(*) FROM locks) >= 0`,
  );
}

/** Created and deleted by others between our statements, over and over: the caller retries. */
function vanished(): Error {
  return Object.assign(new Error('group vanished while being locked'), { code: '40001' });
}

/**
 * Transaction-scoped advisory locks on metric names, exclusive (`names`: added, changed or
 * removed) or shared (`sharedNames`: rewritten unchanged), so the consistency check sees the name
 * registry as it will be at COMMIT. A family `x_sum` and a summary `x` conflict, so each name
 * locks itself and its base (the name without _sum/_count/_bucket): any two conflicting names
 * share a key. Keys are hashed into NAME_LOCK_BUCKETS, which bounds the locks a transaction holds
 * at the price of unrelated names sometimes sharing one, and taken in one sorted order, so
 * writers never deadlock on them. Every such write also holds the all-names lock shared.
 */
export async function lockNames(
  trx: Transaction<Database>,
  names: Iterable<string>,
  sharedNames: Iterable<string> = [],
  statements?: CompiledStatements,
): Promise<void> {
  const keys = new Map<string, boolean>();
  const add = (name: string, exclusive: boolean) => {
    for (const key of [name, /^(.+)_(?:sum|count|bucket)$/.exec(name)?.[1]]) {
      if (key !== undefined) keys.set(key, exclusive || (keys.get(key) ?? false));
    }
  };
  for (const name of names) add(name, true);
  for (const name of sharedNames) add(name, false);
  const values = [ALL_NAMES_LOCK, NAME_LOCK, NAME_LOCK, NAME_LOCK_BUCKETS - 1, [...keys.keys()], [...keys.values()]] as const;
  // One round trip. Names sharing a bucket lock it exclusively if any of them asks so.
  const locks = () => sql`SELECT pg_advisory_xact_lock_shared(${values[0]}, 0)
    UNION ALL
    SELECT CASE WHEN x THEN pg_advisory_xact_lock(${values[1]}, b) ELSE pg_advisory_xact_lock_shared(${values[2]}, b) END
    FROM (SELECT hashtext(n) & ${values[3]} AS b, bool_or(x) AS x
          FROM unnest(${values[4]}::text[], ${values[5]}::bool[]) AS t(n, x)
          GROUP BY 1 ORDER BY 1) AS locks`;
  // Through `statements`, sent at once: the caller may go on without waiting for the locks, since
  // PostgreSQL runs what it sends next after them.
  if (statements) await statements.rows(trx, 'name locks', values, locks);
  else await locks().execute(trx);
}
