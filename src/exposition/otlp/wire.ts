/**
 * OTLP/HTTP metrics on the wire: decoding an ExportMetricsServiceRequest from protobuf or from the
 * proto3 JSON mapping, and encoding the answers (ExportMetricsServiceResponse, google.rpc.Status)
 * in the request's encoding.
 *
 * The message definitions are proto/opentelemetry/..., written from the OTLP specification and
 * loaded once with protobufjs, which decodes protobuf bodies. JSON bodies are read by
 * json-request.ts into the same wire shapes, so both encodings map the same way.
 */
import path from 'node:path';
import protobuf from 'protobufjs';
import { findAbove } from '../../util/project-files.js';
import { parseMediaType } from '../negotiate.js';
import { OtlpJsonError, requestFromJson } from './json-request.js';

export type OtlpEncoding = 'protobuf' | 'json';

/** A body that does not decode as an ExportMetricsServiceRequest. The message is one line. */
export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';
}

// ---------------------------------------------------------------------------------------------------------
// Wire shapes, as protobufjs yields them (camelCase; absent fields are undefined or the default).

export interface Int64Like {
  toNumber(): number;
}
export type Int64 = number | Int64Like | string;

export interface PbAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: Int64;
  doubleValue?: number;
  arrayValue?: { values?: PbAnyValue[] };
  kvlistValue?: { values?: PbKeyValue[] };
  bytesValue?: Uint8Array;
}
export interface PbKeyValue {
  key?: string;
  value?: PbAnyValue;
}
export interface PbExemplar {
  filteredAttributes?: PbKeyValue[];
  timeUnixNano?: Int64;
  asDouble?: number;
  asInt?: Int64;
  spanId?: Uint8Array;
  traceId?: Uint8Array;
}
export interface PbNumberDataPoint {
  attributes?: PbKeyValue[];
  asDouble?: number;
  asInt?: Int64;
  exemplars?: PbExemplar[];
  flags?: number;
}
export interface PbHistogramDataPoint {
  attributes?: PbKeyValue[];
  count?: Int64;
  sum?: number;
  bucketCounts?: Int64[];
  explicitBounds?: number[];
  exemplars?: PbExemplar[];
  flags?: number;
}
export interface PbBuckets {
  offset?: number;
  bucketCounts?: Int64[];
}
export interface PbExponentialHistogramDataPoint {
  attributes?: PbKeyValue[];
  count?: Int64;
  sum?: number;
  scale?: number;
  zeroCount?: Int64;
  positive?: PbBuckets;
  negative?: PbBuckets;
  flags?: number;
  exemplars?: PbExemplar[];
  zeroThreshold?: number;
}
export interface PbSummaryDataPoint {
  attributes?: PbKeyValue[];
  count?: Int64;
  sum?: number;
  quantileValues?: { quantile?: number; value?: number }[];
  flags?: number;
}
export interface PbMetric {
  name?: string;
  description?: string;
  unit?: string;
  gauge?: { dataPoints?: PbNumberDataPoint[] };
  sum?: { dataPoints?: PbNumberDataPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints?: PbHistogramDataPoint[]; aggregationTemporality?: number };
  exponentialHistogram?: { dataPoints?: PbExponentialHistogramDataPoint[]; aggregationTemporality?: number };
  summary?: { dataPoints?: PbSummaryDataPoint[] };
}
export interface PbScopeMetrics {
  metrics?: PbMetric[];
}
export interface PbResourceMetrics {
  resource?: { attributes?: PbKeyValue[] };
  scopeMetrics?: PbScopeMetrics[];
}
export interface PbExportRequest {
  resourceMetrics?: PbResourceMetrics[];
}

export const TEMPORALITY_DELTA = 1;
export const TEMPORALITY_CUMULATIVE = 2;
/** DataPointFlags.NO_RECORDED_VALUE_MASK: the point says the series has no value (a staleness marker). */
export const FLAG_NO_RECORDED_VALUE = 1;

export const toNumber = (v: Int64 | undefined): number => (v === undefined ? 0 : typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : v.toNumber());

// ---------------------------------------------------------------------------------------------------------
// Schema loading.

interface MessageTypes {
  /** Reads requests: without the fields of data points the mapping never reads (see readingRoot). */
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
  readonly status: protobuf.Type;
}

const REQUEST_TYPE = 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest';
const POINT_TYPES = ['NumberDataPoint', 'HistogramDataPoint', 'ExponentialHistogramDataPoint', 'SummaryDataPoint'];
// Point timestamps are not exposed: decoding them would build two Longs per point for nothing.
const UNREAD_POINT_FIELDS = ['timeUnixNano', 'startTimeUnixNano'];

function loadRoot(): protobuf.Root {
  const service = path.join('opentelemetry', 'proto', 'collector', 'metrics', 'v1', 'metrics_service.proto');
  const status = path.join('opentelemetry', 'google', 'rpc', 'status.proto');
  const serviceFile = findAbove(path.join('proto', service));
  const protoDir = serviceFile.slice(0, serviceFile.length - service.length);
  const root = new protobuf.Root();
  // Imports name files from proto/ (as protoc's include path would).
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(protoDir, target));
  root.loadSync([serviceFile, path.join(protoDir, status)]);
  return root;
}

/**
 * The schema as the decoder uses it: the data points' timestamps are removed from their message
 * types, so that protobufjs skips them as it skips any unknown field (still checking that the
 * message is well formed) instead of decoding them.
 */
function readingRoot(): protobuf.Root {
  const root = loadRoot();
  for (const name of POINT_TYPES) {
    const type = root.lookupType(`opentelemetry.proto.metrics.v1.${name}`);
    for (const field of UNREAD_POINT_FIELDS) type.remove(type.fields[field]!);
  }
  return root;
}

// Parsed on first use: a gateway that never sees OTLP never pays for the schema.
let messageTypes: MessageTypes | undefined;
function types(): MessageTypes {
  if (!messageTypes) {
    const root = readingRoot();
    messageTypes = {
      request: root.lookupType(REQUEST_TYPE),
      response: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
      status: root.lookupType('google.rpc.Status'),
    };
  }
  return messageTypes;
}

// The whole request type, for encoding (tests and the bench send what SDKs send).
let fullRequest: protobuf.Type | undefined;

// ---------------------------------------------------------------------------------------------------------
// Content types.

/** The encoding a request's Content-Type selects, or undefined for one OTLP/HTTP does not define. */
export function otlpEncodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  if (contentType === undefined) return undefined;
  const media = parseMediaType(contentType);
  if (media?.type === 'application/x-protobuf') return 'protobuf';
  if (media?.type === 'application/json') return 'json';
  return undefined;
}

export const OTLP_CONTENT_TYPES: Readonly<Record<OtlpEncoding, string>> = { protobuf: 'application/x-protobuf', json: 'application/json' };

// ---------------------------------------------------------------------------------------------------------
// Decoding.

const oneLine = (message: string): string => message.replace(/\s*\n\s*/g, ' ');

// Longer strings are decoded natively, which pays off once the copy is long enough.
const SHORT_STRING_BYTES = 24;

/**
 * protobufjs's reader of Buffers, reading short ASCII strings (attribute keys and values, names:
 * most of an export's strings) in JavaScript: Buffer#toString crosses into C++ for each string, which for
 * a few bytes costs more than building the string. Like protobufjs's, a length past the end reads
 * what is there.
 */
class ShortStringReader extends protobuf.BufferReader {
  override string(): string {
    const length = this.uint32();
    const start = this.pos;
    const end = Math.min(start + length, this.len);
    this.pos = end;
    const buf = this.buf;
    if (end - start <= SHORT_STRING_BYTES) {
      let text = '';
      for (let i = start; i < end; i++) {
        const byte = buf[i]!;
        if (byte > 0x7f) return (buf as Buffer).toString('utf8', start, end);
        text += String.fromCharCode(byte);
      }
      return text;
    }
    return (buf as Buffer).toString('utf8', start, end);
  }
}

/** Decodes a request body; throws OtlpDecodeError. */
export function decodeExportRequest(body: Uint8Array, encoding: OtlpEncoding): PbExportRequest {
  const { request } = types();
  if (encoding === 'protobuf') {
    try {
      const buffer = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      return request.decode(new ShortStringReader(buffer)) as PbExportRequest;
    } catch (err) {
      throw new OtlpDecodeError(`invalid OTLP protobuf body: ${oneLine(err instanceof Error ? err.message : String(err))}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (err) {
    throw new OtlpDecodeError(`invalid OTLP JSON body: ${oneLine(err instanceof Error ? err.message : String(err))}`);
  }
  try {
    return requestFromJson(parsed);
  } catch (err) {
    if (err instanceof OtlpJsonError) throw new OtlpDecodeError(`invalid OTLP JSON body: ${err.message}`);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Answers.

/** The 200 answer; `rejected` > 0 adds partial_success with the points refused and why. */
export function encodeExportResponse(encoding: OtlpEncoding, rejected: number, message: string): Buffer {
  // The common answer: an empty message (no bytes in protobuf).
  if (rejected === 0 && message === '') return encoding === 'json' ? Buffer.from('{}') : Buffer.alloc(0);
  if (encoding === 'json') return Buffer.from(JSON.stringify({ partialSuccess: { rejectedDataPoints: String(rejected), errorMessage: message } }));
  const { response } = types();
  return Buffer.from(response.encode(response.fromObject({ partialSuccess: { rejectedDataPoints: rejected, errorMessage: message } })).finish());
}

/** gRPC status codes the answers use. */
export const GRPC_CODES = { invalidArgument: 3, permissionDenied: 7, resourceExhausted: 8, internal: 13, unavailable: 14, unauthenticated: 16 } as const;

/** A google.rpc.Status for an error answer. */
export function encodeStatus(encoding: OtlpEncoding, code: number, message: string): Buffer {
  if (encoding === 'json') return Buffer.from(JSON.stringify({ code, message }));
  const { status } = types();
  return Buffer.from(status.encode(status.fromObject({ code, message })).finish());
}

/** Decodes an answer body (for tests and clients): the partial success, when there is one. */
export function decodeExportResponse(body: Uint8Array, encoding: OtlpEncoding): { rejectedDataPoints: number; errorMessage: string } | undefined {
  const { response } = types();
  const message = encoding === 'json' ? response.fromObject(JSON.parse(Buffer.from(body).toString('utf8')) as Record<string, unknown>) : response.decode(body);
  const partial = (message as { partialSuccess?: { rejectedDataPoints?: Int64; errorMessage?: string } }).partialSuccess;
  return partial ? { rejectedDataPoints: toNumber(partial.rejectedDataPoints), errorMessage: partial.errorMessage ?? '' } : undefined;
}

/** Decodes a google.rpc.Status body (for tests and clients). */
export function decodeStatus(body: Uint8Array, encoding: OtlpEncoding): { code: number; message: string } {
  const { status } = types();
  const message = (encoding === 'json' ? JSON.parse(Buffer.from(body).toString('utf8')) : status.decode(body)) as { code?: number; message?: string };
  return { code: message.code ?? 0, message: message.message ?? '' };
}

/** Encodes a request (for tests and the bench: the SDK is the real client). */
export function encodeExportRequest(request: Record<string, unknown>): Buffer {
  fullRequest ??= loadRoot().lookupType(REQUEST_TYPE);
  return Buffer.from(fullRequest.encode(fullRequest.fromObject(request)).finish());
}
