/**
 * OpenMetrics 1.0.0 text rendering for scrapes that ask for it.
 *
 * Prometheus' default Accept header prefers OpenMetrics, so it is what Prometheus gets from Pushkeep where
 * it got text 0.0.4 from the official gateway. The rule is therefore: **Prometheus must ingest exactly the
 * series and values a text 0.0.4 scrape gives it.** The sample lines are the text format's lines (same
 * names, label order, `le`/`quantile` placement, Go float formatting), and only the headers differ:
 * - a counter named `x_total` is announced as `# TYPE x counter` and its samples stay `x_total`;
 * - a counter whose name lacks `_total` (text and protobuf pushes allow it) is announced as `unknown`
 *   under its own name: as an OpenMetrics counter its samples would have to become `x_total`, a series
 *   the text scrape does not have;
 * - untyped is `unknown`; a gauge histogram is announced as `histogram` with `_sum`/`_count`, as text
 *   0.0.4 and Prometheus' protobuf parser name it (`_gsum`/`_gcount` would be new series);
 * - no `_created` samples: Prometheus 2.x ingests them as series of their own (the text scrape has
 *   none). Created timestamps are kept and served in protobuf scrapes;
 * - exemplars, which text cannot carry, are written on counter and bucket lines (they are not series);
 * - HELP escapes `"` as OpenMetrics requires; `# UNIT` is written only when the announced name ends in
 *   `_<unit>`. Native histograms are rendered as their classic part, as in text.
 */
import { formatFloat } from './float-format.js';
import { escapeLabelValue, quotedMetricName, renderMetricLines } from './text-renderer.js';
import type { Exemplar, LabelPair, Metric, MetricFamily, MetricType } from './types.js';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** The OpenMetrics type and announced name of a family: see the module comment. */
export function openMetricsFamily(name: string, type: MetricType): { readonly name: string; readonly type: string } {
  switch (type) {
    case 'counter':
      return name.endsWith('_total') && name.length > 6 ? { name: name.slice(0, -6), type: 'counter' } : { name, type: 'unknown' };
    case 'untyped':
      return { name, type: 'unknown' };
    case 'gaugehistogram':
      return { name, type: 'histogram' };
    default:
      return { name, type };
  }
}

const escapeHelp = (s: string): string => s.replace(/[\\\n"]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));

function labelSet(labels: readonly LabelPair[]): string {
  let out = '';
  for (const l of labels) out += `${out === '' ? '' : ','}${l.name}="${escapeLabelValue(l.value)}"`;
  return `{${out}}`;
}

/**
 * Timestamps in plain decimal seconds, as prom-client and the Python client write them: some
 * OpenMetrics parsers (prometheus_client's) misread exponent notation here.
 */
const seconds = (ms: number): string => String(ms / 1000);

function exemplarSuffix(e: Exemplar): string {
  const ts = e.timestampMs !== undefined ? ` ${seconds(e.timestampMs)}` : '';
  return ` # ${labelSet(e.labels)} ${formatFloat(e.value)}${ts}`;
}

/** The `# HELP`, `# TYPE` and (when valid) `# UNIT` lines of one family, each ending in `\n`. */
export function renderOpenMetricsFamilyHeader(name: string, type: MetricType, help?: string, unit?: string, quoteNames = false): string {
  const announced = openMetricsFamily(name, type);
  const shown = quoteNames ? quotedMetricName(announced.name) : announced.name;
  let out = help !== undefined ? `# HELP ${shown} ${escapeHelp(help)}\n` : '';
  out += `# TYPE ${shown} ${announced.type}\n`;
  if (unit && announced.name.endsWith(`_${unit}`)) out += `# UNIT ${shown} ${unit}\n`;
  return out;
}

/** True when the series carries an exemplar, the only thing its OpenMetrics lines add to its text lines. */
export function hasExemplars(metric: Metric): boolean {
  return metric.exemplar !== undefined || (metric.histogram?.buckets.some((b) => b.exemplar !== undefined) ?? false);
}

/** The sample lines of one series of family `name`, each ending in `\n`: the text lines plus exemplars. */
export function renderOpenMetricsMetricLines(name: string, type: MetricType, metric: Metric, quoteNames = false): string {
  const text = renderMetricLines(name, type, metric, quoteNames);
  if (!hasExemplars(metric)) return text;
  const lines = text.split('\n');
  if (type === 'counter' && metric.exemplar) {
    // OpenMetrics allows exemplars on `_total` samples only, not on an `unknown` one.
    if (openMetricsFamily(name, type).type === 'counter') lines[0] += exemplarSuffix(metric.exemplar);
  } else if (metric.histogram) {
    // Bucket lines come first, in stored order, one per bucket.
    metric.histogram.buckets.forEach((b, i) => {
      if (b.exemplar) lines[i] += exemplarSuffix(b.exemplar);
    });
  }
  return lines.join('\n');
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
