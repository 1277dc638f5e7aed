/**
 * The operator's retention settings: `--retention.rule` (repeatable), `--retention.rules-file`,
 * `--retention.ttl` and `--retention.schedule`, checked once at startup. A rule is a PromQL-style
 * selector over grouping labels and a duration, `job=~"flink_.*"=1h` or
 * `{job="backup",instance!=""}=7d`; the first rule whose selector matches a group gives its TTL,
 * and `0` keeps matching groups forever.
 */

import { readFileSync } from 'node:fs';
import { validateDetailed } from 'node-cron';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './config-error.js';
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

/**
 * Parses a rules file: a YAML list of rule strings in the same syntax, e.g.
 * ```yaml
 * - job=~"flink_.*"=1h
 * - '{job="backup"}=0'
 * ```
 * or an object with that list under `rules`.
 */
export function parseRulesFile(text: string, path: string): RetentionRule[] {
  const source = `--retention.rules-file ${path}`;
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`invalid YAML in ${source}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return [];
  const list = Array.isArray(doc) ? doc : typeof doc === 'object' && 'rules' in doc ? (doc as { rules: unknown }).rules : undefined;
  if (!Array.isArray(list)) throw new ConfigError(`invalid ${source}: expected a YAML list of rules such as - job=~"flink_.*"=1h`);
  return list.map((item, i) => {
    if (typeof item !== 'string') {
      throw new ConfigError(`invalid ${source}: entry ${i + 1} is not a string; quote rules that start with { ("{job=\\"x\\"}=1h")`);
    }
    return parseRetentionRule(item, `${source} (entry ${i + 1})`);
  });
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
export function loadRetentionSettings(flags: RetentionFlags, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): RetentionSettings {
  const rules = flags.rules.map((text) => parseRetentionRule(text));
  if (flags.rulesFile !== '') {
    let text: string;
    try {
      text = readFile(flags.rulesFile);
    } catch (err) {
      throw new ConfigError(`cannot read --retention.rules-file ${flags.rulesFile}: ${(err as Error).message}`);
    }
    rules.push(...parseRulesFile(text, flags.rulesFile));
  }
  return Object.freeze({ rules: Object.freeze(rules), defaultTtlSeconds: flags.ttlMs / 1000, schedule: checkSchedule(flags.schedule) });
}
