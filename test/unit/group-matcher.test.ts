import { describe, expect, it } from 'vitest';
import { GroupSelector } from '../../src/domain/group-matcher.js';
import { groupingKeyFromLabels } from '../../src/domain/grouping-key.js';

const key = groupingKeyFromLabels({ job: 'backup', instance: 'db-1', path: 'a"b\\c' });

describe('GroupSelector', () => {
  it.each([
    ['{job="backup"}', true],
    ['job="backup"', true],
    ['{job="backup",instance=~"db-.*"}', true],
    ['{ job = "backup" , instance =~ "db-.*" , }', true],
    ['{instance=~"db"}', false], // anchored
    ['{instance!~"web-.*"}', true],
    ['{job!="backup"}', false],
    ['{zone=""}', true], // a missing label is the empty string
    ['{zone=~".+"}', false],
    ['{path="a\\"b\\\\c"}', true],
    ["{job='backup'}", true],
    ['{instance=~`db-\\d`}', true],
  ])('%s matches: %s', (text, expected) => {
    expect(GroupSelector.parse(text).matches(key)).toBe(expected);
  });

  it.each([
    ['{}', 'at least one matcher'],
    ['{job="a"', 'expected , or }'],
    ['{job=a}', 'expected a quoted value'],
    ['{job~"a"}', 'expected =, !=, =~ or !~'],
    ['{job="a"} x', 'unexpected'],
    ['{job=~"("}', 'bad regular expression'],
    ['{job="a\\q"}', 'unknown escape'],
    ['{1job="a"}', 'expected a label name'],
  ])('refuses %s', (text, message) => {
    expect(() => GroupSelector.parse(text)).toThrow(message);
  });

  it.each([
    ['job=~"team_a_.*"', '{job=~"team_a_.*"}'],
    ["{ job = 'backup' , instance !~ `db-\\d` , }", '{job="backup",instance!~"db-\\\\d"}'],
    ['{path="a\\"b"}', '{path="a\\"b"}'],
  ])('shows %s as %s, which parses back to the same selector', (text, shown) => {
    const selector = GroupSelector.parse(text);
    expect(String(selector)).toBe(shown);
    expect(String(GroupSelector.parse(shown))).toBe(shown);
    expect(GroupSelector.parse(shown).matches(key)).toBe(selector.matches(key));
  });
});
