// Load generation: wrk (or autocannon) for the measured phases, a bounded pool of fetches to fill a store, and raw GETs
// that count what a scrape returned without decoding or keeping it.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import type { Request } from 'autocannon';
import { SeriesCounter } from './workload.js';
import { runWrk } from './wrk.js';

export type Generator = 'wrk' | 'autocannon';

export interface LoadSpec {
  baseUrl: string;
  connections: number;
  durationS: number;
  maxRequests: number;
  method: 'GET' | 'PUT' | 'POST';
  /** Requests go to these paths in turn. */
  paths: readonly string[];
  headers?: Record<string, string>;
  body?: Buffer;
}

export interface LoadFigures {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** With wrk: replies of status 400 and above (wrk does not count 3xx). */
  non2xx: number;
  errors: number;
  statusCodes: Record<string, number>;
  /** The phase stopped at its request cap rather than its duration. */
  capped: boolean;
}

/** Runs one load phase, stopping at `durationS` or `maxRequests`, whichever comes first. */
export function runLoad(spec: LoadSpec, generator: Generator, scriptDir: string): Promise<LoadFigures> {
  return generator === 'wrk' ? runWrk(spec, scriptDir) : runAutocannon(spec);
}

/**
 * autocannon, for machines without wrk. Its HTTP parser is JavaScript and shares the machine with the target:
 * on loopback it caps a large scrape at about a tenth of what wrk reaches. Latency percentiles are computed
 * here from every response, because its own histogram only resolves whole milliseconds.
 */
function runAutocannon(spec: LoadSpec): Promise<LoadFigures> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let lastResponseAt = 0;
  let clientIndex = 0;
  const { connections } = spec;
  const requests: Request[] = spec.paths.map((path) => {
    const request: Request = { method: spec.method, path };
    if (spec.headers) request.headers = spec.headers;
    if (spec.body) request.body = spec.body;
    return request;
  });
  const maxOverallRequests = Math.max(spec.maxRequests, connections);
  const startedAt = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.baseUrl,
        connections,
        duration: spec.durationS,
        // autocannon refuses a request cap below the connection count.
        maxOverallRequests,
        // The official gateway queues every checked push behind the others: 32 of them at 180 ms each
        // would trip autocannon's default 10 s timeout while the gateway is merely slow.
        timeout: 60,
        requests,
        // Each connection starts at its own offset so that the connections spread over the groups.
        setupClient: (client) => {
          const offset = Math.floor((clientIndex++ * requests.length) / connections) % requests.length;
          if (offset > 0) client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
        },
      },
      (err, result) => {
        if (err) {
          reject(err);
          return;
        }
        const sorted = latencies.subarray(0, count).sort();
        const seconds = ((lastResponseAt || performance.now()) - startedAt) / 1000;
        const statusCodes: Record<string, number> = {};
        for (const [code, { count: n }] of Object.entries(result.statusCodeStats)) statusCodes[code] = n;
        resolve({
          requests: count,
          seconds,
          rps: seconds > 0 ? count / seconds : 0,
          p50Ms: percentile(sorted, 0.5),
          p99Ms: percentile(sorted, 0.99),
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
          statusCodes,
          capped: count >= maxOverallRequests,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, ms) => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = ms;
      lastResponseAt = performance.now();
    });
  });
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

export interface FillResult {
  /** Pushes answered 2xx. */
  ok: number;
  failed: number;
  /** Pushes not sent because the deadline came first. */
  unsent: number;
  seconds: number;
  firstFailure?: string;
}

/**
 * Sends `count` pushes (the i-th to `pathOf(i)`) with at most `concurrency` in flight, stopping early at
 * `deadline` (a performance.now() value) so that a slow target cannot hold the run hostage.
 */
export async function fillStore(
  baseUrl: string,
  method: 'PUT' | 'POST',
  count: number,
  pathOf: (i: number) => string,
  body: Buffer,
  concurrency: number,
  deadline: number,
  contentType: string,
): Promise<FillResult> {
  const started = performance.now();
  const result: FillResult = { ok: 0, failed: 0, unsent: 0, seconds: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count && performance.now() < deadline) {
      const i = next++;
      try {
        const res = await fetch(baseUrl + pathOf(i), {
          method,
          body,
          headers: { 'content-type': contentType },
        });
        const text = await res.text();
        if (res.ok) result.ok++;
        else {
          result.failed++;
          result.firstFailure ??= `${res.status} ${text.slice(0, 200)}`;
        }
      } catch (err) {
        result.failed++;
        result.firstFailure ??= String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  result.unsent = count - next;
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

export interface RawGet {
  status: number;
  /** Body bytes as sent on the wire (compressed when the server compressed). */
  bytes: number;
  contentEncoding: string;
  /** Benchmark-family sample lines, counted only when the body was not compressed. */
  series: number;
  body?: string;
}

/** One GET that reads the whole reply without decoding it. */
export function rawGet(url: string, headers: Record<string, string> = {}, opts: { keepBody?: boolean; timeoutMs?: number } = {}): Promise<RawGet> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: opts.timeoutMs ?? 120_000 }, (res) => {
      const encoding = String(res.headers['content-encoding'] ?? '');
      const counter = encoding === '' ? new SeriesCounter() : undefined;
      const kept: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        counter?.push(chunk);
        if (opts.keepBody) kept.push(chunk);
      });
      res.on('end', () => {
        const out: RawGet = {
          status: res.statusCode ?? 0,
          bytes,
          contentEncoding: encoding,
          series: counter?.count ?? 0,
        };
        if (opts.keepBody) out.body = Buffer.concat(kept).toString();
        resolve(out);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** Sends one request and returns status and body text; for admin calls and probes. */
export async function call(url: string, method: string, timeoutMs = 10_000): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
