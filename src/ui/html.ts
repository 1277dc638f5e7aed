/**
 * The UI's only escaping: every string that reaches a page goes through escapeHtml, which is safe
 * in text and in double-quoted attributes. Pushed label values and HELP texts are untrusted.
 */

import type { LabelPair } from '../exposition/types.js';

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** A grouping label as a chip, the job's darker. */
export function labelChip(l: LabelPair): string {
  return `<span class="label${l.name === 'job' ? ' job' : ''}"><b>${escapeHtml(l.name)}</b><span>${escapeHtml(l.value)}</span></span>`;
}

/** "3d 4h", "5m 2s", "12s": the two largest units, for ages and time left. */
export function formatDuration(seconds: number): string {
  let s = Math.max(0, Math.round(seconds));
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ];
  const parts: string[] = [];
  for (const [name, size] of units) {
    if (s >= size || (parts.length === 0 && name === 's')) {
      parts.push(`${Math.floor(s / size)}${name}`);
      s %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/**
 * A time as `<time>`: UTC text for readers without JavaScript; the page's script rewrites it in
 * the browser's time zone.
 */
export function timeTag(seconds: number): string {
  const iso = new Date(seconds * 1000).toISOString();
  return `<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
}
