/**
 * Scrape format negotiation by the `Accept` header, plus the media-type
 * parsing the push side shares with it.
 *
 * Entries are tried by decreasing q, equal q keeping header order; the first one we can serve wins, and
 * anything unmatched (wildcards, JSON, no header) gets text 0.0.4. Differences from the official gateway:
 * - `application/openmetrics-text` (version 1.0.0, 0.0.1 or none) is served as OpenMetrics 1.0.0, where the
 *   official never serves OpenMetrics. Prometheus' default Accept lists it first, so a Prometheus scrape gets
 *   OpenMetrics, and protobuf when native histograms are enabled (protobuf is then listed first).
 * - The protobuf `encoding=text` and `compact-text` debug variants are not served; such entries are skipped.
 * - Entries with `q=0` mean "not acceptable" (RFC 9110) and are skipped.
 * - `text/plain; version=1.0.0` is served: the text format of 0.0.4 whose names may be quoted
 *   (`{"my.name",job="j"}`), which only `escaping=allow-utf-8` makes appear.
 *
 * The `escaping=` parameter (name-escaping.ts) is taken from the entry that wins, as the entry's own
 * preference; an unknown value is ignored. Without one, names are escaped to underscores.
 */
import { isEscapingScheme, type EscapingScheme } from './name-escaping.js';

export type ScrapeFormat = 'text' | 'openmetrics' | 'protobuf';

/** What a scrape serves for an Accept header. */
export interface Negotiated {
  readonly format: ScrapeFormat;
  readonly escaping: EscapingScheme;
  /** The text format version asked for: 1.0.0 is announced as such, the body is the same text. */
  readonly textVersion: '0.0.4' | '1.0.0';
  /** The scheme as the scraper named it, echoed in Content-Type; undefined when it named none. */
  readonly echoEscaping: EscapingScheme | undefined;
}

export interface MediaType {
  /** `type/subtype`, lower-cased. */
  readonly type: string;
  /** Parameter names lower-cased; values as sent, unquoted. */
  readonly params: ReadonlyMap<string, string>;
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const TYPE_RE = new RegExp(`^${TOKEN}/${TOKEN}$`);
const PARAM_RE = new RegExp(`;\\s*(${TOKEN})\\s*=\\s*("(?:[^"\\\\]|\\\\.)*"|[^;\\s"]*)\\s*`, 'y');

/**
 * Parses one media type with parameters (`type/subtype; a=b; c="d"`), as Go's mime.ParseMediaType does:
 * type and parameter names case-insensitive, values case-sensitive and possibly quoted. Returns undefined
 * for a malformed header.
 */
export function parseMediaType(header: string): MediaType | undefined {
  const semi = header.indexOf(';');
  const type = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  if (!TYPE_RE.test(type)) return undefined;
  const params = new Map<string, string>();
  let pos = semi < 0 ? header.length : semi;
  while (pos < header.length) {
    // A trailing `;` is tolerated, as Go does.
    if (/^;?\s*$/.test(header.slice(pos))) break;
    PARAM_RE.lastIndex = pos;
    const m = PARAM_RE.exec(header);
    if (!m) return undefined;
    const raw = m[2] ?? '';
    params.set((m[1] ?? '').toLowerCase(), raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
    pos = PARAM_RE.lastIndex;
  }
  return { type, params };
}

interface AcceptEntry {
  readonly media: MediaType;
  readonly q: number;
}

/** Splits an Accept header into entries (commas inside quoted values respected); malformed entries are dropped. */
function parseAccept(header: string): AcceptEntry[] {
  const entries: AcceptEntry[] = [];
  for (const part of header.match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? []) {
    const media = parseMediaType(part.trim());
    if (!media) continue;
    const qRaw = media.params.get('q');
    const q = qRaw === undefined ? 1 : Number(qRaw);
    if (!Number.isFinite(q)) continue;
    entries.push({ media, q });
  }
  return entries;
}

function formatOf(media: MediaType): ScrapeFormat | undefined {
  const { type, params } = media;
  if (type === 'application/vnd.google.protobuf') {
    return params.get('proto') === 'io.prometheus.client.MetricFamily' && params.get('encoding') === 'delimited' ? 'protobuf' : undefined;
  }
  const version = params.get('version');
  if (type === 'text/plain') return version === undefined || version === '0.0.4' || version === '1.0.0' ? 'text' : undefined;
  if (type === 'application/openmetrics-text') {
    return version === undefined || version === '1.0.0' || version === '0.0.1' ? 'openmetrics' : undefined;
  }
  return undefined;
}

const TEXT_DEFAULT: Negotiated = { format: 'text', escaping: 'underscores', textVersion: '0.0.4', echoEscaping: undefined };

/** What to serve for an `Accept` header; text 0.0.4 with underscores unless a servable entry is found. */
export function negotiateScrape(accept: string | undefined): Negotiated {
  if (accept === undefined || accept === '') return TEXT_DEFAULT;
  // A scraper sends the same header every time: remember the last answer.
  if (accept === lastAccept) return lastAnswer;
  lastAnswer = negotiate(accept);
  lastAccept = accept;
  return lastAnswer;
}

/** The scrape format alone, for callers that do not escape names. */
export function negotiateScrapeFormat(accept: string | undefined): ScrapeFormat {
  return negotiateScrape(accept).format;
}

let lastAccept: string | undefined;
let lastAnswer: Negotiated = TEXT_DEFAULT;

function negotiate(accept: string): Negotiated {
  const entries = parseAccept(accept)
    .filter((e) => e.q > 0)
    // Array.prototype.sort is stable, so equal q keeps header order.
    .sort((a, b) => b.q - a.q);
  for (const e of entries) {
    const format = formatOf(e.media);
    if (!format) continue;
    const asked = e.media.params.get('escaping');
    const echoEscaping = asked !== undefined && isEscapingScheme(asked) ? asked : undefined;
    const textVersion = format === 'text' && e.media.params.get('version') === '1.0.0' ? '1.0.0' : '0.0.4';
    return { format, escaping: echoEscaping ?? 'underscores', textVersion, echoEscaping };
  }
  return TEXT_DEFAULT;
}
