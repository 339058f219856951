/**
 * The UI's only stylesheet, served from /ui/assets/app.css (the Content-Security-Policy allows no
 * inline style). Status colours are one table of classes (`st-<status>`) used by badges, the
 * legend and the DAG's nodes alike.
 */
export const APP_CSS = String.raw`
:root {
  --text: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #f6f8fa; --card: #ffffff;
  --accent: #0969da; --danger: #cf222e; --header: #1f2937;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 15px; line-height: 1.5; color: var(--text); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--bg); border: 1px solid var(--line);
  border-radius: 6px; padding: 8px 10px; margin: 4px 0 0; max-height: 320px; overflow: auto; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; border-radius: 3px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: 8px 12px; z-index: 10; }
.skip:focus { left: 8px; top: 8px; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
h2.h-inline { font-size: 0.95em; margin: 14px 0 6px; color: var(--muted); }
.card > h2.h-inline:first-child { margin-top: 0; }

/* Status colours: --fg for borders and labels, --tint for fills. */
.st-pending { --fg: #59636e; --tint: #f6f8fa; }
.st-running { --fg: #0969da; --tint: #ddf4ff; }
.st-waiting_callback { --fg: #8250df; --tint: #fbefff; }
.st-waiting_poll { --fg: #0e7490; --tint: #e0f7fa; }
.st-completed { --fg: #1a7f37; --tint: #dafbe1; }
.st-failed { --fg: #cf222e; --tint: #ffebe9; }
.st-skipped { --fg: #6e7781; --tint: #ffffff; }
.st-cancelled { --fg: #424a53; --tint: #eaeef2; }
.st-compensating, .st-rolling_back { --fg: #9a6700; --tint: #fff8c5; }
.st-compensated, .st-rolled_back { --fg: #bc4c00; --tint: #fff1e5; }

.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 0.82em; font-weight: 600;
  color: var(--fg, var(--muted)); background: var(--tint, var(--bg)); border: 1px solid var(--fg, var(--line));
  white-space: nowrap; }

header.top { background: var(--header); color: #f0f3f6; }
header.top .bar { max-width: 1240px; margin: 0 auto; padding: 10px 20px; display: flex; flex-wrap: wrap;
  align-items: center; gap: 8px 20px; }
header.top .brand { color: #fff; font-weight: 700; font-size: 1.1em; text-decoration: none; }
header.top nav a { color: #d1d9e0; text-decoration: none; }
header.top nav a[aria-current="page"] { color: #fff; text-decoration: underline; }
header.top .who { margin-left: auto; display: flex; align-items: center; gap: 12px; font-size: 0.9em; color: #d1d9e0; }
header.top .who form { margin: 0; }
header.top .who button { background: transparent; color: #fff; border: 1px solid #6e7781; white-space: nowrap; }

main { max-width: 1240px; margin: 0 auto; padding: 20px; }
h1 { font-size: 1.5em; margin: 0 0 12px; word-break: break-all; }
h2 { font-size: 1.15em; margin: 28px 0 10px; }
h3 { font-size: 1em; margin: 0; word-break: break-all; }
.muted { color: var(--muted); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.notice { border-left: 4px solid var(--accent); background: #ddf4ff; padding: 10px 14px; border-radius: 6px; margin: 0 0 16px; }
.notice.error { border-color: var(--danger); background: #ffebe9; }

button, .button { font: inherit; font-weight: 600; display: inline-block; padding: 6px 14px; border-radius: 6px;
  border: 1px solid var(--line); background: #f6f8fa; color: var(--text); cursor: pointer; text-decoration: none; }
button.primary, .button.primary { background: #1f883d; border-color: #1a7f37; color: #fff; }
button.danger, .button.danger { background: var(--danger); border-color: #a40e26; color: #fff; }
.button.small, button.small { padding: 2px 10px; font-size: 0.85em; }
input, select, textarea { font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff; color: var(--text); }
textarea { width: 100%; min-height: 90px; }
label { font-weight: 600; }

.counts { display: flex; flex-wrap: wrap; gap: 8px; list-style: none; padding: 0; margin: 0 0 16px; }
.counts a { display: flex; gap: 8px; align-items: center; padding: 6px 12px; border-radius: 8px; text-decoration: none;
  color: var(--text); background: var(--card); border: 1px solid var(--line); }
.counts a[aria-current="true"] { border-color: var(--accent); box-shadow: inset 0 0 0 1px var(--accent); }
.counts .n { font-weight: 700; font-variant-numeric: tabular-nums; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: flex-end; margin-bottom: 16px; }
form.filters .field { display: flex; flex-direction: column; gap: 2px; }

.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 0.85em; color: var(--muted); font-weight: 600; background: var(--bg); }
tr:last-child td { border-bottom: 0; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td time, td .badge, th { white-space: nowrap; }
.pager { display: flex; gap: 12px; margin-top: 12px; }

dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-word; }

.legend { display: flex; flex-wrap: wrap; gap: 6px; list-style: none; padding: 0; margin: 8px 0 0; }
.dag-wrap { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px; overflow-x: auto; margin-bottom: 16px; }
.statusline { display: flex; flex-wrap: wrap; gap: 6px 18px; align-items: center; margin: 0 0 14px; color: var(--muted); }
.statusline strong { color: var(--text); }
svg.dag { display: block; max-width: 100%; height: auto; margin: 0 auto; }
svg.dag .node rect { fill: var(--tint); stroke: var(--fg); stroke-width: 1.5; }
svg.dag .node rect.stripe { fill: var(--fg); stroke: none; }
svg.dag .st-skipped rect:not(.stripe) { stroke-dasharray: 5 4; }
svg.dag .node-name { font-size: 14px; font-weight: 600; fill: var(--text); }
svg.dag .node-meta { font-size: 12px; fill: var(--fg); }
svg.dag .edge { fill: none; stroke: #8c959f; stroke-width: 1.6; }
svg.dag .edge-done { stroke: #1a7f37; }
svg.dag marker path { fill: #8c959f; }
svg.dag a:focus-visible { outline: none; }
svg.dag a:focus-visible rect:not(.stripe), svg.dag a:hover rect:not(.stripe) { stroke-width: 3; }
@media (prefers-reduced-motion: no-preference) {
  svg.dag .st-running rect:not(.stripe), svg.dag .st-compensating rect:not(.stripe) { animation: pulse 1.4s ease-in-out infinite; }
  @keyframes pulse { 50% { stroke-opacity: 0.35; } }
}

.steps { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
.step { border-top: 4px solid var(--fg); }
.step header { display: flex; justify-content: space-between; align-items: center; gap: 8px; margin-bottom: 8px; }
.step:target { box-shadow: 0 0 0 3px var(--accent); }
.step .error { color: var(--danger); }
.actions { display: flex; flex-wrap: wrap; gap: 10px; margin-top: 10px; }
.live-note { font-size: 0.85em; color: var(--muted); margin: 0 0 8px; }
.summary { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 12px; }
.events td.data { max-width: 420px; }
.events code { word-break: break-word; }

.login { max-width: 560px; margin: 40px auto; }
.login textarea { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85em; }
.confirm { max-width: 640px; }
.confirm .field { margin: 12px 0; }

@media (max-width: 640px) {
  main { padding: 12px; }
  header.top .who { margin-left: 0; width: 100%; justify-content: space-between; }
  .hide-narrow { display: none; }
  .steps { grid-template-columns: 1fr; }
  /* Tables become one block per row, each cell labelled by its column (data-label). */
  table.stack thead { display: none; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%; }
  table.stack tr { padding: 8px 12px; border-bottom: 1px solid var(--line); }
  table.stack td { border: 0; padding: 2px 0; display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 6px; min-width: 0; }
  table.stack td::before { content: attr(data-label); flex: 0 0 6.5em; color: var(--muted); font-size: 0.85em; }
  table.stack td a, table.stack td code { word-break: break-all; min-width: 0; }
  table.stack td.hide-narrow { display: none; }
}
`;
