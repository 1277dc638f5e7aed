// Durations as Prometheus and Go write them: flags, retention rules, the Pushkeep-TTL header,
// the admin API's older_than and the web config all read them here.

export class DurationError extends Error {}

const MS = { y: 365 * 86_400_000, w: 7 * 86_400_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;

const PROMETHEUS_DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const GO_DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
// Both micro signs Go accepts: U+00B5 and U+03BC.
const GO_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration into milliseconds. Prometheus syntax (`90s`, `1h30m`, `7d`, `1w`, `1y`, `500ms`,
 * units in that order, `0` alone allowed); Go syntax (`1.5h`, `300us`) is accepted too, so values
 * copied from the official gateway's flags keep working. Negative durations are refused.
 * Throws DurationError.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  const prom = PROMETHEUS_DURATION.exec(s);
  if (s !== '' && prom) {
    const units = [MS.y, MS.w, MS.d, MS.h, MS.m, MS.s, MS.ms];
    let total = 0;
    units.forEach((unit, i) => {
      const digits = prom[i + 1];
      if (digits !== undefined) total += Number(digits) * unit;
    });
    if (!Number.isSafeInteger(total)) throw invalidDuration(text);
    return total;
  }
  const go = parseGoDuration(s);
  if (go === undefined) throw invalidDuration(text);
  return go;
}

/**
 * Go's time.ParseDuration without a sign, in whole milliseconds: `1.5h`, `300ms`, `2m30s`, `0`.
 * Undefined when invalid.
 */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  GO_DURATION_PART.lastIndex = 0;
  while (GO_DURATION_PART.lastIndex < s.length) {
    const start = GO_DURATION_PART.lastIndex;
    const part = GO_DURATION_PART.exec(s);
    if (!part || part.index !== start) return undefined;
    total += Number(part[1]) * GO_UNIT_MS[part[2]!]!;
  }
  total = Math.round(total);
  return Number.isSafeInteger(total) ? total : undefined;
}

function invalidDuration(text: string): DurationError {
  return new DurationError(`invalid duration "${text}"`);
}

/** Go's time.Duration String() for whole milliseconds: `0s`, `500ms`, `2s`, `1.5s`, `5m0s`, `1h0m0s`. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 0) return `-${formatGoDuration(-ms)}`;
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / MS.h);
  const minutes = Math.floor((ms % MS.h) / MS.m);
  const millis = ms % MS.m;
  const wholeSeconds = Math.floor(millis / 1000);
  const fraction = millis % 1000;
  const seconds = fraction === 0 ? `${wholeSeconds}` : `${wholeSeconds}.${String(fraction).padStart(3, '0').replace(/0+$/, '')}`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
