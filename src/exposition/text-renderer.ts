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
import type { LabelPair, Metric, MetricFamily, MetricType } from './types.js';

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
export function renderFamilyHeader(name: string, help: string | undefined, type: MetricType): string {
  const typeLine = `# TYPE ${name} ${type === 'gaugehistogram' ? 'histogram' : type}\n`;
  return help === undefined ? typeLine : `# HELP ${name} ${escapeHelp(help)}\n${typeLine}`;
}

/** `l1="v1",l2="v2"` without braces, in the given order. */
function labelBody(labels: readonly LabelPair[]): string {
  let out = '';
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    out += `${i === 0 ? '' : ','}${l.name}="${escapeLabelValue(l.value)}"`;
  }
  return out;
}

/**
 * The sample lines of one series: labels in the order given, `quantile` appended for summary
 * quantiles and `le` appended last for histogram buckets.
 */
export function renderMetricLines(name: string, type: MetricType, metric: Metric): string {
  const body = labelBody(metric.labels);
  const braced = body === '' ? '' : `{${body}}`;
  // Prefix for lines with one extra label (quantile or le): `{l1="v1",` or `{`.
  const open = body === '' ? '{' : `{${body},`;
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
      for (const q of s.quantiles) {
        out += `${name}${open}quantile="${formatFloat(q.quantile)}"} ${formatFloat(q.value)}\n`;
      }
      return `${out}${name}_sum${braced} ${formatFloat(s.sampleSum)}\n${name}_count${braced} ${formatFloat(s.sampleCount)}\n`;
    }
    case 'histogram':
    case 'gaugehistogram': {
      const h = metric.histogram;
      if (h === undefined) throw missing(name, type);
      let out = '';
      let infSeen = false;
      for (const b of h.buckets) {
        if (b.upperBound === Infinity) infSeen = true;
        out += `${name}_bucket${open}le="${formatFloat(b.upperBound)}"} ${formatFloat(b.cumulativeCount)}\n`;
      }
      // Also what a native histogram without classic buckets prints.
      if (!infSeen) out += `${name}_bucket${open}le="+Inf"} ${formatFloat(h.sampleCount)}\n`;
      return `${out}${name}_sum${braced} ${formatFloat(h.sampleSum)}\n${name}_count${braced} ${formatFloat(h.sampleCount)}\n`;
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
