// Starts and stops the servers under test as child processes on free loopback ports, and makes sure none of
// them outlives the benchmark, whatever way it ends.
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnTracked } from './children.js';
import { sleep } from './load.js';
import type { BenchDatabases } from './postgres-databases.js';

export const TARGET_NAMES = ['pushkeep', 'pushkeep-pg', 'pushkeep-fsync', 'official', 'express', 'node'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];
export const DEFAULT_TARGETS: readonly TargetName[] = ['pushkeep', 'pushkeep-pg', 'official', 'express', 'node'];

export function isTargetName(s: string): s is TargetName {
  return (TARGET_NAMES as readonly string[]).includes(s);
}

/** Bare servers store nothing: they only bound what the HTTP layer can do. */
export function isBare(name: TargetName): boolean {
  return name === 'express' || name === 'node';
}

export function isPushkeep(name: TargetName): boolean {
  return name === 'pushkeep' || name === 'pushkeep-pg' || name === 'pushkeep-fsync';
}

export interface Environment {
  repoRoot: string;
  /** Holds every SQLite file, persistence file and pre-rendered page of the run; removed at exit. */
  tmpDir: string;
  /** Where pushkeep-pg gets a fresh database per scenario, or why it cannot run. */
  postgres: BenchDatabases | string;
}

export interface StartOptions {
  /** A SQLite file (Pushkeep) or persistence file (official) to start from; without it the store starts empty. */
  stateFile?: string;
  /** Start on the store a previous process left, even where that is not a file (pushkeep-pg's last database). */
  keepStore?: boolean;
  adminApi?: boolean;
  /** Pushkeep only: `--retention.ttl`. */
  retentionTtl?: string;
  /**
   * Official only: `--push.disable-consistency-check`. Its checked pushes re-gather the whole store, so filling
   * it with 100,000 series takes a quarter of an hour; unchecked it takes seconds.
   */
  unchecked?: boolean;
  /** Bare servers only: the page their GET /metrics serves. */
  metricsFile?: string;
  readyTimeoutMs?: number;
}

export interface Running {
  readonly name: TargetName;
  readonly pid: number;
  readonly baseUrl: string;
  /** The file the store lives in, to restart from it; undefined for bare servers and PostgreSQL. */
  readonly stateFile: string | undefined;
  /** performance.now() at spawn, for timing a start. */
  readonly spawnedAt: number;
  /** Milliseconds from spawn to the first 200 from /-/ready. */
  readonly readyMs: number;
  rssBytes(): number | undefined;
  /** User plus system CPU time in clock ticks, to tell when the process has gone idle. */
  cpuTicks(): number | undefined;
  /** SIGTERM, then SIGKILL if it has not exited in time; resolves once it has exited. */
  stop(): Promise<void>;
  logTail(): string;
}

const OFFICIAL_BINARY = 'prometheus-pushgateway';
let fileCounter = 0;

/** Why a target cannot run on this machine, or undefined when it can. */
export function unavailableReason(name: TargetName, env: Environment): string | undefined {
  if (isPushkeep(name)) {
    if (!existsSync(path.join(env.repoRoot, 'dist/src/main.js'))) return 'dist/src/main.js not built';
    if (name === 'pushkeep-pg' && typeof env.postgres === 'string') return env.postgres;
    return undefined;
  }
  if (name === 'official') return findOnPath(OFFICIAL_BINARY) ? undefined : `${OFFICIAL_BINARY} not installed`;
  return undefined;
}

export function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** A fresh path in the run's temporary directory; the file is not created. */
export function tempFile(env: Environment, stem: string): string {
  return path.join(env.tmpDir, `${stem}-${++fileCounter}`);
}

export class StartError extends Error {}

/** Starts a target and resolves once its /-/ready answers 200. */
export async function startTarget(name: TargetName, env: Environment, opts: StartOptions = {}): Promise<Running> {
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  let command: string;
  let args: string[];
  let stateFile: string | undefined;
  let childEnv: NodeJS.ProcessEnv = process.env;
  if (isPushkeep(name)) {
    command = process.execPath;
    // As `npm start` and the image start it (package.json, Dockerfile): one malloc arena.
    childEnv = { ...process.env, MALLOC_ARENA_MAX: process.env['MALLOC_ARENA_MAX'] ?? '1' };
    args = [path.join(env.repoRoot, 'dist/src/main.js'), `--web.listen-address=${listen}`];
    if (name === 'pushkeep-pg') {
      if (typeof env.postgres === 'string') throw new StartError(env.postgres);
      args.push(`--storage.url=${opts.keepStore ? env.postgres.current() : await env.postgres.create()}`);
    } else {
      stateFile = opts.stateFile ?? tempFile(env, 'pushkeep') + '.sqlite';
      args.push(`--storage.path=${stateFile}`);
    }
    if (name === 'pushkeep-fsync') args.push('--storage.sync=full');
    if (opts.adminApi) args.push('--web.enable-admin-api');
    if (opts.retentionTtl !== undefined) args.push(`--retention.ttl=${opts.retentionTtl}`);
  } else if (name === 'official') {
    command = OFFICIAL_BINARY;
    stateFile = opts.stateFile;
    // The Debian build defaults to a system-wide persistence file, so say "none" explicitly.
    args = [`--web.listen-address=${listen}`, `--persistence.file=${stateFile ?? ''}`];
    if (opts.adminApi) args.push('--web.enable-admin-api');
    if (opts.unchecked) args.push('--push.disable-consistency-check');
  } else {
    command = process.execPath;
    args = ['--import', 'tsx', path.join(env.repoRoot, 'bench', `bare-${name}.ts`), `--port=${port}`];
    if (opts.metricsFile !== undefined) args.push(`--metrics-file=${opts.metricsFile}`);
  }

  const spawnedAt = performance.now();
  const child = spawnTracked(command, args, { cwd: env.repoRoot, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  // Always drain the pipes: a child blocked on a full pipe would look like a slow server.
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    // The official gateway writes its persistence file on SIGTERM: a million series take a while.
    // The grace timer is cleared once the child is gone: left running, it kept the bench alive
    // for up to a minute after writing its results.
    let grace: NodeJS.Timeout | undefined;
    const killed = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (grace = setTimeout(() => r(true), 60_000)))]);
    clearTimeout(grace);
    if (killed) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  const baseUrl = `http://${listen}`;
  const deadline = spawnedAt + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (spawnError) throw new StartError(`${name}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new StartError(`${name} exited (${child.exitCode ?? child.signalCode}) before ready: ${lastLines(tail)}`);
    }
    if (performance.now() > deadline) {
      await stop();
      throw new StartError(`${name} not ready after ${opts.readyTimeoutMs ?? 60_000} ms: ${lastLines(tail)}`);
    }
    if ((await probe(`${baseUrl}/-/ready`)) === 200) break;
    await sleep(5);
  }
  const readyMs = performance.now() - spawnedAt;
  const pid = child.pid ?? -1;

  const running: Running = {
    name,
    pid,
    baseUrl,
    stateFile,
    spawnedAt,
    readyMs,
    rssBytes: () => readVmRss(pid),
    cpuTicks: () => readCpuTicks(pid),
    stop,
    logTail: () => tail,
  };
  return running;
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ') || '(no output)';
}

function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function readVmRss(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

function readCpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}
