/**
 * Carries the credential auth.ts authenticated a request with to the handlers that act on groups,
 * keyed by the node request object (the same object Express hands its handlers), so that plain
 * node handlers (push, scrape) and Express routers read it alike. Requests served without a web
 * config have none, and then act on every group as always.
 */
import type { IncomingMessage } from 'node:http';
import type { GroupingKey } from '../domain/grouping-key.js';
import type { GroupSelector } from '../domain/group-matcher.js';
import { PushError } from '../domain/push-error.js';
import { mayWrite, outOfScopeMessage, scopeOfCredential, type Credential } from '../security/credential.js';

const credentials = new WeakMap<IncomingMessage, Credential>();

/** Called by the auth middleware once the request's credential passed its role check. */
export function rememberCredential(req: IncomingMessage, credential: Credential): void {
  credentials.set(req, credential);
}

export function credentialOf(req: IncomingMessage): Credential | undefined {
  return credentials.get(req);
}

/**
 * The groups this request may see and act on: undefined for every group (no web config, the
 * official format, or an unscoped credential). Readers and admin deletes pass it to the service,
 * which intersects it with their own selection.
 */
export function scopeOf(req: IncomingMessage): GroupSelector | undefined {
  return scopeOfCredential(credentials.get(req));
}

/**
 * Throws PushError('forbidden') (403) when the request's credential may not push to or delete the
 * group: call it with each grouping key a request writes, before anything is stored. The push
 * router calls it for the URL's group; a router that maps one request to several groups (OTLP
 * resources) calls it for each of them.
 */
export function checkPushScope(req: IncomingMessage, key: GroupingKey): void {
  const credential = credentials.get(req);
  if (credential && !mayWrite(credential, key)) throw new PushError('forbidden', outOfScopeMessage(credential));
}
