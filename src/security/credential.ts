/**
 * The credential a request was authenticated with, as the handlers see it: who (for messages),
 * its roles, and the groups it is confined to. A request without a web config, or with the official
 * format only, has no credential: it may act on every group.
 */
import type { GroupingKey } from '../domain/grouping-key.js';
import type { GroupSelector } from '../domain/group-matcher.js';
import type { Grant } from './web-config.js';

export interface Credential extends Grant {
  /** `user "team-a"`, `token "ci-a"` or `anonymous`: how messages and logs name it; never a secret. */
  readonly who: string;
}

/** The selector a credential's reads, writes and admin deletes are confined to; undefined for every group. */
export function scopeOfCredential(credential: Credential | undefined): GroupSelector | undefined {
  return credential?.scope;
}

/** True when the credential may push to, or delete, the group with this grouping key. */
export function mayWrite(credential: Credential | undefined, key: GroupingKey): boolean {
  return credential?.scope === undefined || credential.scope.matches(key);
}

/**
 * The one-line reason a write outside the scope is refused with (403), for basic users and bearer
 * tokens alike: `Forbidden: user "team-a" may only push to groups matching {job=~"team_a_.*"}`,
 * `Forbidden: token "ci-a" may only push to groups matching {job=~"team_a_.*"}`.
 */
export function outOfScopeMessage(credential: Credential): string {
  return `Forbidden: ${credential.who} may only push to groups matching ${String(credential.scope)}`;
}
