import type { Kysely } from 'kysely';

// Frozen in time: this file imports nothing from src/ and is never edited once landed.
//
// Indexes for reading push history newest first (GET /api/v1/history, the /history page, the
// timelines): every read orders by (time_seconds, id) so that a page ends at an exact position,
// and each filter the reads narrow by (job, outcome, grouping_key) leads an index that ends in
// that order. The per-minute and per-group counts read only outcome beyond those columns, so the
// time and group indexes carry it and the counts never visit the table. The time index replaces
// 0003's, which retention's oldest-first deletes also read; the group index replaces 0003's
// (grouping_key, time_seconds).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('push_attempt_time_id_idx').on('push_attempt').columns(['time_seconds', 'id', 'outcome']).execute();
  await db.schema.dropIndex('push_attempt_time_idx').execute();
  await db.schema.createIndex('push_attempt_key_time_id_idx').on('push_attempt').columns(['grouping_key', 'time_seconds', 'id', 'outcome']).execute();
  await db.schema.dropIndex('push_attempt_grouping_key_idx').execute();
  await db.schema.createIndex('push_attempt_job_time_id_idx').on('push_attempt').columns(['job', 'time_seconds', 'id']).execute();
  await db.schema.createIndex('push_attempt_outcome_time_id_idx').on('push_attempt').columns(['outcome', 'time_seconds', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('push_attempt_outcome_time_id_idx').execute();
  await db.schema.dropIndex('push_attempt_job_time_id_idx').execute();
  await db.schema.createIndex('push_attempt_grouping_key_idx').on('push_attempt').columns(['grouping_key', 'time_seconds']).execute();
  await db.schema.dropIndex('push_attempt_key_time_id_idx').execute();
  await db.schema.createIndex('push_attempt_time_idx').on('push_attempt').column('time_seconds').execute();
  await db.schema.dropIndex('push_attempt_time_id_idx').execute();
}
