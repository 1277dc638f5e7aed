// The PostgreSQL target runs each scenario on a database of its own, created here and dropped when the
// scenario ends: no scenario inherits another's rows, dead tuples, statistics or bloated indexes.
import pg from 'pg';

export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export class BenchDatabases {
  private readonly created: string[] = [];
  private counter = 0;

  private constructor(private readonly adminUrl: string) {}

  /** Connects once to prove the server answers; resolves to why it cannot be used otherwise. */
  static async open(adminUrl: string): Promise<BenchDatabases | string> {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return new BenchDatabases(adminUrl);
    } catch (err) {
      return `PostgreSQL at ${redact(adminUrl)} unreachable: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** A new, empty database; its URL. */
  async create(): Promise<string> {
    const name = `pushkeep_bench_${process.pid}_${++this.counter}`;
    await this.run(`CREATE DATABASE ${name}`);
    this.created.push(name);
    return this.urlOf(name);
  }

  /** The database the last create() made, for a target restarted on the store its predecessor left. */
  current(): string {
    const name = this.created.at(-1);
    if (name === undefined) throw new Error('no benchmark database created yet');
    return this.urlOf(name);
  }

  /** Drops every database this run created; the targets using them must have stopped. */
  async dropAll(): Promise<void> {
    while (this.created.length > 0) {
      const name = this.created.pop();
      if (name !== undefined) await this.run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  }

  private urlOf(name: string): string {
    const url = new URL(this.adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  private async run(sql: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
