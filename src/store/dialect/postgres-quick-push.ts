import type pg from 'pg';
import { ALL_NAMES_LOCK, NAME_LOCK, NAME_LOCK_BUCKETS } from './postgres-locks.js';
import { sendAlone } from './postgres-pipeline.js';
import type { QuickWrite } from './store-dialect.js';

// StoreDialect.quickPush on PostgreSQL: the periodic re-push as one statement outside a
// transaction, instead of BEGIN, a locking read, the write and COMMIT in two round trips.
//
// The group's row is updated only while it is the version the push was prepared against: its
// xmin (which every UPDATE of the row changes, the retention sweeper's too) and changed_seq (the
// 64-bit id of the push that wrote it, so that a 32-bit xmin met again after wraparound is not
// taken for it). Every write that changes a group's families updates or deletes its row first,
// and holds the row until it commits, so at that version the families and their series are
// those the push was prepared against. An UPDATE that waits for another writer's lock on the row
// checks the version again on the row that writer left, and skips it if it changed.
//
// The group's row is locked first, then, only if it was updated, the names, shared, as
// lockPushedNames locks unchanged names (keys, buckets and order are lockNames's), then the
// families and samples are written: the order in which every writer takes them. The family and
// sample UPDATEs depend on the name locks (and those on the group's UPDATE), so PostgreSQL runs
// them in that order, and writes nothing else when the version differs.
//
// The samples' arrays are read through scalar subqueries: a plan made for the values at hand
// would know their lengths, which one made for any values does not, and PostgreSQL, finding the
// former cheaper, would plan the statement again at every run instead of keeping one plan. The
// families' columns are parameters of their own, a text per number of families: a family's
// encoded series are long, and an array of them costs both sides its text form, quoted.
function quickPushText(families: number): string {
  const rows = Array.from({ length: families }, (_, i) => {
    const p = FIRST_FAMILY_PARAMETER + i * FAMILY_PARAMETERS;
    return `($${p}::bigint, $${p + 1}::text, $${p + 2}::text, $${p + 3}::text, $${p + 4}::text, $${p + 5}::text)`;
  });
  return `WITH g AS (
    UPDATE metric_group SET push_time_seconds = $1, changed_seq = pg_current_xact_id()::text::bigint, ttl_seconds = $2, expires_at_seconds = $3
    WHERE id = $4 AND xmin = $5::xid AND changed_seq = $6
    RETURNING changed_seq),
  pushed (id, name, help, metrics_json, rendered_series_json, series_digest) AS (VALUES ${rows.join(', ')}),
  locks AS MATERIALIZED (
    SELECT CASE WHEN l.c = 0 THEN pg_advisory_xact_lock_shared(${ALL_NAMES_LOCK}, 0) ELSE pg_advisory_xact_lock_shared(${NAME_LOCK}, l.b) END
    FROM (SELECT 0 AS c, 0 AS b
          UNION
          SELECT 1, hashtext(k.key) & ${NAME_LOCK_BUCKETS - 1}
          FROM pushed AS p, unnest(ARRAY[p.name, substring(p.name FROM '^(.+)_(?:sum|count|bucket)$')]) AS k(key)
          WHERE k.key IS NOT NULL
          ORDER BY 1, 2) AS l
    WHERE EXISTS (SELECT 1 FROM g)),
  families AS (
    UPDATE metric_family AS f SET help = v.help, pushed_at_seconds = $7, metrics_json = v.metrics_json, rendered_series_json = v.rendered_series_json,
      series_digest = v.series_digest
    FROM pushed AS v
    WHERE f.id = v.id AND (SELECT count(*) FROM locks) > 0),
  samples AS (
    UPDATE metric_sample AS s SET value = v.value
    FROM unnest((SELECT $8::bigint[]), (SELECT $9::text[]), (SELECT $10::text[]), (SELECT $11::double precision[])) AS v(family_id, metric_name, labels_json, value)
    WHERE s.family_id = v.family_id AND s.metric_name = v.metric_name AND s.labels_json = v.labels_json AND (SELECT count(*) FROM locks) > 0)
  SELECT changed_seq AS version FROM g`;
}

const FIRST_FAMILY_PARAMETER = 12;
const FAMILY_PARAMETERS = 6;
const texts = new Map<number, string>();

const XID_MODULUS = 2 ** 32;

/** StoreDialect.quickPush on the pool's connections. */
export function quickPushOn(pool: pg.Pool): (write: QuickWrite) => Promise<number | undefined> {
  return async (write) => {
    const { families } = write;
    const ids: number[] = [];
    const names: string[] = [];
    const labels: string[] = [];
    const values: (number | null)[] = [];
    for (const f of families) {
      for (const s of f.samples) {
        ids.push(f.id);
        names.push(s.metric_name);
        labels.push(s.labels_json);
        values.push(s.value);
      }
    }
    const parameters: unknown[] = [
      write.pushTimeSeconds,
      write.ttlSeconds,
      write.expiresAtSeconds,
      write.groupId,
      // changed_seq is a 64-bit transaction id, the epoch above the 32 bits of the row's xmin.
      write.version % XID_MODULUS,
      write.version,
      write.pushTimeSeconds,
      ids,
      names,
      labels,
      values,
    ];
    for (const f of families) parameters.push(f.id, f.name, f.row.help, f.row.metrics_json, f.row.rendered_series_json, f.row.series_digest);
    let text = texts.get(families.length);
    if (text === undefined) texts.set(families.length, (text = quickPushText(families.length)));
    const rows = (await sendAlone(pool, text, parameters)) as { version: number | string }[];
    return rows[0] === undefined ? undefined : Number(rows[0].version);
  };
}
