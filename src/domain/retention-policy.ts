/**
 * When a group expires. Its effective TTL is, first found wins: the TTL of this push's
 * Pushkeep-TTL header, the TTL an earlier push's header stored on the group, the first operator
 * rule matching its grouping labels, --retention.ttl. A TTL of 0 means never. The expiry counts
 * from the group's last successful push; a group that never had one (created by a failed push)
 * counts from its last failure, so orphaned failure-only groups go away too.
 */

import { DurationError, parseDuration } from '../exposition/duration.js';
import { isExpired } from './expiry.js';
import type { GroupSelector } from './group-matcher.js';
import type { GroupingKey } from './grouping-key.js';
import { PushError } from './push-error.js';

export interface RetentionRule {
  /** The rule as written, for messages and logs. */
  readonly text: string;
  readonly selector: GroupSelector;
  /** 0 = keep forever. */
  readonly ttlSeconds: number;
}

export interface RetentionSettings {
  /** In order: the command line's rules first, then the file's. */
  readonly rules: readonly RetentionRule[];
  /** TTL of groups no rule matches; 0 = keep forever (the default: retention off). */
  readonly defaultTtlSeconds: number;
  /** node-cron expression with seconds for the sweep. */
  readonly schedule: string;
}

// The same default as the --retention.schedule flag row in src/config/flags.ts.
const DEFAULT_SWEEP_SCHEDULE = '*/30 * * * * *';

/** Retention off: nothing expires unless a push's Pushkeep-TTL header asks for it. */
export const NO_RETENTION: RetentionSettings = Object.freeze({ rules: [], defaultTtlSeconds: 0, schedule: DEFAULT_SWEEP_SCHEDULE });

/** The request header that sets a group's TTL from this push on. */
export const TTL_HEADER = 'Pushkeep-TTL';

/** Unix time in seconds (fractions allowed). */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now() / 1000;

/** The TTLs that can outrank the operator's rules for one group. */
export interface TtlOverrides {
  /** From this push's Pushkeep-TTL header. */
  readonly headerSeconds?: number | undefined;
  /** Stored on the group by an earlier push's header. */
  readonly storedSeconds?: number | undefined;
}

/** The group facts expiry is computed from (a GroupHeader satisfies it). */
export interface ExpiryBasis {
  readonly key: GroupingKey;
  readonly pushTimeSeconds: number;
  readonly pushFailureTimeSeconds: number;
  readonly ttlSeconds?: number;
}

export class RetentionPolicy {
  constructor(
    readonly settings: RetentionSettings,
    private readonly clock: Clock = systemClock,
  ) {}

  now(): number {
    return this.clock();
  }

  /** The TTL of the operator's first matching rule, else --retention.ttl; 0 = never. */
  ruleTtl(key: GroupingKey): number {
    for (const rule of this.settings.rules) if (rule.selector.matches(key)) return rule.ttlSeconds;
    return this.settings.defaultTtlSeconds;
  }

  /** The effective TTL in seconds: header > stored header > rule > default; 0 = never. */
  ttlFor(key: GroupingKey, overrides: TtlOverrides = {}): number {
    return overrides.headerSeconds ?? overrides.storedSeconds ?? this.ruleTtl(key);
  }

  /** Expiry (Unix seconds) of a group pushed at `fromSeconds` (default now); undefined = never. */
  expiresAt(key: GroupingKey, overrides: TtlOverrides = {}, fromSeconds: number = this.clock()): number | undefined {
    const ttl = this.ttlFor(key, overrides);
    return ttl > 0 ? fromSeconds + ttl : undefined;
  }

  /**
   * What a stored group's expiry should be under the current settings: from its last successful
   * push, or its last failure when it never had one. Used at startup, so that changed rules also
   * apply to groups nobody pushes to any more.
   */
  expiryOf(group: ExpiryBasis): number | undefined {
    const from = group.pushTimeSeconds > 0 ? group.pushTimeSeconds : group.pushFailureTimeSeconds;
    return this.expiresAt(group.key, { storedSeconds: group.ttlSeconds }, from);
  }

  /** Has a group with this expiry expired by now? */
  isExpired(expiresAtSeconds: number | undefined, nowSeconds: number = this.clock()): boolean {
    return isExpired(expiresAtSeconds, nowSeconds);
  }
}

/**
 * Reads a Pushkeep-TTL header value: a Prometheus duration (`90s`, `6h`, `7d`), `0` for never.
 * Returns seconds, or undefined when the header is absent. Throws PushError('invalid') (400).
 */
export function parseTtlHeader(value: string | readonly string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : value.join(', ');
  try {
    if (text.trim() === '') throw new DurationError('empty');
    return parseDuration(text) / 1000;
  } catch (err) {
    if (!(err instanceof DurationError)) throw err;
    throw new PushError(
      'invalid',
      `invalid ${TTL_HEADER} header ${JSON.stringify(text)}: expected a duration such as 90s, 15m, 6h or 7d (0 keeps the group forever)`,
    );
  }
}
