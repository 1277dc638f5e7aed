import type { Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
//
// Retention (stale-group expiry):
// - ttl_seconds: the time to live a push's Pushkeep-TTL header gave the group; it applies to the
//   group's later pushes too. NULL = none given, the operator's rules and default apply; 0 = never.
// - expires_at_seconds: when the group expires (Unix seconds): its last successful push (or, for a
//   group that only ever saw failed pushes, its last failure) plus the effective TTL. NULL = never.
// The index serves the sweep's `DELETE ... WHERE expires_at_seconds <= now`, which then touches
// only the expired rows.
export async function up(db: Kysely<any>): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds a single column.
  await db.schema.alterTable('metric_group').addColumn('ttl_seconds', 'double precision').execute();
  await db.schema.alterTable('metric_group').addColumn('expires_at_seconds', 'double precision').execute();
  await db.schema.createIndex('metric_group_expires_at_idx').on('metric_group').column('expires_at_seconds').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('metric_group_expires_at_idx').execute();
  await db.schema.alterTable('metric_group').dropColumn('expires_at_seconds').execute();
  await db.schema.alterTable('metric_group').dropColumn('ttl_seconds').execute();
}
