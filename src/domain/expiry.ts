/**
 * The one rule for whether a group has expired: it has an expiry time and that time has come.
 * Readers stop showing such a group at once; the sweep deletes it later, and a push to it first
 * empties it.
 */
export function isExpired(expiresAtSeconds: number | null | undefined, nowSeconds: number): boolean {
  return expiresAtSeconds !== null && expiresAtSeconds !== undefined && expiresAtSeconds <= nowSeconds;
}
