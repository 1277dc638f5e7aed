import SQLite from 'better-sqlite3';
import type pg from 'pg';
import { loadPg, type DatabaseKind } from './database.js';

/** What one statement returned: column names and rows, each row's values in column order. */
export interface QueryResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly unknown[])[];
}

/** The statement would change the database (or is no query at all); nothing ran. */
export class WriteRefusedError extends Error {
  override readonly name = 'WriteRefusedError';
}

/** The database could not be opened or the statement failed; the message says why, on one line. */
export class ReadOnlyQueryError extends Error {
  override readonly name = 'ReadOnlyQueryError';
}

export interface ReadOnlyDatabase {
  readonly kind: DatabaseKind;
  /**
   * Runs one statement and returns its rows. Refuses with WriteRefusedError anything that would
   * write; the database is left exactly as it was either way.
   */
  query(text: string): Promise<QueryResult>;
  close(): Promise<void>;
}

export interface ReadOnlyOptions {
  /** A postgres:// URL selects PostgreSQL; otherwise the SQLite file at sqlitePath. */
  readonly url?: string | undefined;
  readonly sqlitePath: string;
}

const REFUSED = 'refused: pushkeep sql only reads (SELECT, WITH, EXPLAIN, VALUES); this statement would change the database or returns no rows';

/**
 * Opens the gateway's database for reading only: SQLite read-only (WAL readers never block the
 * gateway's writer, which keeps committing while a long query runs), PostgreSQL inside a READ
 * ONLY transaction that is rolled back. Protection against writes does not rest on inspecting
 * the SQL text: the database itself refuses them.
 */
export async function openReadOnly(options: ReadOnlyOptions): Promise<ReadOnlyDatabase> {
  return options.url ? openPostgres(options.url) : openSqlite(options.sqlitePath);
}

function openSqlite(file: string): ReadOnlyDatabase {
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

// PostgreSQL type OIDs whose default parsing does not suit a printed table.
const INT8 = 20;
const NUMERIC = 1700;
const AS_TEXT = [114 /* json */, 3802 /* jsonb */, 1082 /* date */, 1083 /* time */, 1114 /* timestamp */, 1184 /* timestamptz */, 1266 /* timetz */];

/**
 * Counts and sums (int8, numeric) as numbers like SQLite gives them, dates and JSON as the text
 * PostgreSQL prints, so the same query prints the same on both databases.
 */
const types = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (oid === INT8 || oid === NUMERIC) {
      return (value) => {
        const n = Number(value);
        return Number.isFinite(n) && (oid === NUMERIC || Number.isSafeInteger(n)) ? n : value;
      };
    }
    if (AS_TEXT.includes(oid)) return (value) => value;
    return loadPg().types.getTypeParser(oid, (format ?? 'text') as 'text');
  },
};

async function openPostgres(url: string): Promise<ReadOnlyDatabase> {
  const client = new (loadPg().Client)({ connectionString: url, connectionTimeoutMillis: 5_000, types } as pg.ClientConfig);
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    throw new ReadOnlyQueryError(`cannot connect to PostgreSQL: ${oneLine(err)}`);
  }
  return {
    kind: 'postgres',
    async query(text) {
      // The READ ONLY transaction refuses writes to tables, but not everything with an effect
      // outside them (COPY ... TO PROGRAM, DO, CALL, SET, COMMIT): only query statements run.
      if (!PG_QUERY_KEYWORDS.has(leadingKeyword(text))) throw new WriteRefusedError(REFUSED);
      try {
        await client.query('BEGIN TRANSACTION READ ONLY');
        // The extended protocol runs exactly one statement: `SELECT 1; COMMIT; DELETE ...` is
        // refused instead of leaving the read-only transaction.
        const result = await client.query({ text, rowMode: 'array', queryMode: 'extended' } as pg.QueryArrayConfig);
        const fields = (result as pg.QueryArrayResult | undefined)?.fields ?? [];
        if (fields.length === 0) throw new WriteRefusedError(REFUSED);
        return { columns: fields.map((f) => f.name), rows: result.rows };
      } catch (err) {
        if (err instanceof WriteRefusedError) throw err;
        // 25006 read_only_sql_transaction: an INSERT, UPDATE, DELETE, DDL, nextval(), ...
        if ((err as { code?: unknown }).code === '25006') throw new WriteRefusedError(REFUSED);
        throw new ReadOnlyQueryError(oneLine(err));
      } finally {
        await client.query('ROLLBACK').catch(() => {});
      }
    },
    async close() {
      await client.end();
    },
  };
}

const PG_QUERY_KEYWORDS = new Set(['select', 'with', 'values', 'table', 'explain', 'show']);

/** The statement's first word, lower-cased, after whitespace, comments and opening parentheses. */
export function leadingKeyword(text: string): string {
  const rest = text.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|\()*/, '');
  return (/^[A-Za-z]+/.exec(rest)?.[0] ?? '').toLowerCase();
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
