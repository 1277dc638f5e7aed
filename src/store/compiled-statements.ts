import { CompiledQuery, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './schema.js';

/**
 * The SQL texts of statements every push runs, compiled by kysely once per shape: each later run
 * is the text and its values. Building and compiling a template costs more than SQLite takes to
 * run these small statements.
 * One instance per database: the text depends on the dialect (`?` or `$1` placeholders).
 */
const MAX_SHAPES = 512;

/**
 * Runs SQL on the connection of the transaction `trx` directly: SQLite's synchronously, through
 * the statement cache kysely's driver shares (src/store/dialect/sqlite.ts); PostgreSQL's as soon
 * as it is called, pipelined behind the statements sent before it. Undefined: the runner does not
 * know the transaction's connection, and kysely runs the statement.
 */
export type StatementRunner = (trx: Kysely<Database>, sql: string, parameters: readonly unknown[]) => unknown[] | Promise<unknown[]> | undefined;

export class CompiledStatements {
  private readonly texts = new Map<string, string>();

  /**
   * With `runner`, a statement run inside a transaction goes straight to it instead of through
   * kysely: on SQLite a kysely transaction holds the one connection until it ends, so the
   * statement runs in that transaction all the same. kysely's executor, cloned per statement with
   * its promise chain, costs a small re-push about as much as SQLite takes to run its statements,
   * and much of its garbage; and it runs one statement at a time, where PostgreSQL could be sent
   * several before the first answers.
   */
  constructor(private readonly runner?: StatementRunner) {}

  /**
   * Runs the statement `build` makes, whose shape (the SQL apart from its values) `shape` names.
   * `parameters` are the values `build` interpolates, in the order it does; the first run checks
   * them against kysely's compilation and throws if they differ, so a template and its list
   * cannot drift apart unnoticed.
   */
  async rows<R>(db: Kysely<Database>, shape: string, parameters: readonly unknown[], build: () => RawBuilder<R>): Promise<R[]> {
    let text = this.texts.get(shape);
    if (text === undefined) {
      const compiled = build().compile(db);
      if (compiled.parameters.length !== parameters.length || compiled.parameters.some((p, i) => p !== parameters[i])) {
        throw new Error(`statement "${shape}": its parameters are not those of its template`);
      }
      text = compiled.sql;
      // Shapes with a count in them (IN lists) are bounded by the push limits; starting over
      // keeps an odd mix of them from growing the map for ever.
      if (this.texts.size >= MAX_SHAPES) this.texts.clear();
      this.texts.set(shape, text);
    }
    // Nothing awaited before the runner: the statement is sent (SQLite: run) when this is called,
    // so statements issued one after another without awaiting keep their order.
    const direct = this.runner && db.isTransaction ? this.runner(db, text, parameters) : undefined;
    if (direct !== undefined) return direct as R[] | Promise<R[]>;
    return (await db.executeQuery<R>(CompiledQuery.raw(text, [...parameters]))).rows;
  }
}
