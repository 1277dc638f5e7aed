import type { Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
//
// metric_family.rendered_series_json: the family's series as the scrape cache holds them (each
// series' text exposition lines and its sort key), written by the push beside metrics_json. A
// start reads it back instead of decoding and rendering every stored series again. Derived data:
// NULL (rows written before this migration, series the text lines cannot fully say) or a
// rendering of another Pushkeep version makes the gateway render from metrics_json as before.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('metric_family').addColumn('rendered_series_json', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('metric_family').dropColumn('rendered_series_json').execute();
}
