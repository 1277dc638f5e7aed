// Turns a run's results into tables, ratios against the other targets of the same run, and the verdict on each
// target of issue 10; writes the lot to bench/RESULTS.md. Ratios, not absolute figures, are what carry over
// between runs on a shared machine.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { Result } from './scenarios.js';
import type { TargetName } from './targets.js';

type LoadResult = Extract<Result, { kind: 'load' }>;
type ValueResult = Extract<Result, { kind: 'value' }>;

export interface RunInfo {
  startedAt: Date;
  quick: boolean;
  scenarios: readonly string[];
  targets: readonly TargetName[];
  durationS: number;
  maxRequests: number;
  generator: string;
}

export type Verdict = 'MET' | 'NOT MET' | 'N/A' | 'INFO';

export interface TargetCheck {
  /** The issue that set the target. */
  issue: number;
  goal: string;
  measured: string;
  verdict: Verdict;
}

const REFERENCES: readonly TargetName[] = ['official', 'express', 'node'];

/** The subject of the verdicts: plain Pushkeep on SQLite, whatever else ran beside it, and on PostgreSQL. */
const SUBJECT: TargetName = 'pushkeep';
const PG_SUBJECT: TargetName = 'pushkeep-pg';

export function loadTable(results: readonly Result[]): string {
  const loads = results.filter((r): r is LoadResult => r.kind === 'load');
  if (loads.length === 0) return '(no load figures)\n';
  const rows = loads.map((r) => {
    const ratios = REFERENCES.map((ref) => {
      if (ref === r.target) return '·';
      const other = find(loads, r.metric, ref);
      return other ? fmtRatio(r.figures.rps / other.figures.rps) : '–';
    });
    return [
      r.metric,
      r.target,
      fmtNumber(r.figures.rps),
      fmtMs(r.figures.p50Ms),
      fmtMs(r.figures.p99Ms),
      String(r.figures.non2xx),
      String(r.figures.errors),
      r.bytesPerRequest === undefined ? '' : fmtBytes(r.bytesPerRequest),
      r.cpuUsPerRequest === undefined ? '' : fmtNumber(r.cpuUsPerRequest),
      ...ratios,
      r.note ?? '',
    ];
  });
  const header = ['scenario', 'target', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'bytes/req', 'CPU µs/req'];
  return markdownTable([...header, ...REFERENCES.map((ref) => `req/s vs ${ref}`), 'note'], rows, 2);
}

export function valueTable(results: readonly Result[]): string {
  const values = results.filter((r): r is ValueResult => r.kind === 'value');
  if (values.length === 0) return '(no timings or sizes)\n';
  const rows = values.map((r) => {
    const official = find(values, r.metric, 'official');
    const ratio = r.target === 'official' ? '·' : official ? fmtRatio(r.value / official.value) : '–';
    return [r.metric, r.target, r.unit === 'MB' ? `${r.value.toFixed(1)} MB` : fmtMsValue(r.value), ratio, r.note ?? ''];
  });
  return markdownTable(['scenario', 'target', 'value', 'vs official', 'note'], rows, 2);
}

export function skippedTable(results: readonly Result[]): string {
  const skipped = results.filter((r) => r.kind === 'skipped');
  if (skipped.length === 0) return '';
  return markdownTable(
    ['scenario', 'target', 'why'],
    skipped.map((r) => [r.metric, r.target, r.reason]),
    3,
  );
}

/** The verdict on every target of issues 10, 19, 20 and 23, from this run's figures only. */
export function checkTargets(results: readonly Result[]): TargetCheck[] {
  const loads = results.filter((r): r is LoadResult => r.kind === 'load');
  const values = results.filter((r): r is ValueResult => r.kind === 'value');
  const checks: TargetCheck[] = [];
  let issue = 10;
  const push = (check: Omit<TargetCheck, 'issue'>): void => {
    checks.push({ issue, ...check });
  };
  const pk = (metric: string): LoadResult | undefined => find(loads, metric, SUBJECT);

  /** One figure of the subject against another of the same run, both req/s. */
  const relative = (goal: string, mine: LoadResult | undefined, other: LoadResult | undefined, min: number, unmeasured = 'not measured'): void => {
    if (!mine || !other) {
      push({ goal, measured: unmeasured, verdict: 'N/A' });
      return;
    }
    const ratio = mine.figures.rps / other.figures.rps;
    push({
      goal,
      measured: `${fmtRatio(ratio)} (${fmtNumber(mine.figures.rps)} vs ${fmtNumber(other.figures.rps)} req/s)`,
      verdict: ratio >= min ? 'MET' : 'NOT MET',
    });
  };
  const rateRatio = (metric: string, ref: TargetName, min: number, goal: string, subject: TargetName = SUBJECT): void => {
    const a = find(loads, metric, subject);
    const b = find(loads, metric, ref);
    relative(goal, a, b, min, missing(a, b, ref, subject));
  };
  const p99AtMost = (metric: string, ref: TargetName, goal: string, subject: TargetName = SUBJECT): void => {
    const a = find(loads, metric, subject);
    const b = find(loads, metric, ref);
    if (!a || !b) {
      push({ goal, measured: missing(a, b, ref, subject), verdict: 'N/A' });
      return;
    }
    push({
      goal,
      measured: `${fmtMs(a.figures.p99Ms)} vs ${fmtMs(b.figures.p99Ms)} ms`,
      verdict: a.figures.p99Ms <= b.figures.p99Ms ? 'MET' : 'NOT MET',
    });
  };

  rateRatio('push_small', 'official', 50, 'push_small >= 50x the official');
  rateRatio('push_small', 'express', 0.6, 'push_small >= 60% of bare Express');

  {
    const goal = 'push_into_large p99 <= 2x push_small p99';
    const large = pk('push_into_large');
    const small = pk('push_small');
    if (!large || !small) push({ goal, measured: 'not measured', verdict: 'N/A' });
    else {
      const ratio = large.figures.p99Ms / small.figures.p99Ms;
      push({
        goal,
        measured: `${fmtRatio(ratio)} (${fmtMs(large.figures.p99Ms)} vs ${fmtMs(small.figures.p99Ms)} ms)`,
        verdict: ratio <= 2 ? 'MET' : 'NOT MET',
      });
    }
  }

  for (const variant of ['plain', 'gzip']) {
    rateRatio(`scrape_large/${variant}`, 'official', 50, `scrape_large ${variant} >= 50x the official`);
    rateRatio(`scrape_large/${variant}`, 'node', 0.5, `scrape_large ${variant} >= 50% of bare node:http`);
  }

  const valueCheck = (
    metric: string,
    goal: string,
    judge: (mine: ValueResult, official: ValueResult | undefined) => { measured: string; verdict: Verdict },
    needsOfficial: boolean,
  ): void => {
    const mine = find(values, metric, SUBJECT);
    const official = find(values, metric, 'official');
    if (!mine || (needsOfficial && !official)) {
      push({ goal, measured: missing(mine, official, 'official'), verdict: 'N/A' });
      return;
    }
    push({ goal, ...judge(mine, official) });
  };
  const atMostOfficial = (metric: string, goal: string, share = 1): void =>
    valueCheck(
      metric,
      goal,
      (mine, official) => {
        const partial = [mine, official].find((r) => r?.partial);
        const measured = `${fmtValue(mine)} vs ${official ? fmtValue(official) : '?'}`;
        if (partial) return { measured: `${measured} (${partial.target}: ${partial.note ?? ''})`, verdict: 'N/A' };
        return { measured, verdict: mine.value <= (official?.value ?? Number.NaN) * share ? 'MET' : 'NOT MET' };
      },
      true,
    );

  atMostOfficial('restart/complete_scrape', 'restart to a complete scrape (100k series) <= the official');
  atMostOfficial('memory/1M', 'memory at 1,000,000 series <= half the official', 0.5);
  for (const [metric, goal] of [
    ['wipe_5000', 'wiping 5,000 groups < 1 s'],
    ['expire_5000', 'expiring 5,000 groups < 1 s after their TTL'],
  ] as const) {
    valueCheck(metric, goal, (mine) => ({ measured: fmtMsValue(mine.value), verdict: mine.value < 1000 ? 'MET' : 'NOT MET' }), false);
  }

  for (const subject of [SUBJECT, PG_SUBJECT]) {
    const mine = loads.filter((r) => r.target === subject);
    if (subject === PG_SUBJECT && mine.length === 0) continue;
    const bad = mine.filter((r) => r.figures.non2xx > 0 || r.figures.errors > 0);
    push({
      goal: `no non-2xx replies or errors under load (${subject})`,
      measured:
        mine.length === 0
          ? 'not measured'
          : bad.length === 0
            ? `${mine.length} load phases clean`
            : bad.map((r) => `${r.metric}: ${r.figures.non2xx} non-2xx, ${r.figures.errors} errors`).join('; '),
      verdict: mine.length === 0 ? 'N/A' : bad.length === 0 ? 'MET' : 'NOT MET',
    });
  }

  issue = 19;
  relative('aggregate_small >= 2/3 of push_small', pk('aggregate_small'), pk('push_small'), 2 / 3);

  issue = 20;
  for (const [metric, encoding] of [
    ['otlp_small/otlp', 'protobuf'],
    ['otlp_small/otlp_json', 'JSON'],
  ] as const) {
    const goal = `otlp_small: an OTLP ${encoding} request costs no more than a text push of the same 100 series`;
    const otlp = pk(metric);
    const text = pk('otlp_small/text');
    if (otlp?.cpuUsPerRequest === undefined || text?.cpuUsPerRequest === undefined) {
      relative(goal, otlp, text, 1);
      continue;
    }
    // The cost is the gateway's CPU time per request: the phases run one after the other, and their rates
    // swing more with whatever else the machine runs than with the encoding.
    const ratio = otlp.cpuUsPerRequest / text.cpuUsPerRequest;
    push({
      goal,
      measured:
        `CPU per request ${fmtRatio(ratio)} of text's (${fmtNumber(otlp.cpuUsPerRequest)} vs ${fmtNumber(text.cpuUsPerRequest)} µs); ` +
        `${fmtNumber(otlp.figures.rps)} vs ${fmtNumber(text.figures.rps)} req/s`,
      verdict: ratio <= 1 ? 'MET' : 'NOT MET',
    });
  }

  issue = 23;
  rateRatio('push_small', 'official', 20, 'PostgreSQL: push_small >= 20x the official', PG_SUBJECT);
  rateRatio('put_replace', 'official', 5, 'PostgreSQL: put_replace >= 5x the official', PG_SUBJECT);
  rateRatio('mixed/scrape', 'official', 3, 'PostgreSQL: mixed, scrapes/s >= 3x the official', PG_SUBJECT);
  p99AtMost('mixed/scrape', 'official', "PostgreSQL: mixed, scrape p99 <= the official's", PG_SUBJECT);
  rateRatio('put_replace', 'official', 15, 'SQLite: put_replace >= 15x the official');
  p99AtMost('put_replace', 'official', "SQLite: put_replace p99 <= the official's");
  atMostOfficial('memory/100k', "SQLite: RSS at 100k series <= the official's");
  atMostOfficial('restart/ready', "SQLite: start to ready with 100k series <= the official's");
  atMostOfficial('memory/1M', "SQLite: RSS at 1M series <= half the official's", 0.5);

  // What fsync per commit costs is asked for, not bounded: report it beside the verdicts.
  for (const metric of ['push_small', 'put_replace']) {
    const plain = pk(metric);
    const synced = find(loads, metric, 'pushkeep-fsync');
    if (plain && synced) {
      push({
        goal: `cost of --storage.sync=full on ${metric}`,
        measured: `${fmtRatio(synced.figures.rps / plain.figures.rps)} of the rate, p99 ${fmtMs(synced.figures.p99Ms)} vs ${fmtMs(plain.figures.p99Ms)} ms`,
        verdict: 'INFO',
      });
    }
  }
  return checks;
}

export function checksTable(checks: readonly TargetCheck[]): string {
  return markdownTable(
    ['issue', 'target', 'measured', 'verdict'],
    checks.map((c) => [String(c.issue), c.goal, c.measured, c.verdict]),
    4,
  );
}

export function machineInfo(): { uname: string; cpu: string; cores: number; node: string } {
  let uname = `${os.type()} ${os.release()} ${os.arch()}`;
  try {
    uname = execFileSync('uname', ['-a'], { encoding: 'utf8' }).trim();
  } catch {
    // uname missing: keep what node knows.
  }
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // No /proc: keep what node knows.
  }
  return { uname, cpu, cores: os.availableParallelism(), node: process.version };
}

/** The whole report: run facts, the tables and the verdicts. */
export function renderReport(info: RunInfo, results: readonly Result[]): string {
  const machine = machineInfo();
  const skipped = skippedTable(results);
  const lines = [
    '# Pushkeep benchmark results',
    '',
    `- Date: ${info.startedAt.toISOString()}`,
    `- Machine: \`${machine.uname}\``,
    `- CPU: ${machine.cpu} (${machine.cores} cores available)`,
    `- Node: ${machine.node}`,
    `- Run: ${info.quick ? 'quick smoke run (figures not representative)' : 'full run'}; ` +
      `load phases of ${info.durationS} s or ${info.maxRequests.toLocaleString('en-US')} requests, generated by ${info.generator}`,
    `- Scenarios: ${info.scenarios.join(', ')}`,
    `- Targets: ${info.targets.join(', ')}`,
    '',
    'Ratios compare figures of this run only. `·` is the target itself, `–` a figure not measured.',
    'The official gateway is filled by an unchecked instance and restarted checked from its persistence file;',
    'in the memory scenario it runs unchecked throughout (see bench/scenarios.ts). `pushkeep` stores in a fresh',
    'SQLite file per start; `pushkeep-pg` in a fresh PostgreSQL database per scenario.',
    '',
    '## Throughput and latency',
    '',
    loadTable(results),
    '## Timings and sizes',
    '',
    valueTable(results),
    ...(skipped === '' ? [] : ['## Skipped or failed', '', skipped]),
    '## Targets',
    '',
    checksTable(checkTargets(results)),
  ];
  return lines.join('\n');
}

export function writeReport(file: string, text: string): void {
  writeFileSync(file, text.endsWith('\n') ? text : text + '\n');
}

function find<R extends Result>(results: readonly R[], metric: string, target: TargetName): R | undefined {
  return results.find((r) => r.metric === metric && r.target === target);
}

function missing(mine: unknown, other: unknown, ref: TargetName, subject: TargetName = SUBJECT): string {
  if (!mine) return `${subject} not measured`;
  if (!other) return `${ref} not measured`;
  return 'not measured';
}

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], leftColumns: number): string {
  const all = [header, ...rows].map((row) => row.map((cell) => cell.replaceAll('|', '\\|')));
  const widths = header.map((_, i) => Math.max(3, ...all.map((row) => row[i]?.length ?? 0)));
  const line = (row: readonly string[]): string =>
    '| ' +
    row
      .map((cell, i) => {
        const width = widths[i] ?? 3;
        // Figures align right so that their magnitudes line up; text and notes align left.
        return i < leftColumns || i === row.length - 1 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join(' | ') +
    ' |';
  const rule = '|' + widths.map((w, i) => (i < leftColumns || i === widths.length - 1 ? ` ${'-'.repeat(w)} |` : ` ${'-'.repeat(w - 1)}: |`)).join('');
  const [head, ...body] = all;
  return [line(head ?? []), rule, ...body.map(line)].join('\n') + '\n';
}

function fmtNumber(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return ms >= 100 ? Math.round(ms).toLocaleString('en-US') : ms.toFixed(ms >= 10 ? 1 : 2);
}

function fmtMsValue(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms).toLocaleString('en-US')} ms`;
}

function fmtValue(r: ValueResult): string {
  return r.unit === 'MB' ? `${r.value.toFixed(0)} MB` : fmtMsValue(r.value);
}

function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '–';
  return r >= 10 ? `${Math.round(r)}x` : `${r.toFixed(2)}x`;
}

function fmtBytes(n: number): string {
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
