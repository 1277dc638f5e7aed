/**
 * Reads a grouping key from a push URL: the official syntax (`/job/<JOB>{/<NAME>/<VALUE>}`, any
 * part may be `@base64`) with the official error messages, and the deliberate differences listed
 * on parseGroupingPath.
 */
import { buildKey, invalid, type GroupingKey, type GroupingPathOptions } from '../domain/grouping-key.js';
import { goQuote } from '../exposition/go-strconv.js';
import { isLegacyLabelName } from '../exposition/names.js';
import type { PushError } from '../domain/push-error.js';

const BASE64_SUFFIX = '@base64';
const NEEDS_UNESCAPING = /[%\u0080-\uffff]/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses the raw (still percent-encoded) path after `/metrics`, e.g. `/job/j/instance/i1`.
 *
 * Same results and messages as the official gateway, except:
 * - Segments are split on `/` before percent-decoding, so `%2F` is a slash inside a value
 *   (prom-client encodes values with encodeURIComponent; the official answers 400).
 * - Bad percent-encoding is a 400 here rather than Go's bare `400 Bad Request`.
 * - A job or value that is not valid UTF-8 is refused; the official accepts it and then every
 *   scrape fails (store poisoning).
 * - `instance=""` is dropped from the key. `{job="j"}` and `{job="j",instance=""}` expose exactly the
 *   same series (an empty `instance` is injected when absent), so as two groups they would collide
 *   on every scrape; the official keeps them apart and poisons its store.
 * - With utf8Names, a decoded name starting with `__` is refused too (the official checks only the
 *   encoded name, so `U_____name__` would smuggle in a reserved label).
 */
export function parseGroupingPath(rest: string, options: GroupingPathOptions): GroupingKey {
  let jobEncoded: boolean;
  let afterPrefix: string;
  if (rest.startsWith('/job/')) {
    jobEncoded = false;
    afterPrefix = rest.slice(5);
  } else if (rest.startsWith('/job@base64/')) {
    jobEncoded = true;
    afterPrefix = rest.slice(12);
  } else if (rest === '/job' || rest === '/job@base64') {
    throw invalid('job name is required');
  } else {
    throw invalid(`invalid grouping key path ${goQuote(lenientUnescape(rest))}: expected /job/<JOB> or /job@base64/<JOB>`);
  }

  const slash = afterPrefix.indexOf('/');
  const rawJob = slash < 0 ? afterPrefix : afterPrefix.slice(0, slash);
  const labelPart = slash < 0 ? '' : afterPrefix.slice(slash);

  let job: string;
  if (jobEncoded) {
    const decoded = decodeBase64Url(unescapeSegment(rawJob));
    if (decoded.errorAt !== undefined) {
      throw invalid(`invalid base64 encoding in job name ${goQuote(decoded.bytes)}: illegal base64 data at input byte ${decoded.errorAt}`);
    }
    job = utf8Value(decoded.bytes, 'job');
  } else {
    job = plainValue(rawJob, 'job');
  }

  const labels = parseLabelPart(labelPart, options);
  if (job === '') throw invalid('job name is required');
  labels.set('job', job);
  return buildKey(job, labels);
}

/**
 * Builds a key from already-decoded labels (for example a group loaded from the store), applying
 * the same normalisation as `parseGroupingPath`. Names and values are trusted.
 */

function parseLabelPart(labelPart: string, options: GroupingPathOptions): Map<string, string> {
  const labels = new Map<string, string>();
  // A lone `/` is the allowed trailing slash after the job.
  if (labelPart.length <= 1) return labels;
  const components = labelPart.split('/');
  // components[0] is the empty string before the leading slash, so pairs need an odd count.
  if (components.length % 2 === 0) {
    throw invalid(`odd number of components in label string ${goQuote(lenientUnescape(labelPart))}`);
  }
  for (let i = 1; i < components.length; i += 2) {
    const rawName = components[i] as string;
    const rawValue = components[i + 1] as string;
    const nameBytes = unescapeSegment(rawName);
    const encoded = endsWithBase64Suffix(nameBytes);
    const trimmedBytes = encoded ? nameBytes.subarray(0, nameBytes.length - BASE64_SUFFIX.length) : nameBytes;
    const name = labelName(trimmedBytes, options.utf8Names);

    let value: string;
    if (encoded) {
      const valueBytes = unescapeSegment(rawValue);
      const decoded = decodeBase64Url(valueBytes);
      if (decoded.errorAt !== undefined) {
        throw invalid(
          `invalid base64 encoding for label ${trimmedBytes.toString('utf8')}=${goQuote(valueBytes)}: ` +
            `illegal base64 data at input byte ${decoded.errorAt}`,
        );
      }
      value = utf8Value(decoded.bytes, name);
    } else {
      value = plainValue(rawValue, name);
    }
    labels.set(name, value);
  }
  return labels;
}

function endsWithBase64Suffix(bytes: Buffer): boolean {
  const n = bytes.length - BASE64_SUFFIX.length;
  if (n < 0) return false;
  for (let i = 0; i < BASE64_SUFFIX.length; i++) {
    if (bytes[n + i] !== BASE64_SUFFIX.charCodeAt(i)) return false;
  }
  return true;
}

/** Validates a name (already stripped of one `@base64`) and returns the label name it stands for. */
function labelName(trimmed: Buffer, utf8Names: boolean): string {
  const improper = (): PushError => invalid(`improper label name ${goQuote(trimmed)}`);
  let text: string;
  try {
    text = strictUtf8.decode(trimmed);
  } catch {
    throw improper();
  }
  if (text.startsWith('__')) throw improper();
  if (!utf8Names) {
    if (!isLegacyLabelName(text)) throw improper();
    return text;
  }
  const name = unescapeName(text);
  if (name === '' || name.startsWith('__')) throw improper();
  return name;
}

/**
 * Reverses the `U__` value-encoding escape of prometheus/common (`model.UnescapeName`): `__` is `_`,
 * `_<hex>_` is a code point. Anything malformed leaves the name as it was, as upstream does.
 */
function unescapeName(name: string): string {
  if (!name.startsWith('U__')) return name;
  const escaped = name.slice(3);
  let out = '';
  for (let i = 0; i < escaped.length; i++) {
    const ch = escaped[i] as string;
    if (ch !== '_') {
      out += ch;
      continue;
    }
    i++;
    if (i >= escaped.length) return name;
    if (escaped[i] === '_') {
      out += '_';
      continue;
    }
    let codePoint = 0;
    let closed = false;
    for (let digits = 0; i < escaped.length; digits++, i++) {
      if (digits >= 6) return name;
      const c = escaped.charCodeAt(i);
      if (c === 0x5f /* _ */) {
        closed = true;
        break;
      }
      const lower = c | 0x20;
      if (lower >= 0x30 && lower <= 0x39) codePoint = codePoint * 16 + (lower - 0x30);
      else if (lower >= 0x61 && lower <= 0x66) codePoint = codePoint * 16 + (lower - 0x61 + 10);
      else return name;
    }
    if (!closed || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return name;
    out += String.fromCodePoint(codePoint);
  }
  return out;
}

function plainValue(raw: string, labelName: string): string {
  if (!NEEDS_UNESCAPING.test(raw)) return raw;
  return utf8Value(unescapeSegment(raw), labelName);
}

function utf8Value(bytes: Uint8Array, labelName: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw invalid(`invalid UTF-8 in label value for ${labelName}`);
  }
}

/** Percent-decodes one path segment to bytes; `+` stays a plus, as in a URL path. */
function unescapeSegment(raw: string): Buffer {
  if (!NEEDS_UNESCAPING.test(raw)) return Buffer.from(raw, 'latin1');
  // Characters outside ASCII (a router that already decoded them) are taken as text.
  const source = Buffer.from(raw, 'utf8');
  const out = Buffer.allocUnsafe(source.length);
  let n = 0;
  for (let i = 0; i < source.length; i++) {
    const b = source[i] as number;
    if (b !== 0x25 /* % */) {
      out[n++] = b;
      continue;
    }
    const hi = hexValue(source[i + 1]);
    const lo = hexValue(source[i + 2]);
    if (hi < 0 || lo < 0) {
      // Go's url.EscapeError message.
      throw invalid(`invalid URL escape ${goQuote(source.subarray(i, i + 3))}`);
    }
    out[n++] = hi * 16 + lo;
    i += 2;
  }
  return out.subarray(0, n);
}

/** For quoting in messages only: decodes what it can and never throws. */
function lenientUnescape(raw: string): Buffer {
  try {
    return unescapeSegment(raw);
  } catch {
    return Buffer.from(raw, 'utf8');
  }
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const lower = b | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

const BASE64URL_DECODE = (() => {
  const map = new Int8Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let i = 0; i < alphabet.length; i++) map[alphabet.charCodeAt(i)] = i;
  return map;
})();

interface Base64Result {
  /** On error: the bytes of the complete quanta before it, which the official quotes for a job. */
  readonly bytes: Buffer;
  readonly errorAt?: number;
}

/**
 * The official decoding: strip every trailing `=`, then Go's `base64.RawURLEncoding`, including its
 * quirks (CR and LF are skipped, error offsets count raw input bytes), so messages match byte for byte.
 */
function decodeBase64Url(input: Uint8Array): Base64Result {
  let end = input.length;
  while (end > 0 && input[end - 1] === 0x3d /* = */) end--;
  const src = input.subarray(0, end);
  const dst = Buffer.allocUnsafe(Math.ceil((src.length * 3) / 4));
  let n = 0;
  let si = 0;
  const quantum = [0, 0, 0, 0];
  while (si < src.length) {
    let count = 4;
    for (let j = 0; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return { bytes: dst.subarray(0, n) };
        if (j === 1) return { bytes: dst.subarray(0, n), errorAt: si - j };
        count = j;
        break;
      }
      const c = src[si++] as number;
      const v = BASE64URL_DECODE[c] as number;
      if (v >= 0) {
        quantum[j] = v;
        continue;
      }
      if (c === 0x0a || c === 0x0d) {
        j--;
        continue;
      }
      return { bytes: dst.subarray(0, n), errorAt: si - 1 };
    }
    const val =
      ((quantum[0] as number) << 18) |
      ((quantum[1] as number) << 12) |
      ((count > 2 ? (quantum[2] as number) : 0) << 6) |
      (count > 3 ? (quantum[3] as number) : 0);
    dst[n++] = (val >> 16) & 0xff;
    if (count > 2) dst[n++] = (val >> 8) & 0xff;
    if (count > 3) dst[n++] = val & 0xff;
  }
  return { bytes: dst.subarray(0, n) };
}
