import { escapeHtml } from './html.js';

export type Tab = 'metrics' | 'history' | 'status';

export interface LayoutInput {
  readonly tab: Tab;
  readonly title: string;
  readonly version: string;
  /** Already-rendered, already-escaped body HTML. */
  readonly body: string;
}

/**
 * The page chrome. Every link is relative (`./`, `./status`): both pages live in the route
 * prefix's directory, so the UI works under any --web.route-prefix and behind a proxy that
 * rewrites the path (--web.external-url) without knowing either.
 */
export function renderLayout(input: LayoutInput): string {
  const tab = (id: Tab, href: string, label: string) =>
    `<a class="tab${input.tab === id ? ' active' : ''}" href="${href}"${input.tab === id ? ' aria-current="page"' : ''}>${label}</a>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)} · Pushkeep</title>
<style>${STYLE}</style>
</head>
<body>
<header class="top">
  <span class="brand">Pushkeep</span>
  <nav>${tab('metrics', './', 'Metrics')}${tab('history', './history', 'History')}${tab('status', './status', 'Status')}</nav>
  <span class="version">v${escapeHtml(input.version)}</span>
</header>
<main>
${input.body}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

const STYLE = `
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#f6f8fa; --card:#fff; --accent:#e6522c; --bad:#cf222e; --ok:#1a7f37; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
.top { display:flex; align-items:center; gap:24px; padding:0 24px; height:52px; background:#24292f; color:#fff; }
.brand { font-weight:700; font-size:17px; letter-spacing:.2px; }
.brand::before { content:""; display:inline-block; width:10px; height:10px; border-radius:50%; background:var(--accent); margin-right:8px; }
nav { display:flex; gap:4px; }
.tab { color:#d0d7de; text-decoration:none; padding:6px 12px; border-radius:6px; }
.tab:hover { background:#32383f; color:#fff; }
.tab.active { background:#fff; color:#24292f; font-weight:600; }
.version { margin-left:auto; color:#8c959f; font-size:12px; }
main { max-width:1200px; margin:0 auto; padding:20px 24px 48px; }
h1 { font-size:20px; margin:0 0 4px; }
h2 { font-size:16px; margin:24px 0 8px; }
.sub { color:var(--muted); margin:0 0 16px; }
.toolbar { display:flex; flex-wrap:wrap; align-items:center; gap:8px; margin:12px 0 16px; }
.toolbar form { display:flex; gap:8px; align-items:center; flex-wrap:wrap; }
input[type=text], input[type=search] { font:inherit; padding:6px 10px; border:1px solid var(--line); border-radius:6px; min-width:220px; background:#fff; }
button, .button { font:inherit; padding:6px 12px; border:1px solid var(--line); border-radius:6px; background:#fff; cursor:pointer; color:var(--fg); text-decoration:none; }
button:hover, .button:hover { background:#f3f4f6; }
button.danger { color:var(--bad); border-color:#f1aeb5; }
button.danger:hover { background:var(--bad); color:#fff; }
button:disabled { opacity:.5; cursor:default; }
.spacer { flex:1; }
.group { background:var(--card); border:1px solid var(--line); border-radius:8px; margin:0 0 10px; }
.group.failed { border-left:4px solid var(--bad); }
.group-head { display:flex; align-items:flex-start; gap:12px; padding:10px 14px; }
.labels { display:flex; flex-wrap:wrap; gap:6px; }
.label { display:inline-flex; border:1px solid var(--line); border-radius:999px; overflow:hidden; font:12px/1.6 ui-monospace,SFMono-Regular,Menlo,monospace; }
.label b { background:#eaeef2; padding:0 7px; font-weight:600; }
.label span { padding:0 8px; white-space:pre-wrap; word-break:break-all; }
.label.job b { background:#24292f; color:#fff; }
.meta { color:var(--muted); font-size:12.5px; margin-top:6px; display:flex; flex-wrap:wrap; gap:4px 16px; }
.badge { display:inline-block; padding:0 8px; border-radius:999px; font-size:12px; font-weight:600; }
.badge.bad { background:#ffebe9; color:var(--bad); border:1px solid #ffcecb; }
.badge.warn { background:#fff8c5; color:#7d4e00; border:1px solid #eed888; }
.group-head .actions { margin-left:auto; }
details.metrics { border-top:1px solid var(--line); }
details.metrics > summary { cursor:pointer; padding:7px 14px; color:var(--muted); font-size:13px; list-style-position:inside; }
details.metrics[open] > summary { border-bottom:1px solid var(--line); }
.family { padding:10px 14px; border-bottom:1px solid #eaeef2; }
.family:last-child { border-bottom:0; }
.family-head { display:flex; flex-wrap:wrap; gap:8px; align-items:baseline; }
.family-name { font:600 13px ui-monospace,SFMono-Regular,Menlo,monospace; }
.type { font-size:11px; text-transform:uppercase; letter-spacing:.4px; background:#ddf4ff; color:#0969da; border-radius:4px; padding:0 6px; }
.help { color:var(--muted); white-space:pre-wrap; }
.pushed { color:var(--muted); font-size:12px; margin-left:auto; }
table.series { width:100%; border-collapse:collapse; margin-top:6px; font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace; }
table.series td { padding:3px 8px; border-top:1px solid #f0f2f4; vertical-align:top; }
table.series td.value { text-align:right; white-space:nowrap; width:1%; }
td.series-labels { white-space:pre-wrap; word-break:break-all; color:#424a53; }
.more { color:var(--muted); font-size:12px; padding-top:4px; }
.pager { display:flex; gap:8px; align-items:center; justify-content:center; margin:16px 0; }
.pager .current { color:var(--muted); }
.empty { background:var(--card); border:1px dashed var(--line); border-radius:8px; padding:32px; text-align:center; color:var(--muted); }
.empty code, .sub code { background:#eaeef2; padding:1px 5px; border-radius:4px; }
table.kv { border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:8px; overflow:hidden; min-width:60%; }
table.kv th, table.kv td { text-align:left; padding:6px 12px; border-top:1px solid #eaeef2; font-size:13px; }
table.kv th { font-weight:600; width:34%; font-family:ui-monospace,SFMono-Regular,Menlo,monospace; }
table.kv td { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; word-break:break-all; }
.unset { color:#8c959f; }
.badge.ok { background:#dafbe1; color:var(--ok); border:1px solid #aceebb; }
.group-head .actions { display:flex; gap:8px; align-items:center; }
.timeline { padding:0 14px 8px; }
.timeline svg { display:block; background:#f6f8fa; border-radius:3px; }
.timeline .track { fill:#eaeef2; }
.timeline .tick { stroke:#d0d7de; stroke-width:1; fill:none; vector-effect:non-scaling-stroke; }
.timeline .mark { stroke-width:1; fill:none; }
.timeline .mark.ok { stroke:#2da44e; }
.timeline .mark.bad { stroke:var(--bad); }
.timeline-caption, .rate-chart figcaption { display:flex; justify-content:space-between; gap:12px; color:var(--muted); font-size:11.5px; }
table.history { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:8px; overflow:hidden; }
table.history th { text-align:left; font-size:12px; color:var(--muted); font-weight:600; padding:6px 10px; background:#f6f8fa; border-bottom:1px solid var(--line); }
table.history .badge { white-space:nowrap; }
table.history td { padding:6px 10px; border-top:1px solid #eaeef2; vertical-align:top; font-size:13px; }
table.history tr.reason-row td { border-top:0; }
tr.attempt.rejected td:first-child, tr.reason-row td:first-child { border-left:4px solid var(--bad); }
tr.attempt.rejected { background:#fff8f7; }
tr.reason-row { background:#fff8f7; }
td.reason { color:var(--bad); font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace; white-space:pre-wrap; word-break:break-word; padding-top:0; }
td.when { white-space:nowrap; font-size:12.5px; }
.ago { color:var(--muted); font-size:12px; }
td.request .path { font:12px ui-monospace,SFMono-Regular,Menlo,monospace; word-break:break-all; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
td.client { font:12px ui-monospace,SFMono-Regular,Menlo,monospace; color:var(--muted); }
select { font:inherit; padding:6px 8px; border:1px solid var(--line); border-radius:6px; background:#fff; }
.rate-chart { margin:0; background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px 8px; max-width:760px; }
.rate-chart svg { display:block; }
.rate-chart .peak { color:var(--muted); font-size:11.5px; }
.rate-chart .axis { stroke:#d0d7de; vector-effect:non-scaling-stroke; }
.rate-chart .bar.ok, .swatch.ok { fill:#2da44e; background:#2da44e; }
.rate-chart .bar.bad, .swatch.bad { fill:var(--bad); background:var(--bad); }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; vertical-align:-1px; margin:0 3px 0 6px; }
`;

// Delete buttons carry their request in data attributes; paths are relative to the page, so they
// follow the route prefix. Times are rewritten in the browser's zone.
const SCRIPT = `
for (const t of document.querySelectorAll('time[datetime]')) {
  const d = new Date(t.getAttribute('datetime'));
  if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); }
}
document.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-method]');
  if (!button) return;
  if (!confirm(button.dataset.confirm)) return;
  button.disabled = true;
  try {
    const response = await fetch(button.dataset.url, { method: button.dataset.method });
    if (!response.ok) throw new Error(response.status + ' ' + (await response.text()));
    const group = button.closest('.group');
    if (group && button.dataset.method === 'DELETE') group.remove();
    else location.reload();
  } catch (err) {
    button.disabled = false;
    alert('Request failed: ' + err.message);
  }
});
`;
