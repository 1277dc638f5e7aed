/**
 * The operator's retention settings: `--retention.rule` (repeatable), `--retention.rules-file`,
 * `--retention.ttl` and `--retention.schedule`, checked once at startup. A rule is a PromQL-style
 * selector over grouping labels and a duration, `job=~"flink_.*"=1h` or
 * `{job="backup",instance!=""}=7d`; the first rule whose selector matches a group gives its TTL,
 * and `0` keeps matching groups forever.
 */

import { validateDetailed } from 'node-cron';
import { ConfigError } from './config-error.js';
import { loadRules, parseRulesFile as parseRulesFileOf, type RuleKind } from './rules-file.js';
import { parseDuration } from '../exposition/duration.js';
import type { RetentionRule, RetentionSettings } from '../domain/retention-policy.js';
import { GroupSelector } from '../domain/group-matcher.js';
import { PushError } from '../domain/push-error.js';

/**
 * Parses one rule, `SELECTOR=DURATION`. The duration follows the last `=`, since a duration never
 * contains one. `source` names where the rule came from in the ConfigError.
 */
export function parseRetentionRule(text: string, source = '--retention.rule'): RetentionRule {
  const bad = (reason: string): ConfigError => new ConfigError(`invalid retention rule ${JSON.stringify(text)} in ${source}: ${reason}`);
  const cut = text.lastIndexOf('=');
  const selectorText = cut < 0 ? '' : text.slice(0, cut).trim();
  const durationText = cut < 0 ? '' : text.slice(cut + 1).trim();
  if (cut < 0 || selectorText === '' || /["'`}]$/.test(durationText) || durationText === '') {
    throw bad('expected SELECTOR=DURATION, e.g. job=~"flink_.*"=1h or {job="backup"}=7d');
  }
  let ttlMs: number;
  try {
    ttlMs = parseDuration(durationText);
  } catch {
    throw bad(`"${durationText}" is not a duration such as 90s, 15m, 1h or 7d (0 keeps matching groups forever)`);
  }
  let selector: GroupSelector;
  try {
    // `{}` matches every group: a catch-all rule, the same as --retention.ttl at that position.
    selector = GroupSelector.parse(selectorText, selectorText.replace(/\s/g, '') === '{}');
  } catch (err) {
    if (err instanceof PushError) throw bad(err.message);
    throw err;
  }
  return { text, selector, ttlSeconds: ttlMs / 1000 };
}

const RETENTION_RULES: RuleKind<RetentionRule> = {
  flag: 'retention',
  exampleValue: '1h',
  exampleSelector: 'job=~"flink_.*"',
  parse: (text, source) => parseRetentionRule(text, source),
};

/** A rules file: a YAML list of rule strings, or an object with that list under `rules`. */
export function parseRulesFile(text: string, path: string): RetentionRule[] {
  return parseRulesFileOf(RETENTION_RULES, text, path);
}

/** Throws ConfigError unless `schedule` is a cron expression node-cron accepts. */
export function checkSchedule(schedule: string): string {
  const result = validateDetailed(schedule);
  if (!result.valid) {
    const reasons = result.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    throw new ConfigError(`invalid value "${schedule}" for --retention.schedule: ${reasons || 'not a cron expression'} (e.g. */30 * * * * * for every 30 s)`);
  }
  return schedule;
}

export interface RetentionFlags {
  readonly ttlMs: number;
  readonly rules: readonly string[];
  /** '' = none. */
  readonly rulesFile: string;
  readonly schedule: string;
}

/** The settings from the flags, the rules file read now; throws ConfigError on anything wrong. */
export function loadRetentionSettings(flags: RetentionFlags, readFile?: (path: string) => string): RetentionSettings {
  const rules = loadRules(RETENTION_RULES, flags, readFile);
  return Object.freeze({ rules: Object.freeze(rules), defaultTtlSeconds: flags.ttlMs / 1000, schedule: checkSchedule(flags.schedule) });
}
