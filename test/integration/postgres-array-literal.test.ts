import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrayLiteral } from '../../src/store/dialect/postgres-pipeline.js';
import { TEST_POSTGRES_URL } from '../helpers/dialects.js';

// The pipeline hands PostgreSQL arrays as their text form, built without pg: whatever it builds
// must read back as the very array it was given, and anything it cannot write exactly is left
// to pg.
describe.skipIf(!TEST_POSTGRES_URL)('arrays sent to PostgreSQL as text', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
  });

  const readBack = async (values: readonly unknown[], type: string): Promise<unknown[]> => {
    const literal = arrayLiteral(values);
    expect(literal).toBeTypeOf('string');
    return (await client.query<{ a: unknown[] }>(`SELECT $1::${type}[] AS a`, [literal])).rows[0]!.a;
  };

  it('reads back text with quotes, backslashes, braces, commas, blanks, non-ASCII and the word null', async () => {
    const values = ['{"job":"a"}', 'back\\slash', 'q"uote\\"', '{a,b}', ' spaced ', '', 'null', 'NULL', 'żółw ✓', '\\', '"'];
    expect(await readBack(values, 'text')).toEqual(values);
  });

  it('reads back NULL elements as NULL', async () => {
    expect(await readBack(['a', null, 'null'], 'text')).toEqual(['a', null, 'null']);
    expect(await readBack([1.5, null], 'double precision')).toEqual([1.5, null]);
  });

  it('reads back numbers, infinities and NaN as doubles, and booleans', async () => {
    const numbers = [0.25, -3, 1e21, 1e-7, 2 ** 53 + 2, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity];
    expect(await readBack(numbers, 'double precision')).toEqual(numbers);
    const [nan] = await readBack([NaN], 'double precision');
    expect(Number.isNaN(nan)).toBe(true);
    expect(await readBack([true, false], 'boolean')).toEqual([true, false]);
    expect(await readBack([], 'text')).toEqual([]);
  });

  it('leaves to pg what it cannot write exactly', () => {
    expect(arrayLiteral(['line\nbreak'])).toBeUndefined();
    expect(arrayLiteral(['tab\t'])).toBeUndefined();
    expect(arrayLiteral(['back\\slash then\nbreak'])).toBeUndefined();
    expect(arrayLiteral(['\ud800'])).toBeUndefined();
    expect(arrayLiteral(['𝄞'])).toBeUndefined();
    expect(arrayLiteral(['a', 1])).toBeUndefined();
    expect(arrayLiteral([{}])).toBeUndefined();
    expect(arrayLiteral([undefined])).toBeUndefined();
  });
});
