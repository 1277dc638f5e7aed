/**
 * Number formatting identical to Go's strconv.FormatFloat(v, 'g', -1, 64), the way the official
 * Pushgateway writes sample values, `le`/`quantile` label values and JSON API value strings.
 *
 * Go's shortest `%g` uses the same shortest round-trip digits as JavaScript, but switches to
 * scientific notation when the decimal exponent is < -4 or >= 6 (JavaScript waits until ±21),
 * and always writes the exponent with a sign and at least two digits (`1e+06`, `5e-324`).
 */

/** Text exposition form: negative zero is written `0` (expfmt special-cases `f == 0`). */
export function formatFloat(v: number): string {
  return v === 0 ? '0' : formatNonZero(v);
}

/** JSON API form: like formatFloat, but negative zero stays `-0` (plain strconv.FormatFloat). */
export function formatFloatJson(v: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  return formatNonZero(v);
}

function formatNonZero(v: number): string {
  const abs = v < 0 ? -v : v;
  // In this range the shortest digits have a decimal exponent in [-4, 5], where Go and
  // JavaScript both write plain decimals (1e6 is exact, so nothing below it rounds up to it).
  if (abs >= 1e-4 && abs < 1e6) return String(v);
  if (v !== v) return 'NaN';
  if (abs === Infinity) return v > 0 ? '+Inf' : '-Inf';
  // toExponential() without an argument yields the shortest round-trip digits, e.g. `1.5e-7`;
  // Go pads the exponent to two digits.
  const exp = v.toExponential();
  const e = exp.indexOf('e');
  return exp.length - e === 3 ? `${exp.slice(0, e + 2)}0${exp.slice(e + 2)}` : exp;
}
