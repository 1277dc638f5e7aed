/**
 * OpenMetrics 1.0.0 text rendering for scrapes that ask for it.
 *
 * Naming follows prometheus/common's expfmt OpenMetrics encoder: a counter family is announced without its
 * `_total` suffix and its samples carry it (`x` and `x_total` both render as `# TYPE x counter` + `x_total`),
 * so Prometheus stores the same series whichever format it scraped. Numbers, `le` and `quantile` use the same
 * formatting as text 0.0.4 (formatFloat) so that label values, and therefore series identities, match across
 * formats too. `_created` is written where a created timestamp is known; exemplars on counters and buckets.
 * Native histograms, which OpenMetrics 1.0 text cannot carry, are rendered as their classic part (as in text).
 * `# UNIT` is written only when the announced name ends in `_<unit>`, as OpenMetrics requires.
 */
import { formatFloat } from './float-format.js';
import type { Exemplar, LabelPair, Metric, MetricFamily, MetricType } from './types.js';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

const OM_TYPE: Record<MetricType, string> = {
  counter: 'counter',
  gauge: 'gauge',
  summary: 'summary',
  untyped: 'unknown',
  histogram: 'histogram',
  gaugehistogram: 'gaugehistogram',
};

/** The name announced in HELP/TYPE/UNIT: counters lose a trailing `_total`. */
function familyName(name: string, type: MetricType): string {
  return type === 'counter' && name.endsWith('_total') ? name.slice(0, -6) : name;
}

const escapeHelp = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeLabelValue = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function labelSet(labels: readonly LabelPair[], extra?: LabelPair): string {
  if (labels.length === 0 && !extra) return '';
  let out = '{';
  let first = true;
  for (const l of labels) {
    out += `${first ? '' : ','}${l.name}="${escapeLabelValue(l.value)}"`;
    first = false;
  }
  if (extra) out += `${first ? '' : ','}${extra.name}="${escapeLabelValue(extra.value)}"`;
  return `${out}}`;
}

/**
 * Timestamps (exemplar timestamps, `_created` values) in plain decimal seconds, as prom-client and the Python
 * client write them: some OpenMetrics parsers (prometheus_client's) misread exponent notation here.
 */
const seconds = (ms: number): string => String(ms / 1000);

function exemplarSuffix(e: Exemplar | undefined): string {
  if (!e) return '';
  const labels = labelSet(e.labels);
  const ts = e.timestampMs !== undefined ? ` ${seconds(e.timestampMs)}` : '';
  return ` # ${labels === '' ? '{}' : labels} ${formatFloat(e.value)}${ts}`;
}

/** The `# HELP`, `# TYPE` and (when valid) `# UNIT` lines of one family, each ending in `\n`. */
export function renderOpenMetricsFamilyHeader(name: string, type: MetricType, help?: string, unit?: string): string {
  const announced = familyName(name, type);
  let out = help !== undefined ? `# HELP ${announced} ${escapeHelp(help)}\n` : '';
  out += `# TYPE ${announced} ${OM_TYPE[type]}\n`;
  if (unit && announced.endsWith(`_${unit}`)) out += `# UNIT ${announced} ${unit}\n`;
  return out;
}

/** The sample lines of one series of family `name` (its stored name), each ending in `\n`. */
export function renderOpenMetricsMetricLines(name: string, type: MetricType, metric: Metric): string {
  const base = familyName(name, type);
  const labels = labelSet(metric.labels);
  switch (type) {
    case 'counter': {
      let out = `${base}_total${labels} ${formatFloat(metric.value ?? 0)}${exemplarSuffix(metric.exemplar)}\n`;
      if (metric.createdTimestampMs !== undefined) {
        out += `${base}_created${labels} ${seconds(metric.createdTimestampMs)}\n`;
      }
      return out;
    }
    case 'gauge':
    case 'untyped':
      return `${name}${labels} ${formatFloat(metric.value ?? 0)}\n`;
    case 'summary': {
      const s = metric.summary;
      if (!s) return '';
      let out = '';
      for (const q of s.quantiles) {
        out += `${name}${labelSet(metric.labels, { name: 'quantile', value: formatFloat(q.quantile) })} ${formatFloat(q.value)}\n`;
      }
      out += `${name}_sum${labels} ${formatFloat(s.sampleSum)}\n`;
      out += `${name}_count${labels} ${formatFloat(s.sampleCount)}\n`;
      if (s.createdTimestampMs !== undefined) out += `${name}_created${labels} ${seconds(s.createdTimestampMs)}\n`;
      return out;
    }
    case 'histogram':
    case 'gaugehistogram': {
      const h = metric.histogram;
      if (!h) return '';
      const count = h.native && h.native.sampleCountFloat > 0 ? h.native.sampleCountFloat : h.sampleCount;
      let out = '';
      let sawInf = false;
      for (const b of h.buckets) {
        if (b.upperBound === Infinity) sawInf = true;
        out += `${name}_bucket${labelSet(metric.labels, { name: 'le', value: formatFloat(b.upperBound) })} ${formatFloat(b.cumulativeCount)}${exemplarSuffix(b.exemplar)}\n`;
      }
      if (!sawInf) out += `${name}_bucket${labelSet(metric.labels, { name: 'le', value: '+Inf' })} ${formatFloat(count)}\n`;
      const [sum, cnt] = type === 'gaugehistogram' ? ['_gsum', '_gcount'] : ['_sum', '_count'];
      out += `${name}${sum}${labels} ${formatFloat(h.sampleSum)}\n`;
      out += `${name}${cnt}${labels} ${formatFloat(count)}\n`;
      if (type === 'histogram' && h.createdTimestampMs !== undefined) {
        out += `${name}_created${labels} ${seconds(h.createdTimestampMs)}\n`;
      }
      return out;
    }
  }
}

/**
 * A whole OpenMetrics exposition ending in `# EOF\n`. Families are written in the given order and families
 * without series are skipped; sorting and merging across groups are the caller's job.
 */
export function renderOpenMetrics(families: readonly MetricFamily[]): string {
  let out = '';
  for (const f of families) {
    if (f.metrics.length === 0) continue;
    out += renderOpenMetricsFamilyHeader(f.name, f.type, f.help, f.unit);
    for (const m of f.metrics) out += renderOpenMetricsMetricLines(f.name, f.type, m);
  }
  return `${out}# EOF\n`;
}
