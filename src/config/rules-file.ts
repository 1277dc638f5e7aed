import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './config-error.js';

/** One kind of `SELECTOR=VALUE` rule that a repeatable flag and a rules file both give. */
export interface RuleKind<R> {
  /** The flags' common stem, e.g. `retention` for --retention.rule and --retention.rules-file. */
  readonly flag: string;
  /** A value a rule may take, for the messages' examples: `1h`, `sum`. */
  readonly exampleValue: string;
  /** An example selector for the messages: `job=~"flink_.*"`. */
  readonly exampleSelector: string;
  /** Parses one rule; `source` names where it came from in the ConfigError. */
  parse(text: string, source?: string): R;
}

/** A rules file: a YAML list of rule strings, or an object with that list under `rules`. */
export function parseRulesFile<R>(kind: RuleKind<R>, text: string, path: string): R[] {
  const source = `--${kind.flag}.rules-file ${path}`;
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`invalid YAML in ${source}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return [];
  const list = Array.isArray(doc) ? doc : typeof doc === 'object' && 'rules' in doc ? (doc as { rules: unknown }).rules : undefined;
  if (!Array.isArray(list)) {
    throw new ConfigError(`invalid ${source}: expected a YAML list of rules such as - ${kind.exampleSelector}=${kind.exampleValue}`);
  }
  return list.map((item, i) => {
    if (typeof item !== 'string') {
      throw new ConfigError(`invalid ${source}: entry ${i + 1} is not a string; quote rules that start with { ("{job=\\"x\\"}=${kind.exampleValue}")`);
    }
    return kind.parse(item, `${source} (entry ${i + 1})`);
  });
}

/** The command line's rules, then the rules file's (read now, when one is named); throws ConfigError. */
export function loadRules<R>(
  kind: RuleKind<R>,
  flags: { readonly rules: readonly string[]; readonly rulesFile: string },
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): R[] {
  const rules = flags.rules.map((text) => kind.parse(text));
  if (flags.rulesFile !== '') {
    let text: string;
    try {
      text = readFile(flags.rulesFile);
    } catch (err) {
      throw new ConfigError(`cannot read --${kind.flag}.rules-file ${flags.rulesFile}: ${(err as Error).message}`);
    }
    rules.push(...parseRulesFile(kind, text, flags.rulesFile));
  }
  return rules;
}
