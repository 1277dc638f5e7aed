import type { Kysely } from 'kysely';
import type { CompiledStatements } from './compiled-statements.js';
import type { StoreDialect } from './dialect/store-dialect.js';
import type { Database } from './schema.js';

/** What every part of the store works with: the connection, its dialect and the compiled statements. */
export interface StoreContext {
  readonly db: Kysely<Database>;
  readonly dialect: StoreDialect;
  readonly statements: CompiledStatements;
}
