/**
 * The operator's aggregation rules: `--aggregation.rule` (repeatable) and
 * `--aggregation.rules-file`, checked once at startup. A rule is a selector over grouping labels
 * and a mode, in the syntax of the retention rules: `job=~"lambda_.*"=sum`,
 * `{job="ci",instance!=""}=replace`. The first rule whose selector matches a new group gives its
 * mode; a Pushkeep-Aggregation header on the creating push beats every rule.
 */

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './config-error.js';
import { AggregationPolicy, isAggregationMode, type AggregationRule } from '../domain/aggregation.js';
import { GroupSelector } from '../domain/group-matcher.js';
import { PushError } from '../domain/push-error.js';

/** Parses `SELECTOR=MODE`; the mode follows the last `=`. `source` names where the rule came from. */
export function parseAggregationRule(text: string, source = '--aggregation.rule'): AggregationRule {
  const bad = (reason: string): ConfigError => new ConfigError(`invalid aggregation rule ${JSON.stringify(text)} in ${source}: ${reason}`);
  const cut = text.lastIndexOf('=');
  const selectorText = cut < 0 ? '' : text.slice(0, cut).trim();
  const mode = cut < 0 ? '' : text.slice(cut + 1).trim();
  if (cut < 0 || selectorText === '' || /["'`}]$/.test(mode) || mode === '') {
    throw bad('expected SELECTOR=MODE, e.g. job=~"lambda_.*"=sum or {job="ci"}=replace');
  }
  if (!isAggregationMode(mode)) throw bad(`"${mode}" is not a mode: expected sum or replace`);
  try {
    return { text, selector: GroupSelector.parse(selectorText, selectorText.replace(/\s/g, '') === '{}'), mode };
  } catch (err) {
    if (err instanceof PushError) throw bad(err.message);
    throw err;
  }
}

/** A rules file: a YAML list of rule strings, or an object with that list under `rules`. */
export function parseAggregationRulesFile(text: string, path: string): AggregationRule[] {
  const source = `--aggregation.rules-file ${path}`;
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`invalid YAML in ${source}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return [];
  const list = Array.isArray(doc) ? doc : typeof doc === 'object' && 'rules' in doc ? (doc as { rules: unknown }).rules : undefined;
  if (!Array.isArray(list)) throw new ConfigError(`invalid ${source}: expected a YAML list of rules such as - job=~"lambda_.*"=sum`);
  return list.map((item, i) => {
    if (typeof item !== 'string')
      throw new ConfigError(`invalid ${source}: entry ${i + 1} is not a string; quote rules that start with { ("{job=\\"x\\"}=sum")`);
    return parseAggregationRule(item, `${source} (entry ${i + 1})`);
  });
}

export interface AggregationFlags {
  readonly rules: readonly string[];
  /** '' = none. */
  readonly rulesFile: string;
}

/** The policy from the flags, the rules file read now; throws ConfigError on anything wrong. */
export function loadAggregationPolicy(flags: AggregationFlags, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): AggregationPolicy {
  const rules = flags.rules.map((text) => parseAggregationRule(text));
  if (flags.rulesFile !== '') {
    let text: string;
    try {
      text = readFile(flags.rulesFile);
    } catch (err) {
      throw new ConfigError(`cannot read --aggregation.rules-file ${flags.rulesFile}: ${(err as Error).message}`);
    }
    rules.push(...parseAggregationRulesFile(text, flags.rulesFile));
  }
  return new AggregationPolicy(Object.freeze(rules));
}
