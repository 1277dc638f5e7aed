import type { Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
//
// metric_family.series_digest: a digest of the family's series identities (sample names and
// label sets, not values), written by the push beside the family's samples. A re-push of the
// same series compares digests instead of reading the family's metric_sample rows back. Derived
// data: NULL (rows written before this migration) makes the push read the rows as before.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('metric_family').addColumn('series_digest', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('metric_family').dropColumn('series_digest').execute();
}
