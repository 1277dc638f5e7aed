import { EncodingError } from '../exposition/parse-body.js';
import { ParseError } from '../exposition/parse-error.js';
import { ProtobufError } from '../exposition/protobuf/schema.js';
import { OtlpDecodeError } from '../exposition/otlp/wire.js';
import { PushError } from '../domain/push-error.js';
import { LimitError, type LimitName } from '../domain/push-limits.js';
import { StoreUnavailableError } from '../domain/stored-group.js';
import { BodyError } from './body-decoding.js';
import { BodyTooLargeError } from './raw-body.js';

export interface ErrorStatus {
  readonly status: number;
  readonly message: string;
  /** False for errors that are bugs: they are logged with their stack. */
  readonly expected: boolean;
  /** The limit that refused the request, for pushkeep_limit_rejections_total. */
  readonly limit?: LimitName;
}

const PUSH_ERROR_STATUS: Readonly<Record<PushError['kind'], number>> = {
  invalid: 400,
  inconsistent: 400,
  forbidden: 403,
  conflict: 409,
  too_large: 413,
  unprocessable: 422,
  over_capacity: 429,
  unavailable: 503,
};

/** The one mapping from domain, parse and store errors to HTTP status codes. */
export function errorStatus(err: unknown): ErrorStatus {
  if (err instanceof PushError) {
    const status = PUSH_ERROR_STATUS[err.kind];
    return { status, message: err.message, expected: true, ...(err instanceof LimitError ? { limit: err.limit } : {}) };
  }
  if (err instanceof ParseError || err instanceof ProtobufError || err instanceof EncodingError || err instanceof OtlpDecodeError) {
    return { status: 400, message: err.message, expected: true };
  }
  if (err instanceof BodyError) {
    return { status: err.status, message: err.message, expected: true, ...(err.status === 413 ? { limit: 'push.max-body-bytes' as const } : {}) };
  }
  if (err instanceof BodyTooLargeError) return { status: 413, message: err.message, expected: true, limit: 'push.max-body-bytes' };
  if (err instanceof StoreUnavailableError) return { status: 503, message: err.message, expected: true };
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, message: `internal error: ${message.split('\n')[0]}`, expected: false };
}
