/**
 * The official /api/v1 JSON, byte for byte: Go's encoding/json escapes (<, >, & and U+2028/9 as
 * \u escapes, invalid UTF-16 as U+FFFD), map keys sorted by bytes, numbers as Go-formatted strings,
 * and times in RFC 3339 with nanoseconds and the server's UTC offset.
 */

import { compareUtf8 } from '../domain/grouping-key.js';
import { PUSH_FAILURE_TIME_HELP, PUSH_FAILURE_TIME_METRIC, PUSH_TIME_HELP, PUSH_TIME_METRIC, groupSeriesLabels } from '../domain/push-rules.js';
import { formatFloatJson } from '../exposition/float-format.js';
import type { Histogram, LabelPair, Metric, MetricType, NativeHistogram } from '../exposition/types.js';
import type { StoredFamily, StoredGroup } from '../domain/stored-group.js';
import type { BuildInformation } from '../domain/build-information.js';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const GO_ESCAPES = /\\(.)|[<>&\u2028\u2029]/g;
const NEEDS_ESCAPING = /[^\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\x5b\x5d-\x7e]/;

/** A JSON string literal as Go's encoding/json writes it (Go 1.19, the Debian 1.5.1 build). */
export function goJsonString(s: string): string {
  // Most label values and names need no escaping at all.
  if (!NEEDS_ESCAPING.test(s)) return `"${s}"`;
  return JSON.stringify(s.replace(LONE_SURROGATE, '\ufffd')).replace(GO_ESCAPES, (match, escaped?: string) => {
    if (escaped === undefined) return `\\u${match.charCodeAt(0).toString(16).padStart(4, '0')}`;
    if (escaped === 'b') return '\\u0008';
    if (escaped === 'f') return '\\u000c';
    return match;
  });
}

/** A JSON object with keys sorted as Go sorts map keys; values are already-encoded JSON. */
export function goJsonObject(entries: Iterable<readonly [string, string]>): string {
  const list = [...entries];
  // Label pairs arrive sorted; checking is cheaper than sorting.
  for (let i = 1; i < list.length; i++) {
    if (compareUtf8(list[i - 1]![0], list[i]![0]) > 0) {
      list.sort((a, b) => compareUtf8(a[0], b[0]));
      break;
    }
  }
  let out = '{';
  for (let i = 0; i < list.length; i++) {
    const [k, v] = list[i]!;
    if (i > 0) out += ',';
    out += goJsonString(k) + ':' + v;
  }
  return out + '}';
}

/** Go's time.Time JSON form (RFC 3339, up to nine fraction digits, trailing zeros dropped), local offset. */
export function formatApiTime(seconds: number): string {
  let whole = Math.floor(seconds);
  // A double holding today's Unix time is exact to about 0.2 µs: digits beyond microseconds are noise.
  let micros = Math.round((seconds - whole) * 1e6);
  if (micros === 1e6) {
    whole += 1;
    micros = 0;
  }
  const offsetMinutes = -new Date(whole * 1000).getTimezoneOffset();
  const local = new Date((whole + offsetMinutes * 60) * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  let out =
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
  if (micros > 0) out += `.${pad(micros, 6).replace(/0+$/, '')}`;
  if (offsetMinutes === 0) return `${out}Z`;
  const abs = Math.abs(offsetMinutes);
  return `${out}${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

const API_TYPES: Record<MetricType, string> = {
  counter: 'COUNTER',
  gauge: 'GAUGE',
  summary: 'SUMMARY',
  untyped: 'UNTYPED',
  histogram: 'HISTOGRAM',
  gaugehistogram: 'GAUGE_HISTOGRAM',
};

/** The `data` array of GET /api/v1/metrics. */
export function metricsData(groups: readonly StoredGroup[]): string {
  const out: string[] = [];
  times.clear();
  for (const group of groups) out.push(groupJson(group));
  times.clear();
  return `[${out.join(',')}]`;
}

function groupJson(group: StoredGroup): string {
  const entries = new Map<string, string>();
  for (const family of group.families) entries.set(family.name, familyJson(family));
  const seriesLabels = groupSeriesLabels(group.key);
  const { pushTimeSeconds: push, pushFailureTimeSeconds: failure } = group;
  // The official stamps each gauge with the write that last set it; a group created by a failed
  // push has push time 0 and both stamped with the failure.
  const gauge = (name: string, help: string, value: number, at: number): string =>
    familyJson({ name, type: 'gauge', help, pushedAtSeconds: at, metrics: [{ labels: seriesLabels, value }] });
  entries.set(PUSH_TIME_METRIC, gauge(PUSH_TIME_METRIC, PUSH_TIME_HELP, push, push > 0 ? push : failure));
  entries.set(PUSH_FAILURE_TIME_METRIC, gauge(PUSH_FAILURE_TIME_METRIC, PUSH_FAILURE_TIME_HELP, failure, failure > 0 ? failure : push));
  entries.set('labels', labelsJson(group.key.labels));
  entries.set('last_push_successful', failure > push ? 'false' : 'true');
  if (group.expiresAtSeconds !== undefined) entries.set('expires_at', goJsonString(formatApiTime(group.expiresAtSeconds)));
  // Only sum groups carry it: a replace group's entry stays field for field the official's.
  if (group.aggregation === 'sum') entries.set('aggregation', '"sum"');
  return goJsonObject(entries);
}

// Families pushed together share their time: formatted once per answer.
const times = new Map<number, string>();
function timeJson(seconds: number): string {
  let t = times.get(seconds);
  if (t === undefined) times.set(seconds, (t = `"${formatApiTime(seconds)}"`));
  return t;
}

function familyJson(family: StoredFamily): string {
  let out = `{"time_stamp":${timeJson(family.pushedAtSeconds)},"type":"${API_TYPES[family.type]}"`;
  if (family.help !== undefined && family.help !== '') out += `,"help":${goJsonString(family.help)}`;
  out += ',"metrics":[';
  for (let i = 0; i < family.metrics.length; i++) {
    if (i > 0) out += ',';
    out += metricJson(family.metrics[i]!);
  }
  return out + ']}';
}

function labelsJson(labels: readonly LabelPair[]): string {
  return goJsonObject(labels.map((l) => [l.name, goJsonString(l.value)] as const));
}

const num = (v: number): string => `"${formatFloatJson(v)}"`;
/** Counts are uint64 in the official model (fmt.Sprint): never in exponent form. */
const count = (v: number): string => (Number.isInteger(v) && v >= 0 ? `"${String(v)}"` : num(v));

function metricJson(metric: Metric): string {
  const labels = labelsJson(metric.labels);
  if (metric.summary) {
    const s = metric.summary;
    const quantiles = goJsonObject(s.quantiles.map((q) => [formatFloatJson(q.quantile), num(q.value)] as const));
    return `{"count":${count(s.sampleCount)},"labels":${labels},"quantiles":${quantiles},"sum":${num(s.sampleSum)}}`;
  }
  if (metric.histogram) {
    const h = metric.histogram;
    if (h.native && (h.native.positiveSpans.length > 0 || h.native.negativeSpans.length > 0)) {
      return `{"buckets":${nativeBuckets(h.native)},"count":${num(nativeCount(h))},"labels":${labels},"sum":${num(h.sampleSum)}}`;
    }
    const buckets = goJsonObject(h.buckets.map((b) => [formatFloatJson(b.upperBound), count(b.cumulativeCount)] as const));
    return `{"buckets":${buckets},"count":${count(h.sampleCount)},"labels":${labels},"sum":${num(h.sampleSum)}}`;
  }
  return `{"labels":${labels},"value":${num(metric.value ?? 0)}}`;
}

function isFloatNative(n: NativeHistogram): boolean {
  return n.sampleCountFloat > 0 || n.zeroCountFloat > 0;
}

function nativeCount(h: Histogram): number {
  return h.native && isFloatNative(h.native) ? h.native.sampleCountFloat : h.sampleCount;
}

/** Upper bound of native bucket `index` for `schema`: 2^(index·2^-schema). */
function bound(schema: number, index: number): number {
  return 2 ** (index * 2 ** -schema);
}

/** (index, count) of every bucket a span list describes, counts resolved from deltas or floats. */
function expand(spans: NativeHistogram['positiveSpans'], deltas: readonly number[], counts: readonly number[], float: boolean): [number, number][] {
  const out: [number, number][] = [];
  let index = 0;
  let k = 0;
  let running = 0;
  for (const span of spans) {
    index += span.offset;
    for (let j = 0; j < span.length; j++, k++, index++) {
      let c: number;
      if (float) c = counts[k] ?? 0;
      else {
        running += deltas[k] ?? 0;
        c = running;
      }
      out.push([index, c]);
    }
  }
  return out;
}

/** 1.8+ form: [[boundary_rule, lower, upper, count], ...], negative buckets first, zero bucket, then positive. */
function nativeBuckets(n: NativeHistogram): string {
  const float = isFloatNative(n);
  const parts: string[] = [];
  const negative = expand(n.negativeSpans, n.negativeDeltas, n.negativeCounts, float).reverse();
  for (const [i, c] of negative) {
    if (c !== 0) parts.push(`[1,${num(-bound(n.schema, i))},${num(-bound(n.schema, i - 1))},${num(c)}]`);
  }
  const zero = float ? n.zeroCountFloat : n.zeroCount;
  if (zero !== 0) parts.push(`[3,${num(-n.zeroThreshold)},${num(n.zeroThreshold)},${num(zero)}]`);
  for (const [i, c] of expand(n.positiveSpans, n.positiveDeltas, n.positiveCounts, float)) {
    if (c !== 0) parts.push(`[0,${num(bound(n.schema, i - 1))},${num(bound(n.schema, i))},${num(c)}]`);
  }
  return `[${parts.join(',')}]`;
}

/** The `data` object of GET /api/v1/status. */
export function statusData(build: BuildInformation, flags: Readonly<Record<string, string>>, startTimeSeconds: number): string {
  const buildJson = goJsonObject(Object.entries(build).map(([k, v]) => [k, goJsonString(String(v))] as const));
  const flagsJson = goJsonObject(Object.entries(flags).map(([k, v]) => [k, goJsonString(v)] as const));
  return `{"build_information":${buildJson},"flags":${flagsJson},"start_time":${goJsonString(formatApiTime(startTimeSeconds))}}`;
}

/** The success envelope: `{"status":"success","data":...}`. */
export function successJson(data: string): string {
  return `{"status":"success","data":${data}}`;
}

/** The official error envelope (Go struct order: status, errorType, error). */
export function errorJson(errorType: string, message: string): string {
  return `{"status":"error","errorType":${goJsonString(errorType)},"error":${goJsonString(message)}}`;
}
