import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/exposition/parse-error.js';
import { parseText } from '../../src/exposition/text-parser.js';
import { renderText } from '../../src/exposition/text-renderer.js';
import type { MetricFamily } from '../../src/exposition/types.js';

function errorOf(body: string, utf8Names = false): ParseError {
  try {
    parseText(body, { utf8Names });
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    return e as ParseError;
  }
  throw new Error(`expected a parse error for ${JSON.stringify(body)}`);
}

describe('parseText accepts', () => {
  it.each<[string, string, MetricFamily[]]>([
    ['a plain sample (untyped, no help)', 'x 1\n', [{ name: 'x', type: 'untyped', metrics: [{ labels: [], value: 1 }] }]],
    [
      'HELP with escapes \\\\ \\n \\" and TYPE in upper case',
      '# HELP x a\\\\b\\nc \\"q\\" \n# TYPE x COUNTER\nx 1\n',
      [{ name: 'x', help: 'a\\b\nc "q" ', type: 'counter', metrics: [{ labels: [], value: 1 }] }],
    ],
    [
      'labels with spaces, trailing comma, escapes',
      'x{ a = "1\\\\\\"\\n" , b="" , } 2\n',
      [
        {
          name: 'x',
          type: 'untyped',
          metrics: [
            {
              labels: [
                { name: 'a', value: '1\\"\n' },
                { name: 'b', value: '' },
              ],
              value: 2,
            },
          ],
        },
      ],
    ],
    ['empty braces, no space before value', 'x{}3\n', [{ name: 'x', type: 'untyped', metrics: [{ labels: [], value: 3 }] }]],
    ['space before braces', 'x {a="b"} 3\n', [{ name: 'x', type: 'untyped', metrics: [{ labels: [{ name: 'a', value: 'b' }], value: 3 }] }]],
    ['colons in names', 'a:b:c 1\n', [{ name: 'a:b:c', type: 'untyped', metrics: [{ labels: [], value: 1 }] }]],
    [
      'tabs and leading blanks, blank lines',
      '\n \t\n\t x\t{a="b"}\t4\n\n',
      [{ name: 'x', type: 'untyped', metrics: [{ labels: [{ name: 'a', value: 'b' }], value: 4 }] }],
    ],
    ['a last line without newline (deliberate difference)', 'x 1', [{ name: 'x', type: 'untyped', metrics: [{ labels: [], value: 1 }] }]],
    ['a timestamp (kept for the domain to reject)', 'x 1 -1000\n', [{ name: 'x', type: 'untyped', metrics: [{ labels: [], value: 1, timestampMs: -1000 }] }]],
    [
      'other comments ignored',
      '# EOF\n# UNIT x s\n#\n#HELP_not x y\n# HELP\n# HELP x\n# HELP x \t\n# TYPE x\nx 1\n',
      [{ name: 'x', type: 'untyped', metrics: [{ labels: [], value: 1 }] }],
    ],
    ['HELP/TYPE without samples create nothing', '# HELP y h\n# TYPE y gauge\n', []],
    ['an empty body', '', []],
    [
      'gauge_histogram',
      '# TYPE g gauge_histogram\ng_bucket{le="+Inf"} 1\ng_count 1\n',
      [
        {
          name: 'g',
          type: 'gaugehistogram',
          metrics: [{ labels: [], histogram: { sampleCount: 1, sampleSum: 0, buckets: [{ upperBound: Infinity, cumulativeCount: 1 }] } }],
        },
      ],
    ],
    [
      'gaugehistogram',
      '# TYPE g gaugehistogram\ng_sum 2\n',
      [{ name: 'g', type: 'gaugehistogram', metrics: [{ labels: [], histogram: { sampleCount: 0, sampleSum: 2, buckets: [] } }] }],
    ],
    [
      'OpenMetrics _total under a counter TYPE is its own untyped family',
      '# TYPE foo counter\nfoo_total 1\n',
      [{ name: 'foo_total', type: 'untyped', metrics: [{ labels: [], value: 1 }] }],
    ],
    [
      '_sum/_count/_bucket without summary/histogram TYPE are plain families',
      'y_sum 1\ny_count 2\ny_bucket{le="1"} 3\n',
      [
        { name: 'y_sum', type: 'untyped', metrics: [{ labels: [], value: 1 }] },
        { name: 'y_count', type: 'untyped', metrics: [{ labels: [], value: 2 }] },
        { name: 'y_bucket', type: 'untyped', metrics: [{ labels: [{ name: 'le', value: '1' }], value: 3 }] },
      ],
    ],
    [
      "repeated series are kept (duplicates are the domain's job)",
      'x 1\nx 2\n',
      [
        {
          name: 'x',
          type: 'untyped',
          metrics: [
            { labels: [], value: 1 },
            { labels: [], value: 2 },
          ],
        },
      ],
    ],
    [
      'families in first-appearance order, HELP counts',
      '# HELP b B\na 1\nb 2\n',
      [
        { name: 'b', help: 'B', type: 'untyped', metrics: [{ labels: [], value: 2 }] },
        { name: 'a', type: 'untyped', metrics: [{ labels: [], value: 1 }] },
      ],
    ],
  ])('%s', (_name, body, want) => {
    expect(parseText(body)).toEqual(want);
  });

  it.each([
    ['1', 1],
    ['-0', -0],
    ['.5', 0.5],
    ['1.', 1],
    ['1E3', 1000],
    ['-.5e-3', -0.0005],
    ['007', 7],
    ['1e-400', 0],
    ['Inf', Infinity],
    ['inf', Infinity],
    ['+inf', Infinity],
    ['-Infinity', -Infinity],
    ['INFINITY', Infinity],
    ['NaN', NaN],
    ['nan', NaN],
  ])('value %s in Go float syntax', (token, want) => {
    const [fam] = parseText(`x ${token}\n`);
    expect(fam?.metrics[0]?.value).toBe(want);
  });

  it('groups a summary by its labels, quantile excluded, in first-seen order', () => {
    const body = [
      '# HELP s Sum.',
      '# TYPE s summary',
      's{b="1",quantile="0.5",a="x"} 1',
      's{a="y",quantile="0.5"} 10',
      's{a="x",b="1",quantile="0.9"} 2',
      's_sum{b="1",a="x"} 3.5',
      's_count{a="x",b="1"} 4',
      's_count{a="y"} 1',
      '',
    ].join('\n');
    expect(parseText(body)).toEqual([
      {
        name: 's',
        help: 'Sum.',
        type: 'summary',
        metrics: [
          {
            labels: [
              { name: 'b', value: '1' },
              { name: 'a', value: 'x' },
            ],
            summary: {
              sampleCount: 4,
              sampleSum: 3.5,
              quantiles: [
                { quantile: 0.5, value: 1 },
                { quantile: 0.9, value: 2 },
              ],
            },
          },
          { labels: [{ name: 'a', value: 'y' }], summary: { sampleCount: 1, sampleSum: 0, quantiles: [{ quantile: 0.5, value: 10 }] } },
        ],
      },
    ]);
  });

  it('groups a histogram, keeping float bucket values and counts (as 1.11.3)', () => {
    const body = '# TYPE h histogram\nh_bucket{le="0.1",x="a"} 1.5\nh_bucket{x="a",le="+Inf"} 2.5\nh_sum{x="a"} 7\nh_count{x="a"} 2.5\nh{le="1e6"} 3\n';
    expect(parseText(body)).toEqual([
      {
        name: 'h',
        type: 'histogram',
        metrics: [
          {
            labels: [{ name: 'x', value: 'a' }],
            histogram: {
              sampleCount: 2.5,
              sampleSum: 7,
              buckets: [
                { upperBound: 0.1, cumulativeCount: 1.5 },
                { upperBound: Infinity, cumulativeCount: 2.5 },
              ],
            },
          },
          { labels: [], histogram: { sampleCount: 0, sampleSum: 0, buckets: [{ upperBound: 1e6, cumulativeCount: 3 }] } },
        ],
      },
    ]);
  });

  it('accepts quoted UTF-8 names only with utf8Names', () => {
    const body = '# HELP "a.b" Dotted.\n{"a.b",x="y"} 1\nm{"c.d"="v", "e\\"f"="w"} 2\n{z="1", "q.r"} 3\n';
    expect(parseText(body, { utf8Names: true })).toEqual([
      { name: 'a.b', help: 'Dotted.', type: 'untyped', metrics: [{ labels: [{ name: 'x', value: 'y' }], value: 1 }] },
      {
        name: 'm',
        type: 'untyped',
        metrics: [
          {
            labels: [
              { name: 'c.d', value: 'v' },
              { name: 'e"f', value: 'w' },
            ],
            value: 2,
          },
        ],
      },
      { name: 'q.r', type: 'untyped', metrics: [{ labels: [{ name: 'z', value: '1' }], value: 3 }] },
    ]);
  });

  it('parses a 100k-line body into one family, in order', () => {
    let body = '# TYPE req counter\n';
    for (let i = 0; i < 100_000; i++) body += `req{method="get",code="${200 + (i % 5)}",instance="h${i}"} ${i}\n`;
    const [fam] = parseText(body);
    expect(fam?.metrics).toHaveLength(100_000);
    expect(fam?.metrics[99_999]).toEqual({
      labels: [
        { name: 'method', value: 'get' },
        { name: 'code', value: '204' },
        { name: 'instance', value: 'h99999' },
      ],
      value: 99_999,
    });
  });
});

// Every message below was observed from prometheus-pushgateway 1.5.1 (HTTP 400 body), except
// where marked as following 1.11.3 or as a deliberate difference.
describe('parseText rejects', () => {
  it.each([
    ['CRLF line ends', 'x 1\r\n', 1, 'expected float as value, got "1\\r"'],
    ['trailing blank after the value', 'x 1 \n', 1, 'expected integer as timestamp, got ""'],
    ['a missing value', 'a 1\nx\n', 2, 'expected float as value, got ""'],
    ['a dash in a name', 'x-y 1\n', 1, 'expected float as value, got "-y"'],
    ['a name starting with a digit', '1x 2\n', 1, 'invalid metric name'],
    ['a label set without name', '{a="b"} 1\n', 1, 'invalid metric name'],
    ['a quoted name without utf8Names', '{"a.b"} 1\n', 1, 'invalid metric name'],
    ['a quoted label name without utf8Names', 'x{"a.b"="v"} 1\n', 1, 'invalid label name for metric "x"'],
    ['a label name starting with a digit', 'x{1="a"} 1\n', 1, 'invalid label name for metric "x"'],
    ['a non-ASCII label name', 'x{aé} 1\n', 1, "expected '=' after label name, found 'Ã'"],
    ['a missing =', 'x{a b} 1\n', 1, "expected '=' after label name, found 'b'"],
    ['an unquoted label value', 'x{a=b} 1\n', 1, `expected '"' at start of label value, found 'b'`],
    ['junk after a label value', 'x{a="b"c} 1\n', 1, 'unexpected end of label value "b"'],
    ['a tab instead of a comma', 'x{a="1"\tb="2"} 1\n', 1, 'unexpected end of label value "1"'],
    ['an unknown label-value escape', 'x{a="\\u"} 1\n', 1, "invalid escape sequence '\\u'"],
    ['a raw newline in a label value', 'x{a="b\ny"} 1\n', 1, 'label value "b" contains unescaped new-line'],
    ['an unterminated label value on the last line', 'x{a="b', 1, 'label value "b" contains unescaped new-line'],
    ['a duplicate label name', 'x{a="1",a="2"} 1\n', 1, 'duplicate label names for metric "x"'],
    ['__name__', 'x{__name__="a"} 1\n', 1, 'label name "__name__" is reserved'],
    ['1_000', 'x 1_000\n', 1, 'expected float as value, got "1_000"'],
    ['a hex value', 'x 0x10\n', 1, 'expected float as value, got "0x10"'],
    ['a hex float', 'x 0x1p-2\n', 1, 'expected float as value, got "0x1p-2"'],
    ['+nan', 'x +nan\n', 1, 'expected float as value, got "+nan"'],
    ['an out-of-range value', 'x 1e400\n', 1, 'expected float as value, got "1e400"'],
    ['a lone dot', 'x .\n', 1, 'expected float as value, got "."'],
    ['a float timestamp', 'x 1 1e3\n', 1, 'expected integer as timestamp, got "1e3"'],
    ['an out-of-range timestamp', 'x 1 9223372036854775808\n', 1, 'expected integer as timestamp, got "9223372036854775808"'],
    ['an exemplar', 'x_total 1 # {trace_id="x"} 1\n', 1, 'expected integer as timestamp, got "#"'],
    ['text after the timestamp', 'x 1 2 3\n', 1, 'spurious string after timestamp: " 3"'],
    ['a blank after the timestamp', 'x 1 2\t\n', 1, 'spurious string after timestamp: "\\t"'],
    ['an unknown HELP escape', '# HELP x a\\tb\n', 1, "invalid escape sequence '\\t'"],
    ['a second HELP', '# HELP x a\n# HELP x b\n', 2, 'second HELP line for metric name "x"'],
    ['an unknown type', '# TYPE x foo\n', 1, 'unknown metric type "foo"'],
    ['a trailing blank after the type', '# TYPE x counter \n', 1, 'unknown metric type "counter "'],
    ['a second TYPE', '# TYPE x gauge\n# TYPE x counter\n', 2, 'second TYPE line for metric name "x", or TYPE reported after samples'],
    ['a TYPE after samples', 'x 1\n# TYPE x gauge\n', 2, 'second TYPE line for metric name "x", or TYPE reported after samples'],
    ['a TYPE for a summary _count', '# TYPE s summary\n# TYPE s_count gauge\n', 2, 'second TYPE line for metric name "s", or TYPE reported after samples'],
    ['an invalid name in a comment', '# TYPE x-y gauge\n', 1, 'invalid metric name in comment'],
    ['a bad quantile', '# TYPE s summary\ns{quantile="a"} 1\n', 2, 'expected float as value for \'quantile\' label, got "a"'],
    ['a bad le', '# TYPE h histogram\nh_bucket{le="x"} 1\n', 2, 'expected float as value for \'le\' label, got "x"'],
    ['counting blank lines', '\n\n  \t\n x 1\n\ny{\n', 6, 'invalid label name for metric "y"'],
    ['an empty quoted name (utf8Names)', '{""} 1\n', 1, 'invalid metric name ""'],
  ])('%s', (_name, body, line, reason) => {
    const err = errorOf(body, body.includes('""}'));
    expect(err.line).toBe(line);
    expect(err.message).toBe(`text format parsing error in line ${line}: ${reason}`);
  });

  it('rejects two names in braces (utf8Names)', () => {
    expect(errorOf('{"a","b"} 1\n', true).message).toBe('text format parsing error in line 1: multiple metric names for metric "a"');
  });
});

describe('round trip', () => {
  // Every type, escapes and special values; histograms carry their +Inf bucket and no -0, so
  // that rendering adds nothing the parser did not see.
  const fixture = [
    '# HELP hm Line one\\nline two \\\\ backslash "quote"',
    '# TYPE hm gauge',
    'hm{l="a\\"b\\\\c\\nd\te"} NaN',
    '# TYPE c counter',
    'c{zz="1"} 1234567',
    'c{zz="2"} -Inf',
    '# HELP u untyped thing',
    'u 0.00001234',
    'u{b="x",a="y"} +Inf',
    '# HELP s A summary.',
    '# TYPE s summary',
    's{zz="1",quantile="0.5"} 1',
    's{zz="1",quantile="0.99"} 2.5',
    's_sum{zz="1"} 1e6',
    's_count{zz="1"} 7',
    's_sum{zz="2"} 3',
    's_count{zz="2"} 1',
    '# TYPE h histogram',
    'h_bucket{zz="1",le="0.1"} 1',
    'h_bucket{zz="1",le="+Inf"} 4',
    'h_sum{zz="1"} 3',
    'h_count{zz="1"} 4',
    'h_bucket{le="-1e-07"} 0',
    'h_bucket{le="+Inf"} 0',
    'h_sum 0',
    'h_count 0',
    '',
  ].join('\n');

  it('parse(render(parse(x))) equals parse(x)', () => {
    const once = parseText(fixture);
    expect(once.map((f) => f.type)).toEqual(['gauge', 'counter', 'untyped', 'summary', 'histogram']);
    expect(parseText(renderText(once))).toEqual(once);
  });
});
