import { jsonString } from '../exposition/json-string.js';
import { sameLabel, type LabelPair, type Metric } from '../exposition/types.js';
import { PrefixReusingText } from '../util/prefix-reusing-text.js';

// JSON has no NaN, ±Inf or -0, and sample values carry all of them. They are written as
// {"$f":"NaN"} objects: no label value (always a string) or other field can look like one.
const SPECIAL = '$f';

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && (!Number.isFinite(value) || Object.is(value, -0))) {
    return { [SPECIAL]: Object.is(value, -0) ? '-0' : String(value) };
  }
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && SPECIAL in value) {
    const s = (value as Record<string, string>)[SPECIAL];
    return s === '-0' ? -0 : Number(s);
  }
  return value;
}

/** Encodes a family's series for the metrics_json column. */
export function encodeMetrics(metrics: readonly Metric[]): string {
  // Plain samples (the commonest push) are written here, JSON.stringify's text for them but
  // without its generic walk, and each series' labels from the text the series before it had
  // (PrefixReusingText); anything else goes to JSON.stringify.
  const labels = new PrefixReusingText<LabelPair>(
    '{"labels":[',
    (l, first) => (first ? '{"name":' : ',{"name":') + jsonString(l.name) + ',"value":' + jsonString(l.value) + '}',
    sameLabel,
  );
  let out = '[';
  for (let i = 0; i < metrics.length; i++) {
    const m = metrics[i]!;
    if (!isPlainFiniteSample(m)) return encodeAny(metrics);
    out += (i > 0 ? ',' : '') + labels.of(m.labels) + '],"value":' + String(m.value) + '}';
  }
  return out + ']';
}

function isPlainFiniteSample(m: Metric): boolean {
  return (
    m.summary === undefined &&
    m.histogram === undefined &&
    m.exemplar === undefined &&
    m.createdTimestampMs === undefined &&
    m.timestampMs === undefined &&
    typeof m.value === 'number' &&
    Number.isFinite(m.value) &&
    !Object.is(m.value, -0)
  );
}

function encodeAny(metrics: readonly Metric[]): string {
  // A replacer function makes JSON.stringify several times slower; most pushes hold only finite
  // values, which the output shows without calling one.
  const plain = JSON.stringify(metrics);
  return plain.includes('null') || hasNegativeZero(metrics) ? JSON.stringify(metrics, replacer) : plain;
}

// -0 prints as 0 in JSON, and only sample values can carry it in a way anyone sees.
function hasNegativeZero(metrics: readonly Metric[]): boolean {
  for (const m of metrics) {
    if (Object.is(m.value, -0)) return true;
    if (m.summary && (Object.is(m.summary.sampleSum, -0) || m.summary.quantiles.some((q) => Object.is(q.value, -0)))) {
      return true;
    }
    if (m.histogram && Object.is(m.histogram.sampleSum, -0)) return true;
  }
  return false;
}

/** Decodes the metrics_json column; trusts that the column was written by encodeMetrics. */
export function decodeMetrics(text: string): Metric[] {
  // The reviver runs for every value; a restart decodes every stored family, so skip it when
  // there is nothing to revive.
  return (text.includes(`"${SPECIAL}"`) ? JSON.parse(text, reviver) : JSON.parse(text)) as Metric[];
}

/** Labels as a JSON object with keys in the order given (callers pass them sorted). */
export function labelsJson(labels: readonly LabelPair[]): string {
  let out = '{';
  for (let i = 0; i < labels.length; i++) out += labelJson(labels[i]!, i === 0);
  return out + '}';
}

function labelJson(l: LabelPair, first: boolean): string {
  return (first ? '' : ',') + jsonString(l.name) + ':' + jsonString(l.value);
}

/**
 * labelsJson for one label set after another, each reusing the text of the labels it shares with
 * the one before (PrefixReusingText): for the series of a family.
 */
export function labelsJsonWriter(): (labels: readonly LabelPair[]) => string {
  const text = new PrefixReusingText<LabelPair>('{', labelJson, sameLabel);
  return (labels) => text.of(labels) + '}';
}
