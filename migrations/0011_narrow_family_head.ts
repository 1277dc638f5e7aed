import { sql, type Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
//
// Every push reads its group's families' id, name, type and series_digest, and a start reads
// every family's rendered_series_json. SQLite keeps the start of a row on its page and the rest,
// most of a family's row (its encoded series and their rendering), on a chain of overflow pages
// that a read of a later column walks from the start: series_digest, added last, came after all
// of it. The table is rebuilt with its columns in the order they are read, the small ones first
// and metrics_json, read least often, last. PostgreSQL keeps large values out of the row anyway.
// Only the column order changes: same columns, constraints, index and rows (ids kept).

const HEAD_FIRST = ['id', 'group_id', 'name', 'type', 'series_digest', 'help', 'pushed_at_seconds', 'rendered_series_json', 'metrics_json'];
const AS_CREATED = ['id', 'group_id', 'name', 'type', 'help', 'pushed_at_seconds', 'metrics_json', 'rendered_series_json', 'series_digest'];

const DEFINITIONS: Record<string, string> = {
  id: '"id" integer primary key',
  group_id: '"group_id" integer not null references "metric_group" ("id") on delete cascade',
  name: '"name" text not null',
  type: '"type" text not null',
  help: '"help" text',
  pushed_at_seconds: '"pushed_at_seconds" double precision not null',
  metrics_json: '"metrics_json" text not null',
  rendered_series_json: '"rendered_series_json" text',
  series_digest: '"series_digest" text',
};

function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter.constructor.name === 'PostgresAdapter';
}

/**
 * SQLite's way to change a table's layout: a new table, the rows copied, the old one dropped and
 * the new one renamed. kysely runs SQLite migrations outside a transaction, on the one connection:
 * foreign keys can be switched off around it (dropping the table would otherwise delete every
 * metric_sample row through ON DELETE CASCADE), and the rebuild is one transaction of its own. A
 * run stopped before kysely records the migration runs it again, and finds the order done.
 */
async function rebuild(db: Kysely<any>, order: readonly string[]): Promise<void> {
  if (isPostgres(db)) return;
  const columns = (await sql<{ name: string }>`SELECT name FROM pragma_table_info('metric_family') ORDER BY cid`.execute(db)).rows.map((r) => r.name);
  if (columns.join() === order.join()) return;
  const list = order.map((c) => `"${c}"`).join(', ');
  const foreignKeys = (await sql<{ foreign_keys: number }>`PRAGMA foreign_keys`.execute(db)).rows[0]?.foreign_keys === 1;
  await sql`PRAGMA foreign_keys = OFF`.execute(db);
  try {
    await sql`BEGIN IMMEDIATE`.execute(db);
    try {
      await sql
        .raw(
          `CREATE TABLE "metric_family_rebuilt" (${order.map((c) => DEFINITIONS[c]).join(', ')}, constraint "metric_family_group_name_unique" unique ("group_id", "name"))`,
        )
        .execute(db);
      await sql.raw(`INSERT INTO "metric_family_rebuilt" (${list}) SELECT ${list} FROM "metric_family"`).execute(db);
      await sql`DROP TABLE "metric_family"`.execute(db);
      // Without the legacy behaviour, the rename would check the views, which name the table just dropped.
      await sql`PRAGMA legacy_alter_table = ON`.execute(db);
      await sql`ALTER TABLE "metric_family_rebuilt" RENAME TO "metric_family"`.execute(db);
      await sql`PRAGMA legacy_alter_table = OFF`.execute(db);
      await sql`CREATE INDEX "metric_family_name_idx" on "metric_family" ("name")`.execute(db);
      await sql`COMMIT`.execute(db);
    } catch (err) {
      await sql`ROLLBACK`.execute(db).catch(() => {});
      await sql`PRAGMA legacy_alter_table = OFF`.execute(db);
      throw err;
    }
  } finally {
    if (foreignKeys) await sql`PRAGMA foreign_keys = ON`.execute(db);
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  await rebuild(db, HEAD_FIRST);
}

export async function down(db: Kysely<any>): Promise<void> {
  await rebuild(db, AS_CREATED);
}
