// Protobuf delimited MetricFamily messages into the model (schema.ts says what is kept and refused).
import protobuf from 'protobufjs';
import {
  ProtobufError,
  types,
  WIRE_TYPES,
  type Int64,
  type PbTimestamp,
  type PbLabelPair,
  type PbExemplar,
  type PbBucketSpan,
  type PbHistogram,
  type PbSummary,
  type PbMetric,
  type PbMetricFamily,
} from './schema.js';
import type { Bucket, BucketSpan, Exemplar, Histogram, LabelPair, Metric, MetricFamily, NativeHistogram, Quantile, Summary } from '../types.js';

const has = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);
const num = (v: Int64 | undefined): number => (v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());
const timestampToMs = (t: PbTimestamp): number => num(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6;

const decodeLabels = (labels: PbLabelPair[] | undefined): LabelPair[] => (labels ?? []).map((l) => ({ name: l.name ?? '', value: l.value ?? '' }));

function decodeExemplar(e: PbExemplar): Exemplar {
  return {
    labels: decodeLabels(e.label),
    value: e.value ?? 0,
    ...(e.timestamp ? { timestampMs: timestampToMs(e.timestamp) } : {}),
  };
}

const decodeSpans = (spans: PbBucketSpan[] | undefined): BucketSpan[] => (spans ?? []).map((s) => ({ offset: s.offset ?? 0, length: s.length ?? 0 }));

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

/**
 * A metric whose payload does not match its family's type (a GAUGE family carrying a counter) is
 * decoded without the family's field rather than refused here: the push rules then refuse it as an
 * inconsistent push, which records push_failure_time_seconds for its group as the official does.
 */
function decodeMetric(wireType: number, m: PbMetric): Metric {
  const labels = decodeLabels(m.label);
  const base: { labels: LabelPair[]; timestampMs?: number } = { labels };
  if (has(m, 'timestampMs')) base.timestampMs = num(m.timestampMs);
  switch (wireType) {
    case 0: {
      if (!m.counter) return base;
      const c = m.counter;
      return {
        ...base,
        value: c.value ?? 0,
        ...(c.exemplar ? { exemplar: decodeExemplar(c.exemplar) } : {}),
        ...(c.createdTimestamp ? { createdTimestampMs: timestampToMs(c.createdTimestamp) } : {}),
      };
    }
    case 1:
      return m.gauge ? { ...base, value: m.gauge.value ?? 0 } : base;
    case 3:
      return m.untyped ? { ...base, value: m.untyped.value ?? 0 } : base;
    case 2:
      return m.summary ? { ...base, summary: decodeSummary(m.summary) } : base;
    default:
      return m.histogram ? { ...base, histogram: decodeHistogram(m.histogram) } : base;
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
    metrics: (f.metric ?? []).map((m) => decodeMetric(wireType, m)),
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
 * (`protobuf decoding error: ...`) on truncated or malformed input, unknown types and same-named
 * families of different types. A metric not of its family's type is left to the push rules (decodeMetric).
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
