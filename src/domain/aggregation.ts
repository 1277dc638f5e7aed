/**
 * Aggregating groups: a group's mode is `replace` (a POST replaces the families it names, the
 * official behaviour) or `sum` (a POST adds them to the stored ones). The mode is chosen by the
 * push that creates the group: its Pushkeep-Aggregation header, else the first operator rule whose
 * selector matches the grouping key, else `replace`.
 */

import type { GroupSelector } from './group-matcher.js';
import type { GroupingKey } from './grouping-key.js';
import { PushError } from './push-error.js';

export type AggregationMode = 'sum' | 'replace';

export const AGGREGATION_MODES: readonly AggregationMode[] = ['sum', 'replace'];

export const AGGREGATION_HEADER = 'pushkeep-aggregation';

export function isAggregationMode(value: string): value is AggregationMode {
  return (AGGREGATION_MODES as readonly string[]).includes(value);
}

/** The Pushkeep-Aggregation header's mode; undefined when absent. Throws PushError('invalid') (400) on anything else. */
export function parseAggregationHeader(value: string | readonly string[] | undefined): AggregationMode | undefined {
  if (value === undefined) return undefined;
  const text = (typeof value === 'string' ? value : value.join(',')).trim().toLowerCase();
  if (isAggregationMode(text)) return text;
  throw new PushError('invalid', `invalid Pushkeep-Aggregation header ${JSON.stringify(String(value))}: expected sum or replace`);
}

/** A refused addition (bounds that differ, a negative counter increment): 400, nothing written. */
export class AggregationError extends PushError {
  constructor(message: string) {
    super('invalid', message);
  }
}

/** A push naming a mode other than the group's: 409, nothing written. */
export class AggregationConflictError extends PushError {
  constructor(groupId: string, stored: AggregationMode, requested: AggregationMode) {
    super(
      'conflict',
      `group ${groupId} aggregates by ${stored}; a push with Pushkeep-Aggregation: ${requested} cannot change that (delete the group, or let it expire, to choose again)`,
    );
  }
}

/** One `--aggregation.rule`: the groups its selector matches are created in this mode. */
export interface AggregationRule {
  /** As the operator wrote it. */
  readonly text: string;
  readonly selector: GroupSelector;
  readonly mode: AggregationMode;
}

/** The operator's rules, in order: the first match wins. */
export class AggregationPolicy {
  constructor(readonly rules: readonly AggregationRule[] = []) {}

  /** The mode a new group gets without a header. */
  modeFor(key: GroupingKey): AggregationMode {
    for (const rule of this.rules) if (rule.selector.matches(key)) return rule.mode;
    return 'replace';
  }
}

/** What a push asks of the group's mode: the header's, and the one a new group gets. */
export interface AggregationRequest {
  /** The Pushkeep-Aggregation header; a group in another mode refuses the push (409). */
  readonly requested?: AggregationMode | undefined;
  /** header > rule > replace: the mode of a group this push creates. */
  readonly initial: AggregationMode;
}

/** The group's mode after the push; throws AggregationConflictError when the header names another. */
export function settleMode(groupId: string, stored: AggregationMode | undefined, request: AggregationRequest): AggregationMode {
  if (stored === undefined) return request.initial;
  if (request.requested !== undefined && request.requested !== stored) throw new AggregationConflictError(groupId, stored, request.requested);
  return stored;
}
