/**
 * The `--web.config.file` YAML: the exporter-toolkit format the official Pushgateway and Prometheus
 * read (tls_server_config, http_server_config, basic_auth_users, rate_limit), checked as strictly as
 * the toolkit checks it (unknown keys, bad hashes, unknown ciphers and headers are startup errors),
 * plus Pushkeep's own `pushkeep_authorization` key for per-role credentials and bearer tokens.
 *
 * Pure: reads the files it names and returns plain data; the HTTP and TLS layers act on it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { parseGoDuration } from '../exposition/duration.js';
import { LineCounter, parseDocument, isMap, isScalar, isSeq, type Node as YamlNode } from 'yaml';

/** A web config file that cannot be used; the message names the file and, when known, the line. */
export class WebConfigError extends Error {
  override readonly name = 'WebConfigError';
}

/** What a credential may do; every request needs exactly one of them (see auth.ts). */
export const ROLES = ['push', 'scrape', 'admin', 'read', 'health'] as const;
export type Role = (typeof ROLES)[number];

export type ClientAuthType =
  | 'NoClientCert'
  | 'RequestClientCert'
  | 'RequireAnyClientCert'
  | 'VerifyClientCertIfGiven'
  | 'RequireAndVerifyClientCert';

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

export interface BearerToken {
  /** For logs and 403 messages; never the token. */
  readonly name: string;
  /** Lower-case hex SHA-256 of the token. */
  readonly sha256: string;
  readonly roles: ReadonlySet<Role>;
}

export interface RoleAuthorization {
  /** basic_auth_users name → roles. */
  readonly users: ReadonlyMap<string, ReadonlySet<Role>>;
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

export type TlsVersionName = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

const TLS_VERSIONS: Record<string, TlsVersionName> = {
  TLS10: 'TLSv1',
  TLS11: 'TLSv1.1',
  TLS12: 'TLSv1.2',
  TLS13: 'TLSv1.3',
};

/**
 * Go's tls.CipherSuites() names (the ones the toolkit accepts) → OpenSSL names. Go ignores
 * cipher_suites for TLS 1.3, so the three TLS 1.3 names are accepted and have no effect here either.
 */
const GO_CIPHERS: Record<string, string | null> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_AES_128_GCM_SHA256: null,
  TLS_AES_256_GCM_SHA384: null,
  TLS_CHACHA20_POLY1305_SHA256: null,
};

const GO_CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };

const CLIENT_AUTH: Record<string, ClientAuthType> = {
  '': 'NoClientCert',
  NoClientCert: 'NoClientCert',
  RequestClientCert: 'RequestClientCert',
  RequireAnyClientCert: 'RequireAnyClientCert',
  // The toolkit keeps this old spelling working.
  RequireClientCert: 'RequireAnyClientCert',
  VerifyClientCertIfGiven: 'VerifyClientCertIfGiven',
  RequireAndVerifyClientCert: 'RequireAndVerifyClientCert',
};

/** The toolkit's extraHTTPHeaders: only these may be set, some only to these values. */
const ALLOWED_HEADERS: Record<string, readonly string[] | null> = {
  'Strict-Transport-Security': null,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': null,
  'Content-Security-Policy': null,
};

export const EXTENSION_KEY = 'pushkeep_authorization';

// Key sets per mapping, named after the toolkit's Go types so errors read like its errors.
const KEYS = {
  'web.Config': ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit', EXTENSION_KEY],
  'web.TLSConfig': [
    'cert',
    'key',
    'client_ca',
    'cert_file',
    'key_file',
    'client_auth_type',
    'client_ca_file',
    'cipher_suites',
    'curve_preferences',
    'min_version',
    'max_version',
    'prefer_server_cipher_suites',
    'client_allowed_sans',
  ],
  'web.HTTPConfig': ['http2', 'headers'],
  'web.RateLimiterConfig': ['burst', 'interval'],
  [EXTENSION_KEY]: ['users', 'bearer_tokens', 'anonymous'],
  'bearer token': ['name', 'sha256', 'roles'],
} as const;

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
    throw new WebConfigError(
      `web config file ${JSON.stringify(file)}:${line ? ` line ${line}:` : ''} ${first.message.split('\n')[0]}`,
    );
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

type Fail = (message: string, node?: YamlNode | null) => never;

interface YamlMap {
  get(key: string): YamlNode | undefined;
}

function isNull(node: YamlNode): boolean {
  return isScalar(node) && node.value === null;
}

/** A mapping whose keys must all be in KEYS[type], like yaml.UnmarshalStrict. */
function mapping(node: unknown, type: keyof typeof KEYS, fail: Fail): YamlMap {
  if (!isMap(node)) fail(`cannot unmarshal ${describe(node)} into ${type}`, node as YamlNode);
  const allowed: readonly string[] = KEYS[type];
  const values = new Map<string, YamlNode>();
  for (const pair of (node as { items: { key: unknown; value: unknown }[] }).items) {
    const key = pair.key;
    const name = isScalar(key) ? String(key.value) : '';
    if (!allowed.includes(name)) fail(`field ${name} not found in type ${type}`, key as YamlNode);
    values.set(name, pair.value as YamlNode);
  }
  return { get: (key) => values.get(key) ?? undefined };
}

function entries(node: YamlNode, _type: undefined, fail: Fail): [string, YamlNode, YamlNode][] {
  if (!isMap(node)) fail(`expected a mapping, got ${describe(node)}`, node);
  const out: [string, YamlNode, YamlNode][] = [];
  for (const pair of (node as { items: { key: unknown; value: unknown }[] }).items) {
    const key = pair.key as YamlNode;
    if (!isScalar(key)) fail('expected a plain key', key);
    out.push([String((key as { value: unknown }).value), pair.value as YamlNode, key]);
  }
  return out;
}

function describe(node: unknown): string {
  if (isSeq(node)) return '!!seq';
  if (isMap(node)) return '!!map';
  if (isScalar(node)) return `!!str \`${String(node.value)}\``;
  return 'value';
}

function scalarString(node: YamlNode | null | undefined, fail: Fail): string {
  if (!isScalar(node) || node.value === null || typeof node.value === 'object') fail(`expected a string, got ${describe(node)}`, node);
  return String((node as { value: unknown }).value);
}

function scalarBool(node: YamlNode, fail: Fail): boolean {
  if (!isScalar(node) || typeof node.value !== 'boolean') fail(`cannot unmarshal ${describe(node)} into bool`, node);
  return (node as { value: boolean }).value;
}

function scalarInt(node: YamlNode, fail: Fail): number {
  if (!isScalar(node) || typeof node.value !== 'number' || !Number.isSafeInteger(node.value)) {
    fail(`cannot unmarshal ${describe(node)} into int`, node);
  }
  return (node as { value: number }).value;
}

function stringList(node: YamlNode | undefined, fail: Fail): string[] {
  if (node === undefined || isNull(node)) return [];
  if (!isSeq(node)) fail(`cannot unmarshal ${describe(node)} into []string`, node);
  return (node as { items: YamlNode[] }).items.map((item) => scalarString(item, fail));
}

function tlsSettings(tls: YamlMap, dir: string, fail: Fail): TlsSettings | undefined {
  const str = (key: string): string | undefined => {
    const node = tls.get(key);
    return node === undefined || isNull(node) ? undefined : scalarString(node, fail);
  };
  const resolve = (p: string | undefined): string | undefined => (p ? path.resolve(dir, p) : undefined);
  const certFile = resolve(str('cert_file'));
  const keyFile = resolve(str('key_file'));
  const caFile = resolve(str('client_ca_file'));
  const certInline = str('cert');
  const keyInline = str('key');
  const caInline = str('client_ca');
  const clientAuthName = str('client_auth_type') ?? '';

  const enabled = Boolean(certFile || certInline || keyFile || keyInline || caFile || caInline || clientAuthName);
  if (!enabled) return undefined;
  if (!certFile && !certInline) fail('tls_server_config: missing one of cert or cert_file');
  if (!keyFile && !keyInline) fail('tls_server_config: missing one of key or key_file');

  const read = (what: string, file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      return fail(`tls_server_config: failed to read ${what} (${file}): ${(err as Error).message}`);
    }
  };
  const cert = certFile ? read('cert_file', certFile) : certInline!;
  const key = keyFile ? read('key_file', keyFile) : keyInline!;
  const clientCa = caFile ? read('client_ca_file', caFile) : caInline;
  try {
    crypto.createPrivateKey(key);
    new crypto.X509Certificate(cert);
  } catch (err) {
    fail(`tls_server_config: failed to load X509KeyPair: ${(err as Error).message}`);
  }

  const clientAuth = CLIENT_AUTH[clientAuthName];
  if (!clientAuth) fail(`tls_server_config: invalid ClientAuth: ${clientAuthName}`, tls.get('client_auth_type'));
  if (clientCa !== undefined && clientAuth === 'NoClientCert') {
    fail("tls_server_config: client CA's have been configured without a Client Auth Policy");
  }
  const sansNode = tls.get('client_allowed_sans');
  const clientAllowedSans = sansNode === undefined || isNull(sansNode) ? undefined : stringList(sansNode, fail);
  if (clientAllowedSans && clientAuth !== 'RequireAnyClientCert' && clientAuth !== 'RequireAndVerifyClientCert') {
    fail('tls_server_config: client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert');
  }

  const version = (key: string, fallback: TlsVersionName): TlsVersionName => {
    const name = str(key);
    if (name === undefined) return fallback;
    const v = TLS_VERSIONS[name];
    if (!v) fail(`tls_server_config: unknown TLS version: ${name}`, tls.get(key));
    return v!;
  };
  const minVersion = version('min_version', 'TLSv1.2');
  const maxVersion = version('max_version', 'TLSv1.3');

  const cipherNames = stringList(tls.get('cipher_suites'), fail);
  const ciphers: string[] = [];
  for (const name of cipherNames) {
    if (!(name in GO_CIPHERS)) fail(`tls_server_config: unknown cipher: ${name}`, tls.get('cipher_suites'));
    const openssl = GO_CIPHERS[name];
    if (openssl) ciphers.push(openssl);
  }
  const curveNames = stringList(tls.get('curve_preferences'), fail);
  const curves = curveNames.map((name) => GO_CURVES[name] ?? fail(`tls_server_config: unknown curve: ${name}`, tls.get('curve_preferences')));
  const preferNode = tls.get('prefer_server_cipher_suites');
  const honorCipherOrder = preferNode === undefined ? true : scalarBool(preferNode, fail);

  return {
    cert,
    key,
    clientCa,
    clientAuth: clientAuth!,
    clientAllowedSans,
    minVersion,
    maxVersion,
    // TLS 1.3 suites named in a cipher list would replace Node's TLS 1.3 defaults; Go keeps all of them.
    ciphers: ciphers.length > 0 ? ciphers.join(':') : undefined,
    ecdhCurve: curves.length > 0 ? curves.join(':') : undefined,
    honorCipherOrder,
    files: [certFile, keyFile, caFile].filter((f): f is string => f !== undefined),
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

  const users = new Map<string, Set<Role>>();
  const usersNode = ext.get('users');
  if (usersNode && !isNull(usersNode)) {
    for (const [name, value, keyNode] of entries(usersNode, undefined, fail)) {
      if (!basicUsers.has(name)) fail(`${EXTENSION_KEY}.users: ${JSON.stringify(name)} is not in basic_auth_users`, keyNode);
      users.set(name, roleSet(value, `users.${name}`));
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
      tokens.push({ name, sha256, roles: roleSet(t.get('roles'), `bearer_tokens.${name}`) });
    }
  }
  return { users, tokens, anonymous: roleSet(ext.get('anonymous'), 'anonymous') };
}

/** Node's TLS options for a TlsSettings (secure context plus the client-certificate request). */
export function tlsServerOptions(tls: TlsSettings): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.clientCa !== undefined ? { ca: tls.clientCa } : {}),
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
    ...(tls.ecdhCurve !== undefined ? { ecdhCurve: tls.ecdhCurve } : {}),
    honorCipherOrder: tls.honorCipherOrder,
    requestCert: tls.clientAuth !== 'NoClientCert',
    // Only this type is refused by the handshake itself; the others are checked after it (server.ts).
    rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert',
  };
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
