/**
 * The first middleware when --web.config.file is given: the configured response headers, the
 * toolkit's rate limit, and authentication.
 *
 * - Official format only (`basic_auth_users`): every endpoint needs a listed user, and a failure is
 *   the official 401 `Unauthorized` with `WWW-Authenticate: Basic`.
 * - With `pushkeep_authorization`: each request needs one role (requiredRole), granted to basic
 *   users, bearer tokens or anonymous requests by the file; valid credentials without the role get
 *   403 naming it. A scoped credential (`{roles: [...], groups: '<selector>'}`) is remembered on the
 *   request (request-credential.ts) for the handlers, which confine it to its groups; the lifecycle
 *   endpoints act on the whole gateway and so refuse it.
 */
import crypto from 'node:crypto';
import bcrypt from 'bcryptjs';
import type express from 'express';
import type { Logger } from '../util/logger.js';
import type { Credential } from '../security/credential.js';
import type { Grant, Role, WebConfig } from '../security/web-config.js';
import type { WebConfigSource } from '../security/web-config-source.js';
import { sendPlainError } from './plain-error.js';
import { rememberCredential } from './request-credential.js';

export interface AuthOptions {
  readonly source: WebConfigSource;
  readonly logger: Logger;
  /** '' or '/prefix'. */
  readonly routePrefix: string;
  readonly telemetryPath: string;
}

/**
 * The role a request needs. Express matches paths case-insensitively and ignores a trailing
 * slash, so the path is classified in lower case and by prefix: anything that Express could
 * route to a push or admin handler is classified as such, and everything unknown is `read`.
 */
export function requiredRole(method: string, rawPath: string, routePrefix: string, telemetryPath: string): Role {
  const lower = rawPath.toLowerCase();
  const prefix = routePrefix.toLowerCase();
  const rest = prefix && (lower === prefix || lower.startsWith(`${prefix}/`)) ? lower.slice(prefix.length) : lower;
  if (rest === '/metrics/job' || rest.startsWith('/metrics/job/') || rest.startsWith('/metrics/job@base64')) return 'push';
  // OTLP ingestion writes groups like a push.
  if (/^\/(api\/v1\/otlp\/)?v1\/metrics\/?$/.test(rest)) return 'push';
  // Lifecycle endpoints answer at the root even under a prefix (GET /-/quit), so match anywhere.
  if (/\/api\/v1\/admin(\/|$)/.test(lower) || isLifecyclePath(lower)) return 'admin';
  const trimmed = rest.length > 1 ? rest.replace(/\/$/, '') : rest;
  if (trimmed === telemetryPath.toLowerCase() && (method === 'GET' || method === 'HEAD')) return 'scrape';
  if (trimmed === '/-/healthy' || trimmed === '/-/ready') return 'health';
  return 'read';
}

function isLifecyclePath(lowerPath: string): boolean {
  return /\/-\/(quit|reload)\/?$/.test(lowerPath);
}

const NO_ROLES: Grant = { roles: new Set(), scope: undefined };

type Credentials =
  | { readonly kind: 'none' }
  | { readonly kind: 'basic'; readonly user: string; readonly password: string }
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'malformed' };

function credentialsOf(header: string | undefined): Credentials {
  if (header === undefined || header === '') return { kind: 'none' };
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { kind: 'malformed' };
    return { kind: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (scheme === 'bearer' && value !== '') return { kind: 'bearer', token: value };
  return { kind: 'malformed' };
}

// A valid cost-10 hash of a random string: unknown users pay the same bcrypt cost as known ones,
// so response times do not tell which user names exist (as the toolkit does).
const DECOY_HASH = '$2b$10$KRQx966gwgR2absao5u61uhyrxL5J2U49S2ubl491JNUBB1tqx0VK';
const CACHE_SIZE = 1024;
// bcrypt runs on the event loop (in slices); more waiting checks than this are refused with 429
// rather than queued, so a flood of wrong passwords cannot delay everyone else's logins forever.
const MAX_PENDING_CHECKS = 32;

/**
 * bcrypt checks, one at a time, with results cached by a digest of (user, hash, password): a
 * client sending the same credentials on every push pays bcrypt's deliberate slowness once, not per
 * request.
 * The digest, not the password, is kept in memory.
 */
class PasswordChecker {
  private readonly cache = new Map<string, boolean>();
  private chain: Promise<unknown> = Promise.resolve();
  private pending = 0;

  /** True/false, or undefined when too many checks are waiting. */
  async check(user: string, password: string, hash: string | undefined): Promise<boolean | undefined> {
    const known = hash !== undefined;
    const effective = hash ?? DECOY_HASH;
    const key = crypto.createHash('sha256').update(`${user}\0${effective}\0${password}`).digest('base64');
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached && known;
    if (this.pending >= MAX_PENDING_CHECKS) return undefined;
    this.pending++;
    const run = this.chain.then(() => bcrypt.compare(password, effective));
    this.chain = run.catch(() => undefined);
    try {
      const ok = (await run) && known;
      if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, ok);
      return ok;
    } catch {
      return false;
    } finally {
      this.pending--;
    }
  }
}

/** The toolkit's rate_limit (golang.org/x/time/rate): a bucket of `burst` tokens, one back per interval. */
class TokenBucket {
  private tokens: number;
  private last = performance.now();
  constructor(
    private readonly intervalMs: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / this.intervalMs);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function unauthorized(res: express.Response, config: WebConfig): void {
  res.set('WWW-Authenticate', 'Basic');
  if (config.authorization && config.authorization.tokens.length > 0) res.append('WWW-Authenticate', 'Bearer');
  sendPlainError(res, 401, 'Unauthorized');
}

export function authMiddleware(options: AuthOptions): express.RequestHandler {
  const { source, logger } = options;
  const passwords = new PasswordChecker();
  let bucket: { config: WebConfig; bucket: TokenBucket | undefined } | undefined;

  const authenticate = async (req: express.Request, res: express.Response, config: WebConfig): Promise<boolean> => {
    const ext = config.authorization;
    if (!ext && config.users.size === 0) return true;
    const creds = credentialsOf(req.headers.authorization);
    const role = ext ? requiredRole(req.method, req.path, options.routePrefix, options.telemetryPath) : undefined;

    let who: string;
    let grant: Grant;
    if (creds.kind === 'basic') {
      const ok = await passwords.check(creds.user, creds.password, config.users.get(creds.user));
      if (ok === undefined) {
        sendPlainError(res, 429, 'Too Many Requests: too many password checks in progress');
        return false;
      }
      if (!ok) {
        logger.debug({ user: creds.user, path: req.originalUrl }, 'authentication failed');
        unauthorized(res, config);
        return false;
      }
      if (!ext || role === undefined) return true;
      who = `user ${JSON.stringify(creds.user)}`;
      grant = ext.users.get(creds.user) ?? NO_ROLES;
    } else if (creds.kind === 'bearer' && ext) {
      const digest = crypto.createHash('sha256').update(creds.token).digest('hex');
      const token = ext.tokens.find((t) => crypto.timingSafeEqual(Buffer.from(t.sha256), Buffer.from(digest)));
      if (!token) {
        logger.debug({ path: req.originalUrl }, 'authentication failed: unknown bearer token');
        unauthorized(res, config);
        return false;
      }
      who = `token ${JSON.stringify(token.name)}`;
      grant = token;
    } else if (creds.kind === 'none' && ext && role !== undefined && ext.anonymous.has(role)) {
      return true;
    } else {
      unauthorized(res, config);
      return false;
    }
    if (role !== undefined && !grant.roles.has(role)) {
      sendPlainError(res, 403, `Forbidden: ${who} does not have the ${role} role`);
      return false;
    }
    if (grant.scope !== undefined && role === 'admin' && isLifecyclePath(req.path.toLowerCase())) {
      sendPlainError(res, 403, `Forbidden: ${who} may only act on groups matching ${String(grant.scope)}, not on the whole gateway`);
      return false;
    }
    const credential: Credential = { who, roles: grant.roles, scope: grant.scope };
    rememberCredential(req, credential);
    return true;
  };

  return (req, res, next) => {
    const config = source.current();
    for (const [name, value] of Object.entries(config.headers)) res.set(name, value);
    if (bucket?.config !== config) {
      // A reload that keeps the same limits keeps the bucket's state.
      const same = bucket && JSON.stringify(bucket.config.rateLimit) === JSON.stringify(config.rateLimit);
      const limit = config.rateLimit;
      bucket = { config, bucket: same ? bucket!.bucket : limit ? new TokenBucket(limit.intervalMs, limit.burst) : undefined };
    }
    if (bucket.bucket && !bucket.bucket.take()) return void sendPlainError(res, 429, 'Too Many Requests');
    authenticate(req, res, config).then((ok) => (ok ? next() : undefined), next);
  };
}
