import { describe, expect, it } from 'vitest';
import { escapeLabelName, escapeMetricName, type EscapingScheme } from '../../src/exposition/name-escaping.js';

// The examples of prometheus/docs' escaping_schemes.md, and what a legacy name stays.
describe('escapeMetricName', () => {
  it.each<[string, EscapingScheme, string]>([
    ['my.dotted_metric', 'allow-utf-8', 'my.dotted_metric'],
    ['my.dotted_metric', 'underscores', 'my_dotted_metric'],
    ['my.dotted_metric', 'dots', 'my_dot_dotted__metric'],
    ['my.dotted_metric', 'values', 'U__my_2e_dotted__metric'],
    ['http.status:sum', 'values', 'U__http_2e_status:sum'],
    ['9lives', 'values', 'U___39_lives'],
    ['名前', 'underscores', '__'],
    ['名前', 'values', 'U___540d__524d_'],
    ['a😀b', 'underscores', 'a_b'],
    ['a😀b', 'values', 'U__a_1f600_b'],
    ['a-b', 'dots', 'a__b'],
    ['legacy_name:x', 'dots', 'legacy_name:x'],
    ['legacy_name', 'values', 'legacy_name'],
    ['', 'values', ''],
  ])('%s with %s is %s', (name, scheme, expected) => {
    expect(escapeMetricName(name, scheme)).toBe(expected);
  });
});

describe('escapeLabelName', () => {
  it.each<[string, EscapingScheme, string]>([
    ['some.label', 'underscores', 'some_label'],
    ['some.label', 'dots', 'some_dot_label'],
    ['some.label', 'values', 'U__some_2e_label'],
    // A `:` is no label-name character (expfmt keeps it).
    ['a:b', 'underscores', 'a_b'],
    ['a:b', 'values', 'U__a_3a_b'],
    ['le', 'dots', 'le'],
  ])('%s with %s is %s', (name, scheme, expected) => {
    expect(escapeLabelName(name, scheme)).toBe(expected);
  });
});
