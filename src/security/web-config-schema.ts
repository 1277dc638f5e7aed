// The web config's keys per YAML type, and strict readers of YAML nodes: unknown keys and wrong
// types are errors worded as the exporter-toolkit's yaml.UnmarshalStrict words them.
import { isMap, isScalar, isSeq, type Node as YamlNode } from 'yaml';

export const EXTENSION_KEY = 'pushkeep_authorization';

// Key sets per mapping, named after the toolkit's Go types so errors read like its errors.
export const KEYS = {
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
  'bearer token': ['name', 'sha256', 'roles', 'groups'],
  'scoped credential': ['roles', 'groups'],
} as const;

export type Fail = (message: string, node?: YamlNode | null) => never;

export interface YamlMap {
  get(key: string): YamlNode | undefined;
}

export function isNull(node: YamlNode): boolean {
  return isScalar(node) && node.value === null;
}

/** A mapping whose keys must all be in KEYS[type], like yaml.UnmarshalStrict. */
export function mapping(node: unknown, type: keyof typeof KEYS, fail: Fail): YamlMap {
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

export function entries(node: YamlNode, _type: undefined, fail: Fail): [string, YamlNode, YamlNode][] {
  if (!isMap(node)) fail(`expected a mapping, got ${describe(node)}`, node);
  const out: [string, YamlNode, YamlNode][] = [];
  for (const pair of (node as { items: { key: unknown; value: unknown }[] }).items) {
    const key = pair.key as YamlNode;
    if (!isScalar(key)) fail('expected a plain key', key);
    out.push([String((key as { value: unknown }).value), pair.value as YamlNode, key]);
  }
  return out;
}

export function describe(node: unknown): string {
  if (isSeq(node)) return '!!seq';
  if (isMap(node)) return '!!map';
  if (isScalar(node)) return `!!str \`${String(node.value)}\``;
  return 'value';
}

export function scalarString(node: YamlNode | null | undefined, fail: Fail): string {
  if (!isScalar(node) || node.value === null || typeof node.value === 'object') fail(`expected a string, got ${describe(node)}`, node);
  return String((node as { value: unknown }).value);
}

export function scalarBool(node: YamlNode, fail: Fail): boolean {
  if (!isScalar(node) || typeof node.value !== 'boolean') fail(`cannot unmarshal ${describe(node)} into bool`, node);
  return (node as { value: boolean }).value;
}

export function scalarInt(node: YamlNode, fail: Fail): number {
  if (!isScalar(node) || typeof node.value !== 'number' || !Number.isSafeInteger(node.value)) {
    fail(`cannot unmarshal ${describe(node)} into int`, node);
  }
  return (node as { value: number }).value;
}

export function stringList(node: YamlNode | undefined, fail: Fail): string[] {
  if (node === undefined || isNull(node)) return [];
  if (!isSeq(node)) fail(`cannot unmarshal ${describe(node)} into []string`, node);
  return (node as { items: YamlNode[] }).items.map((item) => scalarString(item, fail));
}
