import type { Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
// Identity columns are the one place SQLite and PostgreSQL need different DDL; the adapter's class
// name is the portable way to tell them apart from inside a migration.
function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter.constructor.name === 'PostgresAdapter';
}

export async function up(db: Kysely<any>): Promise<void> {
  const pg = isPostgres(db);
  const id = pg ? 'bigint' : 'integer';

  await db.schema
    .createTable('metric_group')
    .addColumn('id', id, (c) => (pg ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey()))
    .addColumn('grouping_key', 'text', (c) => c.notNull().unique())
    .addColumn('job', 'text', (c) => c.notNull())
    .addColumn('labels_json', 'text', (c) => c.notNull())
    .addColumn('push_time_seconds', 'double precision', (c) => c.notNull().defaultTo(0))
    .addColumn('push_failure_time_seconds', 'double precision', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('metric_family')
    .addColumn('id', id, (c) => (pg ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey()))
    .addColumn('group_id', id, (c) => c.notNull().references('metric_group.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('help', 'text')
    .addColumn('pushed_at_seconds', 'double precision', (c) => c.notNull())
    .addColumn('metrics_json', 'text', (c) => c.notNull())
    .addUniqueConstraint('metric_family_group_name_unique', ['group_id', 'name'])
    .execute();
  await db.schema.createIndex('metric_family_name_idx').on('metric_family').column('name').execute();

  await db.schema
    .createTable('metric_sample')
    .addColumn('family_id', id, (c) => c.notNull().references('metric_family.id').onDelete('cascade'))
    .addColumn('group_id', id, (c) => c.notNull())
    .addColumn('metric_name', 'text', (c) => c.notNull())
    .addColumn('labels_json', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision')
    .execute();
  // The unique index is the cross-group duplicate-series check: a push that would expose a series
  // another group already exposes fails on insert, at the cost of one index probe per sample.
  await db.schema
    .createIndex('metric_sample_series_unique')
    .on('metric_sample')
    .columns(['metric_name', 'labels_json'])
    .unique()
    .execute();
  await db.schema.createIndex('metric_sample_family_idx').on('metric_sample').column('family_id').execute();

  // One row per metric name across all groups: the type every group must agree on and how many
  // groups hold it, so the consistency check is a key lookup instead of a scan of the store.
  await db.schema
    .createTable('metric_name')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('family_count', 'integer', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('metric_name').execute();
  await db.schema.dropTable('metric_sample').execute();
  await db.schema.dropTable('metric_family').execute();
  await db.schema.dropTable('metric_group').execute();
}
