/** What one statement returned: column names and rows, each row's values in column order. */
export interface QueryResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly unknown[])[];
}

/** The statement would change the database (or is no query at all); nothing ran. */
export class WriteRefusedError extends Error {
  override readonly name = 'WriteRefusedError';
}

/** The database could not be opened or the statement failed; the message says why, on one line. */
export class ReadOnlyQueryError extends Error {
  override readonly name = 'ReadOnlyQueryError';
}

export const REFUSED = 'refused: pushkeep sql only reads (SELECT, WITH, EXPLAIN, VALUES); this statement would change the database or returns no rows';

export interface ReadOnlyDatabase {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Runs one statement and returns its rows. Refuses with WriteRefusedError anything that would
   * write; the database is left exactly as it was either way.
   */
  query(text: string): Promise<QueryResult>;
  close(): Promise<void>;
}

/** The statement's first word, lower-cased, after whitespace, comments and opening parentheses. */
export function leadingKeyword(text: string): string {
  const rest = text.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|\()*/, '');
  return (/^[A-Za-z]+/.exec(rest)?.[0] ?? '').toLowerCase();
}

export function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
