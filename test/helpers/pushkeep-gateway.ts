import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Gateway } from './official-gateway.js';
import { freePort } from './process-server.js';
import { tempDbPath } from './test-server.js';

const MAIN = path.join(import.meta.dirname, '..', '..', 'dist', 'src', 'main.js');

export interface StartPushkeepOptions {
  readonly args?: readonly string[];
  /** Listen here (to restart on the port Prometheus scrapes); default a free one. */
  readonly port?: number;
  /** SQLite file; default a fresh temporary one. Reuse it to restart on the same data. */
  readonly dbPath?: string;
  readonly readyTimeoutMs?: number;
}

/**
 * The built Pushkeep (dist/src/main.js) as a real process, in the same Gateway shape as the
 * official binary's helper, so a test can run against either.
 */
export async function startPushkeepGateway(options: StartPushkeepOptions = {}): Promise<Gateway & { dbPath: string }> {
  const port = options.port ?? (await freePort());
  const dbPath = options.dbPath ?? tempDbPath();
  const child = spawn(process.execPath, [MAIN, `--web.listen-address=127.0.0.1:${port}`, `--storage.path=${dbPath}`, ...(options.args ?? [])], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pushkeep exited with ${child.exitCode}: ${log}`);
    const ok = await fetch(`${baseUrl}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pushkeep did not become ready on ${baseUrl}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    baseUrl,
    dbPath,
    stop: async () => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await signal('SIGTERM');
      clearTimeout(timer);
    },
    kill: () => signal('SIGKILL'),
  };
}
