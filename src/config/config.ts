/**
 * Command-line flags and their environment variables: the only module that reads process.argv and
 * process.env. Flags are declared once in FLAG_SPECS (name, type, default, help); each also reads
 * `PUSHKEEP_<NAME>` from the environment, and the command line beats the environment. Flag names
 * and semantics follow the official Pushgateway so that pushkeep can replace it in a unit file.
 */

import { parseArgs } from 'node:util';

export { ConfigError } from './config-error.js';
export { parseListenAddress, type ListenAddress } from './addresses.js';
import { formatGoDuration, parseDuration } from '../exposition/duration.js';
import { checkPostgresUrl, computeRoutePrefix, externalUrlPath, listenAddressOrThrow, redactUrl, withLeadingSlash } from './addresses.js';
import { ConfigError } from './config-error.js';
import { FLAG_BY_NAME, FLAGS, type FlagName, type FlagSpec, type LogFormat, type LogLevel, type StorageSync } from './flags.js';

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
    /** The effective prefix: `''` for none, else `/x` with no trailing slash (as the official derives it). */
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
  /** Stale-group expiry (src/domain/retention-policy.ts, src/config/retention-rules.ts): rules are checked by loadRetentionSettings, not here. */
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
  /** Aggregating groups (src/domain/aggregation.ts, src/config/aggregation-rules.ts): rules are checked by loadAggregationRules. */
  readonly aggregation: {
    readonly rules: readonly string[];
    /** '' = none. */
    readonly rulesFile: string;
    /** How long an Idempotency-Key is kept; 0 = the header is ignored. */
    readonly idempotencyWindowMs: number;
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
  ['1', true],
  ['t', true],
  ['true', true],
  ['yes', true],
  ['0', false],
  ['f', false],
  ['false', false],
  ['no', false],
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
    aggregation: {
      rules: values.get('aggregation.rule') as readonly string[],
      rulesFile: str('aggregation.rules-file'),
      idempotencyWindowMs: values.get('push.idempotency-window') as number,
    },
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
    token.kind === 'option' ? { kind: token.kind, name: token.name, rawName: token.rawName, value: token.value } : { kind: token.kind, name: '', rawName: '' },
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

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
