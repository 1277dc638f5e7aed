/**
 * An ExportMetricsServiceRequest from OTLP/JSON (the proto3 JSON mapping), read straight from
 * JSON.parse's output into the wire shapes the protobuf decoder yields, so that both encodings
 * map the same way.
 *
 * Why not protobufjs' Type.fromObject: it builds a message object per node and a Long per 64-bit
 * string, which made a JSON export cost several times its protobuf twin. This walker keeps only
 * what the mapping reads, and checks every field it reads or skips:
 * - names in lowerCamelCase (OTLP/JSON does not allow the .proto's own names), unknown fields
 *   ignored (as OTLP receivers must), `null` meaning the default;
 * - 64-bit integers as decimal strings or numbers, doubles as numbers or "NaN"/"Infinity"/
 *   "-Infinity", enums as numbers or names, trace and span ids as hex, AnyValue bytes as base64;
 * - any other type is refused with the path of the field.
 */
import type {
  PbAnyValue,
  PbBuckets,
  PbExemplar,
  PbExponentialHistogramDataPoint,
  PbExportRequest,
  PbHistogramDataPoint,
  PbKeyValue,
  PbMetric,
  PbNumberDataPoint,
  PbResourceMetrics,
  PbScopeMetrics,
  PbSummaryDataPoint,
} from './wire.js';

/** A JSON body that is not an ExportMetricsServiceRequest; the message names the field. */
export class OtlpJsonError extends Error {
  override readonly name = 'OtlpJsonError';
}

type Json = Record<string, unknown>;

// Deeper AnyValues than any real attribute: keeps a hostile body from exhausting the stack.
const MAX_VALUE_DEPTH = 64;

const INTEGER = /^-?[0-9]+$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

const TEMPORALITIES: Readonly<Record<string, number>> = {
  AGGREGATION_TEMPORALITY_UNSPECIFIED: 0,
  AGGREGATION_TEMPORALITY_DELTA: 1,
  AGGREGATION_TEMPORALITY_CUMULATIVE: 2,
};

/** Where a field is, built only for an error message. */
type Where = () => string;

function fail(where: Where, name: string, expected: string): never {
  const path = `${where()}${name}`.replace(/\.$/, '');
  throw new OtlpJsonError(`${path === '' ? 'the body' : path}: ${expected} expected`);
}

/** A field by its lowerCamelCase name; undefined for absent or null. */
function field(o: Json, name: string): unknown {
  const v = o[name];
  return v === null ? undefined : v;
}

function object(v: unknown, where: Where, name: string): Json | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, name, 'an object');
  return v as Json;
}

function array(v: unknown, where: Where, name: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(where, name, 'an array');
  return v;
}

function string(v: unknown, where: Where, name: string): string | undefined {
  if (v === undefined || typeof v === 'string') return v;
  return fail(where, name, 'a string');
}

/** A 64-bit integer as a number (precise to 2^53, like the rest of Pushkeep's values). */
function int64(v: unknown, where: Where, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && INTEGER.test(v)) return Number(v);
  return fail(where, name, 'an integer (a number or a decimal string)');
}

function int32(v: unknown, where: Where, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && INTEGER.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && Math.abs(n) <= 0xffffffff) return n;
  return fail(where, name, 'a 32-bit integer');
}

function double(v: unknown, where: Where, name: string): number | undefined {
  if (v === undefined || typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isNaN(n)) return n;
  }
  return fail(where, name, 'a number');
}

function bool(v: unknown, where: Where, name: string): boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v;
  return fail(where, name, 'true or false');
}

function temporality(v: unknown, where: Where): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string' && Object.hasOwn(TEMPORALITIES, v)) return TEMPORALITIES[v];
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return fail(where, 'aggregationTemporality', 'an AggregationTemporality (a number or its name)');
}

/** A fixed64 the mapping does not read (a point's timestamps): checked, not kept. */
function skipInt64(o: Json, name: string, where: Where): void {
  const v = field(o, name);
  if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v)) && !(typeof v === 'string' && INTEGER.test(v))) {
    fail(where, name, 'an integer (a number or a decimal string)');
  }
}

function hexBytes(v: unknown, where: Where, name: string): Uint8Array | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string' && HEX.test(v)) return Buffer.from(v, 'hex');
  return fail(where, name, 'hex');
}

const at =
  (where: Where, name: string, index?: number): Where =>
  () =>
    `${where()}${name}${index === undefined ? '' : `[${index}]`}.`;

/** Reads an ExportMetricsServiceRequest from JSON.parse's output; throws OtlpJsonError. */
export function requestFromJson(value: unknown): PbExportRequest {
  const root: Where = () => '';
  const o = object(value, root, 'ExportMetricsServiceRequest');
  if (!o) fail(root, 'ExportMetricsServiceRequest', 'an object');
  const resources = array(field(o, 'resourceMetrics'), root, 'resourceMetrics');
  const resourceMetrics: PbResourceMetrics[] = [];
  for (let i = 0; i < resources.length; i++) resourceMetrics.push(resourceFromJson(resources[i], at(root, 'resourceMetrics', i)));
  return { resourceMetrics };
}

function resourceFromJson(value: unknown, where: Where): PbResourceMetrics {
  const o = object(value, where, '') ?? {};
  const resource = object(field(o, 'resource'), where, 'resource');
  const out: PbResourceMetrics = { scopeMetrics: [] };
  if (resource) out.resource = { attributes: attributes(field(resource, 'attributes'), at(where, 'resource'), 'attributes') };
  const scopes = array(field(o, 'scopeMetrics'), where, 'scopeMetrics');
  for (let i = 0; i < scopes.length; i++) out.scopeMetrics!.push(scopeFromJson(scopes[i], at(where, 'scopeMetrics', i)));
  return out;
}

function scopeFromJson(value: unknown, where: Where): PbScopeMetrics {
  const o = object(value, where, '') ?? {};
  const metrics = array(field(o, 'metrics'), where, 'metrics');
  const out: PbMetric[] = [];
  for (let i = 0; i < metrics.length; i++) out.push(metricFromJson(metrics[i], at(where, 'metrics', i)));
  return { metrics: out };
}

function metricFromJson(value: unknown, where: Where): PbMetric {
  const o = object(value, where, '') ?? {};
  const out: PbMetric = {};
  const name = string(field(o, 'name'), where, 'name');
  if (name !== undefined) out.name = name;
  const description = string(field(o, 'description'), where, 'description');
  if (description !== undefined) out.description = description;
  const unit = string(field(o, 'unit'), where, 'unit');
  if (unit !== undefined) out.unit = unit;
  const gauge = object(field(o, 'gauge'), where, 'gauge');
  if (gauge) out.gauge = { dataPoints: points(gauge, at(where, 'gauge'), numberPoint) };
  const sum = object(field(o, 'sum'), where, 'sum');
  if (sum) {
    const w = at(where, 'sum');
    out.sum = { dataPoints: points(sum, w, numberPoint) };
    const t = temporality(field(sum, 'aggregationTemporality'), w);
    if (t !== undefined) out.sum.aggregationTemporality = t;
    const monotonic = bool(field(sum, 'isMonotonic'), w, 'isMonotonic');
    if (monotonic !== undefined) out.sum.isMonotonic = monotonic;
  }
  const histogram = object(field(o, 'histogram'), where, 'histogram');
  if (histogram) {
    const w = at(where, 'histogram');
    out.histogram = { dataPoints: points(histogram, w, histogramPoint) };
    const t = temporality(field(histogram, 'aggregationTemporality'), w);
    if (t !== undefined) out.histogram.aggregationTemporality = t;
  }
  const exponential = object(field(o, 'exponentialHistogram'), where, 'exponentialHistogram');
  if (exponential) {
    const w = at(where, 'exponentialHistogram');
    out.exponentialHistogram = { dataPoints: points(exponential, w, exponentialPoint) };
    const t = temporality(field(exponential, 'aggregationTemporality'), w);
    if (t !== undefined) out.exponentialHistogram.aggregationTemporality = t;
  }
  const summary = object(field(o, 'summary'), where, 'summary');
  if (summary) out.summary = { dataPoints: points(summary, at(where, 'summary'), summaryPoint) };
  return out;
}

function points<P>(data: Json, where: Where, read: (o: Json, where: Where) => P): P[] {
  const list = array(field(data, 'dataPoints'), where, 'dataPoints');
  const out: P[] = [];
  for (let i = 0; i < list.length; i++) {
    const w = at(where, 'dataPoints', i);
    out.push(read(object(list[i], w, '') ?? {}, w));
  }
  return out;
}

/** The fields every point has: attributes, flags, and the timestamps (checked, not kept). */
function pointBase(o: Json, where: Where): { attributes?: PbKeyValue[]; flags?: number } {
  skipInt64(o, 'startTimeUnixNano', where);
  skipInt64(o, 'timeUnixNano', where);
  const out: { attributes?: PbKeyValue[]; flags?: number } = {};
  const attrs = field(o, 'attributes');
  if (attrs !== undefined) out.attributes = attributes(attrs, where, 'attributes');
  const flags = int32(field(o, 'flags'), where, 'flags');
  if (flags !== undefined) out.flags = flags;
  return out;
}

function numberPoint(o: Json, where: Where): PbNumberDataPoint {
  const out: PbNumberDataPoint = pointBase(o, where);
  const asDouble = double(field(o, 'asDouble'), where, 'asDouble');
  if (asDouble !== undefined) out.asDouble = asDouble;
  const asInt = int64(field(o, 'asInt'), where, 'asInt');
  if (asInt !== undefined) out.asInt = asInt;
  const exemplars = field(o, 'exemplars');
  if (exemplars !== undefined) out.exemplars = exemplarList(exemplars, where);
  return out;
}

function histogramPoint(o: Json, where: Where): PbHistogramDataPoint {
  const out: PbHistogramDataPoint = pointBase(o, where);
  const count = int64(field(o, 'count'), where, 'count');
  if (count !== undefined) out.count = count;
  const sum = double(field(o, 'sum'), where, 'sum');
  if (sum !== undefined) out.sum = sum;
  out.bucketCounts = array(field(o, 'bucketCounts'), where, 'bucketCounts').map((c) => int64(c ?? 0, where, 'bucketCounts')!);
  out.explicitBounds = array(field(o, 'explicitBounds'), where, 'explicitBounds').map((b) => double(b ?? 0, where, 'explicitBounds')!);
  const exemplars = field(o, 'exemplars');
  if (exemplars !== undefined) out.exemplars = exemplarList(exemplars, where);
  return out;
}

function buckets(v: unknown, where: Where, name: string): PbBuckets | undefined {
  const o = object(v, where, name);
  if (!o) return undefined;
  const w = at(where, name);
  const out: PbBuckets = {};
  const offset = int32(field(o, 'offset'), w, 'offset');
  if (offset !== undefined) out.offset = offset;
  out.bucketCounts = array(field(o, 'bucketCounts'), w, 'bucketCounts').map((c) => int64(c ?? 0, w, 'bucketCounts')!);
  return out;
}

function exponentialPoint(o: Json, where: Where): PbExponentialHistogramDataPoint {
  const out: PbExponentialHistogramDataPoint = pointBase(o, where);
  const count = int64(field(o, 'count'), where, 'count');
  if (count !== undefined) out.count = count;
  const sum = double(field(o, 'sum'), where, 'sum');
  if (sum !== undefined) out.sum = sum;
  const scale = int32(field(o, 'scale'), where, 'scale');
  if (scale !== undefined) out.scale = scale;
  const zeroCount = int64(field(o, 'zeroCount'), where, 'zeroCount');
  if (zeroCount !== undefined) out.zeroCount = zeroCount;
  const zeroThreshold = double(field(o, 'zeroThreshold'), where, 'zeroThreshold');
  if (zeroThreshold !== undefined) out.zeroThreshold = zeroThreshold;
  const positive = buckets(field(o, 'positive'), where, 'positive');
  if (positive) out.positive = positive;
  const negative = buckets(field(o, 'negative'), where, 'negative');
  if (negative) out.negative = negative;
  const exemplars = field(o, 'exemplars');
  if (exemplars !== undefined) out.exemplars = exemplarList(exemplars, where);
  return out;
}

function summaryPoint(o: Json, where: Where): PbSummaryDataPoint {
  const out: PbSummaryDataPoint = pointBase(o, where);
  const count = int64(field(o, 'count'), where, 'count');
  if (count !== undefined) out.count = count;
  const sum = double(field(o, 'sum'), where, 'sum');
  if (sum !== undefined) out.sum = sum;
  const quantiles = array(field(o, 'quantileValues'), where, 'quantileValues');
  out.quantileValues = quantiles.map((q, i) => {
    const w = at(where, 'quantileValues', i);
    const qo = object(q, w, '') ?? {};
    return { quantile: double(field(qo, 'quantile'), w, 'quantile') ?? 0, value: double(field(qo, 'value'), w, 'value') ?? 0 };
  });
  return out;
}

function exemplarList(v: unknown, where: Where): PbExemplar[] {
  return array(v, where, 'exemplars').map((e, i) => {
    const w = at(where, 'exemplars', i);
    const o = object(e, w, '') ?? {};
    const out: PbExemplar = {};
    const attrs = field(o, 'filteredAttributes');
    if (attrs !== undefined) out.filteredAttributes = attributes(attrs, w, 'filteredAttributes');
    const time = int64(field(o, 'timeUnixNano'), w, 'timeUnixNano');
    if (time !== undefined) out.timeUnixNano = time;
    const asDouble = double(field(o, 'asDouble'), w, 'asDouble');
    if (asDouble !== undefined) out.asDouble = asDouble;
    const asInt = int64(field(o, 'asInt'), w, 'asInt');
    if (asInt !== undefined) out.asInt = asInt;
    const spanId = hexBytes(field(o, 'spanId'), w, 'spanId');
    if (spanId) out.spanId = spanId;
    const traceId = hexBytes(field(o, 'traceId'), w, 'traceId');
    if (traceId) out.traceId = traceId;
    return out;
  });
}

function attributes(v: unknown, where: Where, name: string): PbKeyValue[] {
  const list = array(v, where, name);
  const out: PbKeyValue[] = [];
  for (let i = 0; i < list.length; i++) out.push(keyValue(list[i], at(where, name, i), 0));
  return out;
}

function keyValue(v: unknown, where: Where, depth: number): PbKeyValue {
  const o = object(v, where, '') ?? {};
  const key = string(field(o, 'key'), where, 'key');
  const value = object(field(o, 'value'), where, 'value');
  const out: PbKeyValue = {};
  if (key !== undefined) out.key = key;
  if (value) out.value = anyValue(value, at(where, 'value'), depth);
  return out;
}

function anyValue(o: Json, where: Where, depth: number): PbAnyValue {
  // The common case first: a string attribute (AnyValue is a oneof, the other fields are not read).
  const s = o.stringValue;
  if (typeof s === 'string') return { stringValue: s };
  if (depth > MAX_VALUE_DEPTH) fail(where, '', 'an attribute value nested less deeply');
  const out: PbAnyValue = {};
  const stringValue = string(field(o, 'stringValue'), where, 'stringValue');
  if (stringValue !== undefined) out.stringValue = stringValue;
  const boolValue = bool(field(o, 'boolValue'), where, 'boolValue');
  if (boolValue !== undefined) out.boolValue = boolValue;
  const intValue = int64(field(o, 'intValue'), where, 'intValue');
  if (intValue !== undefined) out.intValue = intValue;
  const doubleValue = double(field(o, 'doubleValue'), where, 'doubleValue');
  if (doubleValue !== undefined) out.doubleValue = doubleValue;
  const bytesValue = field(o, 'bytesValue');
  if (bytesValue !== undefined) {
    if (typeof bytesValue !== 'string' || !BASE64.test(bytesValue)) fail(where, 'bytesValue', 'base64');
    out.bytesValue = Buffer.from(bytesValue, 'base64');
  }
  const arrayValue = object(field(o, 'arrayValue'), where, 'arrayValue');
  if (arrayValue) {
    const w = at(where, 'arrayValue');
    out.arrayValue = {
      values: array(field(arrayValue, 'values'), w, 'values').map((item, i) => anyValue(object(item, w, `values[${i}]`) ?? {}, at(w, 'values', i), depth + 1)),
    };
  }
  const kvlistValue = object(field(o, 'kvlistValue'), where, 'kvlistValue');
  if (kvlistValue) {
    const w = at(where, 'kvlistValue');
    out.kvlistValue = { values: array(field(kvlistValue, 'values'), w, 'values').map((kv, i) => keyValue(kv, at(w, 'values', i), depth + 1)) };
  }
  return out;
}
