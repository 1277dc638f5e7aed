import type { HistoryEntry } from '../domain/history-query.js';
import { escapeHtml, formatDuration, labelChip, timeTag } from './html.js';
import { renderLayout } from './layout.js';

export interface HistoryFilter {
  readonly job: string;
  /** Label value text. */
  readonly q: string;
  /** '' for both outcomes. */
  readonly outcome: '' | 'accepted' | 'rejected';
  /** One group's history (the link on its card); '' for every group. */
  readonly groupingKey: string;
}

export interface HistoryPageInput {
  readonly entries: readonly HistoryEntry[];
  readonly filter: HistoryFilter;
  /** The cursor of the next (older) page; undefined on the last one. */
  readonly next?: string | undefined;
  /** This page is not the newest (it was asked for with a cursor). */
  readonly older: boolean;
  readonly limit: number;
  /** Known jobs, for the filter's suggestions. */
  readonly jobs: readonly string[];
  readonly nowSeconds: number;
  readonly version: string;
}

export function renderHistoryPage(input: HistoryPageInput): string {
  const { filter } = input;
  const filtered = filter.job !== '' || filter.q !== '' || filter.outcome !== '' || filter.groupingKey !== '';
  const outcome = (value: string, label: string) => `<option value="${value}"${filter.outcome === value ? ' selected' : ''}>${label}</option>`;
  const toolbar = `<div class="toolbar">
  <form method="get" action="./history">
    ${filter.groupingKey !== '' ? `<input type="hidden" name="grouping_key" value="${escapeHtml(filter.groupingKey)}">` : ''}
    <input type="search" name="job" list="jobs" placeholder="Job" value="${escapeHtml(filter.job)}" aria-label="Job">
    <datalist id="jobs">${input.jobs.map((j) => `<option value="${escapeHtml(j)}"></option>`).join('')}</datalist>
    <input type="search" name="q" placeholder="Label value contains…" value="${escapeHtml(filter.q)}" aria-label="Label value contains">
    <select name="outcome" aria-label="Outcome">${outcome('', 'Any outcome')}${outcome('accepted', 'Accepted')}${outcome('rejected', 'Rejected')}</select>
    <button type="submit">Filter</button>
    ${filtered ? '<a class="button" href="./history">Clear</a>' : ''}
  </form>
</div>`;
  const scope =
    filter.groupingKey !== ''
      ? `<p class="sub">Pushes to the group <code>${escapeHtml(filter.groupingKey)}</code> · <a href="./history">all groups</a></p>`
      : '<p class="sub">Every push attempt, newest first, accepted or rejected, with the reason a push was refused.</p>';
  const rows = input.entries.map((e) => renderRow(e, input.nowSeconds)).join('\n');
  const list =
    input.entries.length > 0
      ? `<table class="history">
<thead><tr><th>Time</th><th>Outcome</th><th>Request</th><th>Group</th><th>Series</th><th>Bytes</th><th>Client</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
      : `<div class="empty">${filtered ? 'No push attempt matches this filter.' : 'No push attempts recorded yet.'}</div>`;
  const body = `<h1>Push history</h1>
${scope}
${toolbar}
${list}
${pager(input)}`;
  return renderLayout({ tab: 'history', title: 'History', version: input.version, body });
}

function renderRow(e: HistoryEntry, nowSeconds: number): string {
  const rejected = e.outcome === 'rejected';
  const outcome = rejected ? `<span class="badge bad">rejected ${e.statusCode}</span>` : `<span class="badge ok">accepted ${e.statusCode}</span>`;
  // Job first, as on the groups page.
  const labels = [...e.labels.filter((l) => l.name === 'job'), ...e.labels.filter((l) => l.name !== 'job')];
  const group = labels.length > 0 ? labels.map(labelChip).join('') : '<span class="unset">no valid group</span>';
  const reason =
    rejected && e.reason !== null ? `<tr class="reason-row"><td></td><td colspan="6" class="reason"><b>Reason:</b> ${escapeHtml(e.reason)}</td></tr>` : '';
  return `<tr class="attempt${rejected ? ' rejected' : ''}">
  <td class="when">${timeTag(e.timeSeconds)}<br><span class="ago">${formatDuration(nowSeconds - e.timeSeconds)} ago</span></td>
  <td>${outcome}</td>
  <td class="request"><b>${escapeHtml(e.method)}</b> <span class="path">${escapeHtml(e.path)}</span></td>
  <td><div class="labels">${group}</div></td>
  <td class="num">${e.seriesCount ?? '—'}</td>
  <td class="num">${e.bodyBytes}</td>
  <td class="client">${escapeHtml(e.clientAddress ?? '')}</td>
</tr>${reason}`;
}

function pager(input: HistoryPageInput): string {
  if (!input.older && input.next === undefined) return '';
  const link = (before: string | undefined, label: string) => {
    const params = new URLSearchParams();
    const { filter } = input;
    if (filter.groupingKey !== '') params.set('grouping_key', filter.groupingKey);
    if (filter.job !== '') params.set('job', filter.job);
    if (filter.q !== '') params.set('q', filter.q);
    if (filter.outcome !== '') params.set('outcome', filter.outcome);
    if (input.limit !== 100) params.set('limit', String(input.limit));
    if (before !== undefined) params.set('before', before);
    const query = params.toString();
    return `<a class="button" href="./history${query ? `?${escapeHtml(query)}` : ''}">${label}</a>`;
  };
  return `<nav class="pager">
  ${input.older ? link(undefined, '« Newest') : ''}
  ${input.next !== undefined ? link(input.next, 'Older ›') : '<span class="current">No older attempts</span>'}
</nav>`;
}
