import type { MetricFamily, MetricType } from '../exposition/types.js';
import { INCONSISTENT_PREFIX } from './push-rules.js';

/** What the store knows about one metric name across all groups. */
export interface NameEntry {
  readonly type: MetricType;
  /** Number of groups holding a family of this name, the group being written included. */
  readonly familyCount: number;
}

export interface ConsistencyInput {
  /** The pushed families, sanitised. */
  readonly pushed: readonly MetricFamily[];
  /** PUT replaces the whole group; POST only the pushed names. */
  readonly replace: boolean;
  /** The group's families before the write: name → type. */
  readonly existing: ReadonlyMap<string, MetricType>;
  /** Store-wide entries for the names returned by namesToLookUp (missing = nobody has it). */
  readonly registry: ReadonlyMap<string, NameEntry>;
  /** The gateway's own families: name → type. */
  readonly own: ReadonlyMap<string, MetricType>;
}

const SUFFIXES: Record<string, readonly string[]> = {
  summary: ['_sum', '_count'],
  histogram: ['_sum', '_count', '_bucket'],
  gaugehistogram: ['_sum', '_count', '_bucket'],
};

function suffixesOf(type: MetricType): readonly string[] {
  return SUFFIXES[type] ?? [];
}

/**
 * Every name whose store-wide entry the check needs: the pushed names, their suffixes and bases.
 * None when every pushed family replaces one of the same name and type in the group (`existing`),
 * the periodic re-push: the store only ever holds families that passed these rules, so a name the
 * group already holds with that type agrees with every other group, and no collision with its
 * suffixes or base can be stored anywhere. Only the gateway's own families, which need no lookup,
 * are left to check.
 */
export function namesToLookUp(pushed: readonly MetricFamily[], existing: ReadonlyMap<string, MetricType>): string[] {
  if (pushed.every((f) => existing.get(f.name) === f.type)) return [];
  const names = new Set<string>();
  for (const f of pushed) {
    names.add(f.name);
    for (const s of ['_sum', '_count', '_bucket']) names.add(f.name + s);
    const base = baseName(f.name);
    if (base) names.add(base);
  }
  return [...names];
}

function baseName(name: string): string | undefined {
  for (const s of ['_sum', '_count', '_bucket']) if (name.endsWith(s)) return name.slice(0, -s.length);
  return undefined;
}

/**
 * The official gateway's consistency rules, answered from indexed facts instead of a re-gather of
 * the whole store: a name keeps one type across groups and against the gateway's own families,
 * and a summary or histogram `x` never coexists with a family `x_sum`, `x_count` (or `x_bucket`).
 * Duplicate series across groups are caught by the store's unique index. Returns the failure
 * message, or undefined when the write is consistent.
 */
export function checkConsistency(input: ConsistencyInput): string | undefined {
  const { pushed, replace, existing, registry, own } = input;
  const pushedTypes = new Map(pushed.map((f) => [f.name, f.type] as const));

  // The type a name has after the write: in this group, in other groups, or among own families.
  const typeAfterWrite = (name: string): MetricType | undefined => {
    const inPush = pushedTypes.get(name);
    if (inPush) return inPush;
    if (!replace && existing.has(name)) return existing.get(name);
    return elsewhere(name);
  };
  const elsewhere = (name: string): MetricType | undefined => {
    const entry = registry.get(name);
    if (entry && entry.familyCount - (existing.has(name) ? 1 : 0) > 0) return entry.type;
    return own.get(name);
  };

  for (const f of pushed) {
    const ownType = own.get(f.name);
    if (ownType && ownType !== f.type && f.metrics.length > 0) {
      return `${INCONSISTENT_PREFIX}metric family ${f.name} has type ${upper(f.type)} but the gateway's own family of that name is a ${upper(ownType)}`;
    }
    const other = elsewhere(f.name);
    if (other && other !== f.type) {
      return `${INCONSISTENT_PREFIX}metric "${f.name}" is pushed as ${upper(f.type)} but is a ${upper(other)} in another group`;
    }
    for (const suffix of suffixesOf(f.type)) {
      if (typeAfterWrite(f.name + suffix)) {
        return `${INCONSISTENT_PREFIX}metric named "${f.name}${suffix}" collides with ${f.type} named "${f.name}"`;
      }
    }
    const base = baseName(f.name);
    if (base) {
      const baseType = typeAfterWrite(base);
      if (baseType && suffixesOf(baseType).includes(f.name.slice(base.length))) {
        return `${INCONSISTENT_PREFIX}metric named "${f.name}" collides with ${baseType} named "${base}"`;
      }
    }
  }
  return undefined;
}

function upper(t: MetricType): string {
  return t === 'gaugehistogram' ? 'GAUGE_HISTOGRAM' : t.toUpperCase();
}
