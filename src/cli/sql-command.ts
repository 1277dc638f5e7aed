import { ConfigError, loadConfig } from '../config/config.js';
import { openReadOnly } from '../store/dialect/open-database.js';
import { ReadOnlyQueryError, WriteRefusedError } from '../store/read-only-database.js';
import { formatResult, RESULT_FORMATS, type ResultFormat } from './result-format.js';

export const SQL_USAGE = `usage: pushkeep sql [--format=table|csv|json] [--storage.path=<file> | --storage.url=<postgres://...>] "<SELECT ...>"

Runs one read-only query against the gateway's database and prints the rows. The database is
opened read-only (SQLite) or in a READ ONLY transaction (PostgreSQL); statements that would
write are refused. Query the views pushed_groups, pushed_samples and push_history (docs/sql.md:
"Query pushed state with SQL"). Storage flags and PUSHKEEP_STORAGE_* variables as for the server.

  --format=table|csv|json  Output format (default table).
`;

interface Output {
  write(text: string): unknown;
}

/**
 * `pushkeep sql ...` (argv after `sql`). Returns the exit status: 0 on success, 1 when the query
 * was refused or failed, 2 for a usage error. Messages go to `err` on one line.
 */
export async function runSqlCommand(argv: readonly string[], env: NodeJS.ProcessEnv, out: Output, err: Output): Promise<number> {
  const fail = (status: number, message: string): number => {
    err.write(`pushkeep sql: ${message}\n`);
    return status;
  };

  let format: ResultFormat = 'table';
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const match = /^--format(?:=(.*))?$/.exec(arg);
    if (!match) {
      rest.push(arg);
      continue;
    }
    const value = match[1] ?? argv[++i];
    if (!RESULT_FORMATS.includes(value as ResultFormat)) {
      return fail(2, `invalid value ${JSON.stringify(value ?? '')} for --format: expected ${RESULT_FORMATS.join(', ')}`);
    }
    format = value as ResultFormat;
  }

  let storage: { path: string; url: string };
  let args: readonly string[];
  try {
    const config = loadConfig(rest, env);
    if (config.help) {
      out.write(SQL_USAGE);
      return 0;
    }
    storage = config.storage;
    args = config.args;
  } catch (e) {
    if (e instanceof ConfigError) return fail(2, e.message);
    throw e;
  }
  if (args.length !== 1 || args[0]!.trim() === '') {
    return fail(2, `expected exactly one query, got ${args.length} arguments (quote the query; see pushkeep sql --help)`);
  }

  let db;
  try {
    db = await openReadOnly({ url: storage.url || undefined, sqlitePath: storage.path });
  } catch (e) {
    if (e instanceof ReadOnlyQueryError) return fail(1, e.message);
    throw e;
  }
  try {
    const result = await db.query(args[0]!);
    out.write(formatResult(result, format));
    return 0;
  } catch (e) {
    if (e instanceof WriteRefusedError || e instanceof ReadOnlyQueryError) return fail(1, e.message);
    throw e;
  } finally {
    await db.close();
  }
}
