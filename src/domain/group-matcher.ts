/**
 * PromQL-style label matchers over grouping labels, for the admin endpoint that deletes groups by
 * selector: `{job="backup",instance=~"db-.*"}`. Same syntax and semantics as Prometheus selectors:
 * `=`, `!=`, `=~`, `!~`; regexes are anchored at both ends; a label a group does not have matches
 * as the empty string.
 */

import type { GroupingKey } from './grouping-key.js';
import { PushError } from './push-error.js';
import { LABEL_NAME_PATTERN } from '../exposition/names.js';

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  readonly name: string;
  readonly op: MatchOp;
  readonly value: string;
}

/** A compiled matcher: `test` gets the group's value for the label ('' when absent). */
interface Compiled extends LabelMatcher {
  test(value: string): boolean;
}

/** A selector: every matcher must hold. */
export class GroupSelector {
  private constructor(readonly matchers: readonly Compiled[]) {}

  /**
   * Parses `{a="x",b=~"y.*"}`; the braces may be left out. Throws PushError('invalid') with a
   * message naming the problem. An empty selector is refused unless `allowEmpty`: deleting every
   * group by a typo must not happen.
   */
  static parse(text: string, allowEmpty = false): GroupSelector {
    const matchers = parseMatchers(text);
    if (matchers.length === 0 && !allowEmpty) throw bad(text, 'at least one matcher is needed');
    return new GroupSelector(matchers);
  }

  /** Does the group's grouping key satisfy every matcher? */
  matches(key: GroupingKey): boolean {
    for (const m of this.matchers) {
      let value = '';
      for (const l of key.labels) {
        if (l.name === m.name) {
          value = l.value;
          break;
        }
      }
      if (!m.test(value)) return false;
    }
    return true;
  }

  /** The selector in its canonical form, `{job=~"team_a_.*",env="prod"}`, whatever spacing or quotes it was written with. */
  toString(): string {
    return `{${this.matchers.map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`).join(',')}}`;
  }
}

/** True when the group matches any of the selectors (Prometheus' `match[]` is an OR of selectors). */
export function matchesAny(selectors: readonly GroupSelector[], key: GroupingKey): boolean {
  return selectors.some((s) => s.matches(key));
}

function bad(text: string, reason: string): PushError {
  return new PushError('invalid', `invalid matcher ${JSON.stringify(text)}: ${reason}`);
}

const NAME = new RegExp(LABEL_NAME_PATTERN, 'y');
const OP = /(=~|!~|!=|=)/y;
const SPACE = /\s*/y;

function parseMatchers(text: string): Compiled[] {
  let i = 0;
  const skip = () => {
    SPACE.lastIndex = i;
    SPACE.exec(text);
    i = SPACE.lastIndex;
  };
  skip();
  const braced = text[i] === '{';
  if (braced) i++;
  const out: Compiled[] = [];
  for (;;) {
    skip();
    if (braced && text[i] === '}') {
      i++;
      break;
    }
    if (!braced && i >= text.length) break;
    NAME.lastIndex = i;
    const name = NAME.exec(text)?.[0];
    if (name === undefined) throw bad(text, `expected a label name at position ${i}`);
    i += name.length;
    skip();
    OP.lastIndex = i;
    const op = OP.exec(text)?.[0] as MatchOp | undefined;
    if (op === undefined) throw bad(text, `expected =, !=, =~ or !~ after ${name}`);
    i += op.length;
    skip();
    const [value, end] = readQuoted(text, i);
    i = end;
    out.push(compile({ name, op, value }, text));
    skip();
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (braced && text[i] === '}') {
      i++;
      break;
    }
    if (!braced && i >= text.length) break;
    throw bad(text, `expected , or } at position ${i}`);
  }
  skip();
  if (i < text.length) throw bad(text, `unexpected ${JSON.stringify(text.slice(i))} after the selector`);
  return out;
}

/** A "…", '…' or `…` string with Go escapes (\\ \" \' \n \t); returns the value and the index after it. */
function readQuoted(text: string, start: number): [string, number] {
  const quote = text[start];
  if (quote !== '"' && quote !== "'" && quote !== '`') throw bad(text, `expected a quoted value at position ${start}`);
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === quote) return [value, i + 1];
    if (c === '\\' && quote !== '`') {
      const next = text[++i];
      if (next === 'n') value += '\n';
      else if (next === 't') value += '\t';
      else if (next === '\\' || next === '"' || next === "'") value += next;
      else throw bad(text, `unknown escape \\${next ?? ''}`);
      continue;
    }
    value += c;
  }
  throw bad(text, 'unterminated quoted value');
}

function compile(m: LabelMatcher, text: string): Compiled {
  switch (m.op) {
    case '=':
      return { ...m, test: (v) => v === m.value };
    case '!=':
      return { ...m, test: (v) => v !== m.value };
    default: {
      let re: RegExp;
      try {
        // Anchored as in Prometheus; `s` so that `.` also matches newlines, as RE2's (?s) would.
        re = new RegExp(`^(?:${m.value})$`, 'su');
      } catch (err) {
        throw bad(text, `bad regular expression ${JSON.stringify(m.value)}: ${(err as Error).message}`);
      }
      return m.op === '=~' ? { ...m, test: (v) => re.test(v) } : { ...m, test: (v) => !re.test(v) };
    }
  }
}
