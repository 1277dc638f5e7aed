import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server.js';
import type { DatabaseOptions } from '../../src/store/dialect/open-database.js';

export interface TestServer extends RunningServer {
  readonly dbPath: string;
  /** The database it runs on: pass it as the `database` override to reopen the same data. */
  readonly database: DatabaseOptions;
  push(method: 'PUT' | 'POST' | 'DELETE', path: string, body?: string | Buffer, headers?: Record<string, string>): Promise<Response>;
  /** The scrape with the gateway's own families (pushgateway_*, process_*, nodejs_*, pushkeep_*) removed. */
  scrapePushed(): Promise<string>;
}

/** A fresh temporary SQLite file, removed by the OS's tmp cleaning, not by the tests. */
export function tempDbPath(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-test-')), 'pushkeep.db');
}

/** Starts Pushkeep in-process on 127.0.0.1:0 with a real SQLite file. */
export async function startTestServer(overrides: Partial<ServerOptions> = {}, dbPath = tempDbPath()): Promise<TestServer> {
  const options: ServerOptions = {
    database: { sqlitePath: dbPath, sync: 'normal' },
    listen: { host: '127.0.0.1', port: 0 },
    routePrefix: '',
    telemetryPath: '/metrics',
    utf8Names: false,
    consistencyCheck: true,
    bodyLimit: 16 * 1024 * 1024,
    lifecycle: false,
    version: 'test',
    ...overrides,
  };
  const server = await startServer(options, pino({ level: 'silent' }));
  const prefix = options.routePrefix;
  return {
    ...server,
    dbPath,
    database: options.database,
    push: (method, p, body, headers) =>
      fetch(`${server.url}${prefix}${p}`, { method, ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) }),
    scrapePushed: async () => stripOwnFamilies(await (await fetch(`${server.url}${prefix}${options.telemetryPath}`)).text()),
  };
}

/**
 * Keeps only pushed families (and the per-group timestamp gauges): every pushed series carries a
 * job label, the gateway's own series never do. Works on whole family blocks.
 */
export function stripOwnFamilies(scrape: string): string {
  const out: string[] = [];
  let block: string[] = [];
  let pushed = false;
  const flush = () => {
    if (pushed) out.push(...block);
    block = [];
    pushed = false;
  };
  for (const line of scrape.split('\n')) {
    if (!line) continue;
    if (line.startsWith('# ') && block.some((l) => !l.startsWith('# '))) flush();
    block.push(line);
    if (!line.startsWith('#') && /[{,]job="/.test(line)) pushed = true;
  }
  flush();
  return out.length ? out.join('\n') + '\n' : '';
}

/** Replaces the timestamp gauges' values, which change with every run, by T. */
export function maskTimes(scrape: string): string {
  return scrape.replace(/^(push_(?:failure_)?time_seconds\{[^}]*\}) (?!0$)\S+$/gm, '$1 T');
}
