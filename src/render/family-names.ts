/**
 * The names of a group's families other than its timestamp gauges, which every group has: none,
 * one (most groups push one family), or several. A Set per group cost more than its names.
 */
export type FamilyNames = string | Set<string> | null;

export function namesOf(names: FamilyNames): Iterable<string> {
  return names === null ? [] : typeof names === 'string' ? [names] : names;
}

export function withName(names: FamilyNames, name: string): FamilyNames {
  if (names === null || names === name) return name;
  if (typeof names === 'string') return new Set([names, name]);
  return names.add(name);
}

export function withoutName(names: FamilyNames, name: string): FamilyNames {
  if (names === null || typeof names === 'string') return names === name ? null : names;
  names.delete(name);
  return names;
}
