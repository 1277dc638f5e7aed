/**
 * Renderer for the Prometheus text exposition format 0.0.4, byte-for-byte like the official
 * Pushgateway's scrape (expfmt's MetricFamilyToText): HELP only when the family has one, TYPE
 * with gauge histograms written as `histogram`, `quantile` and `le` appended after the series'
 * labels, an implicit `le="+Inf"` bucket, `_sum` and `_count`, Go float formatting, no
 * timestamps ever.
 *
 * It renders what it is given: sorting families, series and labels, and checking names, is the
 * caller's job. Each metric must carry the field matching its family type (value for counter,
 * gauge and untyped; summary; histogram); a metric that does not is a programming error and
 * throws.
 */
import { formatFloat } from './float-format.js';
import { isLegacyLabelName, isLegacyMetricName } from './names.js';
import { PrefixReusingText } from '../util/prefix-reusing-text.js';
import { sameLabel, type LabelPair, type Metric, type MetricFamily, type MetricType } from './types.js';

const NEEDS_VALUE_ESCAPE = /[\\"\n]/;
const NEEDS_HELP_ESCAPE = /[\\\n]/;

/** A label value as written between quotes: `\` → `\\`, `"` → `\"`, newline → `\n`. */
export function escapeLabelValue(v: string): string {
  if (!NEEDS_VALUE_ESCAPE.test(v)) return v;
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** A HELP text: `\` → `\\`, newline → `\n`; quotes stay raw. */
export function escapeHelp(h: string): string {
  if (!NEEDS_HELP_ESCAPE.test(h)) return h;
  return h.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

/**
 * The `# HELP` (only when help is defined; an empty help prints `# HELP name ` as the official
 * does for a protobuf-pushed empty help) and `# TYPE` lines of a family.
 */
export function renderFamilyHeader(name: string, help: string | undefined, type: MetricType, quoteNames = false): string {
  const shown = quoteNames ? quotedMetricName(name) : name;
  const typeLine = `# TYPE ${shown} ${type === 'gaugehistogram' ? 'histogram' : type}\n`;
  return help === undefined ? typeLine : `# HELP ${shown} ${escapeHelp(help)}\n${typeLine}`;
}

/**
 * A metric name as text 1.0.0 writes it: as it is when it is a legacy name, else quoted (with
 * label-value escapes). Only scrapes with `escaping=allow-utf-8` write quoted names.
 */
export function quotedMetricName(name: string): string {
  return isLegacyMetricName(name) ? name : `"${escapeLabelValue(name)}"`;
}

function quotedLabelName(name: string): string {
  return isLegacyLabelName(name) ? name : `"${escapeLabelValue(name)}"`;
}

/**
 * `l1="v1",l2="v2"` without braces, in the given order. Series are mostly rendered family by
 * family, and the series of a family share their leading labels: see PrefixReusingText.
 */
const labelBodies = new PrefixReusingText<LabelPair>('', (l, first) => `${first ? '' : ','}${l.name}="${escapeLabelValue(l.value)}"`, sameLabel);

/**
 * The sample lines of one series: labels in the order given, `quantile` appended for summary
 * quantiles and `le` appended last for histogram buckets.
 */
export function renderMetricLines(name: string, type: MetricType, metric: Metric, quoteNames = false): string {
  if (quoteNames && needsQuotes(name, metric.labels)) return renderQuotedLines(name, type, metric);
  const body = labelBodies.of(metric.labels);
  const braced = body === '' ? '' : `{${body}}`;
  switch (type) {
    case 'counter':
    case 'gauge':
    case 'untyped': {
      const value = metric.value;
      if (value === undefined) throw missing(name, type);
      return `${name}${braced} ${formatFloat(value)}\n`;
    }
    case 'summary': {
      const s = metric.summary;
      if (s === undefined) throw missing(name, type);
      let out = '';
      const opened = openWith(body);
      for (const q of s.quantiles) {
        out += `${name}${opened}quantile="${formatFloat(q.quantile)}"} ${formatFloat(q.value)}\n`;
      }
      return `${out}${name}_sum${braced} ${formatFloat(s.sampleSum)}\n${name}_count${braced} ${formatFloat(s.sampleCount)}\n`;
    }
    case 'histogram':
    case 'gaugehistogram': {
      const h = metric.histogram;
      if (h === undefined) throw missing(name, type);
      let out = '';
      let infSeen = false;
      const opened = openWith(body);
      for (const b of h.buckets) {
        if (b.upperBound === Infinity) infSeen = true;
        out += `${name}_bucket${opened}le="${formatFloat(b.upperBound)}"} ${formatFloat(b.cumulativeCount)}\n`;
      }
      // Also what a native histogram without classic buckets prints.
      if (!infSeen) out += `${name}_bucket${opened}le="+Inf"} ${formatFloat(h.sampleCount)}\n`;
      return `${out}${name}_sum${braced} ${formatFloat(h.sampleSum)}\n${name}_count${braced} ${formatFloat(h.sampleCount)}\n`;
    }
  }
}

/** The start of a line with one extra label (quantile or le): `{l1="v1",` or `{`. */
function openWith(body: string): string {
  return body === '' ? '{' : `{${body},`;
}

function needsQuotes(name: string, labels: readonly LabelPair[]): boolean {
  return !isLegacyMetricName(name) || labels.some((l) => !isLegacyLabelName(l.name));
}

/**
 * renderMetricLines for a series with a non-legacy name: each sample's name goes first inside the
 * braces, quoted, when it is not a legacy name; non-legacy label names are quoted.
 */
function renderQuotedLines(name: string, type: MetricType, metric: Metric): string {
  const pairs = metric.labels.map((l) => `${quotedLabelName(l.name)}="${escapeLabelValue(l.value)}"`);
  const line = (suffix: string, value: number, extra?: string): string => {
    const sample = name + suffix;
    const legacy = isLegacyMetricName(sample);
    const inside = legacy ? [...pairs] : [`"${escapeLabelValue(sample)}"`, ...pairs];
    if (extra !== undefined) inside.push(extra);
    return `${legacy ? sample : ''}${inside.length > 0 ? `{${inside.join(',')}}` : ''} ${formatFloat(value)}\n`;
  };
  switch (type) {
    case 'counter':
    case 'gauge':
    case 'untyped':
      if (metric.value === undefined) throw missing(name, type);
      return line('', metric.value);
    case 'summary': {
      const s = metric.summary;
      if (s === undefined) throw missing(name, type);
      let out = '';
      for (const q of s.quantiles) out += line('', q.value, `quantile="${formatFloat(q.quantile)}"`);
      return out + line('_sum', s.sampleSum) + line('_count', s.sampleCount);
    }
    case 'histogram':
    case 'gaugehistogram': {
      const h = metric.histogram;
      if (h === undefined) throw missing(name, type);
      let out = '';
      for (const b of h.buckets) out += line('_bucket', b.cumulativeCount, `le="${formatFloat(b.upperBound)}"`);
      if (!h.buckets.some((b) => b.upperBound === Infinity)) out += line('_bucket', h.sampleCount, 'le="+Inf"');
      return out + line('_sum', h.sampleSum) + line('_count', h.sampleCount);
    }
  }
}

function missing(name: string, type: MetricType): Error {
  return new Error(`metric of ${type} family "${name}" lacks its ${type} data`);
}

/**
 * Families in the given order, each with its metrics in the given order. Families without
 * metrics are skipped, as in the official scrape.
 */
export function renderText(families: readonly MetricFamily[]): string {
  let out = '';
  for (const f of families) {
    if (f.metrics.length === 0) continue;
    out += renderFamilyHeader(f.name, f.help, f.type);
    for (const m of f.metrics) out += renderMetricLines(f.name, f.type, m);
  }
  return out;
}
