/**
 * Protobuf delimited exposition (io.prometheus.client.MetricFamily): decoding pushes, encoding scrapes.
 *
 * The schema is proto/metrics.proto, loaded once at runtime with protobufjs, so the wire model is the
 * upstream file and not a hand-written copy of it. Decoding keeps every field of today's model (native
 * histograms, float counts, exemplars, created timestamps, unit) so that a protobuf scrape gives back what
 * a protobuf push carried.
 *
 * Deliberate differences from the official gateway (pushgateway-behavior.md 3.4):
 * - Two families with the same name in one push are merged (their metrics concatenated, the later HELP and
 *   UNIT winning) when their types agree, and rejected when they do not. The official silently keeps only
 *   the later one, which loses data the client sent.
 * - A metric whose value field does not match the family type (a GAUGE value in a family without type, which
 *   therefore is a COUNTER) is rejected here with `... is not a COUNTER`, as the official's consistency check
 *   does, because our model keeps one value per metric and could not tell them apart afterwards.
 */
import path from 'node:path';
import protobuf from 'protobufjs';
import { findAbove } from '../project-files.js';
import { parseMediaType } from './negotiate.js';
import type {
  Bucket,
  BucketSpan,
  Exemplar,
  Histogram,
  LabelPair,
  Metric,
  MetricFamily,
  MetricType,
  NativeHistogram,
  Quantile,
  Summary,
} from './types.js';

export const PROTOBUF_CONTENT_TYPE =
  'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

/** A body that is not a valid sequence of delimited MetricFamily messages. The message is one line. */
export class ProtobufError extends Error {
  override readonly name = 'ProtobufError';
}

// ---------------------------------------------------------------------------------------------------------
// Wire shapes, as protobufjs decodes them (camelCase field names; absent optional fields are not own props).

interface Int64Like {
  toNumber(): number;
}
type Int64 = number | Int64Like;

interface PbTimestamp {
  seconds?: Int64;
  nanos?: number;
}
interface PbLabelPair {
  name?: string;
  value?: string;
}
interface PbExemplar {
  label?: PbLabelPair[];
  value?: number;
  timestamp?: PbTimestamp;
}
interface PbBucket {
  cumulativeCount?: Int64;
  cumulativeCountFloat?: number;
  upperBound?: number;
  exemplar?: PbExemplar;
}
interface PbBucketSpan {
  offset?: number;
  length?: number;
}
interface PbHistogram {
  sampleCount?: Int64;
  sampleCountFloat?: number;
  sampleSum?: number;
  bucket?: PbBucket[];
  createdTimestamp?: PbTimestamp;
  schema?: number;
  zeroThreshold?: number;
  zeroCount?: Int64;
  zeroCountFloat?: number;
  negativeSpan?: PbBucketSpan[];
  negativeDelta?: Int64[];
  negativeCount?: number[];
  positiveSpan?: PbBucketSpan[];
  positiveDelta?: Int64[];
  positiveCount?: number[];
  exemplars?: PbExemplar[];
}
interface PbSummary {
  sampleCount?: Int64;
  sampleSum?: number;
  quantile?: { quantile?: number; value?: number }[];
  createdTimestamp?: PbTimestamp;
}
interface PbMetric {
  label?: PbLabelPair[];
  gauge?: { value?: number };
  counter?: { value?: number; exemplar?: PbExemplar; createdTimestamp?: PbTimestamp };
  summary?: PbSummary;
  untyped?: { value?: number };
  histogram?: PbHistogram;
  timestampMs?: Int64;
}
interface PbMetricFamily {
  name?: string;
  help?: string;
  type?: number;
  metric?: PbMetric[];
  unit?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Schema loading.

// Parsed on first use: most gateways never see a protobuf push or scrape, and parsing the schema
// would slow every start.
interface MessageTypes {
  readonly family: protobuf.Type;
  readonly metric: protobuf.Type;
}
let messageTypes: MessageTypes | undefined;
function types(): MessageTypes {
  if (!messageTypes) {
    const root = new protobuf.Root().loadSync(findAbove(path.join('proto', 'metrics.proto')));
    messageTypes = {
      family: root.lookupType('io.prometheus.client.MetricFamily'),
      metric: root.lookupType('io.prometheus.client.Metric'),
    };
  }
  return messageTypes;
}

const WIRE_TYPES: readonly MetricType[] = ['counter', 'gauge', 'summary', 'untyped', 'histogram', 'gaugehistogram'];
const WIRE_TYPE_NAMES = ['COUNTER', 'GAUGE', 'SUMMARY', 'UNTYPED', 'HISTOGRAM', 'GAUGE_HISTOGRAM'] as const;
const TYPE_TO_WIRE: Record<MetricType, number> = {
  counter: 0,
  gauge: 1,
  summary: 2,
  untyped: 3,
  histogram: 4,
  gaugehistogram: 5,
};

// ---------------------------------------------------------------------------------------------------------
// Decoding.

const has = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);
const num = (v: Int64 | undefined): number => (v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());
const timestampToMs = (t: PbTimestamp): number => num(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6;

const decodeLabels = (labels: PbLabelPair[] | undefined): LabelPair[] =>
  (labels ?? []).map((l) => ({ name: l.name ?? '', value: l.value ?? '' }));

function decodeExemplar(e: PbExemplar): Exemplar {
  return {
    labels: decodeLabels(e.label),
    value: e.value ?? 0,
    ...(e.timestamp ? { timestampMs: timestampToMs(e.timestamp) } : {}),
  };
}

const decodeSpans = (spans: PbBucketSpan[] | undefined): BucketSpan[] =>
  (spans ?? []).map((s) => ({ offset: s.offset ?? 0, length: s.length ?? 0 }));

function isNative(h: PbHistogram): boolean {
  return (
    has(h, 'schema') ||
    has(h, 'zeroThreshold') ||
    has(h, 'zeroCount') ||
    has(h, 'zeroCountFloat') ||
    (h.negativeSpan?.length ?? 0) > 0 ||
    (h.positiveSpan?.length ?? 0) > 0 ||
    (h.negativeDelta?.length ?? 0) > 0 ||
    (h.positiveDelta?.length ?? 0) > 0 ||
    (h.negativeCount?.length ?? 0) > 0 ||
    (h.positiveCount?.length ?? 0) > 0
  );
}

function decodeHistogram(h: PbHistogram): Histogram {
  const countFloat = h.sampleCountFloat ?? 0;
  const buckets: Bucket[] = (h.bucket ?? []).map((b) => {
    const f = b.cumulativeCountFloat ?? 0;
    return {
      cumulativeCount: f > 0 ? f : num(b.cumulativeCount),
      upperBound: b.upperBound ?? 0,
      ...(b.exemplar ? { exemplar: decodeExemplar(b.exemplar) } : {}),
    };
  });
  let native: NativeHistogram | undefined;
  if (isNative(h)) {
    native = {
      schema: h.schema ?? 0,
      zeroThreshold: h.zeroThreshold ?? 0,
      zeroCount: num(h.zeroCount),
      zeroCountFloat: h.zeroCountFloat ?? 0,
      sampleCountFloat: countFloat,
      negativeSpans: decodeSpans(h.negativeSpan),
      negativeDeltas: (h.negativeDelta ?? []).map(num),
      negativeCounts: h.negativeCount ?? [],
      positiveSpans: decodeSpans(h.positiveSpan),
      positiveDeltas: (h.positiveDelta ?? []).map(num),
      positiveCounts: h.positiveCount ?? [],
    };
  }
  return {
    sampleCount: countFloat > 0 ? countFloat : num(h.sampleCount),
    sampleSum: h.sampleSum ?? 0,
    buckets,
    ...(h.createdTimestamp ? { createdTimestampMs: timestampToMs(h.createdTimestamp) } : {}),
    ...(native ? { native } : {}),
    ...(h.exemplars && h.exemplars.length > 0 ? { exemplars: h.exemplars.map(decodeExemplar) } : {}),
  };
}

function decodeSummary(s: PbSummary): Summary {
  const quantiles: Quantile[] = (s.quantile ?? []).map((q) => ({ quantile: q.quantile ?? 0, value: q.value ?? 0 }));
  return {
    sampleCount: num(s.sampleCount),
    sampleSum: s.sampleSum ?? 0,
    quantiles,
    ...(s.createdTimestamp ? { createdTimestampMs: timestampToMs(s.createdTimestamp) } : {}),
  };
}

function decodeMetric(familyName: string, wireType: number, m: PbMetric): Metric {
  const labels = decodeLabels(m.label);
  const base: { labels: LabelPair[]; timestampMs?: number } = { labels };
  if (has(m, 'timestampMs')) base.timestampMs = num(m.timestampMs);
  const mismatch = (): ProtobufError =>
    new ProtobufError(`metric family "${familyName}" has a metric that is not a ${WIRE_TYPE_NAMES[wireType] ?? ''}`);
  switch (wireType) {
    case 0: {
      if (!m.counter) throw mismatch();
      const c = m.counter;
      return {
        ...base,
        value: c.value ?? 0,
        ...(c.exemplar ? { exemplar: decodeExemplar(c.exemplar) } : {}),
        ...(c.createdTimestamp ? { createdTimestampMs: timestampToMs(c.createdTimestamp) } : {}),
      };
    }
    case 1:
      if (!m.gauge) throw mismatch();
      return { ...base, value: m.gauge.value ?? 0 };
    case 3:
      if (!m.untyped) throw mismatch();
      return { ...base, value: m.untyped.value ?? 0 };
    case 2:
      if (!m.summary) throw mismatch();
      return { ...base, summary: decodeSummary(m.summary) };
    default:
      if (!m.histogram) throw mismatch();
      return { ...base, histogram: decodeHistogram(m.histogram) };
  }
}

function decodeFamily(f: PbMetricFamily): MetricFamily {
  const name = f.name ?? '';
  // proto2 enum: a missing type is COUNTER, as in the official gateway.
  const wireType = f.type ?? 0;
  const type = WIRE_TYPES[wireType];
  if (type === undefined) throw new ProtobufError(`metric family "${name}" has unknown type ${wireType}`);
  return {
    name,
    ...(has(f, 'help') ? { help: f.help ?? '' } : {}),
    type,
    ...(f.unit ? { unit: f.unit } : {}),
    metrics: (f.metric ?? []).map((m) => decodeMetric(name, wireType, m)),
  };
}

function mergeInto(families: Map<string, MetricFamily>, f: MetricFamily): void {
  const earlier = families.get(f.name);
  if (!earlier) {
    families.set(f.name, f);
    return;
  }
  if (earlier.type !== f.type) {
    throw new ProtobufError(`duplicate metric family "${f.name}" with different types in one push`);
  }
  const help = f.help ?? earlier.help;
  const unit = f.unit ?? earlier.unit;
  families.set(f.name, {
    name: f.name,
    ...(help !== undefined ? { help } : {}),
    type: f.type,
    ...(unit !== undefined ? { unit } : {}),
    metrics: [...earlier.metrics, ...f.metrics],
  });
}

function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // protobufjs reports a short read as "index out of range: 12 + 10 > 20".
  if (/index out of range/.test(msg)) return 'unexpected EOF';
  return msg.replace(/\s*\n\s*/g, ' ');
}

/**
 * Decodes a body of varint-length-prefixed MetricFamily messages read until EOF, in push order (same-named
 * families merged where the first one appeared). Throws ProtobufError with a one-line message
 * (`protobuf decoding error: ...`) on truncated or malformed input, unknown or mismatched types and
 * same-named families of different types.
 */
export function decodeDelimited(buf: Uint8Array): MetricFamily[] {
  const families = new Map<string, MetricFamily>();
  const reader = protobuf.Reader.create(buf);
  try {
    while (reader.pos < reader.len) {
      const length = reader.uint32();
      const end = reader.pos + length;
      if (end > reader.len) throw new ProtobufError('unexpected EOF');
      const message = types().family.decode(buf.subarray(reader.pos, end));
      reader.pos = end;
      mergeInto(families, decodeFamily(message as unknown as PbMetricFamily));
    }
  } catch (err) {
    throw new ProtobufError(`protobuf decoding error: ${oneLine(err)}`);
  }
  return [...families.values()];
}

// ---------------------------------------------------------------------------------------------------------
// Encoding.

function msToTimestamp(ms: number): PbTimestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** uint64 fields cannot hold fractions, negatives or NaN. */
const toUint = (v: number): number => (Number.isFinite(v) && v > 0 ? Math.trunc(v) : 0);

const encodeLabels = (labels: readonly LabelPair[]): PbLabelPair[] =>
  labels.map((l) => ({ name: l.name, value: l.value }));

function encodeExemplar(e: Exemplar): PbExemplar {
  return {
    label: encodeLabels(e.labels),
    value: e.value,
    ...(e.timestampMs !== undefined ? { timestamp: msToTimestamp(e.timestampMs) } : {}),
  };
}

function encodeHistogram(h: Histogram): PbHistogram {
  const n = h.native;
  // A classic histogram with fractional counts (a float push) must keep them; integer ones use the integer
  // fields as every client writes them. An integer-valued float classic histogram thus comes back as integer,
  // which Prometheus treats the same.
  const float =
    (n !== undefined && (n.sampleCountFloat > 0 || n.zeroCountFloat > 0)) ||
    !Number.isInteger(h.sampleCount) ||
    h.buckets.some((b) => !Number.isInteger(b.cumulativeCount));
  const out: PbHistogram = {
    sampleSum: h.sampleSum,
    bucket: h.buckets.map((b) => ({
      ...(float ? { cumulativeCountFloat: b.cumulativeCount } : { cumulativeCount: toUint(b.cumulativeCount) }),
      upperBound: b.upperBound,
      ...(b.exemplar ? { exemplar: encodeExemplar(b.exemplar) } : {}),
    })),
  };
  if (float) out.sampleCountFloat = n && n.sampleCountFloat > 0 ? n.sampleCountFloat : h.sampleCount;
  else out.sampleCount = toUint(h.sampleCount);
  if (h.createdTimestampMs !== undefined) out.createdTimestamp = msToTimestamp(h.createdTimestampMs);
  if (n) {
    out.schema = n.schema;
    out.zeroThreshold = n.zeroThreshold;
    if (n.zeroCountFloat > 0) out.zeroCountFloat = n.zeroCountFloat;
    else out.zeroCount = toUint(n.zeroCount);
    out.negativeSpan = n.negativeSpans.map((s) => ({ offset: s.offset, length: s.length }));
    out.negativeDelta = [...n.negativeDeltas];
    out.negativeCount = [...n.negativeCounts];
    out.positiveSpan = n.positiveSpans.map((s) => ({ offset: s.offset, length: s.length }));
    out.positiveDelta = [...n.positiveDeltas];
    out.positiveCount = [...n.positiveCounts];
  }
  if (h.exemplars && h.exemplars.length > 0) out.exemplars = h.exemplars.map(encodeExemplar);
  return out;
}

function encodeMetric(type: MetricType, m: Metric): PbMetric {
  const out: PbMetric = { label: encodeLabels(m.labels) };
  if (m.timestampMs !== undefined) out.timestampMs = m.timestampMs;
  const value = m.value ?? 0;
  switch (type) {
    case 'counter':
      out.counter = {
        value,
        ...(m.exemplar ? { exemplar: encodeExemplar(m.exemplar) } : {}),
        ...(m.createdTimestampMs !== undefined ? { createdTimestamp: msToTimestamp(m.createdTimestampMs) } : {}),
      };
      break;
    case 'gauge':
      out.gauge = { value };
      break;
    case 'untyped':
      out.untyped = { value };
      break;
    case 'summary': {
      const s = m.summary ?? { sampleCount: 0, sampleSum: 0, quantiles: [] };
      out.summary = {
        sampleCount: toUint(s.sampleCount),
        sampleSum: s.sampleSum,
        quantile: s.quantiles.map((q) => ({ quantile: q.quantile, value: q.value })),
        ...(s.createdTimestampMs !== undefined ? { createdTimestamp: msToTimestamp(s.createdTimestampMs) } : {}),
      };
      break;
    }
    case 'histogram':
    case 'gaugehistogram':
      out.histogram = encodeHistogram(m.histogram ?? { sampleCount: 0, sampleSum: 0, buckets: [] });
      break;
  }
  return out;
}

/** Encodes families as a protobuf delimited scrape body, every stored field included. */
export function encodeDelimited(families: readonly MetricFamily[]): Buffer {
  const writer = protobuf.Writer.create();
  for (const f of families) {
    const message: PbMetricFamily = {
      name: f.name,
      ...(f.help !== undefined ? { help: f.help } : {}),
      type: TYPE_TO_WIRE[f.type],
      metric: f.metrics.map((m) => encodeMetric(f.type, m)),
      ...(f.unit !== undefined ? { unit: f.unit } : {}),
    };
    types().family.encodeDelimited(message, writer);
  }
  return toBuffer(writer.finish());
}

/** Tag of MetricFamily's `repeated Metric metric = 4` (wire type 2, length-delimited). */
const METRIC_FIELD_TAG = (4 << 3) | 2;

const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * One series as the bytes of a MetricFamily `metric` field (tag, length, Metric message). Repeated fields
 * concatenate, so a scrape cache can keep these per series and join them into a family with
 * encodeFamilyFrame, encoding each series once instead of once per scrape.
 */
export function encodeMetricField(type: MetricType, metric: Metric): Buffer {
  const writer = protobuf.Writer.create();
  types().metric.encode(encodeMetric(type, metric), writer.uint32(METRIC_FIELD_TAG).fork()).ldelim();
  return toBuffer(writer.finish());
}

/**
 * One delimited MetricFamily (length prefix, name, help, type, then the given `metric` fields in order), as
 * encodeDelimited would write it for the same family: the bytes of a protobuf scrape for one family.
 */
export function encodeFamilyFrame(
  name: string,
  help: string | undefined,
  type: MetricType,
  metricFields: readonly Uint8Array[],
): Buffer {
  const header = types().family.encode({ name, ...(help !== undefined ? { help } : {}), type: TYPE_TO_WIRE[type] }).finish();
  let length = header.length;
  for (const f of metricFields) length += f.length;
  const prefix = protobuf.Writer.create().uint32(length).finish();
  return Buffer.concat([prefix, header, ...metricFields], prefix.length + length);
}

// ---------------------------------------------------------------------------------------------------------
// Content-Type detection (pushgateway-behavior.md 3.1).


/**
 * True when a push Content-Type selects protobuf: `application/vnd.google.protobuf` (type and parameter
 * names case-insensitive) with `proto=io.prometheus.client.MetricFamily` and `encoding=delimited` (values
 * case-sensitive, possibly quoted). Anything else, malformed headers included, means text.
 */
export function isProtobufContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const media = parseMediaType(header);
  return (
    media !== undefined &&
    media.type === 'application/vnd.google.protobuf' &&
    media.params.get('proto') === 'io.prometheus.client.MetricFamily' &&
    media.params.get('encoding') === 'delimited'
  );
}
