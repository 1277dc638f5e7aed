/**
 * Command-line flags and their environment variables: the only module that reads process.argv and
 * process.env. Flags are declared once in FLAG_SPECS (name, type, default, help); each also reads
 * `PUSHKEEP_<NAME>` from the environment, and the command line beats the environment. Flag names
 * and semantics follow the official Pushgateway so that pushkeep can replace it in a unit file.
 */

import { parseArgs } from 'node:util';
import { formatGoDuration, parseDuration } from '../exposition/duration.js';

/** A bad flag or environment value. main prints the message and exits with status 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type FlagType = 'string' | 'boolean' | 'duration' | 'int' | 'enum' | 'list';

interface FlagSpecBase {
  readonly name: string;
  readonly help: string;
  /** Overrides the derived `PUSHKEEP_<NAME>` variable. */
  readonly env?: string;
}

export type FlagSpec = FlagSpecBase &
  (
    | { readonly type: 'string'; readonly default: string }
    | { readonly type: 'boolean'; readonly default: boolean }
    /** Default written in duration syntax, e.g. `5m`. */
    | { readonly type: 'duration'; readonly default: string }
    | { readonly type: 'int'; readonly default: number }
    | { readonly type: 'enum'; readonly default: string; readonly values: readonly string[] }
    /** Repeatable on the command line; comma-separated in the environment unless envSeparator says otherwise. */
    | { readonly type: 'list'; readonly default: readonly string[]; readonly envSeparator?: string | RegExp }
  );

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const LOG_FORMATS = ['logfmt', 'json'] as const;
export const STORAGE_SYNC_MODES = ['normal', 'full'] as const;

const FLAG_SPECS = [
  {
    name: 'web.listen-address',
    type: 'list',
    default: [':9091'],
    help: 'Address to listen on for the UI, API, pushes and scrapes. Repeat the flag for several listeners.',
  },
  { name: 'web.telemetry-path', type: 'string', default: '/metrics', help: 'Path under which to expose metrics.' },
  {
    name: 'web.route-prefix',
    type: 'string',
    default: '',
    help: 'Prefix for all routes. Defaults to the path of --web.external-url; "/" means none.',
  },
  {
    name: 'web.external-url',
    type: 'string',
    default: '',
    help: 'The URL under which pushkeep is reached from outside (behind a reverse proxy, for example).',
  },
  { name: 'web.enable-admin-api', type: 'boolean', default: false, help: 'Enable the admin API (/api/v1/admin/wipe).' },
  { name: 'web.enable-lifecycle', type: 'boolean', default: false, help: 'Enable shutdown via HTTP (/-/quit).' },
  {
    name: 'web.config.file',
    type: 'string',
    default: '',
    help: 'Path to a web configuration file (TLS and basic authentication), as for the official Pushgateway.',
  },
  {
    name: 'web.read-header-timeout',
    type: 'duration',
    default: '10s',
    help: 'Close connections whose request headers have not arrived in this time (slow clients).',
  },
  {
    name: 'web.read-timeout',
    type: 'duration',
    default: '1m',
    help: 'Close connections whose whole request (headers and body) has not arrived in this time.',
  },
  {
    name: 'push.max-body-bytes',
    type: 'int',
    default: 16 * 1024 * 1024,
    help: 'Largest push body in bytes, before and after decompression (413 above it). 0 means no limit.',
  },
  {
    name: 'push.max-series',
    type: 'int',
    default: 100_000,
    help: 'Most series one push may carry (413 above it). 0 means no limit.',
  },
  {
    name: 'push.max-labels-per-series',
    type: 'int',
    default: 128,
    help: 'Most labels one pushed series may have, grouping labels included (413 above it). 0 means no limit.',
  },
  {
    name: 'push.max-label-name-length',
    type: 'int',
    default: 1024,
    help: 'Longest label name in bytes (413 above it). 0 means no limit.',
  },
  {
    name: 'push.max-label-value-length',
    type: 'int',
    default: 16 * 1024,
    help: 'Longest label value in bytes, grouping key values included (413 above it). 0 means no limit.',
  },
  {
    name: 'storage.max-groups',
    type: 'int',
    default: 100_000,
    help: 'Most groups the store may hold; a push that would create another gets 429. 0 means no limit.',
  },
  {
    name: 'storage.max-series',
    type: 'int',
    default: 1_000_000,
    help: 'Most pushed series the store may hold; a push that would exceed it gets 429. 0 means no limit.',
  },
  {
    name: 'push.disable-consistency-check',
    type: 'boolean',
    default: false,
    help: 'Do not check pushes for consistency with the stored groups; pushes then answer 202.',
  },
  {
    name: 'push.enable-utf8-names',
    type: 'boolean',
    default: false,
    help: 'Allow UTF-8 metric and label names in pushed bodies and U__ escaped label names in push URLs.',
  },
  { name: 'log.level', type: 'enum', default: 'info', values: LOG_LEVELS, help: 'Only log messages of this severity or above.' },
  { name: 'log.format', type: 'enum', default: 'logfmt', values: LOG_FORMATS, help: 'Output format of log messages.' },
  {
    name: 'storage.path',
    type: 'string',
    default: 'data/pushkeep.db',
    help: 'SQLite database file holding the pushed groups. Ignored when --storage.url is set.',
  },
  {
    name: 'storage.url',
    type: 'string',
    default: '',
    help: 'PostgreSQL URL (postgres://user:password@host/db); when set, groups are stored there instead of SQLite.',
  },
  {
    name: 'storage.sync',
    type: 'enum',
    default: 'normal',
    values: STORAGE_SYNC_MODES,
    help: 'SQLite durability: "normal" may lose the last writes on power loss, "full" syncs every write.',
  },
  {
    name: 'retention.ttl',
    type: 'duration',
    default: '0',
    help: 'Delete groups this long after their last successful push unless a rule or a Pushkeep-TTL header says otherwise. 0 keeps them forever (the official behaviour).',
  },
  {
    name: 'retention.rule',
    type: 'list',
    default: [],
    // Rules contain commas ({job="a",instance="b"}=1h): one per line or ;-separated in the environment.
    envSeparator: /[;\n]/,
    help: 'A TTL for the groups a selector matches, e.g. job=~"flink_.*"=1h or {job="backup"}=0 (0 = forever). Repeatable; the first match wins; rules beat --retention.ttl.',
  },
  {
    name: 'retention.rules-file',
    type: 'string',
    default: '',
    help: 'YAML file with a list of retention rules in the --retention.rule syntax, used after the command line\'s.',
  },
  {
    name: 'retention.schedule',
    type: 'string',
    default: '*/30 * * * * *',
    help: 'When to delete expired groups: a cron expression with seconds (node-cron). Expired groups stop being served at once regardless.',
  },
  {
    name: 'history.retention',
    type: 'duration',
    default: '7d',
    help: 'How long push attempts are kept in the push_history view; older ones are deleted by the retention sweep. 0 keeps them forever.',
  },
  {
    name: 'persistence.file',
    type: 'string',
    default: '',
    help: 'Accepted for compatibility with the official Pushgateway and ignored: pushkeep always persists to its database.',
  },
  {
    name: 'persistence.interval',
    type: 'duration',
    default: '5m',
    help: 'Accepted for compatibility with the official Pushgateway and ignored: every write is committed before the reply.',
  },
] as const satisfies readonly FlagSpec[];

export type FlagName = (typeof FLAG_SPECS)[number]['name'];

export type ResolvedFlagSpec = FlagSpec & { readonly env: string };

/** The flag table with every environment variable name filled in, in declaration order. */
export const FLAGS: readonly ResolvedFlagSpec[] = Object.freeze(
  (FLAG_SPECS as readonly FlagSpec[]).map((spec) => Object.freeze({ ...spec, env: spec.env ?? envNameFor(spec.name) })),
);

const FLAG_BY_NAME = new Map<string, ResolvedFlagSpec>(FLAGS.map((spec) => [spec.name, spec]));

export function envNameFor(flagName: string): string {
  return `PUSHKEEP_${flagName.toUpperCase().replace(/[.-]/g, '_')}`;
}

export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];
export type StorageSync = (typeof STORAGE_SYNC_MODES)[number];

export interface Config {
  /** `--help`/`-h` was given: print helpText() and exit 0 (takes precedence over version). */
  readonly help: boolean;
  /** `--version` was given: print the version and exit 0. */
  readonly version: boolean;
  /** Positional arguments (subcommands such as `sql`); main rejects those it does not know. */
  readonly args: readonly string[];
  readonly web: {
    /** Every `--web.listen-address`, in order (the flag is repeatable, one listener each). */
    readonly listenAddresses: readonly string[];
    /** The first of listenAddresses, for a server that opens a single listener. */
    readonly listenAddress: string;
    /** Always starts with `/`. */
    readonly telemetryPath: string;
    /** The effective prefix: `''` for none, else `/x` with no trailing slash (spec §1.21, §1.22). */
    readonly routePrefix: string;
    /** As given; `''` when unset. */
    readonly externalUrl: string;
    /** Path of the external URL without trailing slash (`''` if none), for links in the UI. */
    readonly externalPath: string;
    readonly enableAdminApi: boolean;
    readonly enableLifecycle: boolean;
    readonly configFile: string;
    readonly readHeaderTimeoutMs: number;
    readonly readTimeoutMs: number;
  };
  readonly push: {
    readonly disableConsistencyCheck: boolean;
    readonly enableUtf8Names: boolean;
    /** The limits of src/domain/push-limits.ts plus the body size; 0 means unlimited. */
    readonly maxBodyBytes: number;
    readonly maxSeries: number;
    readonly maxLabelsPerSeries: number;
    readonly maxLabelNameLength: number;
    readonly maxLabelValueLength: number;
  };
  readonly log: {
    readonly level: LogLevel;
    readonly format: LogFormat;
  };
  readonly storage: {
    readonly path: string;
    /** PostgreSQL URL; `''` means SQLite at `path`. */
    readonly url: string;
    readonly sync: StorageSync;
    readonly maxGroups: number;
    readonly maxSeries: number;
  };
  /** Stale-group expiry (src/retention): rules are checked by loadRetentionSettings, not here. */
  readonly retention: {
    /** 0 = groups no rule matches never expire. */
    readonly ttlMs: number;
    readonly rules: readonly string[];
    /** '' = none. */
    readonly rulesFile: string;
    readonly schedule: string;
  };
  readonly history: {
    /** How long push_history keeps an attempt; 0 = forever. */
    readonly retentionMs: number;
  };
  /**
   * Every flag's effective value as /api/v1/status shows it: booleans "true"/"false", durations in
   * Go style, lists comma-joined, the computed route prefix, and the storage URL's password masked.
   */
  readonly flags: Readonly<Record<string, string>>;
  /** Things worth logging at startup (ignored compatibility flags, unknown PUSHKEEP_ variables). */
  readonly warnings: readonly string[];
}

type FlagValue = string | boolean | number | readonly string[];

const BOOLEAN_WORDS = new Map<string, boolean>([
  ['1', true], ['t', true], ['true', true], ['yes', true],
  ['0', false], ['f', false], ['false', false], ['no', false],
]);

/**
 * Resolves flags from argv (without the node and script entries) and the environment.
 * Throws ConfigError for an unknown flag, a repeated non-list flag or a bad value.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const { tokens, positionals } = parseCommandLine(argv);

  let help = false;
  let version = false;
  const fromArgv = new Map<string, FlagValue>();
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (token.name === 'help') {
      help = true;
      continue;
    }
    if (token.name === 'version') {
      version = true;
      continue;
    }
    const negated = !FLAG_BY_NAME.has(token.name) && token.name.startsWith('no-');
    const spec = FLAG_BY_NAME.get(negated ? token.name.slice(3) : token.name);
    if (spec === undefined) throw new ConfigError(`unknown flag ${token.rawName} (see --help)`);
    const label = `--${spec.name}`;
    if (spec.type !== 'list' && seen.has(spec.name)) {
      throw new ConfigError(`flag ${label} given more than once`);
    }
    seen.add(spec.name);
    if (spec.type === 'boolean') {
      fromArgv.set(spec.name, !negated);
    } else if (spec.type === 'list') {
      const previous = (fromArgv.get(spec.name) as readonly string[] | undefined) ?? [];
      fromArgv.set(spec.name, [...previous, token.value ?? '']);
    } else {
      fromArgv.set(spec.name, convert(spec, token.value ?? '', label));
    }
  }

  const warnings: string[] = [];
  const values = new Map<string, FlagValue>();
  const explicit = new Set<string>();
  for (const spec of FLAGS) {
    const argValue = fromArgv.get(spec.name);
    const envValue = env[spec.env];
    if (argValue !== undefined) {
      values.set(spec.name, argValue);
      explicit.add(spec.name);
    } else if (envValue !== undefined && envValue !== '') {
      // An empty variable counts as unset, as compose files often write `VAR=`.
      values.set(spec.name, convert(spec, envValue, `${spec.env} (--${spec.name})`));
      explicit.add(spec.name);
    } else {
      values.set(spec.name, defaultValue(spec));
    }
  }
  const known = new Set(FLAGS.map((spec) => spec.env));
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith('PUSHKEEP_') && !known.has(name)) {
      warnings.push(`environment variable ${name} is not a pushkeep setting and is ignored`);
    }
  }
  for (const name of ['persistence.file', 'persistence.interval'] as const) {
    if (explicit.has(name) && !(name === 'persistence.file' && values.get(name) === '')) {
      warnings.push(
        `--${name} is accepted for compatibility with the official Pushgateway and ignored: ` +
          'pushkeep stores groups in its database (--storage.path or --storage.url)',
      );
    }
  }

  const str = (name: FlagName): string => values.get(name) as string;
  const bool = (name: FlagName): boolean => values.get(name) as boolean;
  const count = (name: FlagName): number => {
    const value = values.get(name) as number;
    if (value < 0) throw new ConfigError(`invalid value "${value}" for --${name}: must not be negative (0 means no limit)`);
    return value;
  };
  const positiveMs = (name: FlagName): number => {
    const value = values.get(name) as number;
    if (value <= 0) throw new ConfigError(`invalid value for --${name}: must be longer than 0s`);
    return value;
  };

  const listenAddresses = values.get('web.listen-address') as readonly string[];
  if (listenAddresses.length === 0) {
    throw new ConfigError('invalid value for --web.listen-address: at least one address is needed');
  }
  for (const address of listenAddresses) listenAddressOrThrow(address, '--web.listen-address');

  const externalUrl = str('web.external-url');
  const externalPath = externalUrlPath(externalUrl);
  const routePrefix = computeRoutePrefix(str('web.route-prefix'), externalPath);

  const telemetryPath = str('web.telemetry-path');
  if (telemetryPath === '') throw new ConfigError('invalid value "" for --web.telemetry-path: must not be empty');

  const storageUrl = str('storage.url');
  if (storageUrl !== '') checkPostgresUrl(storageUrl);

  const flags: Record<string, string> = {};
  for (const spec of FLAGS) flags[spec.name] = displayValue(spec, values.get(spec.name) as FlagValue);
  flags['web.route-prefix'] = routePrefix;
  flags['web.telemetry-path'] = withLeadingSlash(telemetryPath);
  if (storageUrl !== '') flags['storage.url'] = redactUrl(storageUrl);

  return deepFreeze({
    help,
    version,
    args: positionals,
    web: {
      listenAddresses,
      listenAddress: listenAddresses[0] as string,
      telemetryPath: withLeadingSlash(telemetryPath),
      routePrefix,
      externalUrl,
      externalPath,
      enableAdminApi: bool('web.enable-admin-api'),
      enableLifecycle: bool('web.enable-lifecycle'),
      configFile: str('web.config.file'),
      readHeaderTimeoutMs: positiveMs('web.read-header-timeout'),
      readTimeoutMs: positiveMs('web.read-timeout'),
    },
    push: {
      disableConsistencyCheck: bool('push.disable-consistency-check'),
      enableUtf8Names: bool('push.enable-utf8-names'),
      maxBodyBytes: count('push.max-body-bytes'),
      maxSeries: count('push.max-series'),
      maxLabelsPerSeries: count('push.max-labels-per-series'),
      maxLabelNameLength: count('push.max-label-name-length'),
      maxLabelValueLength: count('push.max-label-value-length'),
    },
    log: { level: str('log.level') as LogLevel, format: str('log.format') as LogFormat },
    storage: {
      path: str('storage.path'),
      url: storageUrl,
      sync: str('storage.sync') as StorageSync,
      maxGroups: count('storage.max-groups'),
      maxSeries: count('storage.max-series'),
    },
    retention: {
      ttlMs: values.get('retention.ttl') as number,
      rules: values.get('retention.rule') as readonly string[],
      rulesFile: str('retention.rules-file'),
      schedule: str('retention.schedule'),
    },
    history: { retentionMs: values.get('history.retention') as number },
    flags,
    warnings,
  });
}

type ParsedCommandLine = {
  tokens: ReadonlyArray<{ kind: string; name: string; rawName: string; value?: string | undefined }>;
  positionals: string[];
};

function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const spec of FLAGS) {
    if (spec.type === 'boolean') {
      options[spec.name] = { type: 'boolean' };
      options[`no-${spec.name}`] = { type: 'boolean' };
    } else {
      options[spec.name] = { type: 'string', multiple: spec.type === 'list' };
    }
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rewriteBooleanValues(argv),
      options,
      strict: true,
      allowPositionals: true,
      tokens: true,
    });
  } catch (err) {
    throw rephraseParseError(err);
  }
  const tokens = parsed.tokens.map((token) =>
    token.kind === 'option'
      ? { kind: token.kind, name: token.name, rawName: token.rawName, value: token.value }
      : { kind: token.kind, name: '', rawName: '' },
  );
  return { tokens, positionals: parsed.positionals };
}

/** `--flag=true|false` for booleans, which parseArgs itself refuses. */
function rewriteBooleanValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const match = /^--([^=]+)=(.*)$/s.exec(arg);
    const spec = match ? FLAG_BY_NAME.get(match[1] as string) : undefined;
    if (match && spec?.type === 'boolean') {
      const value = BOOLEAN_WORDS.get((match[2] as string).toLowerCase());
      if (value === undefined) {
        throw new ConfigError(`invalid value "${match[2]}" for --${spec.name}: expected true or false`);
      }
      out.push(value ? `--${spec.name}` : `--no-${spec.name}`);
    } else {
      out.push(arg);
    }
  }
  return out;
}

function rephraseParseError(err: unknown): Error {
  if (!(err instanceof Error)) return new ConfigError(String(err));
  const code = (err as { code?: unknown }).code;
  const option = /'(-[^' ]+)/.exec(err.message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new ConfigError(`unknown flag ${option} (see --help)`);
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (err.message.includes('does not take an argument')) {
      return new ConfigError(`flag ${option} takes no value`);
    }
    if (err.message.includes('ambiguous')) {
      return new ConfigError(`flag ${option} needs a value; write ${option}=<value> if the value starts with "-"`);
    }
    return new ConfigError(`flag ${option} needs a value`);
  }
  return new ConfigError(err.message.split('\n')[0] ?? err.message);
}

function defaultValue(spec: FlagSpec): FlagValue {
  return spec.type === 'duration' ? parseDuration(spec.default) : spec.default;
}

/** Converts a command-line or environment string; `source` names the flag in messages. */
function convert(spec: FlagSpec, raw: string, source: string): FlagValue {
  const bad = (reason: string): ConfigError => new ConfigError(`invalid value "${raw}" for ${source}: ${reason}`);
  switch (spec.type) {
    case 'string':
      return raw;
    case 'boolean': {
      const value = BOOLEAN_WORDS.get(raw.trim().toLowerCase());
      if (value === undefined) throw bad('expected true or false');
      return value;
    }
    case 'duration':
      try {
        return parseDuration(raw);
      } catch {
        throw bad('expected a duration such as 90s, 15m, 1h30m or 7d');
      }
    case 'int': {
      const value = Number(raw.trim());
      if (!/^\s*-?\d+\s*$/.test(raw) || !Number.isSafeInteger(value)) throw bad('expected an integer');
      return value;
    }
    case 'enum':
      if (!spec.values.includes(raw)) throw bad(`expected one of ${spec.values.join(', ')}`);
      return raw;
    case 'list':
      return raw
        .split(spec.envSeparator ?? ',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
  }
}

function displayValue(spec: FlagSpec, value: FlagValue): string {
  switch (spec.type) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'duration':
      return formatGoDuration(value as number);
    case 'list':
      return (value as readonly string[]).join(',');
    default:
      return String(value);
  }
}

export interface ListenAddress {
  /** undefined means every interface. */
  readonly host: string | undefined;
  readonly port: number;
}

/** Splits `host:port` as Go's net.SplitHostPort does (`:9091`, `127.0.0.1:0`, `[::1]:9091`). */
export function parseListenAddress(address: string): ListenAddress {
  return listenAddressOrThrow(address, 'listen address');
}

function listenAddressOrThrow(address: string, source: string): ListenAddress {
  const bad = (reason: string): ConfigError => new ConfigError(`invalid value "${address}" for ${source}: ${reason}`);
  let host: string;
  let port: string;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close < 0 || address[close + 1] !== ':') throw bad('expected [host]:port');
    host = address.slice(1, close);
    port = address.slice(close + 2);
  } else {
    const colon = address.lastIndexOf(':');
    if (colon < 0) throw bad('missing port, expected host:port or :port');
    host = address.slice(0, colon);
    port = address.slice(colon + 1);
    if (host.includes(':')) throw bad('IPv6 addresses must be written in brackets, e.g. [::1]:9091');
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw bad('port must be a number from 0 to 65535');
  return { host: host === '' ? undefined : host, port: Number(port) };
}

function externalUrlPath(externalUrl: string): string {
  if (externalUrl === '') return '';
  const bad = (reason: string): ConfigError =>
    new ConfigError(`invalid value "${externalUrl}" for --web.external-url: ${reason}`);
  if (/^["']|["']$/.test(externalUrl)) throw bad('URL must not begin or end with quotes');
  let url: URL;
  try {
    url = externalUrl.startsWith('/') ? new URL(externalUrl, 'http://localhost') : new URL(externalUrl);
  } catch {
    throw bad('not a URL');
  }
  const path = url.pathname.replace(/\/+$/, '');
  return path === '' || path.startsWith('/') ? path : `/${path}`;
}

/**
 * The official computeRoutePrefix: the external URL's path when no prefix is given, `/` for none,
 * otherwise one leading and no trailing slash.
 */
function computeRoutePrefix(prefix: string, externalPath: string): string {
  const chosen = prefix === '' ? externalPath : prefix;
  const trimmed = chosen.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `/${trimmed}`;
}

function withLeadingSlash(path: string): string {
  return path.startsWith('/') ? path : `/${path}`;
}

function checkPostgresUrl(value: string): void {
  const bad = (reason: string): ConfigError =>
    new ConfigError(`invalid value for --storage.url: ${reason}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad('not a URL (expected postgres://user:password@host:5432/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw bad(`unsupported scheme "${url.protocol.replace(/:$/, '')}" (expected postgres://...)`);
  }
}

/** The status page must not show a database password. */
function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password === '') return value;
    url.password = '***';
    return url.toString();
  } catch {
    return '***';
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export function helpText(): string {
  const lines = [
    'usage: pushkeep [<flags>]',
    '       pushkeep sql [--format=table|csv|json] [<storage flags>] "<SELECT ...>"   (read-only SQL; see pushkeep sql --help)',
    '',
    'A Prometheus Pushgateway that keeps what it is told: durable (SQLite/PostgreSQL), expiring, queryable.',
    'Every flag can also be set with the environment variable shown; the command line wins.',
    '',
    'Flags:',
    '  -h, --help',
    '      Show this help and exit.',
    '  --version',
    '      Show the version and exit.',
  ];
  for (const spec of FLAGS) {
    let usage: string;
    switch (spec.type) {
      case 'boolean':
        usage = `--[no-]${spec.name}`;
        break;
      case 'enum':
        usage = `--${spec.name}=${spec.values.join('|')}`;
        break;
      case 'list':
        usage = `--${spec.name}=<value> ...`;
        break;
      default:
        usage = `--${spec.name}=<${spec.type === 'string' ? 'value' : spec.type}>`;
    }
    const shownDefault =
      spec.type === 'list' ? spec.default.join(',') : spec.type === 'duration' ? spec.default : String(spec.default);
    lines.push(`  ${usage}`, `      ${spec.help}`, `      default: ${shownDefault === '' ? '""' : shownDefault}  env: ${spec.env}`);
  }
  return `${lines.join('\n')}\n`;
}
