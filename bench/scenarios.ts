// The scenarios of issue 10. Each one starts its own targets, so no scenario inherits another's store, and
// stops them before it returns, whatever happens.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { call, fillStore, rawGet, runLoad, sleep } from './load.js';
import type { FillResult, Generator, LoadFigures, LoadSpec } from './load.js';
import { isBare, isPushkeep, startTarget, StartError, tempFile } from './targets.js';
import type { Environment, Running, StartOptions, TargetName } from './targets.js';
import { OTLP_CONTENT_TYPES, OTLP_PATH, otlpBody, TEXT_GROUP_PATH } from './otlp-workload.js';
import { counterBody, groupPath, PUSH_CONTENT_TYPE, pushBody, renderedPage, SERIES_PER_LARGE_PUSH, SERIES_PER_SMALL_PUSH } from './workload.js';

export const SCENARIO_NAMES = [
  'push_small',
  'aggregate_small',
  'put_replace',
  'push_into_large',
  'scrape_large',
  'mixed',
  'restart',
  'memory',
  'retention_wipe',
  'otlp_small',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface BenchConfig {
  env: Environment;
  quick: boolean;
  /** Length of each measured load phase. */
  durationS: number;
  /** Length of the unmeasured phase before each, so that JIT compilers and caches are warm when it starts. */
  warmupS: number;
  /** Request cap of each measured load phase. */
  maxRequests: number;
  /** Time allowed to fill a store before a scenario goes on with what it reached. */
  fillBudgetS: number;
  /** Time allowed for each step of the memory scenario. */
  memoryStepBudgetS: number;
  /** The longest a load phase may be stretched for a slow target to answer enough requests. */
  longestPhaseS: number;
  generator: Generator;
  log: (message: string) => void;
}

/** A figure of one target in one scenario. `metric` names the figure, e.g. `scrape_large/gzip`. */
export type Result =
  | {
      kind: 'load';
      metric: string;
      target: TargetName;
      figures: LoadFigures;
      bytesPerRequest?: number;
      /** The target's own CPU time (user + system) per reply of a phase run alone. */
      cpuUsPerRequest?: number;
      note?: string;
    }
  | {
      kind: 'value';
      metric: string;
      target: TargetName;
      value: number;
      unit: 'ms' | 'MB';
      note?: string;
      /** The step stopped at its time bound before storing all it should have. */
      partial?: true;
    }
  | { kind: 'skipped'; metric: string; target: TargetName; reason: string };

interface Scenario {
  /** Why the scenario does not apply to a target, or undefined when it does. */
  notFor(target: TargetName): string | undefined;
  run(target: TargetName, cfg: BenchConfig): Promise<Result[]>;
}

const SMALL_GROUPS = 1_000;
const LARGE_GROUPS = 10_000; // x 10 series = 100,000
const HUGE_GROUPS = 100_000; // x 10 series = 1,000,000
const PUT_GROUPS = 100;
const WIPE_GROUPS = 5_000;
const FILL_CONCURRENCY = 32;
const EXPIRY_TTL_S = 5;
const RESTARTS = 5;
const OTLP_ROUNDS = 2;

const smallBody = pushBody(SERIES_PER_SMALL_PUSH);
const largeBody = pushBody(SERIES_PER_LARGE_PUSH);
const pushHeaders = { 'content-type': PUSH_CONTENT_TYPE };

function pushPhase(method: 'PUT' | 'POST', groups: number, body: Buffer, connections: number): Phase {
  return { method, connections, paths: Array.from({ length: groups }, (_, i) => groupPath(i)), headers: pushHeaders, body };
}

function scrapePhase(connections: number, headers: Record<string, string> = {}): Phase {
  return { method: 'GET', connections, paths: ['/metrics'], headers };
}

const notBare = (target: TargetName): string | undefined => (isBare(target) ? 'a bare server stores nothing' : undefined);
const always = (): undefined => undefined;

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  push_small: {
    notFor: always,
    async run(target, cfg) {
      return withTarget(await startTarget(target, cfg.env), async (t) => [loadResult('push_small', t, await pushSmallLoad(t, cfg))]);
    },
  },

  aggregate_small: {
    // Only Pushkeep has groups whose POSTs add.
    notFor: (target) => (isPushkeep(target) ? undefined : 'no aggregating groups'),
    async run(target, cfg) {
      return withTarget(await startTarget(target, cfg.env), async (t) => {
        const phase = {
          ...pushPhase('POST', SMALL_GROUPS, counterBody(SERIES_PER_SMALL_PUSH), 32),
          headers: { ...pushHeaders, 'pushkeep-aggregation': 'sum' },
        };
        const [measured] = await measure(cfg, t, [phase]);
        return [loadResult('aggregate_small', t, measured)];
      });
    },
  },

  otlp_small: {
    notFor: (target) => (isPushkeep(target) ? undefined : 'only Pushkeep takes OTLP'),
    async run(target, cfg) {
      // The same 100 series into one group each way: a text POST, OTLP protobuf, OTLP/JSON. The three phases
      // run in turn, OTLP_ROUNDS times, and each figure sums its rounds, so that neither a cold first phase
      // nor a burst of other work on the machine falls on one encoding only.
      return withTarget(await startTarget(target, cfg.env), async (t) => {
        const otlp = (encoding: 'protobuf' | 'json'): Phase => ({
          method: 'POST',
          connections: 32,
          paths: [OTLP_PATH],
          headers: { 'content-type': OTLP_CONTENT_TYPES[encoding] },
          body: otlpBody(encoding),
        });
        const phases = {
          'otlp_small/text': { ...otlp('json'), paths: [TEXT_GROUP_PATH], headers: pushHeaders, body: largeBody },
          'otlp_small/otlp': otlp('protobuf'),
          'otlp_small/otlp_json': otlp('json'),
        };
        const rounds = new Map<string, Measured[]>();
        for (let round = 0; round < OTLP_ROUNDS; round++) {
          for (const [metric, phase] of Object.entries(phases)) {
            const [measured] = await measure(cfg, t, [phase]);
            if (measured !== undefined) rounds.set(metric, [...(rounds.get(metric) ?? []), measured]);
          }
        }
        return Object.keys(phases).map((metric) => loadResult(metric, t, sumRounds(rounds.get(metric) ?? [])));
      });
    },
  },

  put_replace: {
    notFor: always,
    async run(target, cfg) {
      return withTarget(await startTarget(target, cfg.env), async (t) => {
        const [measured] = await measure(cfg, t, [pushPhase('PUT', PUT_GROUPS, largeBody, 32)]);
        return [loadResult('put_replace', t, measured)];
      });
    },
  },

  push_into_large: {
    notFor: always,
    async run(target, cfg) {
      const { target: started, note } = await storedTarget(target, cfg, LARGE_GROUPS);
      return withTarget(started, async (t) => [loadResult('push_into_large', t, await pushSmallLoad(t, cfg), note)]);
    },
  },

  scrape_large: {
    notFor: always,
    async run(target, cfg) {
      const { target: started, note } = await storedTarget(target, cfg, LARGE_GROUPS);
      return withTarget(started, async (t) => {
        const results: Result[] = [];
        for (const [variant, headers] of [
          ['plain', {}],
          ['gzip', { 'accept-encoding': 'gzip' }],
        ] as const) {
          const sample = await rawGet(`${t.baseUrl}/metrics`, headers);
          const [measured] = await measure(cfg, t, [scrapePhase(4, headers)]);
          const notes = [note];
          if (variant === 'plain' && sample.series !== LARGE_GROUPS * SERIES_PER_SMALL_PUSH) {
            notes.push(`scrape holds ${fmtCount(sample.series)} series`);
          }
          if (variant === 'gzip' && sample.contentEncoding !== 'gzip') notes.push('not compressed');
          results.push({
            ...loadResult(`scrape_large/${variant}`, t, measured, joinNotes(notes)),
            bytesPerRequest: sample.bytes,
          });
        }
        return results;
      });
    },
  },

  mixed: {
    notFor: always,
    async run(target, cfg) {
      const { target: started, note } = await storedTarget(target, cfg, SMALL_GROUPS);
      return withTarget(started, async (t) => {
        const [push, scrape] = await measure(cfg, t, [pushPhase('POST', SMALL_GROUPS, smallBody, 28), scrapePhase(4)]);
        return [loadResult('mixed/push', t, push, note), loadResult('mixed/scrape', t, scrape, note)];
      });
    },
  },

  restart: {
    notFor: (target) => notBare(target),
    async run(target, cfg) {
      const { stateFile, fill } = await filledAndStopped(target, cfg, LARGE_GROUPS, {});
      const expected = fill.ok * SERIES_PER_SMALL_PUSH;
      const restartOpts: StartOptions = { readyTimeoutMs: 300_000, keepStore: true };
      if (stateFile !== undefined) restartOpts.stateFile = stateFile;
      // A single start is a few hundred ms, in which one scheduling hiccup of a shared machine
      // shows: each target starts RESTARTS times on the same store and reports its medians.
      const ready: number[] = [];
      const complete: number[] = [];
      for (let i = 0; i < RESTARTS; i++) {
        const skipped = await withTarget(await startTarget(target, cfg.env, restartOpts), async (t) => {
          ready.push(t.readyMs);
          const deadline = performance.now() + 300_000;
          let seen = -1;
          while (performance.now() < deadline) {
            const scrape = await rawGet(`${t.baseUrl}/metrics`, {}, { timeoutMs: 300_000 });
            seen = scrape.series;
            if (scrape.status === 200 && seen >= expected) {
              complete.push(performance.now() - t.spawnedAt);
              return undefined;
            }
            await sleep(10);
          }
          return `no complete scrape within 300 s (last saw ${fmtCount(seen)} of ${fmtCount(expected)} series)`;
        });
        if (skipped !== undefined) {
          return [{ kind: 'skipped', metric: 'restart/complete_scrape', target, reason: skipped }];
        }
      }
      const note = joinNotes([
        `median of ${RESTARTS} starts (${complete.map((ms) => Math.round(ms)).join(', ')} ms to a complete scrape)`,
        fill.ok < LARGE_GROUPS ? `store reached ${fmtCount(expected)} series` : undefined,
      ]);
      return [
        { kind: 'value', metric: 'restart/ready', target, value: median(ready), unit: 'ms', ...noteField(note) },
        { kind: 'value', metric: 'restart/complete_scrape', target, value: median(complete), unit: 'ms', ...noteField(note) },
      ];
    },
  },

  memory: {
    // The footprint targets are the embedded store's; filling a million series through PostgreSQL would
    // only lengthen the run.
    notFor: (target) => notBare(target) ?? (target === 'pushkeep-pg' ? "the memory targets are the SQLite default's" : undefined),
    async run(target, cfg) {
      // The official gateway's checked push re-gathers the whole store; unchecked it stores the same data in
      // minutes instead of days. Skipping the check spares it that garbage, so its figure can only be lower.
      const opts: StartOptions = target === 'official' ? { unchecked: true } : {};
      return withTarget(await startTarget(target, cfg.env, opts), async (t) => {
        const results: Result[] = [];
        let stored = 0;
        for (const [metric, groups] of [
          ['memory/100k', LARGE_GROUPS],
          ['memory/1M', HUGE_GROUPS],
        ] as const) {
          const deadline = performance.now() + cfg.memoryStepBudgetS * 1000;
          const fill = await fillStore(
            t.baseUrl,
            'POST',
            groups - stored,
            (i) => groupPath(stored + i),
            smallBody,
            FILL_CONCURRENCY,
            deadline,
            PUSH_CONTENT_TYPE,
          );
          stored += fill.ok;
          await settle(t);
          const rss = t.rssBytes();
          const series = stored * SERIES_PER_SMALL_PUSH;
          if (rss === undefined) {
            results.push({ kind: 'skipped', metric, target, reason: 'VmRSS unreadable' });
            break;
          }
          const notes: string[] = [];
          if (stored < groups) notes.push(`reached ${fmtCount(series)} series in ${cfg.memoryStepBudgetS} s`);
          if (fill.failed > 0) notes.push(`${fill.failed} pushes failed: ${fill.firstFailure ?? ''}`);
          if (target === 'official') notes.push('unchecked pushes');
          results.push({
            kind: 'value',
            metric,
            target,
            value: rss / 2 ** 20,
            unit: 'MB',
            ...noteField(joinNotes(notes)),
            ...(stored < groups ? { partial: true as const } : {}),
          });
          if (stored < groups) break;
        }
        return results;
      });
    },
  },

  retention_wipe: {
    notFor: (target) => notBare(target),
    async run(target, cfg) {
      const results: Result[] = [];
      const { target: started, note } = await storedTarget(target, cfg, WIPE_GROUPS, { adminApi: true });
      await withTarget(started, async (t) => {
        const t0 = performance.now();
        const wipe = await call(`${t.baseUrl}/api/v1/admin/wipe`, 'PUT');
        if (wipe.status >= 300) {
          results.push({ kind: 'skipped', metric: 'wipe_5000', target, reason: `wipe answered ${wipe.status}` });
          return;
        }
        const emptyAt = await waitEmpty(t, t0 + 60_000);
        results.push(
          emptyAt === undefined
            ? { kind: 'skipped', metric: 'wipe_5000', target, reason: 'store not empty 60 s after the wipe' }
            : { kind: 'value', metric: 'wipe_5000', target, value: emptyAt - t0, unit: 'ms', ...noteField(note) },
        );
      });
      if (isPushkeep(target)) results.push(await expiry(target, cfg));
      return results;
    },
  },
};

/** One kind of load in a measured phase; the phase supplies the target, duration and request cap. */
type Phase = Omit<LoadSpec, 'baseUrl' | 'durationS' | 'maxRequests'>;

interface Measured {
  figures: LoadFigures;
  cpuUsPerRequest?: number;
  note?: string;
}

/** Linux's USER_HZ, the unit of /proc/PID/stat's CPU times. */
const CLOCK_TICKS_PER_S = 100;

/** Fewer replies than this in a phase make its rate and percentiles noise. */
const MIN_REPLIES = 20;

/**
 * Runs the phases together: an unmeasured warm-up, then the measured run, each followed by a wait until the
 * target is idle again, so that work queued by abandoned requests is not billed to what comes next. A target
 * too slow to answer MIN_REPLIES in the phase is measured again over a longer phase, up to longestPhaseS.
 */
async function measure(cfg: BenchConfig, t: Running, phases: readonly Phase[]): Promise<Measured[]> {
  const run = (durationS: number): Promise<LoadFigures[]> =>
    Promise.all(phases.map((p) => runLoad({ ...p, baseUrl: t.baseUrl, durationS, maxRequests: cfg.maxRequests }, cfg.generator, cfg.env.tmpDir)));
  // Go needs no warming up, and the official gateway would only spend the next phase working off the
  // warm-up's queue of checked pushes.
  if (cfg.warmupS > 0 && t.name !== 'official') {
    await run(cfg.warmupS);
    await settle(t);
  }
  let durationS = cfg.durationS;
  // The target's CPU time over a phase and the queue it leaves: per reply, a cost that other processes on
  // the machine lengthen far less than they lower a rate.
  const measuredRun = async (): Promise<{ figures: LoadFigures[]; ticks: number | undefined }> => {
    const before = t.cpuTicks();
    const figures = await run(durationS);
    await settle(t);
    const after = t.cpuTicks();
    return { figures, ticks: before === undefined || after === undefined ? undefined : after - before };
  };
  let { figures, ticks } = await measuredRun();
  while (figures.some((f) => f.requests < MIN_REPLIES) && durationS < cfg.longestPhaseS) {
    durationS = Math.min(cfg.longestPhaseS, durationS * 4);
    cfg.log(`    ${t.name}: fewer than ${MIN_REPLIES} replies, measuring again over ${durationS} s`);
    ({ figures, ticks } = await measuredRun());
  }
  return figures.map((f) => {
    const notes: string[] = [];
    if (durationS !== cfg.durationS) notes.push(`measured over ${durationS} s`);
    if (f.capped) notes.push('stopped at the request cap: rate under-reported');
    const note = joinNotes(notes);
    const cpu = phases.length === 1 && ticks !== undefined && f.requests > 0 ? { cpuUsPerRequest: ((ticks / CLOCK_TICKS_PER_S) * 1e6) / f.requests } : {};
    return note === undefined ? { figures: f, ...cpu } : { figures: f, ...cpu, note };
  });
}

/** Several runs of one phase as one: rates and CPU over all their replies, the median p50 and the worst p99. */
function sumRounds(rounds: readonly Measured[]): Measured | undefined {
  if (rounds.length === 0) return undefined;
  const all = rounds.map((r) => r.figures);
  const requests = all.reduce((n, f) => n + f.requests, 0);
  const seconds = all.reduce((n, f) => n + f.seconds, 0);
  const statusCodes: Record<string, number> = {};
  for (const f of all) for (const [code, n] of Object.entries(f.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  const figures: LoadFigures = {
    requests,
    seconds,
    rps: requests / seconds,
    p50Ms: median(all.map((f) => f.p50Ms)),
    p99Ms: Math.max(...all.map((f) => f.p99Ms)),
    non2xx: all.reduce((n, f) => n + f.non2xx, 0),
    errors: all.reduce((n, f) => n + f.errors, 0),
    statusCodes,
    capped: all.some((f) => f.capped),
  };
  const costed = rounds.filter((r) => r.cpuUsPerRequest !== undefined);
  const cpu =
    costed.length === rounds.length && requests > 0
      ? { cpuUsPerRequest: costed.reduce((us, r) => us + (r.cpuUsPerRequest ?? 0) * r.figures.requests, 0) / requests }
      : {};
  const notes = [...new Set(rounds.map((r) => r.note).filter((n) => n !== undefined))];
  return { figures, ...cpu, ...noteField(joinNotes([`${rounds.length} rounds`, ...notes])) };
}

/** The small push load shared by push_small and push_into_large, so that their latencies compare. */
async function pushSmallLoad(t: Running, cfg: BenchConfig): Promise<Measured> {
  const [measured] = await measure(cfg, t, [pushPhase('POST', SMALL_GROUPS, smallBody, 32)]);
  if (measured === undefined) throw new Error('no measurement');
  return measured;
}

/**
 * Times how long after the last group's TTL ran out the store is empty. Pushkeep only, and only when it knows
 * `--retention.ttl`: a start that fails with the flag is reported as not supported.
 */
async function expiry(target: TargetName, cfg: BenchConfig): Promise<Result> {
  let started: Running;
  try {
    started = await startTarget(target, cfg.env, { retentionTtl: `${EXPIRY_TTL_S}s` });
  } catch (err) {
    if (!(err instanceof StartError)) throw err;
    return { kind: 'skipped', metric: 'expire_5000', target, reason: `--retention.ttl not supported (${err.message})` };
  }
  return withTarget(started, async (t) => {
    const fill = await fillStore(
      t.baseUrl,
      'POST',
      WIPE_GROUPS,
      groupPath,
      smallBody,
      FILL_CONCURRENCY,
      performance.now() + cfg.fillBudgetS * 1000,
      PUSH_CONTENT_TYPE,
    );
    const lastExpires = performance.now() + EXPIRY_TTL_S * 1000;
    const budgetMs = (cfg.quick ? 30 : 120) * 1000;
    const emptyAt = await waitEmpty(t, lastExpires + budgetMs);
    if (emptyAt === undefined) {
      return {
        kind: 'skipped',
        metric: 'expire_5000',
        target,
        reason: `not empty ${budgetMs / 1000} s after the TTL of ${EXPIRY_TTL_S} s ran out`,
      };
    }
    const note = fill.ok < WIPE_GROUPS ? `only ${fill.ok} groups stored` : `TTL ${EXPIRY_TTL_S} s`;
    return { kind: 'value', metric: 'expire_5000', target, value: emptyAt - lastExpires, unit: 'ms', note };
  });
}

/** Polls /api/v1/metrics back to back until it lists no group; returns when that was seen, or undefined. */
async function waitEmpty(t: Running, deadline: number): Promise<number | undefined> {
  while (performance.now() < deadline) {
    const res = await call(`${t.baseUrl}/api/v1/metrics`, 'GET', 120_000);
    // A non-empty reply for thousands of groups is megabytes: only a short one can be empty.
    if (res.status === 200 && res.text.length < 200) {
      const parsed = JSON.parse(res.text) as { data?: unknown };
      if (Array.isArray(parsed.data) && parsed.data.length === 0) return performance.now();
    }
    await sleep(2);
  }
  return undefined;
}

interface Stored {
  target: Running;
  note?: string;
}

/**
 * Starts a target holding `groups` groups of 10 series. Pushkeep is filled by pushes. The official gateway is
 * filled by an unchecked instance that saves its store on SIGTERM, then started checked from that file, since
 * its checked pushes would take a quarter of an hour to store 100,000 series. The bare servers get the same
 * page pre-rendered. The note says when the store is short of what was asked.
 */
async function storedTarget(target: TargetName, cfg: BenchConfig, groups: number, opts: StartOptions = {}): Promise<Stored> {
  const expected = groups * SERIES_PER_SMALL_PUSH;
  if (isBare(target)) {
    return { target: await startTarget(target, cfg.env, { ...opts, metricsFile: pageFile(cfg.env, groups) }) };
  }
  let started: Running;
  let fill: FillResult;
  if (target === 'official') {
    const filled = await filledAndStopped(target, cfg, groups, opts);
    fill = filled.fill;
    started = await startTarget(target, cfg.env, {
      ...opts,
      ...(filled.stateFile === undefined ? {} : { stateFile: filled.stateFile }),
      readyTimeoutMs: 300_000,
    });
  } else {
    started = await startTarget(target, cfg.env, opts);
    fill = await fillFor(started, cfg, groups);
  }
  try {
    // One full scrape both proves what is stored and warms the target up before it is measured.
    const seen = (await rawGet(`${started.baseUrl}/metrics`, {}, { timeoutMs: 300_000 })).series;
    const notes: string[] = [];
    if (seen !== expected) notes.push(`${fmtCount(seen)} of ${fmtCount(expected)} series stored`);
    if (fill.failed > 0) notes.push(`${fill.failed} fill pushes failed: ${fill.firstFailure ?? ''}`);
    const note = joinNotes(notes);
    return note === undefined ? { target: started } : { target: started, note };
  } catch (err) {
    await started.stop();
    throw err;
  }
}

/** Fills a fresh store with `groups` groups and stops the target, leaving the store in `stateFile`. */
async function filledAndStopped(
  target: TargetName,
  cfg: BenchConfig,
  groups: number,
  opts: StartOptions,
): Promise<{ stateFile: string | undefined; fill: FillResult }> {
  const loaderOpts: StartOptions = { ...opts };
  if (target === 'official') {
    loaderOpts.unchecked = true;
    loaderOpts.stateFile = tempFile(cfg.env, 'official') + '.data';
  }
  const loader = await startTarget(target, cfg.env, loaderOpts);
  try {
    const fill = await fillFor(loader, cfg, groups);
    await loader.stop();
    return { stateFile: loader.stateFile, fill };
  } finally {
    await loader.stop();
  }
}

function fillFor(t: Running, cfg: BenchConfig, groups: number): Promise<FillResult> {
  const started = performance.now();
  return fillStore(t.baseUrl, 'POST', groups, groupPath, smallBody, FILL_CONCURRENCY, started + cfg.fillBudgetS * 1000, PUSH_CONTENT_TYPE).then((fill) => {
    cfg.log(`    filled ${t.name} with ${fmtCount(fill.ok)} groups in ${fill.seconds.toFixed(1)} s` + (fill.failed > 0 ? ` (${fill.failed} failed)` : ''));
    return fill;
  });
}

const pageFiles = new Map<number, string>();

/** The pre-rendered page of `groups` groups, written once per run. */
function pageFile(env: Environment, groups: number): string {
  let file = pageFiles.get(groups);
  if (file === undefined) {
    file = tempFile(env, `page-${groups}`) + '.txt';
    writeFileSync(file, renderedPage(groups, SERIES_PER_SMALL_PUSH));
    pageFiles.set(groups, file);
  }
  return file;
}

/** Waits until the target's CPU use falls quiet, so that queued work is done before its memory is read. */
async function settle(t: Running): Promise<void> {
  const deadline = performance.now() + 30_000;
  let quietSamples = 0;
  let before = t.cpuTicks();
  while (performance.now() < deadline && quietSamples < 2) {
    await sleep(250);
    const now = t.cpuTicks();
    quietSamples = now !== undefined && before !== undefined && now - before <= 2 ? quietSamples + 1 : 0;
    before = now;
  }
}

async function withTarget<T>(t: Running, body: (t: Running) => Promise<T>): Promise<T> {
  try {
    return await body(t);
  } finally {
    await t.stop();
  }
}

function loadResult(metric: string, t: Running, measured: Measured | undefined, note?: string): Extract<Result, { kind: 'load' }> {
  if (measured === undefined) throw new Error(`${metric}: no measurement`);
  const { figures } = measured;
  const notes = [note, measured.note];
  if (figures.non2xx > 0) {
    const codes = Object.entries(figures.statusCodes)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, n]) => `${n}x${code}`);
    notes.push(`non-2xx: ${codes.join(' ')}`);
  }
  const cpu = measured.cpuUsPerRequest === undefined ? {} : { cpuUsPerRequest: measured.cpuUsPerRequest };
  return { kind: 'load', metric, target: t.name, figures, ...cpu, ...noteField(joinNotes(notes)) };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function joinNotes(notes: ReadonlyArray<string | undefined>): string | undefined {
  const kept = notes.filter((n): n is string => n !== undefined && n !== '');
  return kept.length > 0 ? kept.join('; ') : undefined;
}

function noteField(note: string | undefined): { note?: string } {
  return note === undefined ? {} : { note };
}

export function fmtCount(n: number): string {
  return n.toLocaleString('en-US');
}
