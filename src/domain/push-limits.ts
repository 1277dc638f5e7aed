/**
 * Limits that keep one careless or hostile push from filling memory or disk. Each limit is named
 * after its flag; the name is in every refusal's message and labels the rejection counter. Zero
 * means unlimited. Per-push limits refuse with 413 (the request is too big); store-wide limits with
 * 429 (retry once groups were deleted or expired).
 */
import type { MetricFamily } from '../exposition/types.js';
import { PushError } from './push-error.js';

export interface PushLimits {
  readonly maxSeriesPerPush: number;
  readonly maxLabelsPerSeries: number;
  /** Bytes of UTF-8. */
  readonly maxLabelNameLength: number;
  /** Bytes of UTF-8. */
  readonly maxLabelValueLength: number;
  readonly maxGroups: number;
  readonly maxSeries: number;
}

export const LIMIT_NAMES = [
  'push.max-body-bytes',
  'push.max-series',
  'push.max-labels-per-series',
  'push.max-label-name-length',
  'push.max-label-value-length',
  'storage.max-groups',
  'storage.max-series',
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** A push refused by a limit; nothing was written. */
export class LimitError extends PushError {
  constructor(
    readonly limit: LimitName,
    message: string,
  ) {
    super(limit.startsWith('storage.') ? 'over_capacity' : 'too_large', `limit ${limit} exceeded: ${message}`);
  }
}

function utf8Over(text: string, limit: number): number | undefined {
  // UTF-8 is at least one byte per UTF-16 unit and at most three, so most strings need no count.
  if (text.length * 3 <= limit) return undefined;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > limit ? bytes : undefined;
}

/** Checks a sanitised push (grouping labels included) against the per-push limits; throws LimitError. */
export function checkPushShape(families: readonly MetricFamily[], limits: PushLimits): number {
  let series = 0;
  for (const family of families) series += family.metrics.length;
  if (limits.maxSeriesPerPush > 0 && series > limits.maxSeriesPerPush) {
    throw new LimitError('push.max-series', `the push has ${series} series, the limit is ${limits.maxSeriesPerPush}`);
  }
  for (const family of families) {
    for (const metric of family.metrics) {
      if (limits.maxLabelsPerSeries > 0 && metric.labels.length > limits.maxLabelsPerSeries) {
        throw new LimitError(
          'push.max-labels-per-series',
          `a series of ${family.name} has ${metric.labels.length} labels, the limit is ${limits.maxLabelsPerSeries}`,
        );
      }
      for (const label of metric.labels) {
        const nameBytes = limits.maxLabelNameLength > 0 ? utf8Over(label.name, limits.maxLabelNameLength) : undefined;
        if (nameBytes !== undefined) {
          throw new LimitError(
            'push.max-label-name-length',
            `a label name of ${family.name} has ${nameBytes} bytes, the limit is ${limits.maxLabelNameLength}`,
          );
        }
        const valueBytes = limits.maxLabelValueLength > 0 ? utf8Over(label.value, limits.maxLabelValueLength) : undefined;
        if (valueBytes !== undefined) {
          throw new LimitError(
            'push.max-label-value-length',
            `label ${label.name.slice(0, 100)} of ${family.name} has a value of ${valueBytes} bytes, the limit is ${limits.maxLabelValueLength}`,
          );
        }
      }
    }
  }
  return series;
}

/** What the store holds for the pushed group, looked up only when a store-wide limit is near. */
export interface GroupFootprint {
  readonly exists: boolean;
  /** Series of the group that the push replaces (all of them for PUT, the pushed families' for POST). */
  readonly replacedSeries: number;
}

/**
 * The store-wide limits, counting pushes still in flight: pushes that passed the check but are not
 * yet committed are reserved, so concurrent pushes cannot together overshoot. The reservation is
 * conservative (a replacing push counts as new until it commits), which only matters at the limit.
 */
export class CapacityGuard {
  private pendingGroups = 0;
  private pendingSeries = 0;

  constructor(private readonly limits: PushLimits) {}

  /**
   * Throws LimitError when the push would take the store past a limit; otherwise reserves its
   * share and returns the function that releases it (call it once the push is committed or failed).
   */
  async reserve(
    stored: { readonly groups: number; readonly series: number },
    pushedSeries: number,
    footprint: () => Promise<GroupFootprint>,
  ): Promise<() => void> {
    const { maxGroups, maxSeries } = this.limits;
    let known: GroupFootprint | undefined;
    const lookUp = async (): Promise<GroupFootprint> => (known ??= await footprint());
    let newGroups = 1;
    if (maxGroups > 0 && stored.groups + this.pendingGroups + 1 > maxGroups) {
      if (!(await lookUp()).exists) {
        throw new LimitError('storage.max-groups', `the store holds ${stored.groups} groups, the limit is ${maxGroups}`);
      }
      newGroups = 0;
    }
    if (maxSeries > 0 && stored.series + this.pendingSeries + pushedSeries > maxSeries) {
      const after = stored.series + this.pendingSeries - (await lookUp()).replacedSeries + pushedSeries;
      if (after > maxSeries) {
        throw new LimitError('storage.max-series', `the push would bring the store to ${after} series, the limit is ${maxSeries}`);
      }
    }
    if (known?.exists) newGroups = 0;
    this.pendingGroups += newGroups;
    this.pendingSeries += pushedSeries;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pendingGroups -= newGroups;
      this.pendingSeries -= pushedSeries;
    };
  }
}
