// The model into protobuf delimited MetricFamily messages, whole or frame by frame for the scrape cache.
import protobuf from 'protobufjs';
import { types, TYPE_TO_WIRE, type PbTimestamp, type PbLabelPair, type PbExemplar, type PbHistogram, type PbMetric, type PbMetricFamily } from './schema.js';
import type { Exemplar, Histogram, LabelPair, Metric, MetricFamily, MetricType } from '../types.js';

function msToTimestamp(ms: number): PbTimestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** uint64 fields cannot hold fractions, negatives or NaN. */
const toUint = (v: number): number => (Number.isFinite(v) && v > 0 ? Math.trunc(v) : 0);

const encodeLabels = (labels: readonly LabelPair[]): PbLabelPair[] => labels.map((l) => ({ name: l.name, value: l.value }));

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
export function encodeFamilyFrame(name: string, help: string | undefined, type: MetricType, metricFields: readonly Uint8Array[]): Buffer {
  const header = types()
    .family.encode({ name, ...(help !== undefined ? { help } : {}), type: TYPE_TO_WIRE[type] })
    .finish();
  let length = header.length;
  for (const f of metricFields) length += f.length;
  const prefix = protobuf.Writer.create().uint32(length).finish();
  return Buffer.concat([prefix, header, ...metricFields], prefix.length + length);
}
