/**
 * OTLP/HTTP metrics ingestion: `POST /v1/metrics` (what SDKs append to OTEL_EXPORTER_OTLP_ENDPOINT)
 * and `POST /api/v1/otlp/v1/metrics` (Prometheus' path), both under the route prefix.
 *
 * Answers follow the OTLP/HTTP specification, in the request's encoding: 200 with an
 * ExportMetricsServiceResponse (partial_success when points were refused), 400 with a
 * google.rpc.Status for a body that does not decode, 413/429/503 from the gateway's limits and
 * store, with Retry-After on the retryable ones.
 *
 * Each resource is one group (POST semantics, deltas added), and a request is one transaction:
 * all its groups are written or none. A refused group answers the refusal's status and stores
 * nothing, so a retry repeats nothing; only points refused inside an accepted request (while
 * mapping, or a delta histogram the store will not add) are answered in partial_success.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { planOtlpPushes, withoutDeltaHistograms, type OtlpGroupPush } from '../domain/otlp-groups.js';
import type { GroupingKey } from '../domain/grouping-key.js';
import { PushError } from '../domain/push-error.js';
import { seriesCount } from '../domain/push-attempt.js';
import { parseTtlHeader } from '../domain/retention-policy.js';
import {
  decodeExportRequest,
  encodeExportResponse,
  encodeStatus,
  GRPC_CODES,
  OTLP_CONTENT_TYPES,
  otlpEncodingOf,
  type OtlpEncoding,
} from '../exposition/otlp/wire.js';
import type { PushHistory } from '../service/push-history.js';
import { PushRefusedError } from '../service/push-request.js';
import type { PushService } from '../service/push-service.js';
import { checkPushScope } from './request-credential.js';
import type { Telemetry } from '../service/telemetry.js';
import type { Logger } from '../util/logger.js';
import { decodeBody } from './body-decoding.js';
import { errorStatus, type ErrorStatus } from './error-status.js';
import { sendPlainError } from './plain-error.js';
import { readRawBody } from './raw-body.js';
import type { PushAdmission } from './push-admission.js';

export const OTLP_PATHS = ['/v1/metrics', '/api/v1/otlp/v1/metrics'] as const;

export interface OtlpRouterOptions {
  readonly service: PushService;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly utf8Names: boolean;
  /** Largest accepted body, before and after decompression. */
  readonly bodyLimit: number;
  readonly history?: PushHistory | undefined;
  /** Bounds the pushes parsed and written at once (shared with the push handler); absent, none. */
  readonly admission?: PushAdmission | undefined;
}

// How long a client should wait before retrying: a store outage is usually short; capacity
// frees up only when groups expire or are deleted.
const RETRY_AFTER_SECONDS: Readonly<Record<number, number>> = { 429: 30, 503: 5 };

/** Handles an OTLP export; `url` is the request's whole URL (for logs and history). */
export type OtlpHandler = (req: IncomingMessage, res: ServerResponse, url: string) => Promise<void>;

/** The OTLP handler on plain node requests: the router calls it, and fast-path.ts before Express routes anything. */
export function otlpHandler(options: OtlpRouterOptions): OtlpHandler {
  return (req, res, url) => handle(options, req, res, url);
}

/** The OTLP routes; mount at the route prefix before the API router (which owns /api/v1). */
export function otlpRouter(options: OtlpRouterOptions, handler = otlpHandler(options)): express.Router {
  const router = express.Router({ caseSensitive: true, strict: true });
  for (const path of OTLP_PATHS) {
    router.post(path, (req, res, next) => {
      handler(req, res, req.originalUrl).catch(next);
    });
    router.all(path, (_req, res) => {
      res.set('Allow', 'POST');
      sendPlainError(res, 405, 'Method Not Allowed');
    });
  }
  return router;
}

interface Outcome {
  readonly status: number;
  readonly reason?: string;
}

function grpcCode(status: number): number {
  if (status === 401) return GRPC_CODES.unauthenticated;
  if (status === 403) return GRPC_CODES.permissionDenied;
  if (status === 413 || status === 429) return GRPC_CODES.resourceExhausted;
  if (status === 503) return GRPC_CODES.unavailable;
  if (status >= 500) return GRPC_CODES.internal;
  return GRPC_CODES.invalidArgument;
}

function sendStatus(res: ServerResponse, encoding: OtlpEncoding, status: number, message: string): void {
  const body = encodeStatus(encoding, grpcCode(status), message);
  res.statusCode = status;
  const retryAfter = RETRY_AFTER_SECONDS[status];
  if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
  res.setHeader('Content-Type', OTLP_CONTENT_TYPES[encoding]);
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

async function handle(options: OtlpRouterOptions, req: IncomingMessage, res: ServerResponse, url: string): Promise<void> {
  const { service, telemetry } = options;
  const started = performance.now();
  const timeSeconds = (performance.timeOrigin + started) / 1000;
  let status = 500;
  let bodyBytes = 0;
  const attempts: { group?: SentGroup; outcome: Outcome }[] = [];
  const encoding = otlpEncodingOf(req.headers['content-type']);
  let admitted = false;
  try {
    if (!encoding) {
      status = 415;
      const reason = `unsupported Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')}: OTLP/HTTP takes application/x-protobuf or application/json`;
      attempts.push({ outcome: { status, reason } });
      req.resume();
      return sendPlainError(res, status, reason);
    }
    let plan;
    let ttlSeconds: number | undefined;
    try {
      // OTEL_EXPORTER_OTLP_HEADERS can send it with every export.
      ttlSeconds = parseTtlHeader(req.headers['pushkeep-ttl']);
      const raw = await readRawBody(req, options.bodyLimit);
      bodyBytes = raw.length;
      // Admitted once the body is in: a client sending its body slowly holds no turn.
      if (options.admission) {
        const turn = options.admission.enter(raw.length);
        admitted = true;
        if (turn) await turn;
      }
      const body = decodeBody(raw, req.headers['content-encoding'], options.bodyLimit);
      plan = planOtlpPushes(decodeExportRequest(body, encoding), { utf8Names: options.utf8Names });
      // A scoped credential may write only its own groups: every resource's group is checked before
      // anything is stored, so a request partly out of scope stores nothing.
      for (const group of plan.groups) checkPushScope(req, group.key);
    } catch (err) {
      const mapped = errorStatus(err);
      status = mapped.status;
      reject(options, mapped, req, url);
      attempts.push({ outcome: { status, reason: mapped.message } });
      if (!req.complete) res.setHeader('Connection', 'close');
      return sendStatus(res, encoding, status, mapped.message);
    }

    let rejected = plan.rejected;
    const reasons = [...plan.reasons];
    const request = (group: OtlpGroupPush) => ({
      key: group.key,
      families: group.families,
      replace: false,
      timeSeconds,
      ttlSeconds,
      addFamilies: group.addFamilies,
    });
    // What the push waits for its commit with is what each young-generation collection copies:
    // only the groups' keys and series counts are kept, and their families only where a refused
    // delta histogram may make the request run again without it.
    let pending: OtlpGroupPush[] = plan.groups;
    for (;;) {
      const sent: SentGroup[] = pending.map((g): SentGroup => ({ key: g.key, series: seriesCount(g.families), fallback: withoutDeltaHistograms(g) }));
      const retryable: OtlpGroupPush[] | undefined = sent.some((g) => g.fallback !== undefined) ? pending : undefined;
      const requests = pending.map(request);
      pending = [];
      try {
        if (requests.length > 0) await service.pushAll(requests);
        for (const group of sent) attempts.push({ group, outcome: { status: 200 } });
        break;
      } catch (err) {
        const index = err instanceof PushRefusedError ? err.index : undefined;
        const refused = index !== undefined ? sent[index] : undefined;
        const cause = err instanceof PushRefusedError ? err.error : err;
        // A refused delta histogram (bounds that differ from the stored ones) should not cost the
        // export its other points: the request runs again without that group's delta histograms.
        const fallback = refused && cause instanceof PushError && (cause.kind === 'inconsistent' || cause.kind === 'invalid') ? refused.fallback : undefined;
        if (retryable && refused && fallback) {
          rejected += fallback.refusedPoints;
          reasons.push(`${refused.key.id}: ${fallback.names.join(', ')} refused: ${errorStatus(cause).message}`);
          pending = retryable.map((g, i) => (i === index ? fallback.group : g));
          continue;
        }
        // One transaction for the request: a refused group leaves every group unwritten, and the
        // answer is the refusal's own status, so that a retryable failure is retried whole.
        const mapped = errorStatus(cause);
        reject(options, mapped, req, url);
        status = mapped.status;
        const message = refused && sent.length > 1 ? `group ${refused.key.id}: ${mapped.message}` : mapped.message;
        for (const group of sent) {
          const reason = group === refused || !refused ? mapped.message : `not written: group ${refused.key.id} of the same request was refused`;
          attempts.push({ group, outcome: { status, reason } });
        }
        return sendStatus(res, encoding, status, message);
      }
    }
    status = 200;
    const body = encodeExportResponse(encoding, rejected, rejected > 0 ? reasons.join('; ') : '');
    res.statusCode = 200;
    res.setHeader('Content-Type', OTLP_CONTENT_TYPES[encoding]);
    res.setHeader('Content-Length', body.length);
    // An empty body (protobuf's whole success) ends without a chunk: node then writes the head as
    // one string instead of gathering it and an empty buffer into a writev.
    if (body.length === 0) res.end();
    else res.end(body);
  } finally {
    if (admitted) options.admission!.leave(bodyBytes);
    for (const { group, outcome } of attempts.length > 0 ? attempts : [{ outcome: { status } }]) {
      options.history?.record({
        timeSeconds,
        method: 'POST',
        path: url,
        ...(group ? { key: group.key, seriesCount: group.series } : {}),
        outcome: outcome.reason === undefined && outcome.status < 300 ? 'accepted' : 'rejected',
        statusCode: outcome.status,
        ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}),
        bodyBytes,
        ...(req.socket.remoteAddress ? { clientAddress: req.socket.remoteAddress } : {}),
      });
    }
    telemetry.requests.inc({ code: String(status), handler: 'otlp', method: 'post' });
    telemetry.pushDuration.observe({ method: 'post' }, (performance.now() - started) / 1000);
  }
}

/** A group of a request as the handler keeps it while the push waits for its commit. */
interface SentGroup {
  readonly key: GroupingKey;
  readonly series: number;
  /** The group without its delta histograms, where it has any. */
  readonly fallback: ReturnType<typeof withoutDeltaHistograms>;
}

function reject(options: OtlpRouterOptions, mapped: ErrorStatus, req: IncomingMessage, url: string): void {
  if (mapped.limit) options.telemetry.limitRejections.inc({ limit: mapped.limit });
  if (mapped.expected) options.logger.warn({ method: req.method, path: url, status: mapped.status, reason: mapped.message }, 'OTLP push rejected');
  else options.logger.error({ method: req.method, path: url, err: mapped.message }, 'OTLP push failed');
}
