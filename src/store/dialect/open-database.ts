import type { Kysely } from 'kysely';
import type { ReadOnlyDatabase } from '../read-only-database.js';
import type { Database } from '../schema.js';
import { openPostgres, openPostgresReadOnly } from './postgres.js';
import { openSqlite, openSqliteReadOnly } from './sqlite.js';
import type { StoreDialect } from './store-dialect.js';

export type DatabaseKind = StoreDialect['name'];

export interface DatabaseOptions {
  /** A `postgres://` URL selects PostgreSQL; otherwise SQLite at sqlitePath. */
  readonly url?: string | undefined;
  readonly sqlitePath: string;
  /** `full` fsyncs every commit (power-loss safe); `normal` is safe against process crashes. */
  readonly sync: 'normal' | 'full';
}

export interface OpenDatabase {
  readonly db: Kysely<Database>;
  /** Everything the store does differently on this database. */
  readonly dialect: StoreDialect;
  /** Bytes the database occupies (file + WAL for SQLite, pg_database_size for PostgreSQL). */
  sizeBytes(): Promise<number>;
  close(): Promise<void>;
}

/** The one place that decides which database Pushkeep runs on, from the storage options. */
export function openDatabase(options: DatabaseOptions): OpenDatabase {
  return options.url ? openPostgres(options.url) : openSqlite(options.sqlitePath, options.sync);
}

export interface ReadOnlyOptions {
  /** A postgres:// URL selects PostgreSQL; otherwise the SQLite file at sqlitePath. */
  readonly url?: string | undefined;
  readonly sqlitePath: string;
}

/**
 * Opens the gateway's database for reading only: SQLite read-only (WAL readers never block the
 * gateway's writer, which keeps committing while a long query runs), PostgreSQL inside a READ
 * ONLY transaction that is rolled back. Protection against writes does not rest on inspecting
 * the SQL text: the database itself refuses them.
 */
export async function openReadOnly(options: ReadOnlyOptions): Promise<ReadOnlyDatabase> {
  return options.url ? openPostgresReadOnly(options.url) : openSqliteReadOnly(options.sqlitePath);
}
