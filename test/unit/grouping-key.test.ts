import fc from 'fast-check';
import '../helpers/fuzz-seed.js';
import { describe, expect, it } from 'vitest';
import { compareUtf8, groupingKeyFromId, groupingKeyFromLabels, groupingPathFor } from '../../src/domain/grouping-key.js';
import { parseGroupingPath } from '../../src/http/grouping-path.js';
import { PushError } from '../../src/domain/push-error.js';

const legacy = { utf8Names: false };
const utf8 = { utf8Names: true };

function idOf(rest: string, options = legacy): string {
  return parseGroupingPath(rest, options).id;
}

function errorOf(rest: string, options = legacy): PushError {
  try {
    parseGroupingPath(rest, options);
  } catch (err) {
    expect(err).toBeInstanceOf(PushError);
    expect((err as PushError).kind).toBe('invalid');
    return err as PushError;
  }
  throw new Error(`expected ${rest} to be refused`);
}

const PROMETHEUS = 'Προμηθεύς';

// [case, rest, expected id]
const accepted: [string, string, string][] = [
  // §2.1
  ['2.1 job only', '/job/j', '{job="j"}'],
  ['2.1 trailing slash after job', '/job/j/', '{job="j"}'],
  ['2.1 one pair', '/job/j/instance/i1', '{instance="i1",job="j"}'],
  // §2.3 / §2.4 / §2.5
  ['2.3 pair order a,b', '/job/j/a/1/b/2', '{a="1",b="2",job="j"}'],
  ['2.3 pair order b,a', '/job/j/b/2/a/1', '{a="1",b="2",job="j"}'],
  ['2.4 last repeated label wins', '/job/j/x/1/x/2', '{job="j",x="2"}'],
  ['2.4 last wins across encodings', '/job/j/x@base64/MQ/x/2', '{job="j",x="2"}'],
  ['2.5 job pair overridden', '/job/j/job/other', '{job="j"}'],
  ['2.5 job@base64 pair overridden', '/job/j/job@base64/b3RoZXI', '{job="j"}'],
  // §2.6
  ['2.6 leading underscore name', '/job/j/_x/1', '{_x="1",job="j"}'],
  ['2.6 U__ name is literal without utf8 names', '/job/j/U__a_2e_b/x', '{U__a_2e_b="x",job="j"}'],
  // §2.7
  ['2.7 %20 is a space', '/job/j/a/x%20y', '{a="x y",job="j"}'],
  ['2.7 + stays a plus', '/job/j/a/x+y', '{a="x+y",job="j"}'],
  ['2.7 %2B is a plus', '/job/j/a/x%2By', '{a="x+y",job="j"}'],
  ['2.7 escaped quote, backslash, newline', '/job/j/a/%22q%5C%0A', '{a="\\"q\\\\\\n",job="j"}'],
  // §2.8
  ['2.8 base64 no padding', '/job/j/a@base64/YQ', '{a="a",job="j"}'],
  ['2.8 base64 one =', '/job/j/a@base64/YQ=', '{a="a",job="j"}'],
  ['2.8 base64 two =', '/job/j/a@base64/YQ==', '{a="a",job="j"}'],
  ['2.8 base64 many =', '/job/j/a@base64/YQ=====', '{a="a",job="j"}'],
  ['2.8 base64 slash in value', '/job/j/a@base64/bGFiZWwvdmFsdWUy==', '{a="label/value2",job="j"}'],
  ['2.8 base64 = is empty', '/job/j/a@base64/=', '{a="",job="j"}'],
  ['2.8 base64 == is empty', '/job/j/a@base64/==', '{a="",job="j"}'],
  ['2.8 base64 /var/tmp', '/job/j/path@base64/L3Zhci90bXA', '{job="j",path="/var/tmp"}'],
  ['2.8 base64 url alphabet', '/job/j/a@base64/zqDPgc6_zrzOt864zrXPjc-C', `{a="${PROMETHEUS}",job="j"}`],
  ['2.8 base64 percent-encoded padding', '/job/j/a@base64/YQ%3D%3D', '{a="a",job="j"}'],
  ['2.8 base64 skips CR/LF like Go', '/job/j/a@base64/YW%0AJj', '{a="abc",job="j"}'],
  // §2.9
  ['2.9 base64 job with padding', '/job@base64/dGVzdC9qb2I=', '{job="test/job"}'],
  ['2.9 base64 job without padding', '/job@base64/dGVzdC9qb2I', '{job="test/job"}'],
  ['2.9 base64 job extra padding', '/job@base64/dGVzdC9qb2I===', '{job="test/job"}'],
  ['2.9 base64 job with labels', '/job@base64/dGVzdC9qb2I/instance/i', '{instance="i",job="test/job"}'],
  // §0.2 ordering is by bytes
  ['0.2 names sorted by byte order', '/job/j/b/1/a/2/Z/3/_x/4', '{Z="3",_x="4",a="2",b="1",job="j"}'],
  // §10.11
  ['10.11 two plain pairs', '/job/j/label_name1/label_value1/label_name2/label_value2', '{job="j",label_name1="label_value1",label_name2="label_value2"}'],
  [
    '10.11 base64 first value',
    '/job/j/label_name1@base64/bGFiZWwvdmFsdWUx/label_name2/label_value2',
    '{job="j",label_name1="label/value1",label_name2="label_value2"}',
  ],
  [
    '10.11 base64 second value',
    '/job/j/label_name1/label_value1/label_name2@base64/bGFiZWwvdmFsdWUy',
    '{job="j",label_name1="label_value1",label_name2="label/value2"}',
  ],
  [
    '10.11 base64 second value padded',
    '/job/j/label_name1/label_value1/label_name2@base64/bGFiZWwvdmFsdWUy==',
    '{job="j",label_name1="label_value1",label_name2="label/value2"}',
  ],
  [
    '10.11 U__ name literal without the flag',
    '/job/j/label_name1/label_value1/U__label_2e_name2/label_value2',
    '{U__label_2e_name2="label_value2",job="j",label_name1="label_value1"}',
  ],
  // Deliberate differences
  ['diff (a) %2F in a value is a slash', '/job/j/l/x%2Fy', '{job="j",l="x/y"}'],
  ['diff (a) %2F in the job is a slash', '/job/a%2Fb', '{job="a/b"}'],
  ['diff (a) %2f lower case', '/job/a%2fb', '{job="a/b"}'],
  ['diff (d) empty instance dropped (trailing slash)', '/job/j/instance/', '{job="j"}'],
  ['diff (d) empty instance dropped (base64 =)', '/job/j/instance@base64/=', '{job="j"}'],
  ['diff (d) empty instance dropped (prom-client //)', '/job/j/instance//zone/eu', '{job="j",zone="eu"}'],
  ['diff (d) other empty values are kept', '/job/j/zone/', '{job="j",zone=""}'],
  ['diff (e) empty value in the middle via //', '/job/j/a//b/2', '{a="",b="2",job="j"}'],
];

// [case, rest, message]
const refused: [string, string, string][] = [
  ['2.2 lone name', '/job/j/instance', 'odd number of components in label string "/instance"'],
  ['2.2 trailing slash after a pair', '/job/j/instance/i1/', 'odd number of components in label string "/instance/i1/"'],
  ['2.2 message shows decoded text', '/job/j/a%20b/c/d', 'odd number of components in label string "/a b/c/d"'],
  ['diff (e) // before a name is odd', '/job/j//instance/i1', 'odd number of components in label string "//instance/i1"'],
  ['2.6 a=b', '/job/j/a=b/1', 'improper label name "a=b"'],
  ['2.6 __x', '/job/j/__x/1', 'improper label name "__x"'],
  ['2.6 1abc', '/job/j/1abc/1', 'improper label name "1abc"'],
  ['2.6 a-b', '/job/j/a-b/1', 'improper label name "a-b"'],
  ['2.6 a.b', '/job/j/a.b/1', 'improper label name "a.b"'],
  ['2.6 space in name', '/job/j/a%20b/c', 'improper label name "a b"'],
  ['2.6 double @base64', '/job/j/x@base64@base64/YQ', 'improper label name "x@base64"'],
  ['2.6 bare @base64', '/job/j/@base64/YQ', 'improper label name ""'],
  ['2.6 empty name', '/job/j//x', 'improper label name ""'],
  ['2.6 __ check before @base64 decoding', '/job/j/__x@base64/YQ', 'improper label name "__x"'],
  ['2.8 dot is not base64', '/job/j/a@base64/foo.bar', 'invalid base64 encoding for label a="foo.bar": illegal base64 data at input byte 3'],
  ['2.8 single character', '/job/j/a@base64/Y', 'invalid base64 encoding for label a="Y": illegal base64 data at input byte 0'],
  ['2.8 padding in the middle', '/job/j/a@base64/YQ=a', 'invalid base64 encoding for label a="YQ=a": illegal base64 data at input byte 2'],
  ['2.8 standard alphabet +', '/job/j/a@base64/YQ+', 'invalid base64 encoding for label a="YQ+": illegal base64 data at input byte 2'],
  [
    '2.8 dangling character after full quanta',
    '/job/j/a@base64/YWJjZGVmZ2hpY',
    'invalid base64 encoding for label a="YWJjZGVmZ2hpY": illegal base64 data at input byte 12',
  ],
  [
    '2.8 newline counted in the offset like Go',
    '/job/j/a@base64/YWJjZGVmZ2hp%0AY',
    'invalid base64 encoding for label a="YWJjZGVmZ2hp\\nY": illegal base64 data at input byte 13',
  ],
  [
    '2.9 job shows the part decoded before the error',
    '/job@base64/YWJjZGVm.mFy',
    'invalid base64 encoding in job name "abcdef": illegal base64 data at input byte 8',
  ],
  ['2.9 job single character', '/job@base64/Y', 'invalid base64 encoding in job name "": illegal base64 data at input byte 0'],
  ['2.10 empty base64 job', '/job@base64/=', 'job name is required'],
  ['2.10 empty plain job', '/job/', 'job name is required'],
  ['2.10 no job segment', '/job', 'job name is required'],
  ['2.10 empty job with labels', '/job//instance/x', 'job name is required'],
  ['1.3 order: labels are checked before the empty job', '/job@base64/=/instance', 'odd number of components in label string "/instance"'],
  ['1.3 order: base64 job before labels', '/job@base64/Y/__x/1', 'invalid base64 encoding in job name "": illegal base64 data at input byte 0'],
  ['diff (b) bad escape', '/job/j/a/x%zzb', 'invalid URL escape "%zz"'],
  ['diff (b) truncated escape', '/job/j%2', 'invalid URL escape "%2"'],
  ['diff (b) bad escape in a name', '/job/j/a%g1/x', 'invalid URL escape "%g1"'],
  ['diff (c) invalid UTF-8 job (2.13)', '/job/bad%FFutf8', 'invalid UTF-8 in label value for job'],
  ['diff (c) invalid UTF-8 base64 job (2.13)', '/job@base64/_w', 'invalid UTF-8 in label value for job'],
  ['diff (c) invalid UTF-8 value', '/job/j/a/%C3', 'invalid UTF-8 in label value for a'],
  ['diff (c) invalid UTF-8 base64 value', '/job/j/a@base64/_w', 'invalid UTF-8 in label value for a'],
  ['diff (c) surrogate encoded in UTF-8', '/job/j/a/%ED%A0%80', 'invalid UTF-8 in label value for a'],
  ['non-printable character in a name is quoted like Go', '/job/j/a%C2%A0b/x', 'improper label name "a\\u00a0b"'],
  ['invalid UTF-8 name is quoted like Go', '/job/j/a%FF/x', 'improper label name "a\\xff"'],
  ['not a job path', '/foo/bar', 'invalid grouping key path "/foo/bar": expected /job/<JOB> or /job@base64/<JOB>'],
];

describe('parseGroupingPath: accepted paths', () => {
  it.each(accepted)('%s: %s', (_name, rest, id) => {
    expect(idOf(rest)).toBe(id);
  });
});

describe('parseGroupingPath: refused paths', () => {
  it.each(refused)('%s: %s', (_name, rest, message) => {
    expect(errorOf(rest).message).toBe(message);
  });
});

describe('parseGroupingPath: key shape', () => {
  it('returns the job and sorted label pairs including job', () => {
    const key = parseGroupingPath('/job/j/zone/eu/instance/i1', legacy);
    expect(key.job).toBe('j');
    expect(key.labels).toEqual([
      { name: 'instance', value: 'i1' },
      { name: 'job', value: 'j' },
      { name: 'zone', value: 'eu' },
    ]);
  });

  it('2.12 diff (d): no instance and an empty instance are the same group', () => {
    expect(idOf('/job/j/instance/')).toBe(idOf('/job/j'));
    expect(parseGroupingPath('/job/j/instance@base64/=', legacy).labels).toEqual([{ name: 'job', value: 'j' }]);
  });
});

// How each client spells the same groups (peers.md §4).
describe('parseGroupingPath: what clients send', () => {
  const same: [string, string[]][] = [
    [
      'job with a slash',
      [
        '/job@base64/dGVzdC9qb2I', // Go: unpadded base64url
        '/job@base64/dGVzdC9qb2I=', // Python, Java, Ruby: padded
        '/job/test%2Fjob', // prom-client: encodeURIComponent
      ],
    ],
    [
      'value with a slash',
      [
        '/job/j/path@base64/L3Zhci90bXA', // Go
        '/job/j/path@base64/L3Zhci90bXA=', // Python / Java
        '/job/j/path/%2Fvar%2Ftmp', // prom-client
      ],
    ],
    [
      'value with a space',
      [
        '/job/j/v@base64/aGVsbG8gd29ybGQ=', // Python 0.25: base64 with padding
        '/job/j/v@base64/aGVsbG8gd29ybGQ', // unpadded
        '/job/j/v/hello%20world', // prom-client, Ruby
      ],
    ],
    [
      'empty value',
      [
        '/job/j/zone@base64/=', // Go, Python, Java, Ruby
        '/job/j/zone/', // trailing slash
      ],
    ],
    [
      PROMETHEUS,
      [
        '/job/j/who@base64/zqDPgc6_zrzOt864zrXPjc-C', // base64url, unpadded
        '/job/j/who/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82', // encodeURIComponent
        `/job/j/who/${PROMETHEUS}`, // a router that already decoded non-ASCII
      ],
    ],
    [`${PROMETHEUS} as the job`, ['/job@base64/zqDPgc6_zrzOt864zrXPjc-C', '/job/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82']],
    ['plus sign (Go and Java query-escape a space as +, which the official keeps literally)', ['/job/j/v/a+b', '/job/j/v/a%2Bb', '/job/j/v@base64/YSti']],
  ];

  it.each(same)('%s', (_name, spellings) => {
    const ids = spellings.map((rest) => idOf(rest));
    expect(new Set(ids).size).toBe(1);
  });

  it('keeps the + literally rather than as a space', () => {
    expect(idOf('/job/my+job/instance/host+1')).toBe('{instance="host+1",job="my+job"}');
  });

  it('prom-client: empty value between pairs (//) and an empty instance', () => {
    expect(idOf('/job/my%20job/instance//path/%2Fvar%2Ftmp')).toBe('{job="my job",path="/var/tmp"}');
  });

  it('Java: label names pass through the U__ escaper (with utf8 names)', () => {
    expect(idOf('/job/j/U__service_2e_name/api', utf8)).toBe('{job="j","service.name"="api"}');
  });
});

describe('parseGroupingPath: UTF-8 label names (§2.11)', () => {
  const cases: [string, string, string][] = [
    ['U__ plain value', '/job/example/U__foo_2e_bar/baz', '{"foo.bar"="baz",job="example"}'],
    ['U__ with @base64', '/job/example/U__foo_2e_bar@base64/YmF6', '{"foo.bar"="baz",job="example"}'],
    ['__ is an underscore', '/job/j/U__a__b/x', '{a_b="x",job="j"}'],
    ['upper-case hex', '/job/j/U__a_2E_b/x', '{"a.b"="x",job="j"}'],
    ['multi-byte code point', '/job/j/U___3a0_/x', `{job="j","Π"="x"}`],
    ['invalid escape is left unchanged', '/job/j/U__foo_zz_bar/x', '{U__foo_zz_bar="x",job="j"}'],
    ['unterminated escape is left unchanged', '/job/j/U__foo_2e/x', '{U__foo_2e="x",job="j"}'],
    ['too many hex digits is left unchanged', '/job/j/U__a_1234567_/x', '{U__a_1234567_="x",job="j"}'],
    ['surrogate code point is left unchanged', '/job/j/U__a_d800_/x', '{U__a_d800_="x",job="j"}'],
    ['dotted names need no escape', '/job/j/a.b/x', '{"a.b"="x",job="j"}'],
    ['percent-encoded UTF-8 name', `/job/j/${encodeURIComponent(PROMETHEUS)}/x`, `{job="j","${PROMETHEUS}"="x"}`],
    ['%2F in a name', '/job/j/a%2Fb/x', '{"a/b"="x",job="j"}'],
    ['quote in a name is escaped in the id', '/job/j/a%22b/x', '{"a\\"b"="x",job="j"}'],
    ['U__job is still overridden by the job', '/job/j/U__job/other', '{job="j"}'],
  ];
  it.each(cases)('%s: %s', (_name, rest, id) => {
    expect(idOf(rest, utf8)).toBe(id);
  });

  const refusedUtf8: [string, string, string][] = [
    ['__ prefix of the encoded name', '/job/j/__U__x/1', 'improper label name "__U__x"'],
    ['decoded name starting with __ (our addition)', '/job/j/U______name__/1', 'improper label name "U______name__"'],
    ['empty name', '/job/j/@base64/YQ', 'improper label name ""'],
    ['invalid UTF-8 name', '/job/j/%FF/x', 'improper label name "\\xff"'],
  ];
  it.each(refusedUtf8)('refuses %s', (_name, rest, message) => {
    expect(errorOf(rest, utf8).message).toBe(message);
  });
});

describe('groupingKeyFromLabels', () => {
  it('gives the same key as the equivalent path', () => {
    const fromPath = parseGroupingPath('/job/j/zone/eu/instance/i1', legacy);
    const fromLabels = groupingKeyFromLabels({ zone: 'eu', job: 'j', instance: 'i1' });
    expect(fromLabels).toEqual(fromPath);
  });

  it('drops an empty instance', () => {
    expect(groupingKeyFromLabels({ job: 'j', instance: '' }).id).toBe('{job="j"}');
  });

  it('refuses a missing or empty job', () => {
    expect(() => groupingKeyFromLabels({ instance: 'i' })).toThrow('job name is required');
    expect(() => groupingKeyFromLabels({ job: '' })).toThrow('job name is required');
  });

  it('sorts by UTF-8 bytes, not UTF-16 units', () => {
    const key = groupingKeyFromLabels({ job: 'j', '\u{1F600}': 'a', '\uFF5E': 'b' });
    expect(key.labels.map((l) => l.name)).toEqual(['job', '\uFF5E', '\u{1F600}']);
    expect(compareUtf8('\uFF5E', '\u{1F600}')).toBeLessThan(0);
  });
});

describe('groupingPathFor', () => {
  it('writes base64url without padding, = for empty values, job first', () => {
    const key = groupingKeyFromLabels({ job: 'test/job', x: '', a: 'x' });
    expect(groupingPathFor(key)).toBe('/metrics/job@base64/dGVzdC9qb2I/a@base64/eA/x@base64/=');
  });

  it('escapes non-legacy names with U__ and reads them back with utf8 names', () => {
    const key = parseGroupingPath('/job/j/a.b/1/U__x/2', utf8);
    expect(key.id).toBe('{"a.b"="1",job="j",x="2"}');
    const path = groupingPathFor(key, utf8);
    expect(path).toBe('/metrics/job@base64/ag/U__a_2e_b@base64/MQ/x@base64/Mg');
    expect(parseGroupingPath(path.slice('/metrics'.length), utf8).id).toBe(key.id);
  });

  it('protects a literal U__ name when utf8 names are on', () => {
    const key = groupingKeyFromLabels({ job: 'j', U__x: 'v' });
    expect(parseGroupingPath(groupingPathFor(key, utf8).slice(8), utf8).id).toBe(key.id);
    expect(parseGroupingPath(groupingPathFor(key).slice(8), legacy).id).toBe(key.id);
  });

  it('round-trips any label set through the parser', () => {
    const name = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{0,8}$/);
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'binary' }), fc.dictionary(name, fc.string({ unit: 'binary' })), (job, rest) => {
        const labels = { ...rest, job };
        const key = groupingKeyFromLabels(labels);
        const parsed = parseGroupingPath(groupingPathFor(key).slice('/metrics'.length), legacy);
        expect(parsed.id).toBe(key.id);
      }),
    );
  });
});

describe('groupingKeyFromId', () => {
  it('reads back the key of any label set, names and values of any characters included', () => {
    const name = fc.oneof(fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/), fc.string({ minLength: 1, unit: 'binary' }));
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'binary' }), fc.dictionary(name, fc.string({ unit: 'binary' })), (job, rest) => {
        const key = groupingKeyFromLabels({ ...rest, job });
        expect(groupingKeyFromId(key.id)).toEqual(key);
      }),
    );
  });

  it('refuses what is not an id', () => {
    for (const id of ['', '{}', 'other', '{job="j"', '{job=j}', '{a="1"}', '{job="j",}', '{job="j"x}', '{"job="j"}']) {
      expect(groupingKeyFromId(id)).toBeUndefined();
    }
  });
});
