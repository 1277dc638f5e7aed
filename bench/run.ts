// `npm run bench`: runs the scenarios of issue 10 against Pushkeep, the official Pushgateway and two bare
// servers, one target at a time, prints the tables and verdicts and writes them to bench/RESULTS.md.
//
//   --only=push_small,scrape_large   scenarios to run (default: all)
//   --targets=pushkeep,official      targets to run (default: pushkeep,pushkeep-pg,official,express,node;
//                                    also pushkeep-fsync)
//   --quick                          a smoke run: 2 s load phases, short fill and memory budgets
//
// pushkeep-pg is Pushkeep on PostgreSQL: each scenario gets a database of its own, created through
// $PUSHKEEP_BENCH_POSTGRES_URL, else $TEST_POSTGRES_URL, else the local server's `postgres` database.
//   --generator=autocannon           load generator (default: wrk when installed, else autocannon)
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderReport, writeReport } from './report.js';
import { SCENARIO_NAMES, SCENARIOS } from './scenarios.js';
import type { BenchConfig, Result, ScenarioName } from './scenarios.js';
import { killAllChildren } from './children.js';
import { BenchDatabases, DEFAULT_POSTGRES_URL } from './postgres-databases.js';
import type { Generator } from './load.js';
import { DEFAULT_TARGETS, findOnPath, isTargetName, TARGET_NAMES, unavailableReason } from './targets.js';
import type { Environment, TargetName } from './targets.js';

const ALIASES: Record<string, ScenarioName> = { wipe: 'retention_wipe', retention: 'retention_wipe' };

interface Args {
  scenarios: ScenarioName[];
  targets: TargetName[];
  quick: boolean;
  generator: Generator;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    scenarios: [...SCENARIO_NAMES],
    targets: [...DEFAULT_TARGETS],
    quick: false,
    generator: findOnPath('wrk') ? 'wrk' : 'autocannon',
  };
  for (const arg of argv) {
    const [key, value = ''] = arg.split(/=(.*)/s, 2);
    const list = value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    switch (key) {
      case '--quick':
        args.quick = true;
        break;
      case '--only':
        args.scenarios = list.map((name) => {
          const scenario = ALIASES[name] ?? name;
          if (!(SCENARIO_NAMES as readonly string[]).includes(scenario)) {
            throw new UsageError(`unknown scenario "${name}"; known: ${SCENARIO_NAMES.join(', ')}`);
          }
          return scenario as ScenarioName;
        });
        break;
      case '--targets':
        args.targets = list.map((name) => {
          if (!isTargetName(name)) throw new UsageError(`unknown target "${name}"; known: ${TARGET_NAMES.join(', ')}`);
          return name;
        });
        break;
      case '--storage':
        throw new UsageError('--storage is gone: PostgreSQL is the pushkeep-pg target (--targets=pushkeep-pg)');
      case '--generator':
        if (value !== 'wrk' && value !== 'autocannon') throw new UsageError('--generator is wrk or autocannon');
        if (value === 'wrk' && !findOnPath('wrk')) throw new UsageError('wrk is not installed');
        args.generator = value;
        break;
      default:
        throw new UsageError(`unknown option "${arg}"`);
    }
  }
  return args;
}

class UsageError extends Error {}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}`);
    return 2;
  }
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'pushkeep-bench-'));
  // 'exit' runs on normal ends, process.exit() and uncaught errors; the signals are routed into it below.
  process.on('exit', () => {
    killAllChildren();
    rmSync(tmpDir, { recursive: true, force: true });
  });
  const postgresUrl = [process.env['PUSHKEEP_BENCH_POSTGRES_URL'], process.env['TEST_POSTGRES_URL']].find((u) => u !== undefined && u !== '');
  const postgres = args.targets.includes('pushkeep-pg') ? await BenchDatabases.open(postgresUrl ?? DEFAULT_POSTGRES_URL) : 'not asked for';
  const env: Environment = { repoRoot, tmpDir, postgres };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      console.error(`\nbench: ${signal}, stopping every target`);
      killAllChildren();
      // DROP DATABASE ... WITH (FORCE) does not wait for the killed targets' connections to close.
      const dropped = typeof postgres === 'string' ? Promise.resolve() : postgres.dropAll();
      void dropped.catch(() => undefined).finally(() => process.exit(130));
    });
  }
  const common = { env, generator: args.generator, log };
  const cfg: BenchConfig = args.quick
    ? { ...common, quick: true, durationS: 2, warmupS: 1, maxRequests: 200_000, longestPhaseS: 20, fillBudgetS: 60, memoryStepBudgetS: 20 }
    : { ...common, quick: false, durationS: 10, warmupS: 2, maxRequests: 2_000_000, longestPhaseS: 60, fillBudgetS: 600, memoryStepBudgetS: 300 };

  const startedAt = new Date();
  const results: Result[] = [];
  try {
    for (const scenario of args.scenarios) {
      log(`${scenario}`);
      for (const target of args.targets) {
        const reason = unavailableReason(target, env) ?? SCENARIOS[scenario].notFor(target);
        if (reason !== undefined) {
          results.push({ kind: 'skipped', metric: scenario, target, reason });
          log(`  ${target}: skipped (${reason})`);
          continue;
        }
        log(`  ${target}: running`);
        try {
          const got = await SCENARIOS[scenario].run(target, cfg);
          for (const r of got) log(`    ${summary(r)}`);
          results.push(...got);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          results.push({ kind: 'skipped', metric: scenario, target, reason: `failed: ${message}` });
          log(`    failed: ${message}`);
        }
      }
      if (typeof postgres !== 'string') await postgres.dropAll();
    }
  } finally {
    killAllChildren();
    if (typeof postgres !== 'string') await postgres.dropAll().catch((err: unknown) => log(`could not drop the benchmark databases: ${String(err)}`));
  }

  const report = renderReport(
    {
      startedAt,
      quick: args.quick,
      scenarios: args.scenarios,
      targets: args.targets,
      durationS: cfg.durationS,
      maxRequests: cfg.maxRequests,
      generator: cfg.generator,
    },
    results,
  );
  console.log('\n' + report);
  const file = path.join(repoRoot, 'bench', 'RESULTS.md');
  writeReport(file, report);
  log(`written to ${path.relative(process.cwd(), file)}`);
  return 0;
}

function summary(r: Result): string {
  switch (r.kind) {
    case 'load':
      return (
        `${r.metric}: ${r.figures.rps.toFixed(1)} req/s, p50 ${r.figures.p50Ms.toFixed(2)} ms, ` +
        `p99 ${r.figures.p99Ms.toFixed(2)} ms, ${r.figures.requests} requests, ` +
        `${r.figures.non2xx} non-2xx, ${r.figures.errors} errors${r.note ? ` (${r.note})` : ''}`
      );
    case 'value':
      return `${r.metric}: ${r.value.toFixed(1)} ${r.unit}${r.note ? ` (${r.note})` : ''}`;
    case 'skipped':
      return `${r.metric}: skipped (${r.reason})`;
  }
}

function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

process.exitCode = await main();
