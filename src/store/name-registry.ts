import { sql, type Transaction } from 'kysely';
import type { NameEntry } from '../domain/consistency.js';
import type { MetricFamily, MetricType } from '../exposition/types.js';
import type { CompiledStatements } from './compiled-statements.js';
import { ID_BATCH } from './group-reads.js';
import type { Database } from './schema.js';

// The metric_name table: how many groups hold a family of each name, and its type. The
// consistency check reads it instead of scanning every group's families.

// Rows per multi-row INSERT: far below SQLite's and PostgreSQL's parameter limits.
const NAME_BATCH = 300;

/** The registry's entries for these names (those that have one). */
export async function readRegistry(statements: CompiledStatements, trx: Transaction<Database>, names: readonly string[]): Promise<Map<string, NameEntry>> {
  const registry = new Map<string, NameEntry>();
  if (names.length === 0) return registry;
  const rows = await statements.rows(
    trx,
    `names:${names.length}`,
    names,
    () => sql<{ name: string; type: string; family_count: number }>`SELECT name, type, family_count FROM metric_name WHERE name IN (${sql.join(names)})`,
  );
  for (const r of rows) registry.set(r.name, { type: r.type as MetricType, familyCount: Number(r.family_count) });
  return registry;
}

/**
 * Counts a push's families: only names new to the group add one; a replaced family keeps its
 * count and may change type. `existing` is the group's families before the push. The statements
 * are sent at once (StatementRunner): a caller may go on before they settle.
 */
export async function registerNames(
  statements: CompiledStatements,
  trx: Transaction<Database>,
  families: readonly MetricFamily[],
  existing: ReadonlyMap<string, MetricType>,
): Promise<void> {
  const added = families.filter((f) => !existing.has(f.name));
  const sent: Promise<unknown>[] = [];
  for (let i = 0; i < added.length; i += NAME_BATCH) {
    const batch = added.slice(i, i + NAME_BATCH);
    sent.push(
      statements.rows(
        trx,
        `register names:${batch.length}`,
        batch.flatMap((f) => [f.name, f.type]),
        () => sql`INSERT INTO metric_name (name, type, family_count) VALUES ${sql.join(batch.map((f) => sql`(${f.name}, ${f.type}, 1)`))}
          ON CONFLICT (name) DO UPDATE SET type = excluded.type, family_count = metric_name.family_count + 1`,
      ),
    );
  }
  for (const family of families) {
    if (existing.has(family.name) && existing.get(family.name) !== family.type) {
      const values = [family.type, family.name] as const;
      sent.push(statements.rows(trx, 'name type', values, () => sql`UPDATE metric_name SET type = ${values[0]} WHERE name = ${values[1]}`));
    }
  }
  await Promise.all(sent);
}

/** Gives back one group's count for each name a group lost; drops names no group holds. */
export async function releaseNames(trx: Transaction<Database>, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await trx
    .updateTable('metric_name')
    .set({ family_count: sql`family_count - 1` })
    .where('name', 'in', names)
    .execute();
  await trx.deleteFrom('metric_name').where('name', 'in', names).where('family_count', '<=', 0).execute();
}

/**
 * Sets each name's group count from metric_family and drops names no group holds any more:
 * one statement per batch of names, however many groups shared them.
 */
export async function recountNames(trx: Transaction<Database>, names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += ID_BATCH) {
    const batch = names.slice(i, i + ID_BATCH);
    await trx
      .updateTable('metric_name')
      .set({
        family_count: (eb) =>
          eb
            .selectFrom('metric_family')
            .select((f) => f.fn.countAll<number>().as('n'))
            .whereRef('metric_family.name', '=', 'metric_name.name'),
      })
      .where('name', 'in', batch)
      .execute();
    await trx.deleteFrom('metric_name').where('name', 'in', batch).where('family_count', '<=', 0).execute();
  }
}
