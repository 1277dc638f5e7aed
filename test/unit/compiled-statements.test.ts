import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { CompiledStatements } from '../../src/store/compiled-statements.js';
import { openDatabase, type OpenDatabase } from '../../src/store/dialect/open-database.js';

let open: OpenDatabase | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

describe('statements compiled once per shape', () => {
  it('binds each run its own values to the text compiled on the first', async () => {
    open = openDatabase({ sqlitePath: ':memory:', sync: 'normal' });
    const db = open.db;
    await sql`CREATE TABLE t (k TEXT, v REAL)`.execute(db);
    await sql`INSERT INTO t VALUES ('a', 1), ('b', 2), ('c', 3)`.execute(db);
    const statements = new CompiledStatements();
    const pick = (keys: string[]) =>
      statements.rows(db, `pick:${keys.length}`, keys, () => sql<{ k: string; v: number }>`SELECT k, v FROM t WHERE k IN (${sql.join(keys)}) ORDER BY k`);
    expect(await pick(['a'])).toEqual([{ k: 'a', v: 1 }]);
    expect(await pick(['c'])).toEqual([{ k: 'c', v: 3 }]);
    expect(await pick(['c', 'b'])).toEqual([
      { k: 'b', v: 2 },
      { k: 'c', v: 3 },
    ]);
  });

  it('refuses a parameter list that is not the template’s', async () => {
    open = openDatabase({ sqlitePath: ':memory:', sync: 'normal' });
    const statements = new CompiledStatements();
    await expect(statements.rows(open.db, 'swapped', [1, 2], () => sql`SELECT ${2} AS a, ${1} AS b`)).rejects.toThrow(
      /parameters are not those of its template/,
    );
  });
});
