/**
 * OpenMetrics 1.0 text bodies (pushes from prom-client in OpenMetrics mode, or any body ending in `# EOF`).
 *
 * Family naming rule, so that the same metric pushed as text 0.0.4, protobuf or OpenMetrics scrapes the same:
 * **a family is named after its samples, as Prometheus names series when it ingests OpenMetrics.**
 * - counter `x` (samples `x_total`, `x_created`) becomes counter family `x_total`. The Go client's
 *   `http_requests_total` is `http_requests_total` in every format; prom-client's counter `x` is `x` in its
 *   text mode and `x_total` in its OpenMetrics mode, exactly as Prometheus would see it scraping prom-client.
 * - info `x` (sample `x_info`) becomes gauge family `x_info`, as the client libraries expose info metrics in
 *   text 0.0.4.
 * - stateset `x` becomes gauge family `x`, one series per state label value (1 or 0).
 * - unknown `x` becomes untyped `x`; gauge, summary, histogram and gaugehistogram keep their name.
 * `_created` samples become createdTimestampMs (seconds * 1000). Sample timestamps (seconds) become
 * timestampMs, which the domain rejects. Exemplars on counter `_total` and histogram `_bucket` samples are
 * kept; anywhere else, or when malformed, they are dropped: an exemplar never fails a push.
 *
 * Leniencies beyond the OpenMetrics ABNF (never ambiguous): blank lines are skipped, spaces are allowed
 * around `{`, `,`, `=` and `}` in label sets, `# ` comments other than HELP/TYPE/UNIT are ignored, blank
 * lines may follow `# EOF`, and UNIT need not be a suffix of the family name.
 */
import { parseMediaType } from './negotiate.js';
import { ParseError } from './parse-error.js';
import type { Bucket, Exemplar, LabelPair, Metric, MetricFamily, MetricType, Quantile } from './types.js';
import { isLegacyMetricName, LABEL_NAME_PATTERN, METRIC_NAME_PATTERN } from './names.js';

type OmType = 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'stateset' | 'info' | 'summary' | 'unknown';

const OM_TYPES: ReadonlySet<string> = new Set<OmType>(['counter', 'gauge', 'histogram', 'gaugehistogram', 'stateset', 'info', 'summary', 'unknown']);

/** The sample-name suffixes each family type allows. */
const SUFFIXES: Record<OmType, readonly string[]> = {
  counter: ['_total', '_created'],
  gauge: [''],
  unknown: [''],
  stateset: [''],
  info: ['_info'],
  summary: ['', '_count', '_sum', '_created'],
  histogram: ['_bucket', '_count', '_sum', '_created'],
  gaugehistogram: ['_bucket', '_gcount', '_gsum'],
};
const ALL_SUFFIXES = ['', '_total', '_created', '_bucket', '_count', '_sum', '_gcount', '_gsum', '_info'];

interface SeriesBuilder {
  readonly labels: LabelPair[];
  readonly line: number;
  value?: number;
  createdMs?: number;
  timestampMs?: number;
  exemplar?: Exemplar;
  count?: number;
  sum?: number;
  readonly buckets: Bucket[];
  readonly quantiles: Quantile[];
}

interface FamilyBuilder {
  readonly name: string;
  type: OmType;
  typeSet: boolean;
  help?: string;
  unit?: string;
  hasSamples: boolean;
  readonly series: Map<string, SeriesBuilder>;
}

interface ParsedSample {
  readonly name: string;
  readonly labels: LabelPair[];
  readonly value: number;
  readonly timestampMs?: number;
  readonly exemplar?: Exemplar;
}

const METRIC_NAME = new RegExp(METRIC_NAME_PATTERN, 'y');
const LABEL_NAME = new RegExp(LABEL_NAME_PATTERN, 'y');
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** OpenMetrics numbers: decimal or exponent notation, `±Inf`, `NaN` (case-insensitive). */
function parseNumber(token: string): number | undefined {
  if (NUMBER.test(token)) return Number(token);
  const lower = token.toLowerCase();
  if (lower === 'nan') return NaN;
  if (/^[+]?inf(?:inity)?$/.test(lower)) return Infinity;
  if (/^-inf(?:inity)?$/.test(lower)) return -Infinity;
  return undefined;
}

/** Unescapes `\\`, `\n` and `\"`; returns an error message for any other escape. */
function unescape(raw: string): string | { error: string } {
  if (!raw.includes('\\')) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = raw[++i];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else if (next === '"') out += '"';
    else return { error: `invalid escape sequence '\\${next ?? ''}'` };
  }
  return out;
}

/** A cursor over one sample line; every failure is a one-line message. */
class LineReader {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  skipSpaces(): void {
    while (this.text[this.pos] === ' ' || this.text[this.pos] === '\t') this.pos++;
  }

  match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return undefined;
    this.pos = re.lastIndex;
    return m[0];
  }

  /** A token up to the next space or the end of the line. */
  token(): string {
    const start = this.pos;
    while (this.pos < this.text.length && this.text[this.pos] !== ' ') this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** `{name="value",...}`; the cursor is on `{`. */
  labels(metric: string): LabelPair[] | string {
    this.pos++;
    const labels: LabelPair[] = [];
    const seen = new Set<string>();
    for (;;) {
      this.skipSpaces();
      if (this.peek() === '}') {
        this.pos++;
        return labels;
      }
      const name = this.match(LABEL_NAME);
      if (name === undefined) return `invalid label name for metric "${metric}"`;
      this.skipSpaces();
      if (this.peek() !== '=') return `expected '=' after label name "${name}"`;
      this.pos++;
      this.skipSpaces();
      if (this.peek() !== '"') return `expected '"' to start the value of label "${name}"`;
      const start = ++this.pos;
      while (this.pos < this.text.length && this.text[this.pos] !== '"') {
        this.pos += this.text[this.pos] === '\\' ? 2 : 1;
      }
      if (this.pos >= this.text.length) return `unterminated value of label "${name}"`;
      const value = unescape(this.text.slice(start, this.pos));
      if (typeof value !== 'string') return value.error;
      this.pos++;
      if (name === '__name__') return 'label name "__name__" is reserved';
      if (seen.has(name)) return `duplicate label names for metric "${metric}"`;
      seen.add(name);
      labels.push({ name, value });
      this.skipSpaces();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== '}') return `expected ',' or '}' after the value of label "${name}"`;
    }
  }
}

/** ` # {labels} value [timestamp]` after a sample, or undefined when it is malformed (it is then dropped). */
function parseExemplar(r: LineReader): Exemplar | undefined {
  if (r.peek() !== '{') return undefined;
  const labels = r.labels('exemplar');
  if (typeof labels === 'string' || r.peek() !== ' ') return undefined;
  r.pos++;
  const value = parseNumber(r.token());
  if (value === undefined) return undefined;
  let timestampMs: number | undefined;
  if (r.peek() === ' ') {
    r.pos++;
    const ts = parseNumber(r.token());
    if (ts === undefined || !Number.isFinite(ts)) return undefined;
    timestampMs = ts * 1000;
  }
  r.skipSpaces();
  if (!r.done) return undefined;
  return timestampMs === undefined ? { labels, value } : { labels, value, timestampMs };
}

function parseSampleLine(line: string): ParsedSample | string {
  const r = new LineReader(line);
  const name = r.match(METRIC_NAME);
  if (name === undefined) return `invalid metric name in "${line.slice(0, 40)}"`;
  let labels: LabelPair[] = [];
  if (r.peek() === '{') {
    const parsed = r.labels(name);
    if (typeof parsed === 'string') return parsed;
    labels = parsed;
  }
  if (r.peek() !== ' ') return `expected a space and a value after "${name}"`;
  r.skipSpaces();
  const rawValue = r.token();
  const value = parseNumber(rawValue);
  if (value === undefined) return `expected float as value, got "${rawValue}"`;
  let timestampMs: number | undefined;
  let exemplar: Exemplar | undefined;
  r.skipSpaces();
  if (!r.done && r.peek() !== '#') {
    const rawTs = r.token();
    const ts = parseNumber(rawTs);
    if (ts === undefined || !Number.isFinite(ts)) return `expected a timestamp in seconds, got "${rawTs}"`;
    timestampMs = ts * 1000;
    r.skipSpaces();
  }
  if (!r.done) {
    if (r.peek() !== '#') return `unexpected "${r.text.slice(r.pos, r.pos + 20)}" after the sample value`;
    r.pos++;
    if (r.peek() === ' ') {
      r.pos++;
      exemplar = parseExemplar(r);
    }
  }
  return {
    name,
    labels,
    value,
    ...(timestampMs !== undefined ? { timestampMs } : {}),
    ...(exemplar ? { exemplar } : {}),
  };
}

const seriesKey = (labels: readonly LabelPair[]): string => labels.map((l) => `${l.name}\u0000${l.value}`).join('\u0001');

/**
 * Parses an OpenMetrics 1.0 body into families named by the rule in the module comment, in order of first
 * appearance. Families without samples are dropped. Throws ParseError (line number, one-line message) on
 * syntax errors, a missing `# EOF`, content after it, repeated metadata or metadata after samples.
 */
export function parseOpenMetrics(text: string): MetricFamily[] {
  const lines = text.split('\n');
  const families = new Map<string, FamilyBuilder>();
  let current: FamilyBuilder | undefined;
  let eofLine = 0;

  const family = (name: string): FamilyBuilder => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'unknown', typeSet: false, hasSamples: false, series: new Map() };
      families.set(name, f);
    }
    return f;
  };

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i] ?? '';
    if (eofLine > 0) {
      if (line.trim() !== '') throw new ParseError(lineNo, 'unexpected content after "# EOF"');
      continue;
    }
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      if (line === '# EOF') {
        eofLine = lineNo;
        continue;
      }
      const m = /^# (HELP|TYPE|UNIT) ([^ ]*)(?: (.*))?$/.exec(line);
      if (!m) continue;
      const keyword = m[1] ?? '';
      const name = m[2] ?? '';
      const rest = m[3] ?? '';
      if (!isLegacyMetricName(name)) throw new ParseError(lineNo, `invalid metric name "${name}"`);
      const f = family(name);
      if (f.hasSamples) {
        throw new ParseError(lineNo, `${keyword} line for metric family "${name}" after its samples`);
      }
      current = f;
      if (keyword === 'HELP') {
        if (f.help !== undefined) throw new ParseError(lineNo, `second HELP line for metric family "${name}"`);
        const help = unescape(rest);
        if (typeof help !== 'string') throw new ParseError(lineNo, help.error);
        f.help = help;
      } else if (keyword === 'TYPE') {
        if (f.typeSet) throw new ParseError(lineNo, `second TYPE line for metric family "${name}"`);
        if (!OM_TYPES.has(rest)) throw new ParseError(lineNo, `unknown metric type "${rest}"`);
        f.type = rest as OmType;
        f.typeSet = true;
      } else {
        if (f.unit !== undefined) throw new ParseError(lineNo, `second UNIT line for metric family "${name}"`);
        f.unit = rest;
      }
      continue;
    }

    const sample = parseSampleLine(line);
    if (typeof sample === 'string') throw new ParseError(lineNo, sample);
    const [f, suffix] = resolveFamily(sample.name, current, families) ?? [family(sample.name), ''];
    if (!SUFFIXES[f.type].includes(suffix)) {
      throw new ParseError(lineNo, `sample "${sample.name}" does not belong to ${f.type} family "${f.name}"`);
    }
    f.hasSamples = true;
    current = f;
    const err = addSample(f, suffix, sample, lineNo);
    if (err) throw new ParseError(lineNo, err);
  }

  if (eofLine === 0) {
    const last = lines.length > 1 && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
    throw new ParseError(last, 'missing "# EOF" at the end of the OpenMetrics body');
  }
  const out: MetricFamily[] = [];
  for (const f of families.values()) {
    if (f.series.size === 0) continue;
    out.push(buildFamily(f));
  }
  return out;
}

/** The declared family a sample name belongs to, preferring the family being read. */
function resolveFamily(name: string, current: FamilyBuilder | undefined, families: ReadonlyMap<string, FamilyBuilder>): [FamilyBuilder, string] | undefined {
  if (current && name.startsWith(current.name)) {
    const suffix = name.slice(current.name.length);
    if (SUFFIXES[current.type].includes(suffix)) return [current, suffix];
  }
  for (const suffix of ALL_SUFFIXES) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, name.length - suffix.length));
    if (f && SUFFIXES[f.type].includes(suffix)) return [f, suffix];
  }
  const exact = families.get(name);
  return exact ? [exact, ''] : undefined;
}

function takeLabel(labels: LabelPair[], name: string): [string | undefined, LabelPair[]] {
  const idx = labels.findIndex((l) => l.name === name);
  if (idx < 0) return [undefined, labels];
  return [labels[idx]?.value, labels.filter((_, j) => j !== idx)];
}

function addSample(f: FamilyBuilder, suffix: string, s: ParsedSample, lineNo: number): string | undefined {
  let labels = s.labels;
  let le: number | undefined;
  let quantile: number | undefined;
  const isBucket = suffix === '_bucket';
  const isQuantile = f.type === 'summary' && suffix === '';
  if (isBucket || isQuantile) {
    const labelName = isBucket ? 'le' : 'quantile';
    const [raw, rest] = takeLabel(labels, labelName);
    if (raw === undefined) return `${s.name} sample without "${labelName}" label`;
    const v = parseNumber(raw);
    if (v === undefined) return `invalid value for "${labelName}" label: "${raw}"`;
    labels = rest;
    if (isBucket) le = v;
    else quantile = v;
  }
  const key = seriesKey(labels);
  let series = f.series.get(key);
  if (!series) {
    series = { labels, line: lineNo, buckets: [], quantiles: [] };
    f.series.set(key, series);
  }
  if (s.timestampMs !== undefined && series.timestampMs === undefined) series.timestampMs = s.timestampMs;
  const once = (field: 'value' | 'count' | 'sum' | 'createdMs', v: number): string | undefined => {
    if (series[field] !== undefined) return `duplicate sample "${s.name}" for the same series`;
    series[field] = v;
    return undefined;
  };
  switch (suffix) {
    case '_created':
      return once('createdMs', s.value * 1000);
    case '_count':
    case '_gcount':
      return once('count', s.value);
    case '_sum':
    case '_gsum':
      return once('sum', s.value);
    case '_bucket':
      series.buckets.push({
        cumulativeCount: s.value,
        upperBound: le ?? Infinity,
        ...(s.exemplar ? { exemplar: s.exemplar } : {}),
      });
      return undefined;
    default:
      if (quantile !== undefined) {
        series.quantiles.push({ quantile, value: s.value });
        return undefined;
      }
      if (suffix === '_total' && s.exemplar) series.exemplar = s.exemplar;
      return once('value', s.value);
  }
}

function buildFamily(f: FamilyBuilder): MetricFamily {
  let name = f.name;
  let type: MetricType;
  switch (f.type) {
    case 'counter':
      name = `${f.name}_total`;
      type = 'counter';
      break;
    case 'info':
      name = `${f.name}_info`;
      type = 'gauge';
      break;
    case 'stateset':
      type = 'gauge';
      break;
    case 'unknown':
      type = 'untyped';
      break;
    default:
      type = f.type;
  }
  const metrics: Metric[] = [];
  for (const s of f.series.values()) metrics.push(buildMetric(f, s));
  return {
    name,
    ...(f.help !== undefined ? { help: f.help } : {}),
    type,
    ...(f.unit ? { unit: f.unit } : {}),
    metrics,
  };
}

function buildMetric(f: FamilyBuilder, s: SeriesBuilder): Metric {
  const common = {
    labels: s.labels,
    ...(s.timestampMs !== undefined ? { timestampMs: s.timestampMs } : {}),
  };
  const created = s.createdMs !== undefined ? { createdTimestampMs: s.createdMs } : {};
  switch (f.type) {
    case 'summary':
      return {
        ...common,
        summary: { sampleCount: s.count ?? 0, sampleSum: s.sum ?? 0, quantiles: s.quantiles, ...created },
      };
    case 'histogram':
    case 'gaugehistogram': {
      const inf = s.buckets.find((b) => b.upperBound === Infinity);
      // OpenMetrics requires the +Inf bucket; without it the count alone would be scraped back
      // as one, changing what was pushed.
      if (!inf) throw new ParseError(s.line, `${f.type === 'histogram' ? 'histogram' : 'gauge histogram'} "${f.name}" has no le="+Inf" bucket`);
      return {
        ...common,
        histogram: {
          sampleCount: s.count ?? inf?.cumulativeCount ?? 0,
          sampleSum: s.sum ?? 0,
          buckets: s.buckets,
          ...created,
        },
      };
    }
    case 'counter':
      if (s.value === undefined) {
        throw new ParseError(s.line, `counter "${f.name}" has no "${f.name}_total" sample for one of its series`);
      }
      return { ...common, value: s.value, ...(s.exemplar ? { exemplar: s.exemplar } : {}), ...created };
    default:
      return { ...common, value: s.value ?? 0 };
  }
}

/**
 * True when a push body is OpenMetrics: an `application/openmetrics-text` Content-Type, or a body whose
 * last non-empty line is `# EOF` (prom-client sends OpenMetrics without any Content-Type).
 */
export function isOpenMetricsBody(contentType: string | undefined, text: string): boolean {
  if (contentType !== undefined && parseMediaType(contentType)?.type === 'application/openmetrics-text') return true;
  const trimmed = text.trimEnd();
  return trimmed.endsWith('# EOF') && (trimmed.length === 5 || trimmed[trimmed.length - 6] === '\n');
}
