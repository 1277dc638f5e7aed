import type { Timeline } from '../domain/history-query.js';
import { escapeHtml, formatDuration } from './html.js';

/**
 * Push history drawn as inline SVG, server-rendered (no script, no build step). Each chart carries
 * a text alternative: role="img" with an aria-label that says what the marks show, a <title> per
 * mark for pointer users, and the same summary as visible text beside it.
 */

/** A slot's time range as UTC text, `11:40–11:45`. */
function slotRange(timeline: Timeline, slot: number): string {
  const at = (i: number) => new Date((timeline.startSeconds + i * timeline.slotSeconds) * 1000).toISOString().slice(11, 16);
  return `${at(slot)}–${at(slot + 1)}`;
}

/** The tooltip of a slot's mark. */
function slotTitle(timeline: Timeline, slot: number, accepted: number, rejected: number): string {
  const parts = [`${accepted} accepted`];
  if (rejected > 0) parts.push(`${rejected} failed`);
  return `${slotRange(timeline, slot)} UTC: ${parts.join(', ')}`;
}

/** The longest run of slots without a push, in seconds, counted up to the end of the window. */
function longestGap(timeline: Timeline): number {
  let longest = 0;
  let run = 0;
  for (const s of timeline.slots) {
    run = s.accepted + s.rejected === 0 ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest * timeline.slotSeconds;
}

/**
 * A group card's last 24 hours: one mark per slot with pushes (a push is a mark; pushes within the
 * same slot share one), red when any of them failed; stretches without a mark are the gaps.
 */
export function renderGroupTimeline(timeline: Timeline): string {
  const count = timeline.slots.length;
  let accepted = 0;
  let rejected = 0;
  let lastFailedSlot = -1;
  // One path per colour, a vertical stroke per mark: a few bytes a push, where an element with
  // its own tooltip each made a page of 100 busy groups weigh megabytes.
  let ok = '';
  let bad = '';
  timeline.slots.forEach((s, i) => {
    if (s.accepted + s.rejected === 0) return;
    accepted += s.accepted;
    rejected += s.rejected;
    if (s.rejected > 0) {
      bad += `M${i + 0.5} 0V16`;
      lastFailedSlot = i;
    } else ok += `M${i + 0.5} 3V16`;
  });
  const hours = Math.round((count * timeline.slotSeconds) / 3600);
  const gap = longestGap(timeline);
  const total = accepted + rejected;
  let summary =
    total === 0
      ? `No pushes in the last ${hours} hours`
      : `${total} push${total === 1 ? '' : 'es'} in the last ${hours} hours, ${rejected} failed; longest gap ${formatDuration(gap)}`;
  if (lastFailedSlot >= 0) summary += `; last failure ${slotRange(timeline, lastFailedSlot)} UTC`;
  const ticks: string[] = [];
  // A tick every 6 hours back from now helps reading where a gap or a failure was.
  const perTick = (6 * 3600) / timeline.slotSeconds;
  for (let x = count - perTick; x > 0; x -= perTick) ticks.push(`M${x} 0V16`);
  return `<div class="timeline${rejected > 0 ? ' has-failures' : ''}">
  <svg role="img" aria-label="${escapeHtml(summary)}" viewBox="0 0 ${count} 16" preserveAspectRatio="none" width="100%" height="18"><title>${escapeHtml(
    summary,
  )}</title><rect class="track" x="0" y="7" width="${count}" height="2"/><path class="tick" d="${ticks.join('')}"/>${ok ? `<path class="mark ok" d="${ok}"/>` : ''}${
    bad ? `<path class="mark bad" d="${bad}"/>` : ''
  }</svg>
  <div class="timeline-caption"><span>24 h ago</span><span class="timeline-summary">${escapeHtml(summary)}</span><span>now</span></div>
</div>`;
}

/** Accepted and rejected pushes per slot as stacked bars (the status page's last hour, per minute). */
export function renderPushRateChart(timeline: Timeline): string {
  const count = timeline.slots.length;
  const max = Math.max(1, ...timeline.slots.map((s) => s.accepted + s.rejected));
  let accepted = 0;
  let rejected = 0;
  const height = 100;
  const bars = timeline.slots
    .map((s, i) => {
      accepted += s.accepted;
      rejected += s.rejected;
      if (s.accepted + s.rejected === 0) return '';
      const ok = (s.accepted / max) * height;
      const bad = (s.rejected / max) * height;
      const title = `<title>${escapeHtml(slotTitle(timeline, i, s.accepted, s.rejected))}</title>`;
      return `<g>${title}<rect class="bar ok" x="${i * 10 + 1}" y="${height - ok}" width="8" height="${ok}"/><rect class="bar bad" x="${i * 10 + 1}" y="${
        height - ok - bad
      }" width="8" height="${bad}"/></g>`;
    })
    .join('');
  const minutes = Math.round((count * timeline.slotSeconds) / 60);
  const summary = `Last ${minutes} minutes: ${accepted} accepted and ${rejected} rejected pushes; at most ${accepted + rejected === 0 ? 0 : max} in one minute`;
  return `<figure class="rate-chart">
  <div class="peak">${accepted + rejected === 0 ? 0 : max} per minute</div>
  <svg role="img" aria-label="${escapeHtml(summary)}" viewBox="0 0 ${count * 10} ${height}" width="100%" height="120" preserveAspectRatio="none"><title>${escapeHtml(
    summary,
  )}</title><line class="axis" x1="0" x2="${count * 10}" y1="${height}" y2="${height}"/>${bars}</svg>
  <figcaption><span>${minutes} min ago</span><span class="legend"><i class="swatch ok"></i>accepted <i class="swatch bad"></i>rejected · ${escapeHtml(
    summary,
  )}</span><span>now</span></figcaption>
</figure>`;
}
