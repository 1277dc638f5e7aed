import type { Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
//
// Replicas sharing one database keep rendered scrapes in memory; these tables tell each of them
// what other replicas changed since it last looked, in one cheap query per scrape:
// - store_version: one row; `seq` counts committed writes. A write bumps it inside its own
//   transaction, which row-locks it until COMMIT, so seq values commit in order: a reader that
//   sees seq N has every write numbered N or lower visible.
// - metric_group.changed_seq: the seq of the last write that touched the group.
// - deleted_group: tombstones of removed groups, pruned below store_version.pruned_seq.
// - store_version.reset_seq: the seq of the last wipe; a reader behind it reloads everything.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('store_version')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('reset_seq', 'bigint', (c) => c.notNull())
    .addColumn('pruned_seq', 'bigint', (c) => c.notNull())
    .execute();
  await db.insertInto('store_version').values({ id: 1, seq: 0, reset_seq: 0, pruned_seq: 0 }).execute();

  await db.schema
    .alterTable('metric_group')
    .addColumn('changed_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('metric_group_changed_seq_idx').on('metric_group').column('changed_seq').execute();

  await db.schema
    .createTable('deleted_group')
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('group_id', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('deleted_group_seq_idx').on('deleted_group').column('seq').execute();
  // Groups that existed before this migration carry changed_seq 0: every replica starts with a
  // full load, so they need no bump.
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('deleted_group').execute();
  await db.schema.dropIndex('metric_group_changed_seq_idx').execute();
  await db.schema.alterTable('metric_group').dropColumn('changed_seq').execute();
  await db.schema.dropTable('store_version').execute();
}
