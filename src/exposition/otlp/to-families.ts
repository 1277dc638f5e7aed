/**
 * One OTLP ResourceMetrics into the exposition model, as Prometheus' OTLP translation maps it:
 *
 * | OTLP | family |
 * |---|---|
 * | Gauge | gauge |
 * | Sum, monotonic | counter (`_total`) |
 * | Sum, not monotonic | gauge |
 * | Histogram | classic histogram |
 * | ExponentialHistogram | native histogram, scale above 8 reduced to 8 |
 * | Summary | summary |
 *
 * Delta sums and histograms are named in `addFamilies`: the gateway adds them to what it stores.
 * Points that cannot be mapped are counted in `rejected` with a reason; points flagged
 * NO_RECORDED_VALUE are skipped (a gateway has no staleness marker to store). Point timestamps
 * are dropped, as for every push.
 */
import type { Bucket, BucketSpan, Exemplar, LabelPair, Metric, MetricFamily, MetricType, NativeHistogram } from '../types.js';
import { otlpLabelName, otlpMetricName, type OtlpNameKind } from './names.js';
import {
  FLAG_NO_RECORDED_VALUE,
  TEMPORALITY_CUMULATIVE,
  TEMPORALITY_DELTA,
  toNumber,
  type Int64,
  type PbAnyValue,
  type PbExemplar,
  type PbExponentialHistogramDataPoint,
  type PbHistogramDataPoint,
  type PbKeyValue,
  type PbMetric,
  type PbNumberDataPoint,
  type PbResourceMetrics,
} from './wire.js';

export interface OtlpMappingOptions {
  /** --push.enable-utf8-names: keep the original names. */
  readonly utf8Names: boolean;
}

export interface MappedResource {
  /** The resource's attributes, values as strings, keys as sent. */
  readonly attributes: ReadonlyMap<string, string>;
  readonly families: MetricFamily[];
  /** Families whose values are added to the stored ones (delta temporality). */
  readonly addFamilies: Set<string>;
  /** Points mapped into families. */
  readonly points: number;
  /** Points refused, and the first reasons. */
  readonly rejected: number;
  readonly reasons: string[];
}

/** Native histograms cannot be finer than this schema. */
const MAX_SCHEMA = 8;
const MIN_SCHEMA = -4;
const MAX_REASONS = 5;
// OpenMetrics caps an exemplar's label set at 128 characters.
const MAX_EXEMPLAR_LABEL_CHARS = 128;

/** An attribute value as Prometheus shows it: strings as they are, the rest in their JSON form. */
// protobufjs puts scalar defaults on the prototype: a field was sent when it is an own property.
const has = (message: object, field: string): boolean => Object.hasOwn(message, field);

export function anyValueString(value: PbAnyValue | undefined): string {
  if (!value) return '';
  if (has(value, 'stringValue') && value.stringValue != null) return value.stringValue;
  if (has(value, 'boolValue') && value.boolValue != null) return value.boolValue ? 'true' : 'false';
  if (has(value, 'intValue') && value.intValue != null) return typeof value.intValue === 'object' ? value.intValue.toString() : String(value.intValue);
  if (has(value, 'doubleValue') && value.doubleValue != null) return String(value.doubleValue);
  if (has(value, 'bytesValue') && value.bytesValue != null) return Buffer.from(value.bytesValue).toString('base64');
  if ((has(value, 'arrayValue') && value.arrayValue != null) || (has(value, 'kvlistValue') && value.kvlistValue != null)) {
    return JSON.stringify(anyValueJson(value, 0));
  }
  return '';
}

// Deeper values are cut: a hostile body must not exhaust the stack.
const MAX_VALUE_DEPTH = 16;

function anyValueJson(value: PbAnyValue | undefined, depth: number): unknown {
  if (!value || depth > MAX_VALUE_DEPTH) return null;
  if (has(value, 'arrayValue') && value.arrayValue != null) return (value.arrayValue.values ?? []).map((v) => anyValueJson(v, depth + 1));
  if (has(value, 'kvlistValue') && value.kvlistValue != null) {
    return Object.fromEntries((value.kvlistValue.values ?? []).map((kv) => [kv.key ?? '', anyValueJson(kv.value, depth + 1)]));
  }
  if (has(value, 'boolValue') && value.boolValue != null) return value.boolValue;
  if (has(value, 'doubleValue') && value.doubleValue != null) return value.doubleValue;
  if (has(value, 'intValue') && value.intValue != null) return toNumber(value.intValue);
  return anyValueString(value);
}

export function attributeMap(attributes: readonly PbKeyValue[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of attributes ?? []) out.set(kv.key ?? '', anyValueString(kv.value));
  return out;
}

// Attribute keys repeat on every point and every export: their label names are kept, up to a bound.
const LABEL_NAMES = new Map<string, string>();
const MAX_CACHED_NAMES = 4096;

function labelName(key: string, utf8Names: boolean): string {
  const cacheKey = utf8Names ? `\u0001${key}` : key;
  let name = LABEL_NAMES.get(cacheKey);
  if (name === undefined) {
    name = otlpLabelName(key, utf8Names);
    if (LABEL_NAMES.size >= MAX_CACHED_NAMES) LABEL_NAMES.clear();
    LABEL_NAMES.set(cacheKey, name);
  }
  return name;
}

interface NamedAttribute {
  readonly name: string;
  readonly key: string;
  readonly index: number;
}

const byNameThenKey = (a: NamedAttribute, b: NamedAttribute): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index;

/**
 * How a list of attribute keys becomes sorted labels. The points of a metric nearly always share
 * their keys: the names, the order and the joins are worked out once and reused.
 */
interface LabelLayout {
  readonly keys: readonly string[];
  /** Per label, in label order: its name and the attributes whose values it joins, in the order of their keys. */
  readonly names: readonly string[];
  readonly sources: readonly (readonly number[])[];
}

function layoutOf(keys: readonly string[], utf8Names: boolean): LabelLayout {
  const named: NamedAttribute[] = [];
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]!;
    const name = labelName(key, utf8Names);
    if (name !== '' && !name.startsWith('__')) named.push({ name, key, index });
  }
  if (named.length > 1) named.sort(byNameThenKey);
  const names: string[] = [];
  const sources: number[][] = [];
  for (const n of named) {
    if (names.length > 0 && names[names.length - 1] === n.name) sources[sources.length - 1]!.push(n.index);
    else {
      names.push(n.name);
      sources.push([n.index]);
    }
  }
  return { keys, names, sources };
}

function sameKeys(layout: LabelLayout, attributes: readonly PbKeyValue[]): boolean {
  const keys = layout.keys;
  if (keys.length !== attributes.length) return false;
  for (let i = 0; i < keys.length; i++) if (keys[i] !== (attributes[i]!.key ?? '')) return false;
  return true;
}

function labelsOf(layout: LabelLayout, attributes: readonly PbKeyValue[]): LabelPair[] {
  const labels: LabelPair[] = [];
  for (let i = 0; i < layout.names.length; i++) {
    const from = layout.sources[i]!;
    let value = anyValueString(attributes[from[0]!]!.value);
    for (let j = 1; j < from.length; j++) value += `;${anyValueString(attributes[from[j]!]!.value)}`;
    labels.push({ name: layout.names[i]!, value });
  }
  return labels;
}

/** Turns point attributes into labels, reusing the layout of the previous point when the keys are the same. */
class PointLabels {
  private layout: LabelLayout | undefined;
  constructor(private readonly utf8Names: boolean) {}

  of(attributes: readonly PbKeyValue[] | undefined): LabelPair[] {
    if (attributes === undefined || attributes.length === 0) return [];
    if (this.layout === undefined || !sameKeys(this.layout, attributes)) {
      this.layout = layoutOf(
        attributes.map((kv) => kv.key ?? ''),
        this.utf8Names,
      );
    }
    return labelsOf(this.layout, attributes);
  }
}

/**
 * Attributes as sorted labels. Two attributes that sanitise to the same name have their values
 * joined with `;` in the order of their original keys, as Prometheus does. Reserved (`__`) and
 * empty names are dropped.
 */
export function attributeLabels(attributes: ReadonlyMap<string, string> | readonly PbKeyValue[] | undefined, utf8Names: boolean): LabelPair[] {
  if (attributes === undefined) return [];
  const list: readonly PbKeyValue[] =
    attributes instanceof Map ? [...attributes].map(([key, value]) => ({ key, value: { stringValue: value } })) : (attributes as readonly PbKeyValue[]);
  return new PointLabels(utf8Names).of(list);
}

const hex = (bytes: Uint8Array | undefined): string => (bytes && bytes.length > 0 ? Buffer.from(bytes).toString('hex') : '');

function exemplarOf(e: PbExemplar, options: OtlpMappingOptions): Exemplar {
  const labels: LabelPair[] = [];
  const span = hex(e.spanId);
  const trace = hex(e.traceId);
  if (span !== '') labels.push({ name: 'span_id', value: span });
  if (trace !== '') labels.push({ name: 'trace_id', value: trace });
  let chars = labels.reduce((n, l) => n + l.name.length + l.value.length, 0);
  for (const l of attributeLabels(e.filteredAttributes, options.utf8Names)) {
    if (l.name === 'span_id' || l.name === 'trace_id') continue;
    chars += l.name.length + l.value.length;
    if (chars > MAX_EXEMPLAR_LABEL_CHARS) break;
    labels.push(l);
  }
  labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const value = has(e, 'asInt') ? toNumber(e.asInt) : (e.asDouble ?? 0);
  const nanos = toNumber(e.timeUnixNano);
  return { labels, value, ...(nanos > 0 ? { timestampMs: nanos / 1e6 } : {}) };
}

interface FamilyBuilder {
  readonly type: MetricType;
  readonly add: boolean;
  readonly help: string | undefined;
  readonly metrics: Metric[];
  readonly series: Set<string>;
}

/** Maps one ResourceMetrics. Never throws on content: what cannot be mapped is counted as rejected. */
export function mapResourceMetrics(resource: PbResourceMetrics, options: OtlpMappingOptions): MappedResource {
  const builders = new Map<string, FamilyBuilder>();
  let points = 0;
  let rejected = 0;
  const reasons: string[] = [];
  const reject = (count: number, reason: string): void => {
    rejected += count;
    if (reasons.length < MAX_REASONS && !reasons.includes(reason)) reasons.push(reason);
  };

  const pointLabels = new PointLabels(options.utf8Names);
  for (const scope of resource.scopeMetrics ?? []) {
    for (const metric of scope.metrics ?? []) {
      const shape = shapeOf(metric, options);
      if (!shape) continue;
      if (typeof shape === 'string') {
        reject(pointCount(metric), `metric ${JSON.stringify(metric.name ?? '')}: ${shape}`);
        continue;
      }
      const name = otlpMetricName(metric.name ?? '', metric.unit ?? '', shape.kind, options.utf8Names);
      if (name === '') {
        reject(shape.points.length, `metric ${JSON.stringify(metric.name ?? '')}: no valid Prometheus name`);
        continue;
      }
      let builder = builders.get(name);
      if (!builder) {
        const help = metric.description ? metric.description : undefined;
        builder = { type: shape.type, add: shape.add, help, metrics: [], series: new Set() };
        builders.set(name, builder);
      } else if (builder.type !== shape.type || builder.add !== shape.add) {
        reject(
          shape.points.length,
          `metric ${JSON.stringify(metric.name ?? '')}: ${name} is already a ${builder.add ? 'delta ' : ''}${builder.type} in this request`,
        );
        continue;
      }
      for (const point of shape.points) {
        if (((point.flags ?? 0) & FLAG_NO_RECORDED_VALUE) !== 0) continue;
        const labels = pointLabels.of(point.attributes);
        const identity = seriesKey(labels);
        if (builder.series.has(identity)) {
          reject(1, `metric ${name}: two points with the same attributes`);
          continue;
        }
        const converted = shape.convert(point, labels);
        if (typeof converted === 'string') {
          reject(1, `metric ${name}: ${converted}`);
          continue;
        }
        builder.series.add(identity);
        builder.metrics.push(converted);
        points++;
      }
    }
  }

  const families: MetricFamily[] = [];
  const addFamilies = new Set<string>();
  for (const [name, b] of builders) {
    if (b.metrics.length === 0) continue;
    families.push({ name, type: b.type, metrics: b.metrics, ...(b.help !== undefined ? { help: b.help } : {}) });
    if (b.add) addFamilies.add(name);
  }
  return { attributes: attributeMap(resource.resource?.attributes), families, addFamilies, points, rejected, reasons };
}

function seriesKey(labels: readonly LabelPair[]): string {
  let key = '';
  for (const l of labels) key += `${l.name}\u0000${l.value}\u0001`;
  return key;
}

interface AnyPoint {
  readonly attributes?: PbKeyValue[];
  readonly flags?: number;
}

interface Shape {
  readonly kind: OtlpNameKind;
  readonly type: MetricType;
  readonly add: boolean;
  readonly points: readonly AnyPoint[];
  readonly convert: (point: AnyPoint, labels: LabelPair[]) => Metric | string;
}

function pointCount(metric: PbMetric): number {
  const data = metric.gauge ?? metric.sum ?? metric.histogram ?? metric.exponentialHistogram ?? metric.summary;
  return data?.dataPoints?.length ?? 0;
}

/** The family a metric maps to, a reason when it cannot be mapped, undefined when it has no data. */
function shapeOf(metric: PbMetric, options: OtlpMappingOptions): Shape | string | undefined {
  const asShape = <P extends AnyPoint>(
    kind: OtlpNameKind,
    type: MetricType,
    add: boolean,
    points: readonly P[],
    convert: (p: P, l: LabelPair[]) => Metric | string,
  ): Shape => ({
    kind,
    type,
    add,
    points,
    convert: convert as Shape['convert'],
  });
  if (metric.gauge) return asShape('gauge', 'gauge', false, metric.gauge.dataPoints ?? [], numberMetric(false, options));
  if (metric.sum) {
    const temporality = metric.sum.aggregationTemporality ?? 0;
    if (temporality !== TEMPORALITY_DELTA && temporality !== TEMPORALITY_CUMULATIVE) return 'sum without aggregation temporality';
    const monotonic = metric.sum.isMonotonic === true;
    return asShape(
      monotonic ? 'counter' : 'gauge',
      monotonic ? 'counter' : 'gauge',
      temporality === TEMPORALITY_DELTA,
      metric.sum.dataPoints ?? [],
      numberMetric(monotonic, options),
    );
  }
  if (metric.histogram) {
    const temporality = metric.histogram.aggregationTemporality ?? 0;
    if (temporality !== TEMPORALITY_DELTA && temporality !== TEMPORALITY_CUMULATIVE) return 'histogram without aggregation temporality';
    return asShape('other', 'histogram', temporality === TEMPORALITY_DELTA, metric.histogram.dataPoints ?? [], classicHistogram(options));
  }
  if (metric.exponentialHistogram) {
    const temporality = metric.exponentialHistogram.aggregationTemporality ?? 0;
    if (temporality !== TEMPORALITY_DELTA && temporality !== TEMPORALITY_CUMULATIVE) return 'exponential histogram without aggregation temporality';
    return asShape('other', 'histogram', temporality === TEMPORALITY_DELTA, metric.exponentialHistogram.dataPoints ?? [], nativeHistogram(options));
  }
  if (metric.summary) {
    return asShape('other', 'summary', false, metric.summary.dataPoints ?? [], (p, labels) => ({
      labels,
      summary: {
        sampleCount: toNumber(p.count),
        sampleSum: has(p, 'sum') ? (p.sum ?? 0) : 0,
        quantiles: (p.quantileValues ?? []).map((q) => ({ quantile: q.quantile ?? 0, value: q.value ?? 0 })),
      },
    }));
  }
  return undefined;
}

const numberMetric =
  (counter: boolean, options: OtlpMappingOptions) =>
  (p: PbNumberDataPoint, labels: LabelPair[]): Metric => {
    const value = has(p, 'asInt') ? toNumber(p.asInt) : (p.asDouble ?? 0);
    const last = counter && p.exemplars && p.exemplars.length > 0 ? p.exemplars[p.exemplars.length - 1] : undefined;
    return last ? { labels, value, exemplar: exemplarOf(last, options) } : { labels, value };
  };

const classicHistogram =
  (options: OtlpMappingOptions) =>
  (p: PbHistogramDataPoint, labels: LabelPair[]): Metric | string => {
    const bounds = p.explicitBounds ?? [];
    const counts = (p.bucketCounts ?? []).map((c) => toNumber(c));
    if (counts.length > 0 && counts.length !== bounds.length + 1) return `${counts.length} bucket counts for ${bounds.length} bounds`;
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) return 'bucket bounds not increasing';
    const exemplars = (p.exemplars ?? []).map((e) => exemplarOf(e, options));
    const buckets: Bucket[] = [];
    let cumulative = 0;
    for (let i = 0; i < bounds.length && counts.length > 0; i++) {
      cumulative += counts[i]!;
      const upperBound = bounds[i]!;
      const lower = i === 0 ? -Infinity : bounds[i - 1]!;
      const exemplar = lastWhere(exemplars, (e) => e.value > lower && e.value <= upperBound);
      buckets.push({ cumulativeCount: cumulative, upperBound, ...(exemplar ? { exemplar } : {}) });
    }
    return { labels, histogram: { sampleCount: toNumber(p.count), sampleSum: has(p, 'sum') ? (p.sum ?? 0) : 0, buckets } };
  };

function lastWhere<T>(items: readonly T[], test: (item: T) => boolean): T | undefined {
  for (let i = items.length - 1; i >= 0; i--) if (test(items[i]!)) return items[i];
  return undefined;
}

/**
 * OTLP bucket `i` at scale `s` is (base^i, base^(i+1)], Prometheus' bucket `i` at schema `s` is
 * (base^(i-1), base^i]: the index moves by one. A scale above 8 is reduced by merging 2^d
 * neighbouring buckets.
 */
const nativeHistogram =
  (options: OtlpMappingOptions) =>
  (p: PbExponentialHistogramDataPoint, labels: LabelPair[]): Metric | string => {
    const scale = p.scale ?? 0;
    if (scale < MIN_SCHEMA) return `scale ${scale} is below the native histograms' ${MIN_SCHEMA}`;
    const reduceBy = Math.max(0, scale - MAX_SCHEMA);
    const positive = nativeBuckets(p.positive?.offset ?? 0, p.positive?.bucketCounts ?? [], reduceBy);
    const negative = nativeBuckets(p.negative?.offset ?? 0, p.negative?.bucketCounts ?? [], reduceBy);
    const native: NativeHistogram = {
      schema: scale - reduceBy,
      zeroThreshold: p.zeroThreshold ?? 0,
      zeroCount: toNumber(p.zeroCount),
      zeroCountFloat: 0,
      sampleCountFloat: 0,
      negativeSpans: negative.spans,
      negativeDeltas: negative.deltas,
      negativeCounts: [],
      positiveSpans: positive.spans,
      positiveDeltas: positive.deltas,
      positiveCounts: [],
    };
    const exemplars = (p.exemplars ?? []).filter((e) => toNumber(e.timeUnixNano) > 0).map((e) => exemplarOf(e, options));
    return {
      labels,
      histogram: {
        sampleCount: toNumber(p.count),
        sampleSum: has(p, 'sum') ? (p.sum ?? 0) : 0,
        buckets: [],
        native,
        ...(exemplars.length > 0 ? { exemplars } : {}),
      },
    };
  };

function nativeBuckets(offset: number, counts: readonly Int64[], reduceBy: number): { spans: BucketSpan[]; deltas: number[] } {
  // Merged counts by Prometheus index, in increasing index order.
  const indexes: number[] = [];
  const merged: number[] = [];
  for (let i = 0; i < counts.length; i++) {
    const count = toNumber(counts[i]);
    if (count === 0) continue;
    const index = ((offset + i) >> reduceBy) + 1;
    if (indexes.length > 0 && indexes[indexes.length - 1] === index) merged[merged.length - 1]! += count;
    else {
      indexes.push(index);
      merged.push(count);
    }
  }
  const spans: BucketSpan[] = [];
  const deltas: number[] = [];
  let previousIndex = 0;
  let previousCount = 0;
  for (let i = 0; i < indexes.length; i++) {
    const index = indexes[i]!;
    if (i === 0) spans.push({ offset: index, length: 1 });
    else if (index === previousIndex + 1) {
      const last = spans[spans.length - 1]!;
      spans[spans.length - 1] = { offset: last.offset, length: last.length + 1 };
    } else spans.push({ offset: index - previousIndex - 1, length: 1 });
    deltas.push(merged[i]! - previousCount);
    previousCount = merged[i]!;
    previousIndex = index;
  }
  return { spans, deltas };
}
