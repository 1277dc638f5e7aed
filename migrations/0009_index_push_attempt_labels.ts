import { sql, type Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
//
// History reads filtered by a grouping label other than job (match[]={instance="db1"}) had no
// index: the labels live in push_attempt.labels_json, so such a read walked the time index and
// tested every row. push_attempt_label holds each attempt's grouping labels but job (which has its
// own indexed column), one row per label, with the attempt's time beside it, so that the
// (name, value, time_seconds, attempt_id) index yields one label value's attempts newest first, in
// the order every history read pages by. The primary key (attempt_id, name) serves the cascade
// when retention deletes attempts. Attempts recorded before this migration are copied in here.

function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter.constructor.name === 'PostgresAdapter';
}

export async function up(db: Kysely<any>): Promise<void> {
  const pg = isPostgres(db);
  await db.schema
    .createTable('push_attempt_label')
    .addColumn('attempt_id', pg ? 'bigint' : 'integer', (c) => c.notNull().references('push_attempt.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    // The attempt's time_seconds, copied so that one index orders a label value's attempts.
    .addColumn('time_seconds', 'double precision', (c) => c.notNull())
    .addPrimaryKeyConstraint('push_attempt_label_pkey', ['attempt_id', 'name'])
    .execute();
  // Each JSON member of labels_json is one label; both databases read a JSON object's members as a table.
  const members = pg ? sql`json_each_text(CAST(a.labels_json AS json)) AS j` : sql`json_each(a.labels_json) AS j`;
  await sql`
    INSERT INTO push_attempt_label (attempt_id, name, value, time_seconds)
    SELECT a.id, j.key, j.value, a.time_seconds
    FROM push_attempt a, ${members}
    WHERE a.labels_json IS NOT NULL AND j.key <> 'job'`.execute(db);
  // Built after the copy: one sort instead of a million ordered inserts.
  await db.schema
    .createIndex('push_attempt_label_value_time_idx')
    .on('push_attempt_label')
    .columns(['name', 'value', 'time_seconds', 'attempt_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('push_attempt_label').execute();
}
