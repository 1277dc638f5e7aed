import type pg from 'pg';
import { ALL_NAMES_LOCK, NAME_LOCK, NAME_LOCK_BUCKETS } from './postgres-locks.js';
import { sendAlone } from './postgres-pipeline.js';
import type { QuickWrite } from './store-dialect.js';

// StoreDialect.quickPush on PostgreSQL: the periodic re-push as one statement outside a
// transaction, instead of BEGIN, a locking read, the write and COMMIT in two round trips. Re-pushes
// of different groups that wait for a connection together go in one statement: one round trip
// and one COMMIT for all of them, each applied or not on its own.
//
// A group's row is updated only while it is the version the push was prepared against: its xmin
// (which every UPDATE of the row changes, the retention sweeper's too) and changed_seq (the
// 64-bit id of the push that wrote it, so that a 32-bit xmin met again after wraparound is not
// taken for it). Every write that changes a group's families updates or deletes its row first,
// and holds the row until it commits, so at that version the families and their series are
// those the push was prepared against. An UPDATE that waits for another writer's lock on the row
// checks the version again on the row that writer left, and skips it if it changed.
//
// The groups' rows are locked first, in id order, then the names of the pushes applied, shared,
// as lockPushedNames locks unchanged names (keys, buckets and order are lockNames's), then the
// families and samples of those pushes are written: the order in which every writer takes them.
// Each later part depends on the one before (the samples on the families written), so
// PostgreSQL runs them in that order, and writes nothing of a push whose version differs.
//
// The arrays are read through scalar subqueries: a plan made for the values at hand would know
// their lengths, which one made for any values does not, and PostgreSQL, finding the former
// cheaper, would plan the statement again at every run instead of keeping one plan. The
// families' columns are parameters of their own, a text per number of families: a family's
// encoded series are long, and an array of them costs both sides its text form, quoted.
function quickPushText(families: number): string {
  const rows = Array.from({ length: families }, (_, i) => {
    const p = FIRST_FAMILY_PARAMETER + i * FAMILY_PARAMETERS;
    return `($${p}::bigint, $${p + 1}::bigint, $${p + 2}::text, $${p + 3}::text, $${p + 4}::double precision, $${p + 5}::text, $${p + 6}::text, $${p + 7}::text)`;
  });
  return `WITH g AS (
    UPDATE metric_group AS m SET push_time_seconds = v.push_time_seconds, changed_seq = pg_current_xact_id()::text::bigint,
      ttl_seconds = v.ttl_seconds, expires_at_seconds = v.expires_at_seconds
    FROM unnest((SELECT $1::bigint[]), (SELECT $2::xid[]), (SELECT $3::bigint[]), (SELECT $4::double precision[]), (SELECT $5::double precision[]),
      (SELECT $6::double precision[])) AS v(id, xmin, changed_seq, push_time_seconds, ttl_seconds, expires_at_seconds)
    WHERE m.id = v.id AND m.xmin = v.xmin AND m.changed_seq = v.changed_seq
    RETURNING m.id, m.changed_seq),
  pushed (group_id, id, name, help, pushed_at_seconds, metrics_json, rendered_series_json, series_digest) AS (VALUES ${rows.join(', ')}),
  locks AS MATERIALIZED (
    SELECT CASE WHEN l.c = 0 THEN pg_advisory_xact_lock_shared(${ALL_NAMES_LOCK}, 0) ELSE pg_advisory_xact_lock_shared(${NAME_LOCK}, l.b) END
    FROM (SELECT 0 AS c, 0 AS b WHERE EXISTS (SELECT 1 FROM g)
          UNION
          SELECT 1, hashtext(k.key) & ${NAME_LOCK_BUCKETS - 1}
          FROM pushed AS p, unnest(ARRAY[p.name, substring(p.name FROM '^(.+)_(?:sum|count|bucket)$')]) AS k(key)
          WHERE k.key IS NOT NULL AND p.group_id IN (SELECT id FROM g)
          ORDER BY 1, 2) AS l),
  families AS (
    UPDATE metric_family AS f SET help = v.help, pushed_at_seconds = v.pushed_at_seconds, metrics_json = v.metrics_json, rendered_series_json = v.rendered_series_json,
      series_digest = v.series_digest
    FROM pushed AS v
    WHERE f.id = v.id AND v.group_id IN (SELECT id FROM g) AND (SELECT count(*) FROM locks) > 0
    RETURNING f.id),
  samples AS (
    UPDATE metric_sample AS s SET value = v.value
    FROM unnest((SELECT $7::bigint[]), (SELECT $8::text[]), (SELECT $9::text[]), (SELECT $10::double precision[])) AS v(family_id, metric_name, labels_json, value)
    WHERE s.family_id = v.family_id AND s.metric_name = v.metric_name AND s.labels_json = v.labels_json AND v.family_id IN (SELECT id FROM families))
  SELECT id, changed_seq AS version FROM g`;
}

const FIRST_FAMILY_PARAMETER = 11;
const FAMILY_PARAMETERS = 8;
const texts = new Map<number, string>();

const XID_MODULUS = 2 ** 32;

// Statements of re-pushes running at once; the pushes arriving meanwhile wait and go together in
// the next. Fewer make larger batches (less work per push) but longer waits.
const MAX_RUNNING = 4;
// Families and series in one statement: bounds the texts (one per power of two of families),
// each of which a connection plans a few times before it keeps one plan, and the time a batch
// holds its groups' rows.
const MAX_BATCH_FAMILIES = 16;
const MAX_BATCH_SAMPLES = 1024;

interface Queued {
  readonly write: QuickWrite;
  readonly done: (version: number | undefined) => void;
  readonly fail: (err: unknown) => void;
}

/** StoreDialect.quickPush on the pool's connections. */
export function quickPushOn(pool: pg.Pool): (write: QuickWrite) => Promise<number | undefined> {
  const queue: Queued[] = [];
  // Groups of the statements running.
  const busy = new Set<number>();
  let running = 0;
  const pump = () => {
    while (running < MAX_RUNNING && queue.length > 0) {
      const batch = takeBatch(queue, busy);
      if (batch.length === 0) continue;
      running++;
      for (const item of batch) busy.add(item.write.groupId);
      void runBatch(pool, batch).finally(() => {
        running--;
        for (const item of batch) busy.delete(item.write.groupId);
        pump();
      });
    }
  };
  return (write) =>
    new Promise((done, fail) => {
      queue.push({ write, done, fail });
      pump();
    });
}

/**
 * The first pushes of the queue up to MAX_BATCH_FAMILIES families and MAX_BATCH_SAMPLES series,
 * in group id order, the order in which writers lock groups. A push to a group that another push
 * of the batch or of a running statement writes is answered at once, as not applied: it was
 * prepared against the version that one replaces.
 */
function takeBatch(queue: Queued[], busy: ReadonlySet<number>): Queued[] {
  const batch: Queued[] = [];
  const groups = new Set<number>();
  let families = 0;
  let samples = 0;
  for (let i = 0; i < queue.length;) {
    const item = queue[i]!;
    const { groupId } = item.write;
    if (groups.has(groupId) || busy.has(groupId)) {
      queue.splice(i, 1);
      item.done(undefined);
      continue;
    }
    const n = item.write.families.length;
    const m = item.write.families.reduce((sum, f) => sum + f.samples.length, 0);
    if (batch.length > 0 && (families + n > MAX_BATCH_FAMILIES || samples + m > MAX_BATCH_SAMPLES)) {
      i++;
      continue;
    }
    batch.push(item);
    groups.add(groupId);
    families += n;
    samples += m;
    queue.splice(i, 1);
  }
  return batch.sort((a, b) => a.write.groupId - b.write.groupId);
}

/** Runs a batch; each push learns its group's new version, or undefined: not applied. */
async function runBatch(pool: pg.Pool, batch: readonly Queued[]): Promise<void> {
  let versions: Map<number, number>;
  try {
    versions = await sendBatch(pool, batch);
  } catch (err) {
    // Nothing was committed. A deadlock or serialization failure: each push takes its
    // transaction, which tries again. Anything else (a lost connection) is each push's error.
    const code = (err as { code?: unknown } | null)?.code;
    for (const item of batch) {
      if (code === '40P01' || code === '40001') item.done(undefined);
      else item.fail(err);
    }
    return;
  }
  for (const item of batch) item.done(versions.get(item.write.groupId));
}

async function sendBatch(pool: pg.Pool, batch: readonly Queued[]): Promise<Map<number, number>> {
  const writes = batch.map((b) => b.write);
  const ids: number[] = [];
  const names: string[] = [];
  const labels: string[] = [];
  const values: (number | null)[] = [];
  const familyParameters: unknown[] = [];
  for (const write of writes) {
    for (const f of write.families) {
      familyParameters.push(
        write.groupId,
        f.id,
        f.name,
        f.row.help,
        f.row.pushed_at_seconds,
        f.row.metrics_json,
        f.row.rendered_series_json,
        f.row.series_digest,
      );
      for (const s of f.samples) {
        ids.push(f.id);
        names.push(s.metric_name);
        labels.push(s.labels_json);
        values.push(s.value);
      }
    }
  }
  // Rows of NULLs up to a power of two (they match no group): few texts, so that each is planned
  // once per connection rather than a few times each, as PostgreSQL plans a new one.
  let familyCount = 1;
  while (familyCount * FAMILY_PARAMETERS < familyParameters.length) familyCount *= 2;
  while (familyParameters.length < familyCount * FAMILY_PARAMETERS) familyParameters.push(null);
  const parameters: unknown[] = [
    writes.map((w) => w.groupId),
    // changed_seq is a 64-bit transaction id, the epoch above the 32 bits of the row's xmin.
    writes.map((w) => w.version % XID_MODULUS),
    writes.map((w) => w.version),
    writes.map((w) => w.pushTimeSeconds),
    writes.map((w) => w.ttlSeconds),
    writes.map((w) => w.expiresAtSeconds),
    ids,
    names,
    labels,
    values,
    ...familyParameters,
  ];
  let text = texts.get(familyCount);
  if (text === undefined) texts.set(familyCount, (text = quickPushText(familyCount)));
  const rows = (await sendAlone(pool, text, parameters)) as { id: number | string; version: number | string }[];
  return new Map(rows.map((r) => [Number(r.id), Number(r.version)] as const));
}
