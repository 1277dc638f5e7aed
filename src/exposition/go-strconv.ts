// Go's strconv as the official gateway and expfmt use it: numbers parsed with Go's rules, and
// `%q` / `%c` quoting so that error messages read exactly like the official's.

/**
 * strconv.ParseFloat(s, 64) as expfmt calls it: decimal floats, `inf`/`infinity` with an
 * optional sign and `nan`, all case-insensitive; no hex floats, no underscores, no whitespace.
 * Out-of-range values (`1e400`) are errors, underflow gives 0. Returns undefined when invalid.
 */
export function parseGoFloat(s: string): number | undefined {
  const len = s.length;
  if (len === 0) return undefined;
  let i = 0;
  let c = s.charCodeAt(0);
  if (c === 0x2b || c === 0x2d) c = s.charCodeAt(++i);
  if (c === 0x69 || c === 0x49 || c === 0x6e || c === 0x4e) {
    const word = (i === 0 ? s : s.slice(i)).toLowerCase();
    if (word === 'inf' || word === 'infinity') {
      return s.charCodeAt(0) === 0x2d ? -Infinity : Infinity;
    }
    return i === 0 && word === 'nan' ? NaN : undefined;
  }
  let digits = 0;
  while (c >= 0x30 && c <= 0x39) {
    digits++;
    c = s.charCodeAt(++i);
  }
  if (c === 0x2e) {
    c = s.charCodeAt(++i);
    while (c >= 0x30 && c <= 0x39) {
      digits++;
      c = s.charCodeAt(++i);
    }
  }
  if (digits === 0) return undefined;
  if (c === 0x65 || c === 0x45) {
    c = s.charCodeAt(++i);
    if (c === 0x2b || c === 0x2d) c = s.charCodeAt(++i);
    if (!(c >= 0x30 && c <= 0x39)) return undefined;
    do c = s.charCodeAt(++i);
    while (c >= 0x30 && c <= 0x39);
  }
  if (i !== len) return undefined;
  const v = Number(s);
  return v === Infinity || v === -Infinity ? undefined : v;
}

const INT64_MAX = '9223372036854775807';
const INT64_MIN_ABS = '9223372036854775808';

/** strconv.ParseInt(s, 10, 64): optional sign, decimal digits, int64 range. */
export function parseGoInt64(s: string): number | undefined {
  const len = s.length;
  let i = 0;
  const first = s.charCodeAt(0);
  if (first === 0x2b || first === 0x2d) i = 1;
  if (i === len) return undefined;
  for (let p = i; p < len; p++) {
    const c = s.charCodeAt(p);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  if (len - i >= 19) {
    let d = i;
    while (d < len - 1 && s.charCodeAt(d) === 0x30) d++;
    const abs = s.slice(d);
    const limit = first === 0x2d ? INT64_MIN_ABS : INT64_MAX;
    if (abs.length > 19 || (abs.length === 19 && abs > limit)) return undefined;
  }
  return Number(s);
}

/**
 * strconv.Quote: Go's `%q` of a string, or of raw bytes, whose invalid UTF-8 shows as `\x..`
 * escapes as Go shows it.
 */
export function goQuote(input: string | Uint8Array): string {
  if (typeof input === 'string' && isPlainAscii(input)) return `"${input}"`;
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const [cp, size] = decodeRune(bytes, i);
    out += cp < 0 ? `\\x${hex2(bytes[i]!)}` : quoteRune(cp, 0x22);
    i += size;
  }
  return `${out}"`;
}

/** Go's `%q` of a byte: a single-quoted rune literal. */
export function goQuoteByte(src: string, pos: number): string {
  return `'${quoteRune(goByte(src, pos), 0x27)}'`;
}

/** Go's `%c` of the byte a byte-wise parser sees at a position. */
export function goByteChar(src: string, pos: number): string {
  return String.fromCharCode(goByte(src, pos));
}

function isPlainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

// unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;

function quoteRune(cp: number, quote: number): string {
  if (cp === quote || cp === 0x5c) return `\\${String.fromCharCode(cp)}`;
  if (cp >= 0x20 && cp < 0x7f) return String.fromCharCode(cp);
  if (cp >= 0xa1 && !(cp >= 0xd800 && cp <= 0xdfff)) {
    const ch = String.fromCodePoint(cp);
    if (PRINTABLE.test(ch)) return ch;
  }
  switch (cp) {
    case 0x07:
      return '\\a';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x0b:
      return '\\v';
  }
  if (cp < 0x20 || cp === 0x7f) return `\\x${hex2(cp)}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\U${cp.toString(16).padStart(8, '0')}`;
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/**
 * The byte Go's byte-wise parser sees at a position: the first UTF-8 byte of the character,
 * which Go's `%c`/`%q` then print as the Latin-1 character of that value (`é` shows as `Ã`).
 */
function goByte(src: string, pos: number): number {
  const cp = src.codePointAt(pos) ?? 0;
  if (cp < 0x80) return cp;
  if (cp < 0x800) return 0xc0 | (cp >> 6);
  if (cp < 0x10000) return 0xe0 | (cp >> 12);
  return 0xf0 | (cp >> 18);
}

/** One UTF-8 sequence at `i` as [code point, length], or [-1, 1] for an invalid byte (Go's rules). */
function decodeRune(b: Uint8Array, i: number): [number, number] {
  const b0 = b[i]!;
  if (b0 < 0x80) return [b0, 1];
  const cont = (k: number, lo = 0x80, hi = 0xbf): number => {
    const c = b[i + k];
    return c !== undefined && c >= lo && c <= hi ? c & 0x3f : -1;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1);
    return c1 < 0 ? [-1, 1] : [((b0 & 0x1f) << 6) | c1, 2];
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const c1 = b0 === 0xe0 ? cont(1, 0xa0) : b0 === 0xed ? cont(1, 0x80, 0x9f) : cont(1);
    const c2 = cont(2);
    return c1 < 0 || c2 < 0 ? [-1, 1] : [((b0 & 0x0f) << 12) | (c1 << 6) | c2, 3];
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const c1 = b0 === 0xf0 ? cont(1, 0x90) : b0 === 0xf4 ? cont(1, 0x80, 0x8f) : cont(1);
    const c2 = cont(2);
    const c3 = cont(3);
    return c1 < 0 || c2 < 0 || c3 < 0 ? [-1, 1] : [((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, 4];
  }
  return [-1, 1];
}
