/**
 * The `--web.config.file` YAML: the exporter-toolkit format the official Pushgateway and Prometheus
 * read (tls_server_config, http_server_config, basic_auth_users, rate_limit), checked as strictly as
 * the toolkit checks it (unknown keys, bad hashes, unknown ciphers and headers are startup errors),
 * plus Pushkeep's own `pushkeep_authorization` key for per-role credentials and bearer tokens, each
 * optionally scoped to the groups a selector matches.
 *
 * Pure: reads the files it names and returns plain data; the HTTP and TLS layers act on it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseGoDuration } from '../exposition/duration.js';
import { LineCounter, parseDocument, isMap, isScalar, isSeq, type Node as YamlNode } from 'yaml';
import { GroupSelector } from '../domain/group-matcher.js';
import { entries, EXTENSION_KEY, isNull, mapping, scalarBool, scalarInt, scalarString, stringList, type Fail } from './web-config-schema.js';
import { tlsSettings, type TlsVersionName } from './web-config-tls.js';

export { EXTENSION_KEY } from './web-config-schema.js';
export { tlsServerOptions, type TlsVersionName } from './web-config-tls.js';

/** A web config file that cannot be used; the message names the file and, when known, the line. */
export class WebConfigError extends Error {
  override readonly name = 'WebConfigError';
}

/** What a credential may do; every request needs exactly one of them (see auth.ts). */
export const ROLES = ['push', 'scrape', 'admin', 'read', 'health'] as const;
export type Role = (typeof ROLES)[number];

export type ClientAuthType = 'NoClientCert' | 'RequestClientCert' | 'RequireAnyClientCert' | 'VerifyClientCertIfGiven' | 'RequireAndVerifyClientCert';

export interface TlsSettings {
  /** PEM text, read from cert_file/key_file or given inline as cert/key. */
  readonly cert: string;
  readonly key: string;
  /** PEM text of client_ca_file or client_ca; undefined means the system roots. */
  readonly clientCa: string | undefined;
  readonly clientAuth: ClientAuthType;
  readonly clientAllowedSans: readonly string[] | undefined;
  readonly minVersion: TlsVersionName;
  readonly maxVersion: TlsVersionName;
  /** OpenSSL cipher list for TLS 1.2 and below; undefined keeps Node's defaults. As in Go, TLS 1.3 suites are always on. */
  readonly ciphers: string | undefined;
  /** OpenSSL group names (`P-256:X25519`); undefined keeps Node's defaults. */
  readonly ecdhCurve: string | undefined;
  readonly honorCipherOrder: boolean;
  /** Files whose change means the TLS settings must be read again. */
  readonly files: readonly string[];
}

/**
 * What one credential may do: its roles, and, for a scoped credential (`{roles: [...], groups:
 * '<selector>'}`), the groups it may push to, delete, read and wipe. `scope` undefined means every
 * group, as the plain list-of-roles form always has.
 */
export interface Grant {
  readonly roles: ReadonlySet<Role>;
  readonly scope: GroupSelector | undefined;
}

export interface BearerToken extends Grant {
  /** For logs and 403 messages; never the token. */
  readonly name: string;
  /** Lower-case hex SHA-256 of the token. */
  readonly sha256: string;
}

export interface RoleAuthorization {
  /** basic_auth_users name → roles and scope. */
  readonly users: ReadonlyMap<string, Grant>;
  readonly tokens: readonly BearerToken[];
  /** Roles granted to requests without any credentials. */
  readonly anonymous: ReadonlySet<Role>;
}

export interface WebConfig {
  readonly file: string;
  readonly tls: TlsSettings | undefined;
  /** Extra response headers (only the toolkit's allowed set). */
  readonly headers: Readonly<Record<string, string>>;
  /** name → bcrypt hash. Empty means no basic auth (unless the role extension asks for credentials). */
  readonly users: ReadonlyMap<string, string>;
  /** The toolkit's rate_limit: at most `burst` requests at once, refilled one per `intervalMs`; undefined when off. */
  readonly rateLimit: { readonly intervalMs: number; readonly burst: number } | undefined;
  /** Present when the `pushkeep_authorization` extension is used. */
  readonly authorization: RoleAuthorization | undefined;
  /** http_server_config.http2 with TLS on (the toolkit's default): Pushkeep serves HTTP/1.1 only, and says so at startup. */
  readonly http2Requested: boolean;
}

/** The toolkit's extraHTTPHeaders: only these may be set, some only to these values. */
const ALLOWED_HEADERS: Record<string, readonly string[] | null> = {
  'Strict-Transport-Security': null,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': null,
  'Content-Security-Policy': null,
};

const BCRYPT_HASH = /^\$2[abxy]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

/** Reads and checks a web config file; throws WebConfigError. Relative paths are relative to the file. */
export function loadWebConfig(file: string): WebConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new WebConfigError(`web config file ${JSON.stringify(file)}: ${(err as Error).message}`);
  }
  return parseWebConfig(text, file);
}

/** As loadWebConfig, for text already read; `file` names it in errors and anchors relative paths. */
export function parseWebConfig(text: string, file: string): WebConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const fail = (message: string, node?: YamlNode | null): never => {
    const at = node?.range ? ` line ${lines.linePos(node.range[0]).line}:` : '';
    throw new WebConfigError(`web config file ${JSON.stringify(file)}:${at} ${message}`);
  };
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const line = first.linePos?.[0]?.line;
    throw new WebConfigError(`web config file ${JSON.stringify(file)}:${line ? ` line ${line}:` : ''} ${first.message.split('\n')[0]}`);
  }
  const dir = path.dirname(path.resolve(file));
  const root = doc.contents;
  // An empty file is a valid config that changes nothing, as in the toolkit.
  const top = root === null || (isScalar(root) && root.value === null) ? undefined : mapping(root, 'web.Config', fail);

  const tlsNode = top?.get('tls_server_config');
  const httpNode = top?.get('http_server_config');
  const usersNode = top?.get('basic_auth_users');
  const rateNode = top?.get('rate_limit');
  const extNode = top?.get(EXTENSION_KEY);

  const users = new Map<string, string>();
  if (usersNode && !isNull(usersNode)) {
    for (const [name, value, keyNode] of entries(usersNode, undefined, fail)) {
      const hash = scalarString(value, fail);
      if (!BCRYPT_HASH.test(hash)) {
        fail(`basic_auth_users: the password of ${JSON.stringify(name)} is not a bcrypt hash (make one with \`htpasswd -nBC 10 "" | tr -d ':\\n'\`)`, keyNode);
      }
      users.set(name, hash);
    }
  }

  const headers: Record<string, string> = {};
  let http2Requested = true;
  if (httpNode && !isNull(httpNode)) {
    const http = mapping(httpNode, 'web.HTTPConfig', fail);
    const h2 = http.get('http2');
    if (h2 !== undefined) http2Requested = scalarBool(h2, fail);
    const headersNode = http.get('headers');
    if (headersNode && !isNull(headersNode)) {
      for (const [name, value, keyNode] of entries(headersNode, undefined, fail)) {
        const v = scalarString(value, fail);
        if (!(name in ALLOWED_HEADERS)) fail(`HTTP header ${JSON.stringify(name)} can not be configured`, keyNode);
        const allowed = ALLOWED_HEADERS[name];
        if (allowed && !allowed.includes(v)) {
          fail(`invalid value for ${name}. Expected one of: ${JSON.stringify(allowed)}, but got: ${JSON.stringify(v)}`, value);
        }
        headers[name] = v;
      }
    }
  }

  let rateLimit: WebConfig['rateLimit'];
  if (rateNode && !isNull(rateNode)) {
    const rate = mapping(rateNode, 'web.RateLimiterConfig', fail);
    const interval = rate.get('interval');
    const burst = rate.get('burst');
    const intervalMs = interval === undefined ? 0 : (parseGoDuration(scalarString(interval, fail)) ?? fail('rate_limit.interval: not a duration', interval));
    const burstN = burst === undefined ? 0 : scalarInt(burst, fail);
    if (intervalMs > 0) rateLimit = { intervalMs, burst: burstN };
  }

  const tls = tlsNode && !isNull(tlsNode) ? tlsSettings(mapping(tlsNode, 'web.TLSConfig', fail), dir, fail) : undefined;
  const authorization = extNode && !isNull(extNode) ? roleAuthorization(extNode, users, fail) : undefined;

  return {
    file,
    tls,
    headers,
    users,
    rateLimit,
    authorization,
    http2Requested: Boolean(tls) && http2Requested,
  };
}

function roleAuthorization(node: YamlNode, basicUsers: ReadonlyMap<string, string>, fail: Fail): RoleAuthorization {
  const ext = mapping(node, EXTENSION_KEY, fail);
  const roleSet = (list: YamlNode | undefined, what: string): Set<Role> => {
    const names = stringList(list, fail);
    const out = new Set<Role>();
    for (const name of names) {
      if (!(ROLES as readonly string[]).includes(name)) {
        fail(`${EXTENSION_KEY}: ${what}: unknown role ${JSON.stringify(name)} (roles: ${ROLES.join(', ')})`, list);
      }
      out.add(name as Role);
    }
    return out;
  };

  const scopeOf = (node: YamlNode | undefined, what: string): GroupSelector | undefined => {
    if (node === undefined || isNull(node)) return undefined;
    const text = scalarString(node, fail);
    try {
      return GroupSelector.parse(text);
    } catch (err) {
      return fail(`${EXTENSION_KEY}: ${what}: groups: ${(err as Error).message}`, node);
    }
  };

  const users = new Map<string, Grant>();
  const usersNode = ext.get('users');
  if (usersNode && !isNull(usersNode)) {
    for (const [name, value, keyNode] of entries(usersNode, undefined, fail)) {
      if (!basicUsers.has(name)) fail(`${EXTENSION_KEY}.users: ${JSON.stringify(name)} is not in basic_auth_users`, keyNode);
      const what = `users.${name}`;
      if (isMap(value)) {
        const scoped = mapping(value, 'scoped credential', fail);
        users.set(name, { roles: roleSet(scoped.get('roles'), what), scope: scopeOf(scoped.get('groups'), what) });
      } else {
        users.set(name, { roles: roleSet(value, what), scope: undefined });
      }
    }
  }
  for (const name of basicUsers.keys()) {
    if (!users.has(name)) {
      fail(`${EXTENSION_KEY}.users: basic_auth_users has ${JSON.stringify(name)} but no roles are given for it`);
    }
  }

  const tokens: BearerToken[] = [];
  const tokensNode = ext.get('bearer_tokens');
  if (tokensNode && !isNull(tokensNode)) {
    if (!isSeq(tokensNode)) fail(`${EXTENSION_KEY}.bearer_tokens: expected a list`, tokensNode);
    for (const item of (tokensNode as { items: YamlNode[] }).items) {
      const t = mapping(item, 'bearer token', fail);
      const nameNode = t.get('name');
      const hashNode = t.get('sha256');
      if (!nameNode || !hashNode) fail(`${EXTENSION_KEY}.bearer_tokens: every token needs a name and a sha256`, item);
      const name = scalarString(nameNode, fail);
      const sha256 = scalarString(hashNode, fail).toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(sha256)) {
        fail(`${EXTENSION_KEY}.bearer_tokens: ${JSON.stringify(name)}: sha256 must be 64 hex digits (printf %s "$TOKEN" | sha256sum)`, hashNode);
      }
      if (tokens.some((other) => other.sha256 === sha256)) fail(`${EXTENSION_KEY}.bearer_tokens: ${JSON.stringify(name)} repeats a token`, hashNode);
      const what = `bearer_tokens.${name}`;
      tokens.push({ name, sha256, roles: roleSet(t.get('roles'), what), scope: scopeOf(t.get('groups'), what) });
    }
  }
  return { users, tokens, anonymous: roleSet(ext.get('anonymous'), 'anonymous') };
}

/** A cheap fingerprint of the config file and the files it names: changes when any of them changes. */
export function fileStamp(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const s = fs.statSync(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}
