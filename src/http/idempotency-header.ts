import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { PushError } from '../domain/push-error.js';
import type { IdempotentRequest } from '../service/push-request.js';

// Longest key kept: a client's UUID or ULID fits many times over.
const MAX_KEY_LENGTH = 255;

/**
 * The Idempotency-Key header of a push or delete (an RFC 8941 string, quoted; a bare token is
 * taken as it is), with the fingerprint of the request (method, path and body) and the status a
 * success answers. Undefined without the header; PushError('invalid') (400) for an empty or
 * oversized key.
 */
export function idempotencyOf(
  headers: IncomingHttpHeaders,
  method: string,
  path: string,
  body: Buffer | undefined,
  status: number,
): IdempotentRequest | undefined {
  const raw = headers['idempotency-key'];
  if (raw === undefined) return undefined;
  let key = (Array.isArray(raw) ? raw.join(',') : raw).trim();
  if (key.length >= 2 && key.startsWith('"') && key.endsWith('"')) key = key.slice(1, -1);
  if (key === '') throw new PushError('invalid', 'empty Idempotency-Key header');
  if (key.length > MAX_KEY_LENGTH) throw new PushError('invalid', `Idempotency-Key header longer than ${MAX_KEY_LENGTH} characters`);
  const hash = createHash('sha256').update(`${method.toUpperCase()} ${path}\n`);
  if (body) hash.update(body);
  return { key, fingerprint: hash.digest('hex'), status };
}
