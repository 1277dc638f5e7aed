import type { Transaction } from 'kysely';
import type { GroupingKey } from '../domain/grouping-key.js';
import { labelsJson } from './metrics-json.js';
import type { FamilyHead } from './dialect/store-dialect.js';
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

/** The group's row with one of its families (or none: NULLs) per row, as groupForPush reads them. */
export interface GroupAndFamily extends MetricGroupRow {
  readonly family_id: number | null;
  readonly family_name: string | null;
  readonly family_type: string | null;
  readonly family_digest: string | null;
}

/** The columns of GroupAndFamily, for `SELECT ${GROUP_AND_FAMILIES} WHERE g.grouping_key = ...`. */
export const GROUP_AND_FAMILIES = `g.*, f.id AS family_id, f.name AS family_name, f.type AS family_type,
  f.series_digest AS family_digest FROM metric_group g LEFT JOIN metric_family f ON f.group_id = g.id`;

/** The group and its families from the rows of GROUP_AND_FAMILIES; undefined for none. */
export function splitGroupRows(rows: readonly GroupAndFamily[]): { group: MetricGroupRow; families: FamilyHead[] } | undefined {
  const first = rows[0];
  if (!first) return undefined;
  const { family_id: _id, family_name: _name, family_type: _type, family_digest: _digest, ...group } = first;
  const families: FamilyHead[] = [];
  for (const r of rows) {
    if (r.family_id !== null) families.push({ id: r.family_id, name: r.family_name!, type: r.family_type!, series_digest: r.family_digest });
  }
  return { group, families };
}
