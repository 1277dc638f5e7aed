import { isOpenMetricsBody, parseOpenMetrics } from './openmetrics-parser.js';
import { decodeDelimited } from './protobuf/decode.js';
import { isProtobufContentType } from './protobuf/schema.js';
import { parseText } from './text-parser.js';
import type { MetricFamily } from './types.js';

export interface ParseBodyOptions {
  readonly utf8Names: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Picks the push body's format the way clients announce it: protobuf delimited by Content-Type
 * (Go, Java, Rust), OpenMetrics by Content-Type or a closing `# EOF` (prom-client in OpenMetrics
 * mode), text 0.0.4 otherwise, whatever the header says (prom-client sends none, curl a form type).
 * Throws ParseError or ProtobufError; text must be valid UTF-8.
 */
export function parseBody(contentType: string | undefined, body: Buffer, options: ParseBodyOptions): MetricFamily[] {
  if (isProtobufContentType(contentType)) return decodeDelimited(body);
  const text = decodeUtf8(body);
  if (isOpenMetricsBody(contentType, text)) return parseOpenMetrics(text);
  return parseText(text, { utf8Names: options.utf8Names });
}

/** Thrown for a text body that is not valid UTF-8 (label values must be). */
export class EncodingError extends Error {}

function decodeUtf8(body: Buffer): string {
  try {
    return utf8.decode(body);
  } catch {
    throw new EncodingError('request body is not valid UTF-8');
  }
}
