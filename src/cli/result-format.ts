import type { QueryResult } from '../store/read-only-database.js';

export const RESULT_FORMATS = ['table', 'csv', 'json'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

/** Renders a query result for a terminal (table), a spreadsheet (csv) or a program (json). */
export function formatResult(result: QueryResult, format: ResultFormat): string {
  switch (format) {
    case 'table':
      return formatTable(result);
    case 'csv':
      return formatCsv(result);
    case 'json':
      return formatJson(result);
  }
}

/** A value as text: NULL spelled out, non-finite numbers as Prometheus writes them. */
function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') return numberText(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (Buffer.isBuffer(value)) return `x'${value.toString('hex')}'`;
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

function numberText(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

/**
 * psql's aligned layout: a header, a rule, one line per row, numbers right-aligned, and the row
 * count. Line breaks inside a value are shown as `\n` so that every row stays one line.
 */
export function formatTable(result: QueryResult): string {
  const { columns, rows } = result;
  const cells = rows.map((row) => columns.map((_, i) => cellText(row[i]).replace(/\r?\n/g, '\\n')));
  const numeric = columns.map((_, i) => rows.length > 0 && rows.every((row) => row[i] === null || typeof row[i] === 'number'));
  const widths = columns.map((c, i) => Math.max(width(c), ...cells.map((r) => width(r[i]!))));
  const pad = (text: string, i: number, right: boolean) => {
    const fill = ' '.repeat(widths[i]! - width(text));
    return right ? fill + text : text + fill;
  };
  const line = (values: readonly string[], header: boolean) => ` ${values.map((v, i) => pad(v, i, !header && numeric[i]!)).join(' | ')}`.trimEnd();
  const out = [line(columns, true), widths.map((w) => '-'.repeat(w + 2)).join('+')];
  for (const row of cells) out.push(line(row, false));
  out.push(`(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`);
  return `${out.join('\n')}\n`;
}

/** Characters as a terminal shows them: astral code points (emoji) count once. */
function width(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** RFC 4180: a header line, CRLF-free `\n` line ends, quotes where needed; NULL is an empty field. */
export function formatCsv(result: QueryResult): string {
  const field = (value: unknown): string => {
    if (value === null || value === undefined) return '';
    const text = cellText(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [result.columns.map(field).join(',')];
  for (const row of result.rows) lines.push(result.columns.map((_, i) => field(row[i])).join(','));
  return `${lines.join('\n')}\n`;
}

/**
 * A JSON array with one object per row, one row per line. JSON has no NaN or infinities: they
 * become the strings "NaN", "+Inf", "-Inf".
 */
export function formatJson(result: QueryResult): string {
  const value = (v: unknown): unknown => {
    if (typeof v === 'number' && !Number.isFinite(v)) return numberText(v);
    if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
    if (Buffer.isBuffer(v)) return v.toString('base64');
    return v === undefined ? null : v;
  };
  if (result.rows.length === 0) return '[]\n';
  const rows = result.rows.map((row) => {
    const object: Record<string, unknown> = {};
    result.columns.forEach((c, i) => (object[c] = value(row[i])));
    return `  ${JSON.stringify(object)}`;
  });
  return `[\n${rows.join(',\n')}\n]\n`;
}
