import { describe, expect, it } from 'vitest';
import { formatApiTime, goJsonObject, goJsonString } from '../../src/http/api-json.js';
import { parseHistoryParams } from '../../src/http/history-router.js';

describe('goJsonString: Go encoding/json escaping', () => {
  it.each([
    ['plain', '"plain"'],
    ['<a&b>', '"\\u003ca\\u0026b\\u003e"'],
    ['\u2028\u2029', '"\\u2028\\u2029"'],
    ['\b\f\n\t\r\u0001', '"\\u0008\\u000c\\n\\t\\r\\u0001"'],
    ['back\\bslash', '"back\\\\bslash"'],
    ['"q"', '"\\"q\\""'],
    ['Björn', '"Björn"'],
    ['\ud800x', '"\ufffdx"'],
    ['😀', '"😀"'],
  ])('%j → %s', (input, expected) => {
    expect(goJsonString(input)).toBe(expected);
  });

  it('sorts object keys by bytes, as Go sorts map keys', () => {
    expect(
      goJsonObject([
        ['b', '1'],
        ['B', '2'],
        ['labels', '3'],
        ['a_b', '4'],
        ['ab', '5'],
      ]),
    ).toBe('{"B":2,"a_b":4,"ab":5,"b":1,"labels":3}');
  });
});

// Go prints the server's offset; these expectations are for a UTC server (CI and containers).
describe.skipIf(new Date().getTimezoneOffset() !== 0)('formatApiTime: RFC 3339 as Go marshals time.Time', () => {
  it.each([
    [1795578548.406087, '2026-11-25T03:49:08.406087Z'],
    [1795578548.5, '2026-11-25T03:49:08.5Z'],
    [1795578548, '2026-11-25T03:49:08Z'],
    // eslint-disable-next-line no-loss-of-precision -- the nearest double, which rounds up to the next second
    [1795578548.9999996, '2026-11-25T03:49:09Z'],
  ])('%d → %s', (seconds, expected) => {
    expect(formatApiTime(seconds)).toBe(expected);
  });
});

describe('history since: a time the API shows for an entry, given back', () => {
  const since = (text: string) => parseHistoryParams(new URLSearchParams({ since: text }), 0).sinceSeconds!;

  // Times shown rounded up to the next millisecond or second, and times with digits Date.parse would drop.
  // eslint-disable-next-line no-loss-of-precision -- doubles as a push's time holds them
  it.each([1795578548.9999996, 1795578548.1239996, 1795578548.406087, 1795578548.4060871, 1795578548.5, 1795578548])('takes in the entry at %d', (seconds) => {
    expect(since(formatApiTime(seconds))).toBeLessThanOrEqual(seconds);
  });

  it('leaves out what came before it, to the microsecond', () => {
    expect(since('2026-11-25T03:49:08.406087Z')).toBeGreaterThan(1795578548.406086);
    expect(since('2026-11-25T03:49:08.406087+02:00')).toBeGreaterThan(1795578548.406086 - 7200);
    expect(since('2026-11-25T03:49:08Z')).toBeGreaterThan(1795578547.999999);
  });
});
