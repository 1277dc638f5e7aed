import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, sql, SqliteDialect as KyselySqliteDialect, type RawBuilder, type Transaction } from 'kysely';
import type { GroupingKey } from '../../domain/grouping-key.js';
import type { CompiledStatements } from '../compiled-statements.js';
import type { Database, InsertableSample, MetricGroupRow } from '../schema.js';
import { GROUP_AND_FAMILIES, insertGroup, splitGroupRows, type GroupAndFamily } from '../group-rows.js';
import { oneLine, REFUSED, ReadOnlyQueryError, WriteRefusedError, type ReadOnlyDatabase } from '../read-only-database.js';
import type { OpenDatabase } from './open-database.js';
import type { StoreDialect } from './store-dialect.js';

/**
 * SQLite has one writer at a time: nothing to lock, nothing to retry, and a change counter that
 * commits in order. Most of a write's cost is its COMMIT, so concurrent pushes commit together.
 */
export function sqliteDialect(runner: StoreDialect['statementRunner'], familyRowids: (familyId: number) => readonly number[]): StoreDialect {
  return {
    name: 'sqlite',
    groupCommit: true,
    pushBytesAtOnce: PUSH_BYTES_AT_ONCE,
    commitChecksSent: false,
    shared: false,
    statementRunner: runner,
    transaction: (db, work) => db.transaction().execute(work),
    lockGroup: upsertGroup,
    async groupForPush(trx, key, statements) {
      // One joined SELECT reads the group and its families: a push runs a handful of statements,
      // and each one's fixed cost in kysely and SQLite matters at that count.
      const rows = await statements.rows(
        trx,
        'group and its families',
        [key.id],
        () => sql<GroupAndFamily>`SELECT ${sql.raw(GROUP_AND_FAMILIES)} WHERE g.grouping_key = ${key.id}`,
      );
      return splitGroupRows(rows) ?? { group: await insertGroup(trx, key), families: [] };
    },
    lockPushedNames: async () => {},
    lockNames: async () => {},
    lockAllNames: async () => {},
    lockedRows: (query) => query,
    async insertFamilies(trx, _statements, groupId, families) {
      const ids = new Map<string, number>();
      const rows = families.map(({ samples: _samples, ...row }) => ({ group_id: groupId, ...row }));
      for (let i = 0; i < rows.length; i += FAMILY_BATCH) {
        const inserted = await trx
          .insertInto('metric_family')
          .values(rows.slice(i, i + FAMILY_BATCH))
          .returning(['id', 'name'])
          .execute();
        for (const r of inserted) ids.set(r.name, Number(r.id));
      }
      const samples: InsertableSample[] = [];
      for (const family of families) {
        const id = ids.get(family.name)!;
        for (const s of family.samples) samples.push({ family_id: id, group_id: groupId, ...s });
      }
      for (let i = 0; i < samples.length; i += SAMPLE_BATCH) {
        await trx
          .insertInto('metric_sample')
          .values(samples.slice(i, i + SAMPLE_BATCH))
          .execute();
      }
    },
    async updateValues(trx, statements, familyId, samples) {
      if (samples.length <= CASE_MAX) {
        const values: unknown[] = [];
        for (const s of samples) values.push(s.metric_name, s.labels_json, s.value);
        values.push(familyId);
        await statements.rows(trx, `values:${samples.length}`, values, () => {
          const cases = sql.join(
            samples.map((s) => sql`WHEN metric_name = ${s.metric_name} AND labels_json = ${s.labels_json} THEN CAST(${s.value} AS double precision)`),
            sql` `,
          );
          return sql`UPDATE metric_sample SET value = CASE ${cases} ELSE value END WHERE family_id = ${familyId}`;
        });
        return;
      }
      // Larger ones join a list of (rowid, value) rows, each found by its rowid: one statement,
      // where one a row costs each its own call into SQLite, and no label text to convert and
      // look up in the series index. The family's rows were inserted in the order of its series,
      // which its digest fixes (store/series-digest.ts), and rowids follow the order of insertion:
      // its rows in rowid order are its series in order. The list is padded with rows that match
      // nothing to a multiple of VALUES_STEP, which bounds how many statement texts the family
      // sizes make. A series whose value is unchanged is found but not rewritten (IS NOT: NULL, a
      // NaN, equals NULL).
      const rowids = familyRowids(familyId);
      // Only a store written outside the gateway could make them differ; the series index then finds each row.
      const byRowid = rowids.length === samples.length;
      for (let i = 0; i < samples.length; i += VALUES_BATCH) {
        const end = Math.min(samples.length, i + VALUES_BATCH);
        const rows = Math.ceil((end - i) / VALUES_STEP) * VALUES_STEP;
        const filled: unknown[] = [];
        if (byRowid) {
          for (let j = i; j < end; j++) filled.push(rowids[j]!, samples[j]!.value);
          await updateFromList(trx, statements, 'values by rowid', familyId, filled, 2, rows, BY_ROWID);
        } else {
          for (let j = i; j < end; j++) filled.push(samples[j]!.metric_name, samples[j]!.labels_json, samples[j]!.value);
          await updateFromList(trx, statements, 'values list', familyId, filled, 3, rows, BY_IDENTITY);
        }
      }
    },
    async bumpVersion(trx) {
      // Two constant statements rather than one with RETURNING, which costs SQLite an ephemeral
      // table each time; every group commit runs this.
      await trx.executeQuery(BUMP_SEQ);
      const row = (await trx.executeQuery<{ seq: number; pruned_seq: number }>(READ_SEQ)).rows[0]!;
      return { seq: Number(row.seq), pruned_seq: Number(row.pruned_seq) };
    },
    async changeStamp(trx) {
      return (await this.bumpVersion(trx)).seq;
    },
    horizonRow: () => sql`SELECT 0 AS kind, seq + 1 AS id, 0 AS seq FROM store_version WHERE id = 1`,
    async *fullRead(db, pages) {
      // A whole store reads faster through a memory map than with a read() per page (a family row
      // fills most of a page). Only for the start's read, which nothing runs beside: with a map,
      // an I/O error on the file would be a signal that ends the process rather than an error a
      // request gets.
      try {
        await db.executeQuery(MAP_FOR_FULL_READ);
        yield* pages();
      } finally {
        await db.executeQuery(UNMAP).catch(() => {});
      }
    },
  };
}

// Rows per INSERT: well below SQLite's parameter limit.
const SAMPLE_BATCH = 500;
const FAMILY_BATCH = 300;

// Families up to this size get their values in one UPDATE whose CASE tests every row of the
// family against every pushed sample (quadratic, but the cheapest for a few series); larger ones
// in UPDATEs joining a VALUES list, of at most VALUES_BATCH rows (well below SQLite's parameter
// limit) padded to a multiple of VALUES_STEP.
const CASE_MAX = 24;
const VALUES_BATCH = 512;
const VALUES_STEP = 32;

const BUMP_SEQ = CompiledQuery.raw('UPDATE store_version SET seq = seq + 1 WHERE id = 1');
const READ_SEQ = CompiledQuery.raw('SELECT seq, pruned_seq FROM store_version WHERE id = 1');
const FAMILY_ROWIDS = 'SELECT rowid FROM metric_sample WHERE family_id = ? ORDER BY rowid';
const MAP_FOR_FULL_READ = CompiledQuery.raw('PRAGMA mmap_size = 1073741824');
const UNMAP = CompiledQuery.raw('PRAGMA mmap_size = 0');

/**
 * updateValues of some of a family's samples: one UPDATE joining a VALUES list of `rows` rows of
 * `width` columns, `filled` holding the first rows' columns (the rest are padded with NULLs, which
 * match nothing). The last column is the value; `match` finds a list row's sample.
 */
function updateFromList(
  trx: Transaction<Database>,
  statements: CompiledStatements,
  shape: string,
  familyId: number,
  filled: unknown[],
  width: number,
  rows: number,
  match: RawBuilder<unknown>,
): Promise<unknown> {
  const values = filled;
  while (values.length < rows * width) values.push(null);
  values.push(familyId);
  const value = sql.raw(`v.column${width}`);
  return statements.rows(trx, `${shape}:${rows}`, values, () => {
    const list = sql.join(Array.from({ length: rows }, (_, j) => sql`(${sql.join(values.slice(j * width, (j + 1) * width))})`));
    return sql`UPDATE metric_sample SET value = ${value} FROM (VALUES ${list}) AS v
      WHERE ${match} AND metric_sample.family_id = ${familyId} AND metric_sample.value IS NOT ${value}`;
  });
}

// How a list row finds its sample: by rowid (the family's rows in rowid order are its samples in
// order), or through the series index.
const BY_ROWID = sql`metric_sample.rowid = v.column1`;
const BY_IDENTITY = sql`metric_sample.metric_name = v.column1 AND metric_sample.labels_json = v.column2`;

async function upsertGroup(trx: Transaction<Database>, key: GroupingKey, statements: CompiledStatements): Promise<MetricGroupRow> {
  const [found] = await statements.rows(trx, 'group by key', [key.id], () => sql<MetricGroupRow>`SELECT * FROM metric_group WHERE grouping_key = ${key.id}`);
  return found ?? insertGroup(trx, key);
}

export function openSqlite(file: string, sync: 'normal' | 'full'): OpenDatabase {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = new SQLite(file);
  // WAL: readers never block the writer. synchronous=NORMAL in WAL mode keeps every commit across a
  // process crash (kill -9); FULL also fsyncs each commit, for power loss.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
  // SQLite ignores ON DELETE CASCADE without it.
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Each checkpoint fsyncs the WAL and the database; a larger WAL between checkpoints than the
  // default takes those pauses off most pushes.
  sqlite.pragma('wal_autocheckpoint = 10000');
  // better-sqlite3 builds SQLite with a 16 MB page cache, all of it resident once pushes have
  // touched that many pages. The file's pages stay in the operating system's cache anyway, and a
  // push walks a few B-tree paths whose interior pages a small cache keeps.
  sqlite.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
  const cached = withStatementCache(sqlite);
  const db = new Kysely<Database>({ dialect: new KyselySqliteDialect({ database: cached }) });
  // As kysely's SQLite driver runs a statement, on the same prepared statements.
  const runner = (_trx: unknown, text: string, parameters: readonly unknown[]): unknown[] => {
    const stmt = cached.prepare(text);
    if (stmt.reader) return stmt.all(parameters as unknown[]);
    stmt.run(parameters as unknown[]);
    return [];
  };
  // A family's rowids in order, as a plain array of numbers: a re-push reads one per series.
  // Prepared on first use, after the migrations made the table.
  let rowidsStatement: SQLite.Statement | undefined;
  const familyRowids = (familyId: number) => (rowidsStatement ??= sqlite.prepare(FAMILY_ROWIDS).pluck(true)).all(familyId) as number[];
  return {
    db,
    dialect: sqliteDialect(runner, familyRowids),
    async sizeBytes() {
      if (file === ':memory:') return 0;
      let total = 0;
      for (const f of [file, `${file}-wal`]) {
        try {
          total += fs.statSync(f).size;
        } catch {
          // The WAL file does not exist between checkpoints.
        }
      }
      return total;
    },
    close: () => db.destroy(),
  };
}

/**
 * StoreDialect.pushBytesAtOnce. Under a burst, pushes parsed and queued for the writer outlive the
 * young generation's collections and are copied, then promoted, only to die at their commit: a
 * few at a time, most die young. Eight 100-series pushes, or fifty of 10 series: of 4, 8, 16 and
 * unbounded 100-series pushes, 4 and 8 spent least on collections (docs/performance.md), and a
 * bound by count would hold small pushes' group commits to that count as well.
 */
const PUSH_BYTES_AT_ONCE = 32 * 1024;

/** SQLite's page cache, in KiB (its own default, where better-sqlite3 sets 16 MB). */
const PAGE_CACHE_KIB = 2048;

const STATEMENT_CACHE_SIZE = 256;

/**
 * ...and at most this much SQL text among them. A prepared statement's program grows with its
 * text, and a multi-row INSERT of hundreds of rows holds a program of a hundred kilobytes or more
 * outside the JavaScript heap: one per distinct row count, which the history recorder's batches
 * vary, kept tens of megabytes resident. The least recently used statements go first.
 */
const STATEMENT_CACHE_CHARS = 64 * 1024;

/**
 * kysely's SQLite driver prepares every statement it runs; preparing costs more than running
 * the small statements of a push. Statements are cached by SQL text (kysely emits the same text
 * for the same query shape). A hit is one lookup and a move to the back of the cache; a miss
 * beyond the cache's bounds evicts the least recently used.
 */
function withStatementCache(sqlite: SQLite.Database): SqliteDatabaseLike & { prepare(sql: string): SQLite.Statement } {
  const cache = new Map<string, SQLite.Statement>();
  let chars = 0;
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql);
        cache.set(sql, stmt);
        return stmt;
      }
      stmt = sqlite.prepare(sql);
      cache.set(sql, stmt);
      chars += sql.length;
      while (cache.size > 1 && (cache.size > STATEMENT_CACHE_SIZE || chars > STATEMENT_CACHE_CHARS)) {
        const oldest = cache.keys().next().value!;
        cache.delete(oldest);
        chars -= oldest.length;
      }
      return stmt;
    },
  };
}

type SqliteDatabaseLike = ConstructorParameters<typeof KyselySqliteDialect>[0]['database'] & object;

/** The file opened read-only: WAL readers never block the gateway's writer. */
export function openSqliteReadOnly(file: string): ReadOnlyDatabase {
  let db: SQLite.Database;
  try {
    db = new SQLite(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new ReadOnlyQueryError(`cannot open ${file}: ${oneLine(err)}`);
  }
  // A checkpoint by the gateway may hold the lock for a moment; wait for it instead of failing.
  db.pragma('busy_timeout = 5000');
  return {
    kind: 'sqlite',
    async query(text) {
      let stmt: SQLite.Statement;
      try {
        stmt = db.prepare(text);
      } catch (err) {
        throw new ReadOnlyQueryError(oneLine(err));
      }
      // sqlite3_stmt_readonly: decided by SQLite's compiler, not by the statement's first word
      // (`WITH x AS (...) DELETE` writes). A statement returning no rows has nothing to show and
      // may have side effects outside the database (ATTACH, VACUUM INTO).
      if (!stmt.readonly || !stmt.reader) throw new WriteRefusedError(REFUSED);
      try {
        const columns = stmt.columns().map((c) => c.name);
        return { columns, rows: stmt.raw(true).all() as unknown[][] };
      } catch (err) {
        throw new ReadOnlyQueryError(oneLine(err));
      }
    },
    async close() {
      db.close();
    },
  };
}
