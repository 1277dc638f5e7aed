/**
 * Protobuf delimited exposition (io.prometheus.client.MetricFamily): decoding pushes, encoding scrapes.
 *
 * The schema is proto/metrics.proto, loaded once at runtime with protobufjs, so the wire model is the
 * upstream file and not a hand-written copy of it. Decoding keeps every field of today's model (native
 * histograms, float counts, exemplars, created timestamps, unit) so that a protobuf scrape gives back what
 * a protobuf push carried.
 *
 * Deliberate differences from the official gateway:
 * - Two families with the same name in one push are merged (their metrics concatenated, the later HELP and
 *   UNIT winning) when their types agree, and rejected when they do not. The official silently keeps only
 *   the later one, which loses data the client sent.
 * - A metric whose value field does not match the family type (a GAUGE value in a family without type, which
 *   therefore is a COUNTER) is rejected here with `... is not a COUNTER`, as the official's consistency check
 *   does, because our model keeps one value per metric and could not tell them apart afterwards.
 */
import path from 'node:path';
import protobuf from 'protobufjs';
import { findAbove } from '../../util/project-files.js';
import { parseMediaType } from '../negotiate.js';
import type { MetricType } from '../types.js';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

/** A body that is not a valid sequence of delimited MetricFamily messages. The message is one line. */
export class ProtobufError extends Error {
  override readonly name = 'ProtobufError';
}

// ---------------------------------------------------------------------------------------------------------
// Wire shapes, as protobufjs decodes them (camelCase field names; absent optional fields are not own props).

export interface Int64Like {
  toNumber(): number;
}
export type Int64 = number | Int64Like;

export interface PbTimestamp {
  seconds?: Int64;
  nanos?: number;
}
export interface PbLabelPair {
  name?: string;
  value?: string;
}
export interface PbExemplar {
  label?: PbLabelPair[];
  value?: number;
  timestamp?: PbTimestamp;
}
export interface PbBucket {
  cumulativeCount?: Int64;
  cumulativeCountFloat?: number;
  upperBound?: number;
  exemplar?: PbExemplar;
}
export interface PbBucketSpan {
  offset?: number;
  length?: number;
}
export interface PbHistogram {
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
export interface PbSummary {
  sampleCount?: Int64;
  sampleSum?: number;
  quantile?: { quantile?: number; value?: number }[];
  createdTimestamp?: PbTimestamp;
}
export interface PbMetric {
  label?: PbLabelPair[];
  gauge?: { value?: number };
  counter?: { value?: number; exemplar?: PbExemplar; createdTimestamp?: PbTimestamp };
  summary?: PbSummary;
  untyped?: { value?: number };
  histogram?: PbHistogram;
  timestampMs?: Int64;
}
export interface PbMetricFamily {
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
export function types(): MessageTypes {
  if (!messageTypes) {
    const root = new protobuf.Root().loadSync(findAbove(path.join('proto', 'metrics.proto')));
    messageTypes = {
      family: root.lookupType('io.prometheus.client.MetricFamily'),
      metric: root.lookupType('io.prometheus.client.Metric'),
    };
  }
  return messageTypes;
}

export const WIRE_TYPES: readonly MetricType[] = ['counter', 'gauge', 'summary', 'untyped', 'histogram', 'gaugehistogram'];
export const WIRE_TYPE_NAMES = ['COUNTER', 'GAUGE', 'SUMMARY', 'UNTYPED', 'HISTOGRAM', 'GAUGE_HISTOGRAM'] as const;
export const TYPE_TO_WIRE: Record<MetricType, number> = {
  counter: 0,
  gauge: 1,
  summary: 2,
  untyped: 3,
  histogram: 4,
  gaugehistogram: 5,
};

// ---------------------------------------------------------------------------------------------------------
// Content-Type detection.

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
