/**
 * The flag table: every flag once, with its type, default and help; each also reads
 * `PUSHKEEP_<NAME>` from the environment. Names and semantics follow the official Pushgateway so
 * that pushkeep can replace it in a unit file. Parsing is config.ts, the help text help.ts.
 */

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
    default: 0,
    help: 'Most labels one pushed series may have, grouping labels included (413 above it). A hardening knob: 0, the default, means no limit, as in the official.',
  },
  {
    name: 'push.max-label-name-length',
    type: 'int',
    default: 0,
    help: 'Longest label name in bytes (413 above it). A hardening knob: 0, the default, means no limit, as in the official.',
  },
  {
    name: 'push.max-label-value-length',
    type: 'int',
    default: 0,
    help: 'Longest label value in bytes, grouping key values included (413 above it). A hardening knob: 0, the default, means no limit, as in the official.',
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
    help: "YAML file with a list of retention rules in the --retention.rule syntax, used after the command line's.",
  },
  {
    name: 'retention.schedule',
    type: 'string',
    default: '*/30 * * * * *',
    help: 'When to delete expired groups: a cron expression with seconds (node-cron). Expired groups stop being served at once regardless.',
  },
  {
    name: 'aggregation.rule',
    type: 'list',
    default: [],
    envSeparator: /[;\n]/,
    help: 'The mode of the groups a selector matches when a push creates them without a Pushkeep-Aggregation header, e.g. job=~"lambda_.*"=sum (sum: POSTs add; replace: the official behaviour). Repeatable; the first match wins.',
  },
  {
    name: 'aggregation.rules-file',
    type: 'string',
    default: '',
    help: "YAML file with a list of aggregation rules in the --aggregation.rule syntax, used after the command line's.",
  },
  {
    name: 'push.idempotency-window',
    type: 'duration',
    default: '24h',
    help: "How long a push's Idempotency-Key is remembered: a repeat within it gets the first answer and is not applied again. 0 ignores the header.",
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

export const FLAG_BY_NAME = new Map<string, ResolvedFlagSpec>(FLAGS.map((spec) => [spec.name, spec]));

export function envNameFor(flagName: string): string {
  return `PUSHKEEP_${flagName.toUpperCase().replace(/[.-]/g, '_')}`;
}

export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];
export type StorageSync = (typeof STORAGE_SYNC_MODES)[number];
