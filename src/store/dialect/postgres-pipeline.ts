import { createHash } from 'node:crypto';
import {
  AbortedTransactionError,
  CompiledQuery,
  Kysely,
  PostgresDialect as KyselyPostgresDialect,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type Transaction,
  type TransactionSettings,
} from 'kysely';
import type pg from 'pg';
import type { Database } from '../schema.js';
import { firstFailure } from '../../util/first-failure.js';

// PostgreSQL write transactions whose statements are pipelined: pg sends a statement while those
// before it still run, and PostgreSQL runs them in order. A push then waits for an answer only
// where it needs one, and BEGIN, the writes and COMMIT travel with the statements next to them.
// On loopback a round trip costs the client and the server each more than running a small
// statement does.

/**
 * kysely's transaction on `db`, whose statements sent through sendDirect are not waited for
 * before COMMIT: when one of them failed (and COMMIT answered ROLLBACK), it throws that
 * statement's error, the reason (a deadlock, a duplicate series).
 */
export async function pipelinedTransaction<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  const sent: Promise<unknown>[] = [];
  try {
    return await db.transaction().execute(async (trx) => {
      // The transaction's own connection, which kysely keeps to itself: a statement sent on it
      // directly is part of the transaction.
      const connection = await trx.getExecutor().provideConnection(async (c) => c);
      if (connection instanceof PipelinedConnection) connections.set(trx, { client: connection.client, sent });
      return work(trx);
    });
  } catch (caught) {
    throw (await firstFailure(sent)) ?? caught;
  }
}

/**
 * Sends a statement on the connection of a pipelinedTransaction at once, as a named prepared
 * statement; undefined for any other `trx`.
 */
export function sendDirect(trx: Kysely<Database>, text: string, parameters: readonly unknown[]): Promise<unknown[]> | undefined {
  const connection = connections.get(trx);
  if (!connection) return undefined;
  coalesceWrites(connection.client);
  const values = encoded(parameters);
  const rows = new Promise<unknown[]>((resolve, reject) => {
    // A Query of text and values, named afterwards: pg copies a config object, descriptor by
    // descriptor, for every statement it is given.
    const query: pg.Query & { name?: string } = new queryClass!(text, values, (err, result) => (err ? reject(err) : resolve(result.rows as unknown[])));
    query.name = statementName(text);
    connection.client.query(query);
  });
  rows.catch(() => {});
  connection.sent.push(rows);
  return rows;
}

/**
 * Runs a statement on its own, outside any transaction (PostgreSQL commits it before it answers),
 * on a connection of the pool, as a named prepared statement: one round trip.
 */
export async function sendAlone(pool: pg.Pool, text: string, parameters: readonly unknown[]): Promise<unknown[]> {
  const client = await pool.connect();
  try {
    coalesceWrites(client);
    return await new Promise<unknown[]>((resolve, reject) => {
      const query: pg.Query & { name?: string } = new queryClass!(text, encoded(parameters), (err, result) =>
        err ? reject(err) : resolve(result.rows as unknown[]),
      );
      query.name = statementName(text);
      client.query(query);
    });
  } finally {
    // A connection that was lost is no longer queryable, and the pool drops it.
    client.release();
  }
}

/** Arrays in their text form where arrayLiteral can write it. */
function encoded(parameters: readonly unknown[]): unknown[] {
  return parameters.map((p) => (Array.isArray(p) ? (arrayLiteral(p) ?? p) : p));
}

/**
 * The array as PostgreSQL's text form of an array (`{"a","b"}`, `{1.5,NULL}`), built by V8
 * instead of pg, whose per-element JavaScript quoting cost a push with a hundred series more
 * than the rest of its statement's encoding; undefined where this shortcut does not apply (pg
 * then encodes the array): mixed or other types, and strings JSON would escape otherwise.
 * Every array these statements take is cast to its array type in their SQL, so the text is read
 * as that type.
 */
export function arrayLiteral(values: readonly unknown[]): string | undefined {
  let strings = 0;
  let scalars = 0;
  for (const v of values) {
    if (typeof v === 'string') {
      if (ESCAPED_OTHERWISE.test(v)) return undefined;
      strings++;
    } else if (typeof v === 'number' || typeof v === 'boolean') scalars++;
    else if (v !== null) return undefined;
  }
  if (strings > 0 && scalars > 0) return undefined;
  if (strings === 0) return `{${values.map((v) => (v === null ? 'NULL' : String(v))).join(',')}}`;
  // JSON quotes a string as an array literal does (\" and \\), and writes null unquoted, which
  // an array literal reads as NULL.
  const json = JSON.stringify(values);
  return `{${json.slice(1, -1)}}`;
}

/**
 * What JSON escapes in its own way (control characters as \n or \u0001, lone surrogates as
 * \ud800), which an array literal would read differently; surrogates paired or not, since a
 * test for pairs costs more than the rare string that holds one going through pg.
 */
// eslint-disable-next-line no-control-regex
const ESCAPED_OTHERWISE = /[\u0000-\u001f\ud800-\udfff]/;

/** kysely on the pool, its transactions ready for pipelinedTransaction. */
export function pipelinedKysely(pool: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PipelinedPostgresDialect(pool) });
}

/**
 * The pg connection under each pipelinedTransaction, and the statements sent on it through
 * sendDirect.
 */
const connections = new WeakMap<Kysely<Database>, { readonly client: pg.PoolClient; readonly sent: Promise<unknown>[] }>();

const names = new Map<string, string>();
// Texts a process sends through sendDirect: the push's fixed shapes and IN lists up to the
// push limits. Past this the map starts over (a name is the same for the same text).
const MAX_NAMES = 1024;

/**
 * A prepared statement's name for the text: each connection parses and plans a statement the
 * first time it runs it, and later runs send only its values. Derived from the text, so the same
 * text always gets the same name, whatever connection prepared it.
 */
function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= MAX_NAMES) names.clear();
    name = `pk_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
}

/** The socket writes of a pg client, which pg does not type. */
interface WithSocket {
  readonly connection?: { readonly stream?: { cork?(): void; uncork?(): void } };
}
const corked = new WeakSet<pg.ClientBase>();

/**
 * Holds the client's socket writes until the statements sent in this turn of the event loop are
 * all written, then writes them with one system call: pg writes each statement on its own, and
 * on loopback each write costs about as much as the server takes to run a small statement.
 */
function coalesceWrites(client: pg.ClientBase): void {
  const stream = (client as WithSocket).connection?.stream;
  if (!stream?.cork || !stream.uncork || corked.has(client)) return;
  corked.add(client);
  stream.cork();
  process.nextTick(() => {
    corked.delete(client);
    stream.uncork!();
  });
}

const BEGIN = CompiledQuery.raw('begin');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

/** A pooled pg client as kysely's connection, the client in sight (kysely's own keeps it private). */
class PipelinedConnection implements DatabaseConnection {
  discarded = false;

  constructor(readonly client: pg.PoolClient) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.discarded) throw new Error('PostgreSQL connection has been discarded');
    const { command, rowCount, rows } = await this.client.query<R & pg.QueryResultRow>(query.sql, [...query.parameters]);
    if (command === 'ROLLBACK' || command === 'COMMIT') return { rows: [{ command } as R] };
    const changed = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
    return { ...(changed ? { numAffectedRows: BigInt(rowCount ?? 0) } : {}), rows: rows ?? [] };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery(): AsyncIterableIterator<QueryResult<never>> {
    throw new Error('streaming is not supported on this connection');
  }
}

/**
 * kysely's PostgreSQL driver, but on connections that show their pg client (sendDirect needs it;
 * finding it otherwise took an AsyncLocalStorage, whose promise hooks slowed every promise of the
 * process), and sending BEGIN without waiting for its answer: the transaction's first statement
 * goes in the same round trip, and fails, as the transaction does, if BEGIN did. COMMIT still
 * waits for BEGIN's answer.
 */
class PipelinedPostgresDriver implements Driver {
  private readonly connections = new WeakMap<pg.PoolClient, PipelinedConnection>();
  private readonly begun = new WeakMap<DatabaseConnection, Promise<unknown>>();

  constructor(private pool: pg.Pool | undefined) {}

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (!this.pool) throw new Error('driver has already been destroyed');
    const client = await this.pool.connect();
    let connection = this.connections.get(client);
    if (!connection) this.connections.set(client, (connection = new PipelinedConnection(client)));
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (settings.isolationLevel || settings.accessMode) {
      const mode = [settings.isolationLevel && `isolation level ${settings.isolationLevel}`, settings.accessMode].filter(Boolean).join(' ');
      await connection.executeQuery(CompiledQuery.raw(`start transaction ${mode}`));
      return;
    }
    if (connection instanceof PipelinedConnection) coalesceWrites(connection.client);
    const begun = connection.executeQuery(BEGIN);
    begun.catch(() => {});
    this.begun.set(connection, begun);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await this.begun.get(connection);
    this.begun.delete(connection);
    const { rows } = await connection.executeQuery<{ command?: string }>(COMMIT);
    // PostgreSQL answers COMMIT with ROLLBACK when an earlier statement aborted the transaction.
    if (rows[0]?.command === 'ROLLBACK') throw new AbortedTransactionError();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await this.begun.get(connection)?.catch(() => {});
    this.begun.delete(connection);
    try {
      await connection.executeQuery(ROLLBACK);
    } catch (err) {
      if (connection instanceof PipelinedConnection) connection.discarded = true;
      throw err;
    }
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    if (connection instanceof PipelinedConnection) connection.client.release(connection.discarded);
  }

  async destroy(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }
}

class PipelinedPostgresDialect extends KyselyPostgresDialect {
  constructor(private readonly pool: pg.Pool) {
    super({ pool });
  }

  override createDriver(): Driver {
    return new PipelinedPostgresDriver(this.pool);
  }
}

/** pg's Query class, from the pg that newPool was given. */
let queryClass: typeof pg.Query | undefined;

export function newPool(lib: typeof pg, url: string, max: number, pipeline: boolean): pg.Pool {
  queryClass = lib.Query;
  const pool = new lib.Pool({
    connectionString: url,
    max,
    pipeline,
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
  return pool;
}
