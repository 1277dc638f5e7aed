import { groupingPathFor } from '../domain/grouping-key.js';
import { formatFloat } from '../exposition/float-format.js';
import type { LabelPair, Metric } from '../exposition/types.js';
import type { StoredFamily, StoredGroup } from '../domain/stored-group.js';
import { escapeHtml, formatDuration, labelChip, timeTag } from './html.js';
import { renderLayout } from './layout.js';
import type { Timeline } from '../domain/history-query.js';
import { renderGroupTimeline } from './timeline.js';

export interface GroupsPageInput {
  /** The groups of this page, with their families. */
  readonly groups: readonly StoredGroup[];
  /** Groups matching the filter, over all pages. */
  readonly matching: number;
  /** Groups stored. */
  readonly total: number;
  readonly page: number;
  readonly pageCount: number;
  readonly filter: { readonly job: string; readonly q: string };
  /** Known jobs, for the filter's suggestions. */
  readonly jobs: readonly string[];
  readonly nowSeconds: number;
  readonly adminApi: boolean;
  readonly utf8Names: boolean;
  readonly version: string;
  /** Each shown group's last 24 hours of pushes, by grouping key. */
  readonly timelines?: ReadonlyMap<string, Timeline>;
}

/** Series shown per family; the JSON API has the rest. */
const SERIES_SHOWN = 200;

export function renderGroupsPage(input: GroupsPageInput): string {
  const { filter } = input;
  const filtered = filter.job !== '' || filter.q !== '';
  const wipe =
    input.adminApi && input.total > 0
      ? `<button class="danger" data-method="PUT" data-url="./api/v1/admin/wipe" data-confirm="${escapeHtml(
          `Delete all ${input.total} groups? This cannot be undone.`,
        )}">Delete all ${input.total} groups</button>`
      : '';
  const options = input.jobs.map((j) => `<option value="${escapeHtml(j)}"></option>`).join('');
  const toolbar = `<div class="toolbar">
  <form method="get" action="./">
    <input type="search" name="job" list="jobs" placeholder="Job" value="${escapeHtml(filter.job)}" aria-label="Job">
    <datalist id="jobs">${options}</datalist>
    <input type="search" name="q" placeholder="Label value contains…" value="${escapeHtml(filter.q)}" aria-label="Label value contains">
    <button type="submit">Filter</button>
    ${filtered ? '<a class="button" href="./">Clear</a>' : ''}
  </form>
  <span class="spacer"></span>
  ${wipe}
</div>`;
  const summary = filtered ? `${input.matching} of ${input.total} groups match` : `${input.total} group${input.total === 1 ? '' : 's'}`;
  let list: string;
  if (input.groups.length > 0) list = input.groups.map((g) => renderGroup(g, input)).join('\n');
  else if (filtered) list = '<div class="empty">No group matches this filter.</div>';
  else
    list =
      '<div class="empty">Nothing pushed yet. Try <code>echo "some_metric 3.14" | curl --data-binary @- http://&lt;host&gt;/metrics/job/some_job</code></div>';
  const body = `<h1>Pushed groups</h1>
<p class="sub">${summary}</p>
${toolbar}
${list}
${pager(input)}`;
  return renderLayout({ tab: 'metrics', title: 'Metrics', version: input.version, body });
}

function pager(input: GroupsPageInput): string {
  if (input.pageCount <= 1) return '';
  const link = (page: number, label: string) => {
    const params = new URLSearchParams();
    if (input.filter.job !== '') params.set('job', input.filter.job);
    if (input.filter.q !== '') params.set('q', input.filter.q);
    params.set('page', String(page));
    return `<a class="button" href="./?${escapeHtml(params.toString())}">${label}</a>`;
  };
  return `<nav class="pager">
  ${input.page > 1 ? link(1, '« First') + link(input.page - 1, '‹ Previous') : ''}
  <span class="current">Page ${input.page} of ${input.pageCount}</span>
  ${input.page < input.pageCount ? link(input.page + 1, 'Next ›') + link(input.pageCount, 'Last »') : ''}
</nav>`;
}

function renderGroup(group: StoredGroup, input: GroupsPageInput): string {
  const now = input.nowSeconds;
  const { pushTimeSeconds: push, pushFailureTimeSeconds: failure } = group;
  // Job first, then the other grouping labels by name, as the official page shows them.
  const labels = [...group.key.labels.filter((l) => l.name === 'job'), ...group.key.labels.filter((l) => l.name !== 'job')];
  const failed = failure > push;
  const meta: string[] = [];
  meta.push(push > 0 ? `Last push ${timeTag(push)} (${formatDuration(now - push)} ago)` : 'No successful push yet');
  if (failed) meta.push(`<span class="badge bad">Last push failed!</span> ${timeTag(failure)} (${formatDuration(now - failure)} ago)`);
  else if (failure > 0) meta.push(`Last failed push ${timeTag(failure)}`);
  if (group.aggregation === 'sum') meta.push('<span class="badge" title="POSTs add to the stored values (Pushkeep-Aggregation)">aggregation: sum</span>');
  if (group.expiresAtSeconds !== undefined) {
    meta.push(`<span class="badge warn">expires in ${formatDuration(group.expiresAtSeconds - now)}</span> ${timeTag(group.expiresAtSeconds)}`);
  }
  const series = group.families.reduce((n, f) => n + f.metrics.length, 0);
  const confirmText = `Delete group ${group.key.id}?`;
  const timeline = input.timelines?.get(group.key.id);
  const url = `.${groupingPathFor(group.key, { utf8Names: input.utf8Names })}`;
  return `<section class="group${failed ? ' failed' : ''}">
  <div class="group-head">
    <div>
      <div class="labels">${labels.map(labelChip).join('')}</div>
      <div class="meta">${meta.map((m) => `<span>${m}</span>`).join('')}</div>
    </div>
    <div class="actions"><a class="button" href="./history?grouping_key=${escapeHtml(encodeURIComponent(group.key.id))}">History</a><button class="danger" data-method="DELETE" data-url="${escapeHtml(url)}" data-confirm="${escapeHtml(confirmText)}">Delete group</button></div>
  </div>
  ${timeline ? renderGroupTimeline(timeline) : ''}
  <details class="metrics">
    <summary>${group.families.length} metric famil${group.families.length === 1 ? 'y' : 'ies'}, ${series} series</summary>
    ${group.families.map(renderFamily).join('\n')}
  </details>
</section>`;
}

function renderFamily(family: StoredFamily): string {
  const rows = family.metrics
    .slice(0, SERIES_SHOWN)
    .map((m) => `<tr><td class="series-labels">${seriesLabels(m.labels)}</td><td class="value">${valueText(m)}</td></tr>`)
    .join('');
  const more = family.metrics.length > SERIES_SHOWN ? `<div class="more">${family.metrics.length - SERIES_SHOWN} more series; see /api/v1/metrics</div>` : '';
  return `<div class="family">
  <div class="family-head"><span class="family-name">${escapeHtml(family.name)}</span><span class="type">${family.type}</span>${
    family.help ? `<span class="help">${escapeHtml(family.help)}</span>` : ''
  }<span class="pushed">last pushed ${timeTag(family.pushedAtSeconds)}</span></div>
  <table class="series">${rows}</table>${more}
</div>`;
}

function seriesLabels(labels: readonly LabelPair[]): string {
  if (labels.length === 0) return '';
  return escapeHtml(`{${labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(', ')}}`);
}

function valueText(m: Metric): string {
  if (m.summary) {
    const s = m.summary;
    const q = s.quantiles.map((x) => `${formatFloat(x.quantile)}: ${formatFloat(x.value)}`).join('<br>');
    return `count ${formatFloat(s.sampleCount)} · sum ${formatFloat(s.sampleSum)}${q ? `<br>${q}` : ''}`;
  }
  if (m.histogram) {
    const h = m.histogram;
    const head = `count ${formatFloat(h.sampleCount)} · sum ${formatFloat(h.sampleSum)}`;
    if (h.native && (h.native.positiveSpans.length > 0 || h.native.negativeSpans.length > 0)) {
      return `${head}<br>native histogram (schema ${h.native.schema})`;
    }
    const b = h.buckets.map((x) => `le ${formatFloat(x.upperBound)}: ${formatFloat(x.cumulativeCount)}`).join('<br>');
    return `${head}${b ? `<br>${b}` : ''}`;
  }
  return formatFloat(m.value ?? 0);
}
