import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { createRequire } from 'node:module';
import type pg from 'pg';
import type { StatementRunner } from './compiled-statements.js';
import type { Database } from './schema.js';

export type DatabaseKind = 'sqlite' | 'postgres';

export interface DatabaseOptions {
  /** A `postgres://` URL selects PostgreSQL; otherwise SQLite at sqlitePath. */
  readonly url?: string | undefined;
  readonly sqlitePath: string;
  /** `full` fsyncs every commit (power-loss safe); `normal` is safe against process crashes. */
  readonly sync: 'normal' | 'full';
}

export interface OpenDatabase {
  readonly db: Kysely<Database>;
  readonly kind: DatabaseKind;
  /** SQLite only: runs a statement on the one connection, for use inside a kysely transaction (CompiledStatements). */
  readonly statementRunner?: StatementRunner;
  /** Bytes the database occupies (file + WAL for SQLite, pg_database_size for PostgreSQL). */
  sizeBytes(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The one place that knows which database Pushkeep runs on: it picks the kysely dialect and does
 * each backend's connection setup.
 */
export function openDatabase(options: DatabaseOptions): OpenDatabase {
  if (options.url) return openPostgres(options.url);
  return openSqlite(options.sqlitePath, options.sync);
}

function openSqlite(file: string, sync: 'normal' | 'full'): OpenDatabase {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = new SQLite(file);
  // WAL: readers never block the writer. synchronous=NORMAL in WAL mode keeps every commit across a
  // process crash (kill -9); FULL also fsyncs each commit, for power loss.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
  // SQLite ignores ON DELETE CASCADE without it.
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Each checkpoint fsyncs the WAL and the database; letting the WAL grow to ~40 MB between
  // checkpoints (default 4 MB) takes those pauses off most pushes.
  sqlite.pragma('wal_autocheckpoint = 10000');
  const cached = withStatementCache(sqlite);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cached }) });
  return {
    db,
    kind: 'sqlite',
    // As kysely's SQLite driver runs a statement, on the same prepared statements.
    statementRunner: (text, parameters) => {
      const stmt = cached.prepare(text);
      if (stmt.reader) return stmt.all(parameters as unknown[]);
      stmt.run(parameters as unknown[]);
      return [];
    },
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

const STATEMENT_CACHE_SIZE = 256;

/**
 * kysely's SQLite driver prepares every statement it runs; preparing costs more than running
 * the small statements of a push. Statements are cached by SQL text (kysely emits the same text
 * for the same query shape). A hit is one lookup; when the cache is full it starts over, which
 * only the rare odd-sized batches (an INSERT of an unusual row count) ever cause.
 */
function withStatementCache(sqlite: SQLite.Database): SqliteDatabaseLike & { prepare(sql: string): SQLite.Statement } {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (!stmt) {
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
        stmt = sqlite.prepare(sql);
        cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}

type SqliteDatabaseLike = ConstructorParameters<typeof SqliteDialect>[0]['database'] & object;

// pg is loaded only when PostgreSQL is used: loading it costs SQLite users time at every start.
export const loadPg = (): typeof pg => createRequire(import.meta.url)('pg') as typeof pg;

function openPostgres(url: string): OpenDatabase {
  const pg = loadPg();
  // int8 (ids, counts) would otherwise arrive as strings; our ids stay far below 2^53.
  pg.types.setTypeParser(20, (v) => Number(v));
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    // Without these a dead or unreachable server makes requests wait forever instead of
    // answering 503: connecting gives up after 5 s, and TCP keepalive notices a silent peer.
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
  });
  // An idle pooled connection that the server or the network drops emits 'error' on the pool;
  // unhandled, it would crash the process. The pool discards that connection by itself and the
  // next query opens a fresh one (or fails with the reason, answered as 503).
  pool.on('error', () => {});
  // The pool listens only on idle connections; one lost while checked out (between two
  // statements of a transaction) would emit an unhandled 'error'. Its next statement fails
  // instead, and the pool drops the connection when it comes back.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    kind: 'postgres',
    async sizeBytes() {
      const r = await pool.query<{ size: string }>('SELECT pg_database_size(current_database()) AS size');
      return Number(r.rows[0]?.size ?? 0);
    },
    close: () => db.destroy(),
  };
}
