/**
 * The operator's aggregation rules: `--aggregation.rule` (repeatable) and
 * `--aggregation.rules-file`, checked once at startup. A rule is a selector over grouping labels
 * and a mode, in the syntax of the retention rules: `job=~"lambda_.*"=sum`,
 * `{job="ci",instance!=""}=replace`. The first rule whose selector matches a new group gives its
 * mode; a Pushkeep-Aggregation header on the creating push beats every rule.
 */

import { ConfigError } from './config-error.js';
import { loadRules, parseRulesFile, type RuleKind } from './rules-file.js';
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

const AGGREGATION_RULES: RuleKind<AggregationRule> = {
  flag: 'aggregation',
  exampleValue: 'sum',
  exampleSelector: 'job=~"lambda_.*"',
  parse: (text, source) => parseAggregationRule(text, source),
};

/** A rules file: a YAML list of rule strings, or an object with that list under `rules`. */
export function parseAggregationRulesFile(text: string, path: string): AggregationRule[] {
  return parseRulesFile(AGGREGATION_RULES, text, path);
}

export interface AggregationFlags {
  readonly rules: readonly string[];
  /** '' = none. */
  readonly rulesFile: string;
}

/** The policy from the flags, the rules file read now; throws ConfigError on anything wrong. */
export function loadAggregationPolicy(flags: AggregationFlags, readFile?: (path: string) => string): AggregationPolicy {
  const rules = loadRules(AGGREGATION_RULES, flags, readFile);
  return new AggregationPolicy(Object.freeze(rules));
}
