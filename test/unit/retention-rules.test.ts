import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import type { GroupingKey } from '../../src/domain/grouping-key.js';
import { PushError } from '../../src/domain/push-error.js';
import { ExpiryQueue } from '../../src/render/expiry-queue.js';
import { parseTtlHeader, RetentionPolicy } from '../../src/domain/retention-policy.js';
import { loadRetentionSettings, parseRetentionRule, parseRulesFile } from '../../src/config/retention-rules.js';

function key(labels: Record<string, string>): GroupingKey {
  const pairs = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, value]) => ({ name, value }));
  return { job: labels.job ?? '', labels: pairs, id: JSON.stringify(pairs) };
}

const flags = (over: Partial<Parameters<typeof loadRetentionSettings>[0]> = {}) => ({
  ttlMs: 0,
  rules: [] as string[],
  rulesFile: '',
  schedule: '*/30 * * * * *',
  ...over,
});

describe('parseRetentionRule', () => {
  it.each([
    // [rule, group labels, matches, ttl seconds]
    ['job=~"flink_.*"=1h', { job: 'flink_tm_7f3a' }, true, 3600],
    ['job=~"flink_.*"=1h', { job: 'my_flink_tm' }, false, 3600],
    ['{job="backup",instance!=""}=7d', { job: 'backup', instance: 'db1' }, true, 7 * 86400],
    ['{job="backup",instance!=""}=7d', { job: 'backup' }, false, 7 * 86400],
    ['job!~"keep_.*" = 15m', { job: 'batch' }, true, 900],
    ['job="nightly"=0', { job: 'nightly' }, true, 0],
    ['{}=90s', { job: 'anything' }, true, 90],
    ['job="a=b"=500ms', { job: 'a=b' }, true, 0.5],
  ] as const)('%s on %j', (text, labels, matches, ttl) => {
    const rule = parseRetentionRule(text);
    expect(rule.selector.matches(key(labels))).toBe(matches);
    expect(rule.ttlSeconds).toBe(ttl);
  });

  it.each([
    ['job="x"', /expected SELECTOR=DURATION/],
    ['=1h', /expected SELECTOR=DURATION/],
    ['job="x"=', /expected SELECTOR=DURATION/],
    ['{job="a=b"}', /expected SELECTOR=DURATION/],
    ['job="x"=1hour', /"1hour" is not a duration/],
    ['job="x"=-1h', /is not a duration/],
    ['job=~"(unclosed"=1h', /bad regular expression/],
    ['job=x=1h', /expected a quoted value/],
    ['{job="x"=1h', /expected , or }/],
  ])('refuses %s', (text, message) => {
    expect(() => parseRetentionRule(text)).toThrow(ConfigError);
    expect(() => parseRetentionRule(text)).toThrow(message);
  });

  it('names the rule and where it came from', () => {
    expect(() => parseRetentionRule('job="x"=soon', '--retention.rules-file r.yml (entry 2)')).toThrow(
      'invalid retention rule "job=\\"x\\"=soon" in --retention.rules-file r.yml (entry 2): "soon" is not a duration',
    );
  });
});

describe('parseRulesFile', () => {
  it('reads a YAML list, or a list under rules:', () => {
    const list = parseRulesFile('- job=~"flink_.*"=1h\n- \'{job="backup"}=0\'\n', 'r.yml');
    expect(list.map((r) => [r.text, r.ttlSeconds])).toEqual([
      ['job=~"flink_.*"=1h', 3600],
      ['{job="backup"}=0', 0],
    ]);
    expect(parseRulesFile('rules:\n  - job="x"=2m\n', 'r.yml').map((r) => r.ttlSeconds)).toEqual([120]);
    expect(parseRulesFile('', 'r.yml')).toEqual([]);
  });

  it.each([
    ['job: x\n', /expected a YAML list/],
    ['- [a, b]\n', /entry 1 is not a string/],
    ['- job="x"=1h\n- job="y"=never\n', /entry 2\): "never" is not a duration/],
    ['- "unclosed\n', /invalid YAML/],
  ])('refuses %j', (text, message) => {
    expect(() => parseRulesFile(text, 'r.yml')).toThrow(message);
  });
});

describe('loadRetentionSettings', () => {
  it("puts command-line rules before the file's and converts the default TTL", () => {
    const settings = loadRetentionSettings(flags({ ttlMs: 86_400_000, rules: ['job="a"=1m'], rulesFile: 'r.yml' }), () => '- job="b"=2m\n');
    expect(settings.rules.map((r) => r.text)).toEqual(['job="a"=1m', 'job="b"=2m']);
    expect(settings.defaultTtlSeconds).toBe(86_400);
  });

  it('fails clearly on an unreadable file and on a bad schedule', () => {
    const missing = () => {
      throw new Error('ENOENT: no such file');
    };
    expect(() => loadRetentionSettings(flags({ rulesFile: 'nope.yml' }), missing)).toThrow('cannot read --retention.rules-file nope.yml: ENOENT');
    expect(() => loadRetentionSettings(flags({ schedule: 'every minute' }))).toThrow(/invalid value "every minute" for --retention.schedule/);
    expect(() => loadRetentionSettings(flags({ schedule: '61 * * * * *' }))).toThrow('second: 61 is a invalid expression for second');
  });

  it('reads the flags from the command line and the environment', () => {
    const config = loadConfig(['--retention.ttl=2h', '--retention.rule=job="a",x="1"=1m', '--retention.rule=job="b"=0'], {});
    expect(config.retention).toEqual({ ttlMs: 7_200_000, rules: ['job="a",x="1"=1m', 'job="b"=0'], rulesFile: '', schedule: '*/30 * * * * *' });
    // In the environment rules are split on ; or newlines, never on the commas inside a selector.
    const fromEnv = loadConfig([], { PUSHKEEP_RETENTION_RULE: '{job="a",x="1"}=1m;job="b"=0\njob="c"=5m' });
    expect(fromEnv.retention.rules).toEqual(['{job="a",x="1"}=1m', 'job="b"=0', 'job="c"=5m']);
    expect(loadConfig([], {}).retention.ttlMs).toBe(0);
  });
});

describe('RetentionPolicy', () => {
  const now = 1_000_000;
  const policy = new RetentionPolicy(
    loadRetentionSettings(flags({ ttlMs: 3_600_000, rules: ['job=~"flink_.*"=10m', 'job="keep"=0', 'job=~".*"=1d'] })),
    () => now,
  );
  const policyWithoutCatchAll = new RetentionPolicy(loadRetentionSettings(flags({ ttlMs: 3_600_000, rules: ['job="keep"=0'] })), () => now);

  it.each([
    // [description, policy, labels, overrides, expected expiry]
    ['header beats stored, rule and default', policy, { job: 'flink_x' }, { headerSeconds: 60, storedSeconds: 120 }, now + 60],
    ['header 0 keeps forever even where a rule expires', policy, { job: 'flink_x' }, { headerSeconds: 0 }, undefined],
    ['stored header TTL beats the rule', policy, { job: 'flink_x' }, { storedSeconds: 120 }, now + 120],
    ['first matching rule wins', policy, { job: 'flink_x' }, {}, now + 600],
    ['a rule of 0 keeps forever', policy, { job: 'keep' }, {}, undefined],
    ['a later rule when the first do not match', policy, { job: 'other' }, {}, now + 86_400],
    ['the default when no rule matches', policyWithoutCatchAll, { job: 'other' }, {}, now + 3600],
  ] as const)('%s', (_name, p, labels, overrides, expected) => {
    expect(p.expiresAt(key(labels), overrides)).toBe(expected);
  });

  it('is off by default: nothing expires without a header', () => {
    const off = new RetentionPolicy(loadRetentionSettings(flags()), () => now);
    expect(off.expiresAt(key({ job: 'x' }))).toBeUndefined();
    expect(off.expiresAt(key({ job: 'x' }), { headerSeconds: 30 })).toBe(now + 30);
  });

  it('counts from the last successful push, or from the last failure of a never-pushed group', () => {
    const base = { key: key({ job: 'other' }), pushFailureTimeSeconds: 900 };
    expect(policyWithoutCatchAll.expiryOf({ ...base, pushTimeSeconds: 500 })).toBe(500 + 3600);
    expect(policyWithoutCatchAll.expiryOf({ ...base, pushTimeSeconds: 0 })).toBe(900 + 3600);
    expect(policyWithoutCatchAll.expiryOf({ ...base, pushTimeSeconds: 500, ttlSeconds: 10 })).toBe(510);
  });

  it('tells expired from live with the injected clock', () => {
    expect(policy.isExpired(now)).toBe(true);
    expect(policy.isExpired(now + 0.001)).toBe(false);
    expect(policy.isExpired(undefined)).toBe(false);
  });
});

describe('parseTtlHeader', () => {
  it.each([
    [undefined, undefined],
    ['6h', 21_600],
    ['0', 0],
    ['1h30m', 5400],
    ['1500ms', 1.5],
  ] as const)('%s -> %s', (value, seconds) => {
    expect(parseTtlHeader(value)).toBe(seconds);
  });

  it.each(['', 'soon', '-1h', '6 hours', '6h, 7h'])('refuses %j with the reason', (value) => {
    expect(() => parseTtlHeader(value)).toThrow(PushError);
    expect(() => parseTtlHeader(value)).toThrow(/invalid Pushkeep-TTL header .*expected a duration/);
  });
});

describe('ExpiryQueue', () => {
  it('returns due groups once, earliest first, honouring replaced and removed times', () => {
    const q = new ExpiryQueue();
    q.set(1, 30);
    q.set(2, 10);
    q.set(3, 20);
    q.set(2, 40); // pushed again: later expiry
    q.set(4, 15);
    q.delete(4); // deleted
    q.set(5, 5);
    q.set(5, undefined); // now kept forever
    expect(q.takeDue(25)).toEqual([3]);
    expect(q.takeDue(25)).toEqual([]);
    expect(q.takeDue(100)).toEqual([1, 2]);
    expect(q.size).toBe(0);
  });

  it('stays small when one group is pushed again and again', () => {
    const q = new ExpiryQueue();
    for (let t = 0; t < 10_000; t++) q.set(7, 1000 + t);
    expect((q as unknown as { heap: unknown[] }).heap.length).toBeLessThan(200);
    expect(q.takeDue(1000 + 9998)).toEqual([]);
    expect(q.takeDue(1000 + 9999)).toEqual([7]);
  });
});
