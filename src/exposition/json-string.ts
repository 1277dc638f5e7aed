/**
 * JSON.stringify(s) for a string, the same text, faster for the short plain strings label names
 * and values mostly are: a scan finds nothing to escape and the quotes go around as they are.
 * JSON.stringify's call costs more than the scan, and a push quotes every label of every series,
 * twice.
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // What JSON.stringify escapes: `"`, `\`, control characters; and lone surrogates, which
    // a scan for pairs would cost more than this rare case is worth.
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}
