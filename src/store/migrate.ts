import { Migrator, type Kysely } from 'kysely';
import { MIGRATIONS } from './migration-list.js';
import type { Database } from './schema.js';

export interface MigrationLog {
  info(obj: object, msg: string): void;
}

/**
 * Brings the schema to the latest migration. kysely's migrator takes a database-level lock, so
 * several replicas starting at once apply each migration exactly once. Throws on failure: a
 * gateway must not serve on a schema it does not know.
 */
export async function migrateToLatest(db: Kysely<Database>, log?: MigrationLog): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => ({ ...MIGRATIONS }) } });
  const { error, results } = await migrator.migrateToLatest();
  for (const r of results ?? []) {
    log?.info({ migration: r.migrationName, status: r.status }, 'migration');
  }
  if (error) {
    throw new Error(`database migration failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
