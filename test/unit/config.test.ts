import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseListenAddress } from '../../src/config/config.js';
import { envNameFor, FLAGS } from '../../src/config/flags.js';
import { helpText } from '../../src/config/help.js';
import { DurationError, formatGoDuration, parseDuration } from '../../src/exposition/duration.js';

function errorOf(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
}

describe('loadConfig defaults', () => {
  const config = loadConfig([], {});

  it('matches the official defaults plus ours', () => {
    expect(config.web).toEqual({
      listenAddresses: [':9091'],
      listenAddress: ':9091',
      telemetryPath: '/metrics',
      routePrefix: '',
      externalUrl: '',
      externalPath: '',
      enableAdminApi: false,
      enableLifecycle: false,
      configFile: '',
      readHeaderTimeoutMs: 10_000,
      readTimeoutMs: 60_000,
    });
    expect(config.push).toEqual({
      disableConsistencyCheck: false,
      enableUtf8Names: false,
      maxBodyBytes: 16 * 1024 * 1024,
      maxSeries: 100_000,
      maxLabelsPerSeries: 0,
      maxLabelNameLength: 0,
      maxLabelValueLength: 0,
    });
    expect(config.log).toEqual({ level: 'info', format: 'logfmt' });
    expect(config.storage).toEqual({ path: 'data/pushkeep.db', url: '', sync: 'normal', maxGroups: 100_000, maxSeries: 1_000_000 });
    expect(config.help).toBe(false);
    expect(config.version).toBe(false);
    expect(config.warnings).toEqual([]);
  });

  it('shows every flag as /api/v1/status does (§8.2)', () => {
    expect(config.flags).toEqual({
      'web.listen-address': ':9091',
      'web.telemetry-path': '/metrics',
      'web.route-prefix': '',
      'web.external-url': '',
      'web.enable-admin-api': 'false',
      'web.enable-lifecycle': 'false',
      'web.config.file': '',
      'web.read-header-timeout': '10s',
      'web.read-timeout': '1m0s',
      'push.max-body-bytes': '16777216',
      'push.max-series': '100000',
      'push.max-labels-per-series': '0',
      'push.max-label-name-length': '0',
      'push.max-label-value-length': '0',
      'storage.max-groups': '100000',
      'storage.max-series': '1000000',
      'push.disable-consistency-check': 'false',
      'push.enable-utf8-names': 'false',
      'log.level': 'info',
      'log.format': 'logfmt',
      'storage.path': 'data/pushkeep.db',
      'storage.url': '',
      'storage.sync': 'normal',
      'persistence.file': '',
      'persistence.interval': '5m0s',
      'retention.ttl': '0s',
      'retention.rule': '',
      'retention.rules-file': '',
      'retention.schedule': '*/30 * * * * *',
      'aggregation.rule': '',
      'aggregation.rules-file': '',
      'push.idempotency-window': '24h0m0s',
      'history.retention': '168h0m0s',
    });
  });

  it('reads the aggregation rules (;-separated in the environment) and the idempotency window', () => {
    const c = loadConfig(['--aggregation.rule=job="a"=sum', '--push.idempotency-window=1h'], { PUSHKEEP_AGGREGATION_RULES_FILE: 'rules.yml' });
    expect(c.aggregation).toEqual({ rules: ['job="a"=sum'], rulesFile: 'rules.yml', idempotencyWindowMs: 3_600_000 });
    const fromEnv = loadConfig([], { PUSHKEEP_AGGREGATION_RULE: '{job="a",instance="b"}=sum;job="c"=replace' });
    expect(fromEnv.aggregation.rules).toEqual(['{job="a",instance="b"}=sum', 'job="c"=replace']);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.web)).toBe(true);
    expect(Object.isFrozen(config.web.listenAddresses)).toBe(true);
  });
});

describe('flag syntax', () => {
  it('accepts --flag=value and --flag value', () => {
    expect(loadConfig(['--log.level=debug'], {}).log.level).toBe('debug');
    expect(loadConfig(['--log.level', 'warn'], {}).log.level).toBe('warn');
    expect(loadConfig(['--web.route-prefix='], {}).web.routePrefix).toBe('');
  });

  const booleans: [string, string[], boolean][] = [
    ['bare flag', ['--web.enable-admin-api'], true],
    ['--no- form', ['--no-web.enable-admin-api'], false],
    ['=true', ['--web.enable-admin-api=true'], true],
    ['=false', ['--web.enable-admin-api=false'], false],
    ['=1', ['--web.enable-admin-api=1'], true],
    ['=FALSE', ['--web.enable-admin-api=FALSE'], false],
  ];
  it.each(booleans)('boolean %s', (_name, argv, expected) => {
    expect(loadConfig(argv, {}).web.enableAdminApi).toBe(expected);
    expect(loadConfig(argv, {}).flags['web.enable-admin-api']).toBe(String(expected));
  });

  it('--no- overrides a true environment value', () => {
    expect(loadConfig(['--no-web.enable-lifecycle'], { PUSHKEEP_WEB_ENABLE_LIFECYCLE: 'true' }).web.enableLifecycle).toBe(false);
  });

  it('repeats list flags, in order, and comma-joins them for status', () => {
    const config = loadConfig(['--web.listen-address=127.0.0.1:19592', '--web.listen-address', '127.0.0.1:19593'], {});
    expect(config.web.listenAddresses).toEqual(['127.0.0.1:19592', '127.0.0.1:19593']);
    expect(config.web.listenAddress).toBe('127.0.0.1:19592');
    expect(config.flags['web.listen-address']).toBe('127.0.0.1:19592,127.0.0.1:19593');
  });

  it('-h and --help ask for help, --version for the version', () => {
    expect(loadConfig(['-h'], {}).help).toBe(true);
    expect(loadConfig(['--help'], {}).help).toBe(true);
    expect(loadConfig(['--version'], {}).version).toBe(true);
  });

  it('keeps positional arguments for subcommands', () => {
    expect(loadConfig(['sql', '--log.level=warn'], {}).args).toEqual(['sql']);
  });
});

describe('environment variables', () => {
  it('derive their names from the flag', () => {
    expect(envNameFor('web.listen-address')).toBe('PUSHKEEP_WEB_LISTEN_ADDRESS');
    expect(envNameFor('push.disable-consistency-check')).toBe('PUSHKEEP_PUSH_DISABLE_CONSISTENCY_CHECK');
    expect(envNameFor('storage.url')).toBe('PUSHKEEP_STORAGE_URL');
    expect(FLAGS.every((spec) => spec.env === envNameFor(spec.name))).toBe(true);
  });

  it('set flags, and the command line wins', () => {
    const env = { PUSHKEEP_LOG_LEVEL: 'debug', PUSHKEEP_LOG_FORMAT: 'json', PUSHKEEP_WEB_ENABLE_ADMIN_API: 'true' };
    const fromEnv = loadConfig([], env);
    expect(fromEnv.log).toEqual({ level: 'debug', format: 'json' });
    expect(fromEnv.web.enableAdminApi).toBe(true);
    const both = loadConfig(['--log.level=error'], env);
    expect(both.log).toEqual({ level: 'error', format: 'json' });
  });

  it('split lists on commas', () => {
    expect(loadConfig([], { PUSHKEEP_WEB_LISTEN_ADDRESS: '127.0.0.1:1, 127.0.0.1:2' }).web.listenAddresses).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
  });

  it('treat an empty value as unset', () => {
    expect(loadConfig([], { PUSHKEEP_STORAGE_PATH: '' }).storage.path).toBe('data/pushkeep.db');
  });

  it('read the PostgreSQL URL and mask its password for status', () => {
    const config = loadConfig([], { PUSHKEEP_STORAGE_URL: 'postgres://pk:s3cret@db:5432/pushkeep' });
    expect(config.storage.url).toBe('postgres://pk:s3cret@db:5432/pushkeep');
    expect(config.flags['storage.url']).toBe('postgres://pk:***@db:5432/pushkeep');
  });

  it('warn about unknown PUSHKEEP_ variables', () => {
    expect(loadConfig([], { PUSHKEEP_LOG_LEVL: 'debug', HOME: '/root' }).warnings).toEqual([
      'environment variable PUSHKEEP_LOG_LEVL is not a pushkeep setting and is ignored',
    ]);
  });
});

describe('bad values', () => {
  const cases: [string, string[], NodeJS.ProcessEnv, string][] = [
    ['unknown flag', ['--web.listen-addr=:1'], {}, 'unknown flag --web.listen-addr (see --help)'],
    ['unknown short flag', ['-x'], {}, 'unknown flag -x (see --help)'],
    ['unknown --no- flag', ['--no-log.level'], {}, 'unknown flag --no-log.level (see --help)'],
    ['missing value', ['--log.level'], {}, 'flag --log.level needs a value'],
    [
      'value that looks like a flag',
      ['--web.route-prefix', '--log.level=debug'],
      {},
      'flag --web.route-prefix needs a value; write --web.route-prefix=<value> if the value starts with "-"',
    ],
    ['bad enum', ['--log.level=verbose'], {}, 'invalid value "verbose" for --log.level: expected one of debug, info, warn, error'],
    ['bad enum from env', [], { PUSHKEEP_LOG_FORMAT: 'xml' }, 'invalid value "xml" for PUSHKEEP_LOG_FORMAT (--log.format): expected one of logfmt, json'],
    [
      'bad duration',
      ['--persistence.interval=5 minutes'],
      {},
      'invalid value "5 minutes" for --persistence.interval: expected a duration such as 90s, 15m, 1h30m or 7d',
    ],
    ['bad boolean', ['--web.enable-admin-api=maybe'], {}, 'invalid value "maybe" for --web.enable-admin-api: expected true or false'],
    [
      'bad boolean from env',
      [],
      { PUSHKEEP_WEB_ENABLE_LIFECYCLE: 'on' },
      'invalid value "on" for PUSHKEEP_WEB_ENABLE_LIFECYCLE (--web.enable-lifecycle): expected true or false',
    ],
    ['repeated scalar flag', ['--log.level=info', '--log.level=debug'], {}, 'flag --log.level given more than once'],
    ['boolean and its negation', ['--web.enable-admin-api', '--no-web.enable-admin-api'], {}, 'flag --web.enable-admin-api given more than once'],
    ['bad listen address', ['--web.listen-address=9091'], {}, 'invalid value "9091" for --web.listen-address: missing port, expected host:port or :port'],
    ['bad port', ['--web.listen-address=:99999'], {}, 'invalid value ":99999" for --web.listen-address: port must be a number from 0 to 65535'],
    ['bad external URL', ['--web.external-url=not a url'], {}, 'invalid value "not a url" for --web.external-url: not a URL'],
    [
      'quoted external URL',
      ['--web.external-url="http://x/"'],
      {},
      'invalid value ""http://x/"" for --web.external-url: URL must not begin or end with quotes',
    ],
    ['storage URL scheme', ['--storage.url=mysql://db/x'], {}, 'invalid value for --storage.url: unsupported scheme "mysql" (expected postgres://...)'],
    ['empty telemetry path', ['--web.telemetry-path='], {}, 'invalid value "" for --web.telemetry-path: must not be empty'],
  ];
  it.each(cases)('%s', (_name, argv, env, message) => {
    expect(errorOf(argv, env)).toBe(message);
  });
});

describe('compatibility flags', () => {
  it('accepts --persistence.* and warns that they are ignored', () => {
    const config = loadConfig(['--persistence.file=/var/lib/pg.db', '--persistence.interval=1m'], {});
    expect(config.warnings).toHaveLength(2);
    expect(config.warnings[0]).toMatch(/^--persistence\.file is accepted for compatibility .* and ignored/);
    expect(config.warnings[1]).toMatch(/^--persistence\.interval is accepted/);
    expect(config.flags['persistence.file']).toBe('/var/lib/pg.db');
    expect(config.flags['persistence.interval']).toBe('1m0s');
  });

  it('does not warn about an explicitly empty persistence file (the official default)', () => {
    expect(loadConfig(['--persistence.file='], {}).warnings).toEqual([]);
  });
});

describe('route prefix (§1.21, §1.22)', () => {
  const cases: [string, string[], string, string][] = [
    ['default', [], '', ''],
    ['plain prefix', ['--web.route-prefix=/pg'], '/pg', ''],
    ['trailing slash removed', ['--web.route-prefix=/pg/'], '/pg', ''],
    ['leading slash added', ['--web.route-prefix=pg'], '/pg', ''],
    ['/ means none', ['--web.route-prefix=/'], '', ''],
    ['nested', ['--web.route-prefix=/a/b/'], '/a/b', ''],
    ['from the external URL path', ['--web.external-url=http://example.com/ext/'], '/ext', '/ext'],
    ['external URL without path', ['--web.external-url=http://example.com'], '', ''],
    ['external URL with only /', ['--web.external-url=http://example.com/'], '', ''],
    ['explicit prefix beats the external URL', ['--web.external-url=http://example.com/ext/', '--web.route-prefix=/pg'], '/pg', '/ext'],
    ['/ beats the external URL', ['--web.external-url=http://example.com/ext/', '--web.route-prefix=/'], '', '/ext'],
  ];
  it.each(cases)('%s', (_name, argv, prefix, externalPath) => {
    const config = loadConfig(argv, {});
    expect(config.web.routePrefix).toBe(prefix);
    expect(config.web.externalPath).toBe(externalPath);
    expect(config.flags['web.route-prefix']).toBe(prefix);
  });

  it('keeps the external URL as given in status', () => {
    expect(loadConfig(['--web.external-url=http://example.com/ext/'], {}).flags['web.external-url']).toBe('http://example.com/ext/');
  });

  it('adds a leading slash to the telemetry path', () => {
    expect(loadConfig(['--web.telemetry-path=prom'], {}).web.telemetryPath).toBe('/prom');
  });
});

describe('parseDuration', () => {
  const valid: [string, number][] = [
    ['0', 0],
    ['500ms', 500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1w', 604_800_000],
    ['1y', 31_536_000_000],
    ['1h30m', 5_400_000],
    ['1d12h', 129_600_000],
    ['5m0s', 300_000],
    ['1m30s500ms', 90_500],
    // Go syntax, as the official's --persistence.interval takes it
    ['1.5h', 5_400_000],
    ['2h45m30.5s', 9_930_500],
    ['300us', 0],
    ['0s', 0],
  ];
  it.each(valid)('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  const invalid = ['', 'abc', '5', '-5m', '5 m', '1m1h1', '1x', 'h', '1.5'];
  it.each(invalid)('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(DurationError);
  });
});

describe('formatGoDuration', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [1, '1ms'],
    [500, '500ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [2001, '2.001s'],
    [2000, '2s'],
    [60_000, '1m0s'],
    [90_000, '1m30s'],
    [300_000, '5m0s'],
    [3_600_000, '1h0m0s'],
    [5_400_000, '1h30m0s'],
    [604_800_000, '168h0m0s'],
    [-90_000, '-1m30s'],
  ];
  it.each(cases)('%d ms is %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });
});

describe('parseListenAddress', () => {
  const valid: [string, string | undefined, number][] = [
    [':9091', undefined, 9091],
    ['127.0.0.1:0', '127.0.0.1', 0],
    ['[::1]:9091', '::1', 9091],
    ['[::]:80', '::', 80],
    ['localhost:9091', 'localhost', 9091],
  ];
  it.each(valid)('%s', (address, host, port) => {
    expect(parseListenAddress(address)).toEqual({ host, port });
  });

  const invalid = ['9091', ':', ':-1', ':65536', '::1:9091', '[::1]9091', '[::1', 'host:http'];
  it.each(invalid)('refuses %j', (address) => {
    expect(() => parseListenAddress(address)).toThrow(ConfigError);
  });
});

describe('helpText', () => {
  const text = helpText();
  it('lists every flag with its default and environment variable', () => {
    for (const spec of FLAGS) {
      expect(text).toContain(spec.type === 'boolean' ? `--[no-]${spec.name}\n` : `--${spec.name}=`);
      expect(text).toContain(`env: ${spec.env}`);
    }
    expect(text).toContain('--[no-]web.enable-admin-api');
    expect(text).toContain('--log.level=debug|info|warn|error');
    expect(text).toContain('default: :9091  env: PUSHKEEP_WEB_LISTEN_ADDRESS');
    expect(text).toContain('default: 5m  env: PUSHKEEP_PERSISTENCE_INTERVAL');
    expect(text).toContain('-h, --help');
  });
});
