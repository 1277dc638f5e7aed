// wrk as the load generator: written in C, it leaves the target nearly all of a small machine, and it reads a
// multi-megabyte scrape about ten times faster than autocannon. A generated Lua script cycles the paths.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnTracked } from './children.js';
import type { LoadFigures, LoadSpec } from './load.js';

let scriptCounter = 0;

interface WrkSummary {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  status: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
}

/** Runs one load phase with wrk (one thread); `scriptDir` receives its Lua script. */
export async function runWrk(spec: LoadSpec, scriptDir: string): Promise<LoadFigures> {
  const script = path.join(scriptDir, `wrk-${++scriptCounter}.lua`);
  writeFileSync(script, luaScript(spec));
  // wrk reads whole seconds only.
  const seconds = Math.max(1, Math.round(spec.durationS));
  const args = ['-t1', `-c${spec.connections}`, `-d${seconds}s`, '--timeout', '60s', '-s', script, spec.baseUrl];
  const child = spawnTracked('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  const line = stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (code !== 0 || line === undefined) {
    throw new Error(`wrk failed (${code ?? 'signal'}): ${(stderr || stdout).trim().slice(-300)}`);
  }
  const s = JSON.parse(line.slice('WRKJSON '.length)) as WrkSummary;
  const elapsed = s.durationUs / 1e6;
  return {
    requests: s.requests,
    seconds: elapsed,
    rps: elapsed > 0 ? s.requests / elapsed : 0,
    // wrk reports no percentile of an empty histogram, only zeros.
    p50Ms: s.requests > 0 ? s.p50Us / 1000 : Number.NaN,
    p99Ms: s.requests > 0 ? s.p99Us / 1000 : Number.NaN,
    non2xx: s.status,
    errors: s.connect + s.read + s.write + s.timeout,
    statusCodes: s.status > 0 ? { '4xx/5xx': s.status } : {},
    capped: s.requests >= spec.maxRequests,
  };
}

/**
 * The script formats every request once, in init(), and hands them out in turn; past the request cap the
 * thread stops (wrk still waits out the duration, so a capped phase under-reports its rate: the caller flags it).
 */
/** A body as a Lua string: long brackets for text, decimal escapes for binary bodies (OTLP protobuf), which UTF-8 would mangle. */
function luaBody(body: Buffer): string {
  const text = body.toString();
  if (Buffer.from(text).equals(body)) return luaLongString(text);
  let out = '"';
  for (const byte of body) out += `\\${byte}`;
  return `${out}"`;
}

function luaScript(spec: LoadSpec): string {
  const headers = Object.entries(spec.headers ?? {})
    .map(([k, v]) => `[${luaString(k)}] = ${luaString(v)}`)
    .join(', ');
  const body = spec.body === undefined ? 'nil' : luaBody(spec.body);
  return `local paths = { ${spec.paths.map(luaString).join(', ')} }
local method = ${luaString(spec.method)}
local headers = { ${headers} }
local body = ${body}
local max = ${spec.maxRequests}
local reqs = {}
local n, i = 0, 0

init = function(args)
  for k, p in ipairs(paths) do reqs[k] = wrk.format(method, p, headers, body) end
end

request = function()
  n = n + 1
  if n > max then wrk.thread:stop() end
  i = i % #reqs + 1
  return reqs[i]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
`;
}

function luaString(s: string): string {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new Error(`wrk script: unsupported characters in ${JSON.stringify(s)}`);
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function luaLongString(s: string): string {
  let level = 0;
  while (s.includes(`]${'='.repeat(level)}]`)) level++;
  const eq = '='.repeat(level);
  // Lua drops a newline right after the opening bracket, so one is added for a body that starts with one.
  return `[${eq}[${s.startsWith('\n') ? '\n' : ''}${s}]${eq}]`;
}
