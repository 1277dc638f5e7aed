import type { BuildInformation } from '../domain/build-information.js';
import { compareUtf8 } from '../domain/grouping-key.js';
import { escapeHtml, formatDuration, timeTag } from './html.js';
import { renderLayout } from './layout.js';
import type { Timeline } from '../domain/history-query.js';
import { renderPushRateChart } from './timeline.js';

export interface StatusPageInput {
  readonly build: BuildInformation;
  readonly flags: Readonly<Record<string, string>>;
  readonly startTimeSeconds: number;
  readonly nowSeconds: number;
  readonly groups: number;
  readonly version: string;
  /** Pushes per minute over the last hour. */
  readonly lastHour?: Timeline;
}

export function renderStatusPage(input: StatusPageInput): string {
  const rows = (entries: [string, string][]) =>
    entries.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${v === '' ? '<span class="unset">—</span>' : escapeHtml(v)}</td></tr>`).join('');
  const flags = Object.entries(input.flags).sort((a, b) => compareUtf8(a[0], b[0]));
  const body = `<h1>Status</h1>
<p class="sub">Up since ${timeTag(input.startTimeSeconds)} (${formatDuration(input.nowSeconds - input.startTimeSeconds)}) · ${input.groups} groups stored · <a href="./api/v1/status">JSON</a></p>
${input.lastHour ? `<h2>Pushes per minute</h2>\n${renderPushRateChart(input.lastHour)}\n<p class="sub">Every attempt is in the <a href="./history">push history</a>.</p>` : ''}
<h2>Build information</h2>
<table class="kv">${rows(Object.entries(input.build))}</table>
<h2>Flags</h2>
<table class="kv">${rows(flags)}</table>`;
  return renderLayout({ tab: 'status', title: 'Status', version: input.version, body });
}
