import { Migrator, sql } from 'kysely';
import { afterAll, expect, it } from 'vitest';
import { GroupSelector } from '../../src/domain/group-matcher.js';
import type { HistoryCursor } from '../../src/domain/history-query.js';
import { openDatabase } from '../../src/store/dialect/open-database.js';
import { KyselyHistoryReads } from '../../src/store/history-reads.js';
import { KyselyHistoryStore } from '../../src/store/history-store.js';
import { MIGRATIONS } from '../../src/store/migration-list.js';
import { describeDialects, dropDatabases } from '../helpers/dialects.js';

// Label-filtered history reads walk push_attempt_label (migration 0009): attempts recorded before
// it must be found as well, and retention must leave no label behind.
describeDialects('push history labels', (dialect) => {
  afterAll(async () => {
    await dropDatabases();
  });

  it('finds attempts recorded before migration 0009 by their labels, and retention removes their labels too', async () => {
    const database = openDatabase(await dialect.freshDatabase());
    try {
      const migrator = new Migrator({ db: database.db, provider: { getMigrations: async () => ({ ...MIGRATIONS }) } });
      expect((await migrator.migrateTo('0008_index_push_history')).error).toBeUndefined();
      const old = (time: number, instance: string) => ({
        time_seconds: time,
        method: 'PUT',
        path: `/metrics/job/backup/instance/${instance}`,
        grouping_key: `{instance="${instance}",job="backup"}`,
        job: 'backup',
        labels_json: JSON.stringify({ instance, job: 'backup' }),
        outcome: 'accepted' as const,
        status_code: 200,
        reason: null,
        body_bytes: 4,
        series_count: 1,
        client_address: null,
      });
      await database.db
        .insertInto('push_attempt')
        .values([old(100, 'db1'), old(200, 'db2'), old(300, 'db1')])
        .execute();
      await database.db
        .insertInto('push_attempt')
        .values({ ...old(400, 'x'), path: '/metrics/job', grouping_key: null, job: null, labels_json: null, outcome: 'rejected', status_code: 400 })
        .execute();
      expect((await migrator.migrateToLatest()).error).toBeUndefined();

      const store = new KyselyHistoryStore(database.db, database.dialect);
      await store.appendHistory([
        {
          timeSeconds: 500,
          method: 'POST',
          path: '/metrics/job/backup/instance/db1/env/prod',
          key: {
            id: '{env="prod",instance="db1",job="backup"}',
            job: 'backup',
            labels: [
              { name: 'env', value: 'prod' },
              { name: 'instance', value: 'db1' },
              { name: 'job', value: 'backup' },
            ],
          },
          outcome: 'accepted',
          statusCode: 200,
          bodyBytes: 4,
        },
      ]);

      const reads = new KyselyHistoryReads(database.db);
      const times = async (selector: string, limit = 100) =>
        (await reads.queryHistory({ limit, selectors: [GroupSelector.parse(selector)] })).entries.map((e) => e.timeSeconds);
      expect(await times('{instance="db1"}')).toEqual([500, 300, 100]);
      expect(await times('{instance="db1",job="backup"}')).toEqual([500, 300, 100]);
      expect(await times('{instance="db2"}')).toEqual([200]);
      expect(await times('{env="prod"}')).toEqual([500]);
      expect(await times('{instance="db1",env=""}')).toEqual([300, 100]);
      expect(await times('{instance="db1",job="other"}')).toEqual([]);
      // Paging by cursor through the label index.
      const first = await reads.queryHistory({ limit: 2, selectors: [GroupSelector.parse('{instance="db1"}')] });
      expect(first.entries.map((e) => e.timeSeconds)).toEqual([500, 300]);
      const second = await reads.queryHistory({ limit: 2, selectors: [GroupSelector.parse('{instance="db1"}')], before: first.next! });
      expect(second.entries.map((e) => e.timeSeconds)).toEqual([100]);
      expect(second.next).toBeUndefined();

      // Several selectors merge their walks: every attempt once, newest first, page by page.
      const either = [GroupSelector.parse('{instance="db1"}'), GroupSelector.parse('{instance="db2"}'), GroupSelector.parse('{env="prod"}')];
      const walked: number[] = [];
      let before: HistoryCursor | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await reads.queryHistory({ limit: 1, selectors: either, ...(before ? { before } : {}) });
        walked.push(...page.entries.map((e) => e.timeSeconds));
        before = page.next;
        if (!before) break;
      }
      expect(walked).toEqual([500, 300, 200, 100]);

      expect(await store.deleteHistoryBefore(350, 100)).toBe(3);
      const labels = await sql<{ attempt_id: number | string }>`SELECT attempt_id FROM push_attempt_label`.execute(database.db);
      const attempts = await database.db.selectFrom('push_attempt').select('id').execute();
      const kept = new Set(attempts.map((a) => Number(a.id)));
      expect(labels.rows.every((r) => kept.has(Number(r.attempt_id)))).toBe(true);
      expect(labels.rows).toHaveLength(2);
      expect(await times('{instance="db1"}')).toEqual([500]);
    } finally {
      await database.close();
    }
  });
});
