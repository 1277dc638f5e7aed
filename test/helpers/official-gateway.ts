import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

/** A push gateway a test can push to and scrape. Pushkeep's test variant has the same shape. */
export interface Gateway {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly baseUrl: string;
  /** Stops the process (SIGTERM, then SIGKILL after 3 s); resolves once it has exited. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL, as in a crash or an OOM kill: no shutdown hook runs. Resolves once it has exited. */
  kill(): Promise<void>;
}

/** Any server binary a test runs on loopback (the gateway, Prometheus). */
export type LoopbackService = Gateway;

export interface StartLoopbackServiceOptions {
  readonly binary: string;
  /** The binary's flags for listening on 127.0.0.1:port. */
  readonly args: (port: number) => readonly string[];
  /** Path polled until it answers 2xx, e.g. `/-/ready`. */
  readonly readyPath: string;
  /** Listen on this port (to restart a service where another one expects it); default a free one. */
  readonly port?: number;
  readonly readyTimeoutMs?: number;
}

export interface StartGatewayOptions {
  /** Defaults to the Debian package's `prometheus-pushgateway`. */
  readonly binary?: string;
  /** Extra flags, after the listen address and `--persistence.file`. */
  readonly args?: readonly string[];
  readonly port?: number;
  /** Default '' (memory only). The official gateway saves at most every `--persistence.interval`. */
  readonly persistenceFile?: string;
  readonly readyTimeoutMs?: number;
}

/** A port that was free a moment ago; the caller retries if another process takes it first. */
async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address for probe socket');
  return address.port;
}

function killAndWait(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  // No pid: the spawn itself failed, and 'exit' may never come.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = once(child, 'exit').then(() => undefined);
  child.kill(signal);
  const hardKill = setTimeout(() => child.kill('SIGKILL'), 3000);
  return exited.finally(() => clearTimeout(hardKill));
}

async function waitUntilReady(child: ChildProcess, readyUrl: string, timeoutMs: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`process exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${stderr()}`);
    }
    try {
      const response = await fetch(readyUrl, { signal: AbortSignal.timeout(500) });
      if (response.ok) return;
    } catch {
      // Not listening yet: the loop's deadline decides when this becomes an error.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${readyUrl} not ready after ${timeoutMs} ms:\n${stderr()}`);
}

/**
 * Spawns a server binary on a loopback port and resolves once `readyPath` answers 2xx. Rejects
 * if the binary is missing, exits early or is not ready in time; the process is then killed.
 */
export async function startLoopbackService(options: StartLoopbackServiceOptions): Promise<LoopbackService> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  let lastError: unknown;
  // A second attempt covers the window in which another process grabs the probed port.
  const attempts = options.port === undefined ? 2 : 1;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? (await freeLoopbackPort());
    const baseUrl = `http://127.0.0.1:${port}`;
    const child = spawn(options.binary, options.args(port), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const spawnFailed = once(child, 'error').then(([err]: unknown[]) => {
      throw new Error(`cannot start ${options.binary}: ${err instanceof Error ? err.message : String(err)}`);
    });
    spawnFailed.catch(() => undefined);
    try {
      await Promise.race([waitUntilReady(child, baseUrl + options.readyPath, readyTimeoutMs, () => stderr), spawnFailed]);
      return { baseUrl, stop: () => killAndWait(child), kill: () => killAndWait(child, 'SIGKILL') };
    } catch (err) {
      lastError = err;
      await killAndWait(child);
      if (err instanceof Error && err.message.startsWith('cannot start')) break;
    }
  }
  throw lastError;
}

/**
 * Starts the official Pushgateway on a loopback port, memory only unless `persistenceFile` is given
 * (`--persistence.file=` is always passed: Debian's build defaults it to a system path), and
 * resolves once `/-/ready` answers 200.
 */
export function startGateway(options: StartGatewayOptions = {}): Promise<Gateway> {
  return startLoopbackService({
    binary: options.binary ?? 'prometheus-pushgateway',
    args: (port) => [`--web.listen-address=127.0.0.1:${port}`, `--persistence.file=${options.persistenceFile ?? ''}`, ...(options.args ?? [])],
    readyPath: '/-/ready',
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
  });
}
