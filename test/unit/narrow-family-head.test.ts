import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/store/migrate.js';
import { MIGRATIONS } from '../../src/store/migration-list.js';
import type { Database } from '../../src/store/schema.js';

const columns = async (db: Kysely<Database>) =>
  (await sql<{ name: string }>`SELECT name FROM pragma_table_info('metric_family') ORDER BY cid`.execute(db)).rows.map((r) => r.name);

describe('migration 0011 on SQLite', () => {
  it('puts the family row columns a push reads first and keeps every row, id, constraint and cascade', async () => {
    const sqlite = new SQLite(':memory:');
    sqlite.pragma('foreign_keys = ON');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    try {
      const migrator = new Migrator({ db, provider: { getMigrations: async () => ({ ...MIGRATIONS }) } });
      expect((await migrator.migrateTo('0010_leave_room_for_updates')).error).toBeUndefined();
      const group = (key: string) => ({ grouping_key: key, job: 'j', labels_json: '{"job":"j"}', push_time_seconds: 1, push_failure_time_seconds: 0 });
      await db
        .insertInto('metric_group')
        .values([group('a'), group('b')])
        .execute();
      const family = (id: number, groupId: number, name: string) => ({
        id,
        group_id: groupId,
        name,
        type: 'gauge',
        help: 'h',
        pushed_at_seconds: 2,
        metrics_json: '[]'.padEnd(20_000, ' '),
        rendered_series_json: 'r',
        series_digest: `d${id}`,
      });
      await db
        .insertInto('metric_family')
        .values([family(7, 1, 'x'), family(9, 2, 'x'), family(12, 2, 'y')])
        .execute();
      const sample = (familyId: number, groupId: number, labels: string) => ({
        family_id: familyId,
        group_id: groupId,
        metric_name: 'x',
        labels_json: labels,
        value: 1,
      });
      await db
        .insertInto('metric_sample')
        .values([sample(7, 1, '{"a":"1"}'), sample(9, 2, '{"a":"2"}'), sample(12, 2, '{"a":"3"}')])
        .execute();
      const before = await db.selectFrom('metric_family').selectAll().orderBy('id').execute();

      await migrateToLatest(db);
      expect(await columns(db)).toEqual([
        'id',
        'group_id',
        'name',
        'type',
        'series_digest',
        'help',
        'pushed_at_seconds',
        'rendered_series_json',
        'metrics_json',
      ]);
      expect(await db.selectFrom('metric_family').selectAll().orderBy('id').execute()).toEqual(before);
      expect(sqlite.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(sqlite.pragma('foreign_key_check')).toEqual([]);
      // The unique constraint, the name index and the cascades are those of the table as created.
      await expect(
        db
          .insertInto('metric_family')
          .values(family(13, 1, 'x'))
          .execute(),
      ).rejects.toThrow(/UNIQUE/);
      expect(sqlite.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'metric_family' AND type = 'index' ORDER BY name").pluck().all()).toEqual([
        'metric_family_name_idx',
        'sqlite_autoindex_metric_family_1',
      ]);
      await db.deleteFrom('metric_group').where('grouping_key', '=', 'b').execute();
      expect(await db.selectFrom('metric_family').select('id').execute()).toEqual([{ id: 7 }]);
      expect(await db.selectFrom('metric_sample').select('family_id').execute()).toEqual([{ family_id: 7 }]);
      // The views still read the table.
      expect((await sql<{ n: number }>`SELECT count(*) AS n FROM pushed_samples`.execute(db)).rows).toEqual([{ n: 1 }]);

      expect((await migrator.migrateDown()).error).toBeUndefined();
      expect(await columns(db)).toEqual([
        'id',
        'group_id',
        'name',
        'type',
        'help',
        'pushed_at_seconds',
        'metrics_json',
        'rendered_series_json',
        'series_digest',
      ]);
      expect(await db.selectFrom('metric_sample').select('family_id').execute()).toEqual([{ family_id: 7 }]);
    } finally {
      await db.destroy();
    }
  });
});
