import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

const MAIN = path.join(import.meta.dirname, '..', '..', 'dist', 'src', 'main.js');

/** A free loopback port (the kernel picks it; a race with other processes is unlikely in tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface PushkeepProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** stderr so far (the log). */
  log(): string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs the built gateway (`npm run build` first; `npm test` does) as a real process. */
export async function startPushkeepProcess(args: string[], timeoutMs = 15_000): Promise<PushkeepProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN, `--web.listen-address=127.0.0.1:${port}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pushkeep exited with ${child.exitCode}: ${log}`);
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pushkeep did not become ready: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    log: () => log,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
