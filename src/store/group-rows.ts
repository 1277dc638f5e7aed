import type { Transaction } from 'kysely';
import type { GroupingKey } from '../domain/grouping-key.js';
import { labelsJson } from './metrics-json.js';
import type { Database, MetricGroupRow } from './schema.js';

/** A new group's row: timestamps only, no expiry. */
export function newGroupRow(key: GroupingKey) {
  return {
    grouping_key: key.id,
    job: key.job,
    labels_json: labelsJson(key.labels),
    push_time_seconds: 0,
    push_failure_time_seconds: 0,
  };
}

export function insertGroup(trx: Transaction<Database>, key: GroupingKey): Promise<MetricGroupRow> {
  return trx.insertInto('metric_group').values(newGroupRow(key)).returningAll().executeTakeFirstOrThrow();
}
