/**
 * Parser for the Prometheus text exposition format 0.0.4, as pushed to the Pushgateway.
 *
 * It reproduces prometheus/common's expfmt TextParser (the parser behind the official gateway):
 * the same accepted syntax, the same grouping of summary and histogram samples, and the same
 * error wording, so clients see the official 400 messages. Where 1.5.1 and 1.11.3 differ it
 * follows 1.11.3 (`\"` in HELP, float histogram counts, gauge histograms, UTF-8 names behind a
 * flag). One deliberate difference: a last line without its final newline is accepted
 * (`curl -d 'x 1'` sends none), where the official answers `unexpected end of input stream`.
 *
 * Not done here (callers' jobs): no sorting, no duplicate-series check, no consistency check,
 * no rejection of timestamps (they are returned in Metric.timestampMs). The input is a JS
 * string, so invalid UTF-8 must be dealt with while decoding the body: the official rejects it
 * in label values (`invalid label value "\xff"`), while a non-fatal TextDecoder silently turns
 * it into U+FFFD. Lone surrogates cannot come out of a TextDecoder and are not checked.
 *
 * The scanner is one pass over char codes with no regular expressions on the hot path.
 */
import { ParseError } from './parse-error.js';
import type { Bucket, LabelPair, MetricFamily, MetricType, Quantile } from './types.js';
import { goByteChar, goQuote, goQuoteByte, parseGoFloat, parseGoInt64 } from './go-strconv.js';

export interface TextParseOptions {
  /** Accept quoted metric and label names (`{"a.b",x="y"} 1`), like --push.enable-utf8-names. */
  readonly utf8Names?: boolean;
}

/**
 * Parses a whole text-format body. Families come out in first-appearance order (a HELP or TYPE
 * line counts as an appearance), metrics in first-appearance order, labels as written; families
 * without samples are dropped. Throws ParseError on the first syntax error.
 */
export function parseText(text: string, options?: TextParseOptions): MetricFamily[] {
  return new TextParser(text, options?.utf8Names === true).parse();
}

const TAB = 0x09;
const LF = 0x0a;
const SPACE = 0x20;
const QUOTE = 0x22;
const HASH = 0x23;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

interface SummaryAcc {
  sampleCount: number;
  sampleSum: number;
  quantiles: Quantile[];
}

interface HistogramAcc {
  sampleCount: number;
  sampleSum: number;
  buckets: Bucket[];
}

interface MetricAcc {
  labels: LabelPair[];
  value?: number;
  summary?: SummaryAcc;
  histogram?: HistogramAcc;
  timestampMs?: number;
}

interface FamilyAcc {
  name: string;
  help: string | undefined;
  type: MetricType | undefined;
  metrics: MetricAcc[];
  /** Summary/histogram series by their label set without quantile/le. */
  series: Map<string, MetricAcc> | undefined;
}

/** Which summary/histogram line a sample name stands for, once resolved to its family. */
const Part = { Plain: 0, Count: 1, Sum: 2 } as const;
type Part = (typeof Part)[keyof typeof Part];

const TYPES: ReadonlyMap<string, MetricType> = new Map<string, MetricType>([
  ['COUNTER', 'counter'],
  ['GAUGE', 'gauge'],
  ['SUMMARY', 'summary'],
  ['UNTYPED', 'untyped'],
  ['HISTOGRAM', 'histogram'],
  ['GAUGE_HISTOGRAM', 'gaugehistogram'],
  ['GAUGEHISTOGRAM', 'gaugehistogram'],
]);

function isHistogramType(type: MetricType | undefined): boolean {
  return type === 'histogram' || type === 'gaugehistogram';
}

function isLabelNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
}

function isLabelNameChar(c: number): boolean {
  return isLabelNameStart(c) || (c >= 0x30 && c <= 0x39);
}

function isMetricNameStart(c: number): boolean {
  return isLabelNameStart(c) || c === 0x3a;
}

function isMetricNameChar(c: number): boolean {
  return isLabelNameChar(c) || c === 0x3a;
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

class TextParser {
  private readonly src: string;
  private pos = 0;
  private line = 0;
  private readonly families = new Map<string, FamilyAcc>();
  /** Recently seen names, see reuse(). */
  private readonly names: (string | undefined)[] = new Array<string | undefined>(256);

  // Per-sample state.
  private fam!: FamilyAcc;
  private part: Part = Part.Plain;
  private readonly labels: LabelPair[] = [];
  private labelCount = 0;
  private labelNameSet = new Set<string>();
  /** The line of the sample whose label names labelNameSet holds. */
  private labelNameSetLine = 0;
  /** The quantile or le value of the current sample; NaN when absent. */
  private special = NaN;
  /** Whether the current line started with `{` (UTF-8 form). */
  private inBraces = false;

  constructor(
    text: string,
    private readonly utf8: boolean,
  ) {
    // Every line then ends in LF, which is what the scanner relies on (see the module comment).
    this.src = text.length > 0 && text.charCodeAt(text.length - 1) !== LF ? `${text}\n` : text;
  }

  parse(): MetricFamily[] {
    const src = this.src;
    const len = src.length;
    for (;;) {
      this.line++;
      let c = this.skipBlanks();
      while (c === LF) {
        this.pos++;
        this.line++;
        c = this.skipBlanks();
      }
      if (this.pos >= len) break;
      if (c === HASH) this.comment();
      else this.sample();
    }
    const out: MetricFamily[] = [];
    for (const f of this.families.values()) {
      if (f.metrics.length === 0) continue;
      const type = f.type ?? 'untyped';
      out.push(f.help === undefined ? { name: f.name, type, metrics: f.metrics } : { name: f.name, help: f.help, type, metrics: f.metrics });
    }
    return out;
  }

  private fail(reason: string): never {
    throw new ParseError(this.line, reason);
  }

  /** Skips spaces and tabs; returns the char code at the new position (NaN at the end). */
  private skipBlanks(): number {
    const src = this.src;
    let p = this.pos;
    let c = src.charCodeAt(p);
    while (c === SPACE || c === TAB) c = src.charCodeAt(++p);
    this.pos = p;
    return c;
  }

  private cur(): number {
    return this.src.charCodeAt(this.pos);
  }

  /** Reads up to (not including) the next space, tab or LF. */
  private tokenUntilWhitespace(): string {
    const src = this.src;
    const start = this.pos;
    let p = start;
    let c = src.charCodeAt(p);
    while (c !== SPACE && c !== TAB && c !== LF) c = src.charCodeAt(++p);
    this.pos = p;
    return src.slice(start, p);
  }

  private toLineEnd(): string {
    const start = this.pos;
    const end = this.src.indexOf('\n', start);
    this.pos = end;
    return this.src.slice(start, end);
  }

  // ---------------------------------------------------------------------------------------------
  // Comments: `# HELP name text`, `# TYPE name type`; everything else is ignored.

  private comment(): void {
    this.pos++; // '#'
    if (this.skipBlanks() === LF) {
      this.pos++;
      return;
    }
    const keyword = this.tokenUntilWhitespace();
    if (this.cur() === LF || (keyword !== 'HELP' && keyword !== 'TYPE')) {
      this.pos = this.src.indexOf('\n', this.pos) + 1;
      return;
    }
    this.skipBlanks();
    const name = this.metricName();
    let c = this.cur();
    // A HELP/TYPE line that stops after the keyword or the name is an ordinary comment.
    if (c === LF) {
      this.pos++;
      return;
    }
    if (!isBlank(c)) this.fail('invalid metric name in comment');
    this.resolveFamily(name);
    c = this.skipBlanks();
    if (c === LF) {
      this.pos++;
      return;
    }
    const fam = this.fam;
    if (keyword === 'HELP') {
      if (fam.help !== undefined) this.fail(`second HELP line for metric name ${goQuote(fam.name)}`);
      fam.help = this.helpText();
    } else {
      if (fam.type !== undefined) {
        this.fail(`second TYPE line for metric name ${goQuote(fam.name)}, or TYPE reported after samples`);
      }
      // The type is the rest of the line, trailing blanks included, as in the official parser.
      const word = this.toLineEnd();
      const type = TYPES.get(word.toUpperCase());
      if (type === undefined) this.fail(`unknown metric type ${goQuote(word)}`);
      fam.type = type;
      if (isHistogramType(type) || type === 'summary') fam.series = new Map();
    }
    this.pos++; // LF
  }

  /** The rest of the line with the HELP escapes `\\`, `\n` and `\"` resolved. */
  private helpText(): string {
    const src = this.src;
    const start = this.pos;
    const end = src.indexOf('\n', start);
    let bs = src.indexOf('\\', start);
    if (bs < 0 || bs > end) {
      this.pos = end;
      return detached(src.slice(start, end));
    }
    let out = '';
    let from = start;
    while (bs >= 0 && bs < end) {
      const e = src.charCodeAt(bs + 1);
      out += src.slice(from, bs);
      if (e === BACKSLASH) out += '\\';
      else if (e === 0x6e) out += '\n';
      else if (e === QUOTE) out += '"';
      else {
        this.pos = bs + 1;
        this.fail(`invalid escape sequence '\\${goByteChar(src, bs + 1)}'`);
      }
      from = bs + 2;
      // An escaped LF is reported above, so `end` is still the line end.
      bs = src.indexOf('\\', from);
    }
    this.pos = end;
    return detached(out + src.slice(from, end));
  }

  // ---------------------------------------------------------------------------------------------
  // Names.

  /**
   * Reads a metric name at the current position: the legacy charset, or a quoted name when
   * UTF-8 names are enabled. Returns '' (consuming nothing) when no name starts here.
   */
  private metricName(): string {
    const src = this.src;
    const start = this.pos;
    let c = src.charCodeAt(start);
    if (c === QUOTE && this.utf8) return this.quotedName('metric');
    if (!isMetricNameStart(c)) return '';
    let p = start;
    do c = src.charCodeAt(++p);
    while (isMetricNameChar(c));
    this.pos = p;
    return this.reuse(start, p);
  }

  private labelName(): string {
    const src = this.src;
    const start = this.pos;
    let c = src.charCodeAt(start);
    if (c === QUOTE && this.utf8) return this.quotedName('label');
    if (!isLabelNameStart(c)) return '';
    let p = start;
    do c = src.charCodeAt(++p);
    while (isLabelNameChar(c));
    this.pos = p;
    return this.reuse(start, p);
  }

  /**
   * src.slice(start, end), but returning an earlier identical name when there is one: bodies
   * repeat the same few names on every line, and sharing them saves most of the allocations.
   */
  private reuse(start: number, end: number): string {
    const len = end - start;
    const cache = this.names;
    const slot = (len * 31 + this.src.charCodeAt(start) + this.src.charCodeAt(end - 1) * 7) & 255;
    const hit = cache[slot];
    if (hit !== undefined && hit.length === len && this.src.startsWith(hit, start)) return hit;
    const name = detached(this.src.slice(start, end));
    cache[slot] = name;
    return name;
  }

  /** A double-quoted UTF-8 name with the escapes `\\`, `\n` and `\"`; must not be empty. */
  private quotedName(kind: 'metric' | 'label'): string {
    const value = this.quoted(`${kind} name`);
    if (value === '') {
      // Inside `{...}` an entry without `=` is the metric name.
      const isMetric = kind === 'metric' || (this.skipBlanks() !== EQUALS && this.inBraces);
      this.fail(isMetric ? 'invalid metric name ""' : 'invalid label name ""');
    }
    return value;
  }

  /**
   * Reads a double-quoted string starting at the opening quote, leaving the position after the
   * closing quote. Escapes: `\\`, `\"`, `\n`.
   */
  private quoted(what: string): string {
    const src = this.src;
    const start = this.pos + 1;
    let p = start;
    let c = src.charCodeAt(p);
    while (c !== QUOTE && c !== BACKSLASH && c !== LF && p < src.length) c = src.charCodeAt(++p);
    if (c === QUOTE) {
      this.pos = p + 1;
      return detached(src.slice(start, p));
    }
    let out = src.slice(start, p);
    for (;;) {
      if (c === QUOTE) {
        this.pos = p + 1;
        return detached(out);
      }
      if (c === LF || p >= src.length) {
        this.pos = p;
        this.fail(`${what} ${goQuote(out)} contains unescaped new-line`);
      }
      if (c === BACKSLASH) {
        const e = src.charCodeAt(++p);
        if (e === QUOTE) out += '"';
        else if (e === BACKSLASH) out += '\\';
        else if (e === 0x6e) out += '\n';
        else {
          this.pos = p;
          this.fail(`invalid escape sequence '\\${goByteChar(src, p)}'`);
        }
        c = src.charCodeAt(++p);
        continue;
      }
      const from = p;
      while (c !== QUOTE && c !== BACKSLASH && c !== LF && p < src.length) c = src.charCodeAt(++p);
      out += src.slice(from, p);
    }
  }

  /**
   * Finds or creates the family a name belongs to, the way expfmt does: an existing family of
   * exactly that name wins; otherwise `x_count`/`x_sum` join summary `x`, and
   * `x_count`/`x_sum`/`x_bucket` join histogram `x`; otherwise a new family is created.
   */
  private resolveFamily(name: string): void {
    const families = this.families;
    this.part = Part.Plain;
    let fam = families.get(name);
    if (fam !== undefined) {
      this.fam = fam;
      return;
    }
    const len = name.length;
    const isCount = len > 6 && name.endsWith('_count');
    const isSum = !isCount && len > 4 && name.endsWith('_sum');
    const isBucket = !isCount && !isSum && len > 7 && name.endsWith('_bucket');
    if (isCount || isSum || isBucket) {
      const base = name.slice(0, len - (isCount ? 6 : isSum ? 4 : 7));
      fam = families.get(base);
      if (fam !== undefined && ((!isBucket && fam.type === 'summary') || isHistogramType(fam.type))) {
        this.fam = fam;
        this.part = isCount ? Part.Count : isSum ? Part.Sum : Part.Plain;
        return;
      }
    }
    fam = { name, help: undefined, type: undefined, metrics: [], series: undefined };
    families.set(name, fam);
    this.fam = fam;
  }

  // ---------------------------------------------------------------------------------------------
  // Sample lines: `name[{labels}] value [timestamp]`.

  private sample(): void {
    // One array collects every sample's labels (the first labelCount of it); a stored metric gets
    // a copy of its exact size (store()): a parsed push lives until its commit, and an array
    // grown by push() holds several times the slots it uses.
    this.labelCount = 0;
    this.special = NaN;
    this.inBraces = this.cur() === OPEN_BRACE;
    if (this.inBraces) {
      if (!this.utf8) this.fail('invalid metric name');
      this.bracedName();
    } else {
      const name = this.metricName();
      if (name === '') this.fail('invalid metric name');
      this.resolveFamily(name);
      this.fam.type ??= 'untyped';
      if (isBlank(this.cur())) this.skipBlanks();
      if (this.cur() === OPEN_BRACE) {
        this.pos++;
        this.labelSet();
      }
    }
    this.valueAndTimestamp();
  }

  /**
   * UTF-8 form `{"name", l="v", ...}`: the name is the one entry without `=`. Labels written
   * before it are buffered and applied once the family is known.
   */
  private bracedName(): void {
    this.pos++; // '{'
    let name: string | undefined;
    const pending: LabelPair[] = [];
    for (;;) {
      let c = this.skipBlanks();
      if (c === CLOSE_BRACE) break;
      const token = this.labelName();
      if (token === '') this.fail('invalid metric name');
      c = isBlank(this.cur()) ? this.skipBlanks() : this.cur();
      if (c === EQUALS) {
        this.pos++;
        if (this.skipBlanks() !== QUOTE) {
          this.fail(`expected '"' at start of label value, found ${goQuoteByte(this.src, this.pos)}`);
        }
        const value = this.quoted('label value');
        if (name === undefined) pending.push({ name: token, value });
        else {
          this.labelName_(token);
          this.labelValue_(token, value);
        }
        c = this.skipBlanks();
        if (c === COMMA) this.pos++;
        else if (c !== CLOSE_BRACE) this.fail(`unexpected end of label value ${goQuote(value)}`);
        continue;
      }
      if (c !== COMMA && c !== CLOSE_BRACE) {
        this.fail(`unexpected end of metric name ${goQuoteByte(this.src, this.pos)}`);
      }
      if (name !== undefined) this.fail(`multiple metric names for metric ${goQuote(name)}`);
      name = token;
      this.resolveFamily(name);
      this.fam.type ??= 'untyped';
      for (const l of pending) {
        this.labelName_(l.name);
        this.labelValue_(l.name, l.value);
      }
      if (c === COMMA) this.pos++;
    }
    if (name === undefined) this.fail('invalid metric name');
    this.pos++; // '}'
  }

  /** The label set after `{`, leaving the position after `}`. */
  private labelSet(): void {
    const src = this.src;
    for (;;) {
      let c = this.skipBlanks();
      if (c === CLOSE_BRACE) {
        this.pos++;
        return;
      }
      const name = this.labelName();
      if (name === '') this.fail(`invalid label name for metric ${goQuote(this.fam.name)}`);
      if (name === '__name__') this.fail('label name "__name__" is reserved');
      c = isBlank(this.cur()) ? this.skipBlanks() : this.cur();
      if (c !== EQUALS) {
        this.fail(`expected '=' after label name, found ${goQuoteByte(src, this.pos)}`);
      }
      this.pos++;
      this.labelName_(name);
      if (this.skipBlanks() !== QUOTE) {
        this.fail(`expected '"' at start of label value, found ${goQuoteByte(src, this.pos)}`);
      }
      const value = this.quoted('label value');
      this.labelValue_(name, value);
      c = this.skipBlanks();
      if (c === COMMA) this.pos++;
      else if (c === CLOSE_BRACE) {
        this.pos++;
        return;
      } else this.fail(`unexpected end of label value ${goQuote(value)}`);
    }
  }

  private isSpecialLabel(name: string): boolean {
    const type = this.fam.type;
    return (type === 'summary' && name === 'quantile') || (name === 'le' && isHistogramType(type));
  }

  /** Checks a label name once its `=` is seen (reserved name, duplicates). */
  private labelName_(name: string): void {
    if (name === '__name__') this.fail('label name "__name__" is reserved');
    // quantile/le of summaries/histograms are not labels of the series and, as in expfmt, are
    // exempt from the duplicate check (the last one wins).
    if (this.isSpecialLabel(name)) return;
    const labels = this.labels;
    const count = this.labelCount;
    if (count < 32) {
      for (let i = 0; i < count; i++) {
        if (labels[i]!.name === name) this.fail(`duplicate label names for metric ${goQuote(this.fam.name)}`);
      }
      return;
    }
    // A hostile series with 100k labels would make the scan above quadratic (minutes of CPU).
    // The set is rebuilt whenever it is not in step with this series' labels.
    if (this.labelNameSet.size !== count || this.labelNameSetLine !== this.line) {
      this.labelNameSet = new Set(labels.slice(0, count).map((l) => l.name));
      this.labelNameSetLine = this.line;
    }
    if (this.labelNameSet.has(name)) this.fail(`duplicate label names for metric ${goQuote(this.fam.name)}`);
    this.labelNameSet.add(name);
  }

  private labelValue_(name: string, value: string): void {
    if (this.isSpecialLabel(name)) {
      const v = parseGoFloat(value);
      if (v === undefined) {
        this.fail(`expected float as value for '${name}' label, got ${goQuote(value)}`);
      }
      this.special = v;
      return;
    }
    this.labels[this.labelCount++] = { name, value };
  }

  private valueAndTimestamp(): void {
    if (isBlank(this.cur())) this.skipBlanks();
    const token = this.tokenUntilWhitespace();
    const value = parseGoFloat(token);
    if (value === undefined) this.fail(`expected float as value, got ${goQuote(token)}`);
    const metric = this.store(value);
    if (this.cur() === LF) {
      this.pos++;
      return;
    }
    this.skipBlanks();
    const ts = this.tokenUntilWhitespace();
    const timestamp = parseGoInt64(ts);
    if (timestamp === undefined) this.fail(`expected integer as timestamp, got ${goQuote(ts)}`);
    metric.timestampMs = timestamp;
    // Even trailing blanks are an error here, as in the official parser.
    const rest = this.toLineEnd();
    if (rest.length > 0) this.fail(`spurious string after timestamp: ${goQuote(rest)}`);
    this.pos++;
  }

  /** Puts a sample into its metric (a new one, or its summary/histogram series) and returns it. */
  private store(value: number): MetricAcc {
    const fam = this.fam;
    const series = fam.series;
    if (series === undefined) {
      const m: MetricAcc = { labels: this.labels.slice(0, this.labelCount), value };
      fam.metrics.push(m);
      return m;
    }
    const labels = this.labels.slice(0, this.labelCount);
    const key = signature(labels);
    let m = series.get(key);
    if (m === undefined) {
      m =
        fam.type === 'summary'
          ? { labels, summary: { sampleCount: 0, sampleSum: 0, quantiles: [] } }
          : { labels, histogram: { sampleCount: 0, sampleSum: 0, buckets: [] } };
      series.set(key, m);
      fam.metrics.push(m);
    }
    const summary = m.summary;
    const acc = summary ?? m.histogram!;
    if (this.part === Part.Count) acc.sampleCount = value;
    else if (this.part === Part.Sum) acc.sampleSum = value;
    else if (this.special === this.special) {
      // A sample with neither quantile/le nor a _sum/_count suffix only creates the series.
      if (summary !== undefined) summary.quantiles.push({ quantile: this.special, value });
      else m.histogram!.buckets.push({ upperBound: this.special, cumulativeCount: value });
    }
    return m;
  }
}

/** An order-independent, collision-free key for a label set. */
function signature(labels: readonly LabelPair[]): string {
  const n = labels.length;
  if (n === 0) return '';
  if (n === 1) {
    const l = labels[0]!;
    return `${l.name.length}:${l.name}${l.value.length}:${l.value}`;
  }
  const sorted = labels.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let key = '';
  for (const l of sorted) key += `${l.name.length}:${l.name}${l.value.length}:${l.value}`;
  return key;
}

/**
 * V8 makes a slice of this many characters or more a view into the string it was cut from (and a
 * concatenation a tree of its pieces): a name, HELP text or label value the parser returned would
 * keep the whole request body alive, in the pushes waiting for their commit (which each young
 * generation collection copies) and in what the gateway keeps of a push.
 */
const SLICE_MIN_LENGTH = 13;

/** `s` in a string of its own (a view of a flat copy): it holds nothing of the body it was read from. */
function detached(s: string): string {
  return s.length < SLICE_MIN_LENGTH ? s : (' ' + s).slice(1);
}
