import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { findAbove } from '../project-files.js';
import type { Database } from './schema.js';

/**
 * Same rules as kysely's FileMigrationProvider (every .ts/.js file but .d.ts, keyed by its name
 * without extension, so `0001_x.ts` under tsx and `0001_x.js` in dist/ are one migration), but the
 * import() runs from project code: kysely 0.28 imports from inside node_modules, where vitest's
 * loader does not apply and `.ts` files fail to load. A file is imported only when its migration
 * runs: they import kysely itself, whose ~280 module files would cost every start 200 ms to load
 * where the bundled gateway (scripts/bundle.mjs) carries its own copy.
 */
class FolderMigrationProvider implements MigrationProvider {
  constructor(private readonly folder: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    for (const file of await fs.readdir(this.folder)) {
      if (file.endsWith('.d.ts') || file.endsWith('.map') || !/\.(ts|js|mjs|cjs)$/.test(file)) continue;
      const load = () => import(pathToFileURL(path.join(this.folder, file)).href) as Promise<Migration>;
      migrations[file.replace(/\.[^.]+$/, '')] = {
        up: async (db) => (await load()).up(db),
        down: async (db) => (await load()).down?.(db),
      };
    }
    return migrations;
  }
}

/** migrations/: under tsx the repo's folder of .ts files, in the build the compiled dist/migrations. */
export const MIGRATIONS_FOLDER = findAbove('migrations');

export interface MigrationLog {
  info(obj: object, msg: string): void;
}

/**
 * Brings the schema to the latest migration. kysely's migrator takes a database-level lock, so
 * several replicas starting at once apply each migration exactly once. Throws on failure: a
 * gateway must not serve on a schema it does not know.
 */
export async function migrateToLatest(db: Kysely<Database>, log?: MigrationLog): Promise<void> {
  const migrator = new Migrator({ db, provider: new FolderMigrationProvider(MIGRATIONS_FOLDER) });
  const { error, results } = await migrator.migrateToLatest();
  for (const r of results ?? []) {
    log?.info({ migration: r.migrationName, status: r.status }, 'migration');
  }
  if (error) {
    throw new Error(`database migration failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
