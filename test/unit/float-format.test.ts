import { describe, expect, it } from 'vitest';
import { formatFloat, formatFloatJson } from '../../src/exposition/float-format.js';

// Expectations observed from prometheus-pushgateway 1.5.1 scrapes (behaviour doc 0.1) and, for the
// boundaries, from Go 1.19's strconv.FormatFloat(v, 'g', -1, 64).
describe('formatFloat', () => {
  it.each([
    ['integer', 42, '42'],
    ['decimal', 2398.283, '2398.283'],
    ['six digits stay plain', 123456, '123456'],
    ['100000 stays plain', 100000, '100000'],
    ['below 1e6 stays plain', 999999.5, '999999.5'],
    ['seven digits go scientific', 1234567, '1.234567e+06'],
    ['1e6', 1e6, '1e+06'],
    ['large', 123456789012, '1.23456789012e+11'],
    ['1e-4 stays plain', 0.0001, '0.0001'],
    ['below 1e-4 goes scientific', 0.00001234, '1.234e-05'],
    ['just below 1e-4', 0.00009999, '9.999e-05'],
    ['negative small', -1.5e-7, '-1.5e-07'],
    ['three-digit exponent', 1e308, '1e+308'],
    ['smallest denormal', 5e-324, '5e-324'],
    ['a push time', 1795578548.406087, '1.795578548406087e+09'],
    ['1e21 (JS switches here)', 1e21, '1e+21'],
    ['1e20', 1e20, '1e+20'],
    ['negative integer', -7, '-7'],
    ['NaN', NaN, 'NaN'],
    ['+Inf', Infinity, '+Inf'],
    ['-Inf', -Infinity, '-Inf'],
    ['zero', 0, '0'],
    ['negative zero is 0 in text', -0, '0'],
  ])('%s', (_name, v, want) => {
    expect(formatFloat(v)).toBe(want);
  });
});

describe('formatFloatJson', () => {
  it.each([
    ['negative zero keeps its sign', -0, '-0'],
    ['zero', 0, '0'],
    ['scientific', 1234567, '1.234567e+06'],
    ['NaN', NaN, 'NaN'],
    ['+Inf', Infinity, '+Inf'],
  ])('%s', (_name, v, want) => {
    expect(formatFloatJson(v)).toBe(want);
  });
});
