import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';
import type { DatabaseOptions } from '../../src/store/dialect/open-database.js';
import { tempDbPath } from './test-server.js';

/** PostgreSQL for the dual-backend suites; .ci/run sets it when a server answers. */
export const TEST_POSTGRES_URL = process.env['TEST_POSTGRES_URL'] ?? '';

export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** Why the dialect's suites are skipped on this machine; undefined when they run. */
  readonly skipReason: string | undefined;
  /**
   * An empty database for one test: a new SQLite file, or a new PostgreSQL database (dropped by
   * dropDatabases). Every call returns a different one.
   */
  freshDatabase(): Promise<DatabaseOptions>;
}

const created: string[] = [];

/** A new, empty PostgreSQL database on the TEST_POSTGRES_URL server; returns its URL. */
export async function createPostgresDatabase(): Promise<string> {
  const name = `pushkeep_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  created.push(name);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops every database createPostgresDatabase made in this test file (call in afterAll). */
export async function dropDatabases(): Promise<void> {
  while (created.length > 0) {
    const name = created.pop()!;
    // WITH (FORCE): a server a failed test left running must not keep the database alive.
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

const sqlite: Dialect = {
  name: 'sqlite',
  skipReason: undefined,
  freshDatabase: async () => ({ sqlitePath: tempDbPath(), sync: 'normal' }),
};

const postgres: Dialect = {
  name: 'postgres',
  skipReason: TEST_POSTGRES_URL ? undefined : 'TEST_POSTGRES_URL is not set',
  freshDatabase: async () => ({ url: await createPostgresDatabase(), sqlitePath: '', sync: 'normal' }),
};

/** SQLite always; PostgreSQL when TEST_POSTGRES_URL is set (reported as skipped otherwise). */
export const DIALECTS: readonly Dialect[] = [sqlite, postgres];

/**
 * One describe block per dialect. A dialect that cannot run here is a skipped block whose name
 * says why, so a run without PostgreSQL shows it instead of passing it silently.
 */
export function describeDialects(title: string, body: (dialect: Dialect) => void): void {
  for (const dialect of DIALECTS) {
    const name = dialect.skipReason ? `${title} [${dialect.name}: SKIPPED, ${dialect.skipReason}]` : `${title} [${dialect.name}]`;
    describe.skipIf(dialect.skipReason !== undefined)(name, () => body(dialect));
  }
}

/** The dialect the shared push-api suite runs on: set by the file that imports it. */
let active: Dialect = sqlite;

export function activeDialect(): Dialect {
  return active;
}

export function setActiveDialect(dialect: Dialect): void {
  active = dialect;
}

export const POSTGRES: Dialect = postgres;
