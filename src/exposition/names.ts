// The one set of Prometheus name rules: what the legacy (pre-UTF-8) character set allows for
// metric and label names. Parsers build sticky variants from the same patterns.

export const METRIC_NAME_PATTERN = '[a-zA-Z_:][a-zA-Z0-9_:]*';
export const LABEL_NAME_PATTERN = '[a-zA-Z_][a-zA-Z0-9_]*';

const LEGACY_METRIC_NAME = new RegExp(`^${METRIC_NAME_PATTERN}$`);
const LEGACY_LABEL_NAME = new RegExp(`^${LABEL_NAME_PATTERN}$`);

/** A metric name valid without UTF-8 support: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export function isLegacyMetricName(name: string): boolean {
  return LEGACY_METRIC_NAME.test(name);
}

/** A label name valid without UTF-8 support: `[a-zA-Z_][a-zA-Z0-9_]*`. */
export function isLegacyLabelName(name: string): boolean {
  return LEGACY_LABEL_NAME.test(name);
}
