import { sql, type Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
//
// A re-push rewrites its family's row and its samples' values in place. PostgreSQL writes each
// new row version beside the old one, on the same page, without touching any index (a HOT
// update), only where the page has room for it; tables are filled to the brim by default, so
// most of these updates went to another page and added an entry to every index of the table
// (for metric_sample, the series index on two text columns). Leaving part of each page free
// keeps them on their page. Only pages written from now on are filled less; SQLite updates in
// place and has no such setting.

function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter.constructor.name === 'PostgresAdapter';
}

export async function up(db: Kysely<any>): Promise<void> {
  if (!isPostgres(db)) return;
  // A family's row holds its encoded series and their rendering, a kilobyte or more: room for one
  // more version of it. A sample's row is small.
  await sql`ALTER TABLE metric_family SET (fillfactor = 60)`.execute(db);
  await sql`ALTER TABLE metric_sample SET (fillfactor = 70)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`ALTER TABLE metric_family RESET (fillfactor)`.execute(db);
  await sql`ALTER TABLE metric_sample RESET (fillfactor)`.execute(db);
}
