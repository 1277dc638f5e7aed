/**
 * OTLP metric and attribute names as Prometheus' OTLP translation names them by default
 * (underscore escaping with suffixes): characters outside `[a-zA-Z0-9:]` split the name into
 * words joined by `_`, the unit becomes a suffix (`s` → `_seconds`, `By/s` →
 * `_bytes_per_second`, `{annotations}` dropped), monotonic sums end in `_total` and gauges of unit
 * `1` in `_ratio`. With UTF-8 names the name is kept and only the suffixes are added.
 */

export type OtlpNameKind = 'counter' | 'gauge' | 'other';

const UNITS: Readonly<Record<string, string>> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '1': '',
  '%': 'percent',
};

const PER_UNITS: Readonly<Record<string, string>> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

const own = (table: Readonly<Record<string, string>>, key: string): string | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

/** The unit's main and per-unit suffix words, before character clean-up (`By/s` → bytes, per_second). */
function unitSuffixes(unit: string): [string, string] {
  const slash = unit.indexOf('/');
  const main = (slash < 0 ? unit : unit.slice(0, slash)).trim();
  const per = slash < 0 ? '' : unit.slice(slash + 1).trim();
  const mainSuffix = main !== '' && !/[{}]/.test(main) ? (own(UNITS, main) ?? main) : '';
  const perWord = per !== '' && !/[{}]/.test(per) ? (own(PER_UNITS, per) ?? per) : '';
  return [mainSuffix, perWord !== '' ? `per_${perWord}` : ''];
}

const INVALID_METRIC_CHARS = /[^a-zA-Z0-9:]+/g;

/** Invalid characters to `_`, runs of `_` collapsed, no leading `_`. */
function cleanUnit(unit: string): string {
  return unit
    .replace(/[^a-zA-Z0-9:]/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_/, '');
}

/** A metric's Prometheus name. Returns '' when nothing of the name survives. */
export function otlpMetricName(name: string, unit: string, kind: OtlpNameKind, utf8Names: boolean): string {
  if (utf8Names) return utf8MetricName(name, unit, kind);
  let words = name.split(INVALID_METRIC_CHARS).filter((w) => w !== '');
  const [mainRaw, perRaw] = unitSuffixes(unit);
  let main = cleanUnit(mainRaw);
  let per = cleanUnit(perRaw);
  if (words.includes(main)) main = '';
  if (per === 'per_') per = '';
  else {
    per = per.replace(/_$/, '');
    if (words.includes(per)) per = '';
  }
  if (per !== '') main = main.replace(/_$/, '');
  if (main !== '') words.push(main);
  if (per !== '') words.push(per);
  if (kind === 'counter') words = [...words.filter((w) => w !== 'total'), 'total'];
  if (unit === '1' && kind === 'gauge') words = [...words.filter((w) => w !== 'ratio'), 'ratio'];
  let out = words.join('_');
  if (/^[0-9]/.test(out)) out = `_${out}`;
  return /^_*$/.test(out) ? '' : out;
}

function trimSuffix(name: string, suffix: string): string {
  return name.endsWith(suffix) && name.length > suffix.length + 1 ? name.slice(0, name.length - suffix.length - 1) : name;
}

function utf8MetricName(name: string, unit: string, kind: OtlpNameKind): string {
  let out = name;
  const ratio = unit === '1' && kind === 'gauge';
  if (ratio) out = trimSuffix(out, 'ratio');
  if (kind === 'counter') out = trimSuffix(out, 'total');
  const [main, per] = unitSuffixes(unit);
  if (per !== '') out = trimSuffix(out, per);
  if (main !== '' && !out.endsWith(main)) out += `_${main}`;
  if (per !== '') out += `_${per}`;
  if (kind === 'counter') out += '_total';
  if (ratio) out += '_ratio';
  return out;
}

/**
 * An attribute's label name: invalid characters to `_` (runs collapsed), a leading digit gets
 * `key_`; `__x__` keeps its underscores. Returns '' when only underscores would remain.
 */
export function otlpLabelName(name: string, utf8Names: boolean): string {
  if (name === '') return '';
  if (utf8Names) return /^_*$/.test(name) ? '' : name;
  const reserved = name.length >= 4 && name.startsWith('__') && name.endsWith('__');
  const inner = reserved ? name.slice(2, -2) : name;
  let out = inner.replace(/[^a-zA-Z0-9]+/g, '_');
  if (reserved) out = `__${out}__`;
  if (/^[0-9]/.test(out)) out = `key_${out}`;
  return /^_*$/.test(out) ? '' : out;
}
