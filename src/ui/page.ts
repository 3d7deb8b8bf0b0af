// The dashboard's one page: plain HTML, CSS and JavaScript, no framework, no CDN, no build step.
// Every value from the database reaches the DOM through textContent or an attribute setter, never
// as HTML, so a log message cannot inject markup or script (the server's CSP forbids any other
// script anyway). Hash routes: #/ (runs) and #/run/<id>.

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pipetel</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/uplot.css">
<script src="/assets/uplot.js"></script>
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #e3e6ec; --ok: #2e9d5b; --err: #d1453b; --run: #2f6fd6; --bar: #8fb3f0; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: #f7f8fa; }
  header { padding: 10px 20px; background: #fff; border-bottom: 1px solid var(--line); display: flex; gap: 16px; align-items: baseline; }
  header a { color: var(--fg); font-weight: 600; text-decoration: none; }
  main { padding: 16px 20px; max-width: 1300px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; margin-bottom: 14px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { color: var(--muted); font-weight: 500; }
  .num { text-align: right; font-variant-numeric: tabular-nums; }
  .status-succeeded { color: var(--ok); } .status-failed { color: var(--err); } .status-running { color: var(--run); }
  .gantt { position: relative; }
  .gantt-row { display: grid; grid-template-columns: 220px 1fr 320px; align-items: center; height: 24px; }
  .gantt-track { position: relative; height: 14px; background: #f0f2f6; border-radius: 3px; }
  .gantt-bar { position: absolute; top: 0; height: 14px; border-radius: 3px; background: var(--bar); min-width: 2px; }
  .gantt-bar.error { background: var(--err); }
  .gantt-row.highlight { background: #fff6d8; }
  .meta { color: var(--muted); font-size: 12px; padding-left: 8px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .progress { display: grid; grid-template-columns: 160px 1fr 260px; gap: 8px; align-items: center; margin: 4px 0; }
  .progress-track { height: 12px; background: #f0f2f6; border-radius: 6px; overflow: hidden; }
  .progress-fill { height: 12px; background: var(--run); width: 0; transition: width .3s; }
  .progress-fill.done { background: var(--ok); } .progress-fill.failed, .progress-fill.interrupted { background: var(--err); }
  .filters { display: flex; gap: 8px; margin-bottom: 8px; }
  input, select, button { font: inherit; padding: 3px 6px; }
  #logs { font: 12px/1.45 ui-monospace, monospace; max-height: 420px; overflow: auto; }
  .log { white-space: pre-wrap; word-break: break-word; border-bottom: 1px solid #f1f2f5; padding: 1px 0; }
  .lvl { display: inline-block; min-width: 80px; font-weight: 600; white-space: nowrap; }
  .lvl-ERROR, .lvl-CRITICAL { color: var(--err); } .lvl-WARNING { color: #b7791f; } .lvl-DEBUG { color: var(--muted); }
  .log a { color: var(--run); cursor: pointer; }
  pre { background: #fbf3f2; padding: 8px; overflow: auto; font-size: 12px; }
  .muted { color: var(--muted); }
  .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
  .chart h3 { font-size: 13px; margin: 0 0 4px; font-weight: 500; }
</style>
</head>
<body>
<header><a href="#/">pipetel</a><span class="muted" id="where"></span></header>
<main id="app"></main>
<script>
'use strict';
const params = new URLSearchParams(location.search);
if (params.get('token')) sessionStorage.setItem('pipetel-token', params.get('token'));
const token = sessionStorage.getItem('pipetel-token');
const api = async (path) => {
  const res = await fetch(path, { headers: token ? { authorization: 'Bearer ' + token } : {} });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
};
const withToken = (path) => (token ? path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : path);
/** An element with text and attributes: the only way values reach the page. */
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k === 'onclick') node.addEventListener('click', v);
    else if (k === 'style') Object.assign(node.style, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
};
const fmtMs = (ms) => ms == null ? '-' : ms < 1000 ? ms.toFixed(ms < 10 ? 1 : 0) + ' ms' : ms < 60000 ? (ms / 1000).toFixed(2) + ' s' : Math.floor(ms / 60000) + 'm' + String(Math.round((ms % 60000) / 1000)).padStart(2, '0') + 's';
const fmtTime = (t) => new Date(t).toLocaleString();
const fmtNum = (n) => n == null ? '?' : Number(n).toLocaleString('en-US');
let live = null;
function stopLive() { if (live) { live.close(); live = null; } }

async function showRuns() {
  stopLive();
  const app = document.getElementById('app');
  document.getElementById('where').textContent = 'runs';
  const status = el('select', { id: 'status-filter' }, el('option', { value: '', text: 'any status' }),
    ...['running', 'succeeded', 'failed'].map((s) => el('option', { value: s, text: s })));
  const table = el('table', { id: 'runs' });
  const picked = [];
  const compare = el('button', { id: 'compare', disabled: 'disabled', text: 'compare two runs', onclick: () => {
    location.hash = '#/compare/' + picked.map(encodeURIComponent).join('/');
  } });
  const pick = (id, box) => {
    if (box.checked) picked.push(id); else picked.splice(picked.indexOf(id), 1);
    while (picked.length > 2) { const old = picked.shift(); const other = document.querySelector('input[data-run="' + CSS.escape(old) + '"]'); if (other) other.checked = false; }
    if (picked.length === 2) compare.removeAttribute('disabled'); else compare.setAttribute('disabled', 'disabled');
  };
  const load = async () => {
    const runs = await api('/api/runs' + (status.value ? '?status=' + status.value : ''));
    table.replaceChildren(el('tr', {}, ...['', 'run', 'service', 'status', 'started', 'duration', 'errors'].map((h) => el('th', { text: h }))),
      ...runs.map((r) => el('tr', {},
        el('td', {}, (() => { const box = el('input', { type: 'checkbox', 'data-run': r.experiment_id }); box.addEventListener('change', () => pick(r.experiment_id, box)); return box; })()),
        el('td', {}, el('a', { href: '#/run/' + encodeURIComponent(r.experiment_id), text: r.experiment_id })),
        el('td', { text: r.service_name }),
        el('td', { class: 'status-' + r.status, text: statusText(r) }),
        el('td', { text: fmtTime(r.started_at) }),
        el('td', { class: 'num', text: fmtMs(r.duration_ms) }),
        el('td', { class: 'num', text: String(r.errors) }))));
  };
  status.addEventListener('change', load);
  app.replaceChildren(el('section', {}, el('h2', { text: 'Runs' }), el('div', { class: 'filters' }, status, compare), table));
  await load();
}

function gantt(stages) {
  const box = el('div', { class: 'gantt', id: 'timeline' });
  if (!stages.length) return el('p', { class: 'muted', text: 'no stages recorded' });
  const start = Math.min(...stages.map((s) => Date.parse(s.start_time)));
  const end = Math.max(...stages.map((s) => Date.parse(s.start_time) + s.duration_ms));
  const span = Math.max(end - start, 1);
  const fleet = new Set(stages.map((s) => s.worker)).size > 1;
  for (const s of stages) {
    const left = ((Date.parse(s.start_time) - start) / span) * 100;
    const width = (s.duration_ms / span) * 100;
    const bar = el('div', { class: 'gantt-bar' + (s.status_code === 'ERROR' ? ' error' : ''), title: s.name + ': ' + fmtMs(s.duration_ms), style: { left: left + '%', width: width + '%' } });
    const meta = 'cpu ' + fmtMs((s.cpu_user_ms ?? 0) + (s.cpu_system_ms ?? 0)) + (s.rss_peak_mb != null ? ' · peak RSS ' + s.rss_peak_mb + ' MB' : '') + ' · ' + fmtMs(s.duration_ms) + (fleet ? ' · ' + (s.worker ?? 'worker unknown') : '');
    box.append(el('div', { class: 'gantt-row', 'data-stage': s.name, ...(fleet && s.worker ? { 'data-worker': s.worker } : {}) },
      el('div', { text: '\\u00a0'.repeat(s.depth * 3) + s.name, class: 'stage-name' }),
      el('div', { class: 'gantt-track' }, bar),
      el('div', { class: 'meta', text: meta })));
  }
  return box;
}

function progressBars(rows) {
  const box = el('div', { id: 'progress' });
  if (!rows.length) box.append(el('p', { class: 'muted', text: 'no progress reported' }));
  for (const p of rows) {
    const fraction = p.total ? Math.min(1, p.completed / p.total) : 0;
    const eta = p.status === 'running' && p.eta_seconds != null ? ' · ETA ' + fmtMs(p.eta_seconds * 1000) : '';
    const rate = p.rate != null ? ' · ' + fmtNum(Math.round(p.rate)) + '/s' : '';
    box.append(el('div', { class: 'progress', 'data-node': p.node_id },
      el('div', { text: p.node_id }),
      el('div', { class: 'progress-track' }, el('div', { class: 'progress-fill ' + p.status, style: { width: (fraction * 100).toFixed(1) + '%' } })),
      el('div', { class: 'meta', text: fmtNum(p.completed) + ' / ' + fmtNum(p.total) + rate + eta + ' · ' + p.status })));
  }
  return box;
}

function logLine(row) {
  const line = el('div', { class: 'log' },
    el('span', { class: 'lvl lvl-' + row.level, text: row.level }),
    el('span', { class: 'muted', text: new Date(row.timestamp).toLocaleTimeString() + ' ' }));
  if (row.stage) line.append(el('a', { text: '[' + row.stage + '] ', onclick: () => highlightStage(row.stage) }));
  line.append(el('span', { text: row.logger_name + ': ' }), el('span', { class: 'msg', text: row.message }));
  return line;
}

function highlightStage(name) {
  for (const row of document.querySelectorAll('.gantt-row')) row.classList.toggle('highlight', row.dataset.stage === name);
  document.getElementById('timeline')?.scrollIntoView({ block: 'nearest' });
}

/** One metric of the run as a uPlot chart (a line per attribute set), or nothing when it has no points. */
async function metricChart(id, name, label, scale) {
  const series = await api('/api/runs/' + encodeURIComponent(id) + '/metrics?name=' + encodeURIComponent(name));
  const points = series.filter((s) => s.points.length > 0);
  if (!points.length || typeof uPlot === 'undefined') return null;
  const times = [...new Set(points.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  // One sample would stretch the time axis over years: give it a minute of room either side.
  if (times.length === 1) times.unshift(times[0] - 60000), times.push(times[1] + 60000);
  const index = new Map(times.map((t, i) => [t, i]));
  const data = [times.map((t) => t / 1000)];
  const colors = ['#2f6fd6', '#2e9d5b', '#d1453b', '#b7791f', '#7a52c7', '#138a8a', '#c23f8d', '#555'];
  const uSeries = [{}];
  points.forEach((s, k) => {
    const column = new Array(times.length).fill(null);
    for (const [t, v] of s.points) column[index.get(t)] = v * scale;
    data.push(column);
    const attrs = Object.entries(s.attributes).map(([a, b]) => a + '=' + b).join(' ');
    uSeries.push({ label: attrs || name, stroke: colors[k % colors.length], width: 1.5, spanGaps: true });
  });
  const box = el('div', { class: 'chart', 'data-metric': name }, el('h3', { text: label }));
  const plot = el('div');
  box.append(plot);
  requestAnimationFrame(() => new uPlot({ width: Math.max(300, box.clientWidth - 10), height: 180, series: uSeries, legend: { show: points.length > 1 } }, data, plot));
  return box;
}

async function showRun(id) {
  stopLive();
  const app = document.getElementById('app');
  document.getElementById('where').textContent = 'run ' + id;
  const detail = await api('/api/runs/' + encodeURIComponent(id));
  const run = detail.run;
  const progress = await api('/api/runs/' + encodeURIComponent(id) + '/progress');
  const progressSection = el('section', {}, el('h2', { text: 'Progress' }), progressBars(progress));
  const level = el('select', { id: 'log-level' }, ...['DEBUG', 'INFO', 'WARNING', 'ERROR'].map((l) => el('option', { value: l, text: l + ' and above' })));
  const stage = el('select', { id: 'log-stage' }, el('option', { value: '', text: 'all stages' }), ...[...new Set(detail.stages.map((s) => s.name))].map((s) => el('option', { value: s, text: s })));
  const search = el('input', { id: 'log-search', type: 'search', placeholder: 'search messages' });
  const logs = el('div', { id: 'logs' });
  const loadLogs = async () => {
    const q = new URLSearchParams({ level: level.value, limit: '500' });
    if (stage.value) q.set('stage', stage.value);
    if (search.value) q.set('search', search.value);
    const rows = await api('/api/runs/' + encodeURIComponent(id) + '/logs?' + q);
    logs.replaceChildren(...rows.map(logLine));
  };
  level.addEventListener('change', loadLogs);
  stage.addEventListener('change', loadLogs);
  search.addEventListener('change', loadLogs);
  const errors = await api('/api/runs/' + encodeURIComponent(id) + '/logs?level=ERROR&limit=20');
  // Resources (host metrics) and the run's own metrics, a chart each, the chosen one on demand.
  const chartGrid = el('div', { class: 'charts', id: 'charts' });
  const picker = el('select', { id: 'metric-picker' }, el('option', { value: '', text: 'chart another metric…' }),
    ...detail.metrics.map((m) => el('option', { value: m.name, text: m.name + ' (' + m.kind + ')' })));
  picker.addEventListener('change', async () => {
    if (!picker.value) return;
    const chart = await metricChart(id, picker.value, picker.value, 1);
    if (chart) chartGrid.prepend(chart);
  });
  const charts = el('section', {}, el('h2', { text: 'Resources and metrics' }), el('div', { class: 'filters' }, picker), chartGrid);
  for (const [name, label, scale] of [['process.memory.usage', 'process memory (MB)', 1 / 1048576], ['process.cpu.utilization', 'process CPU (%)', 100]]) {
    void metricChart(id, name, label, scale).then((chart) => { if (chart) chartGrid.append(chart); });
  }
  app.replaceChildren(
    el('section', {},
      el('h2', { text: run.experiment_id }),
      el('div', {}, el('span', { class: 'status-' + run.status, id: 'run-status', text: statusText(run) }),
        el('span', { class: 'muted', text: ' · ' + run.service_name + ' · started ' + fmtTime(run.started_at) + ' · ' + fmtMs(run.duration_ms) + (run.status_reason ? ' · ' + run.status_reason : '') }))),
    el('section', {}, el('h2', { text: 'Stages' }), gantt(detail.stages)),
    progressSection,
    charts,
    el('section', {}, el('h2', { text: 'Logs' }), el('div', { class: 'filters' }, level, stage, search), logs),
    el('section', { id: 'errors' }, el('h2', { text: 'Errors' }),
      ...(errors.length ? errors.map((e) => el('div', {}, logLine(e), e.traceback ? el('pre', { text: e.traceback }) : null)) : [el('p', { class: 'muted', text: 'none' })])));
  level.value = 'INFO';
  await loadLogs();
  if (run.live) {
    live = new EventSource(withToken('/api/runs/' + encodeURIComponent(id) + '/events'));
    live.addEventListener('log', (e) => {
      const row = JSON.parse(e.data);
      if (!search.value && (!stage.value || row.stage === stage.value)) { logs.append(logLine(row)); logs.scrollTop = logs.scrollHeight; }
    });
    live.addEventListener('progress', (e) => progressSection.replaceChildren(el('h2', { text: 'Progress' }), progressBars(JSON.parse(e.data))));
    live.addEventListener('end', (e) => { document.getElementById('run-status').textContent = JSON.parse(e.data).status; stopLive(); });
  }
}

/** Two runs stage by stage: duration, CPU and peak RSS side by side, and the change. */
async function showCompare(a, b) {
  stopLive();
  document.getElementById('where').textContent = 'compare';
  const [left, right] = await Promise.all([a, b].map((id) => api('/api/runs/' + encodeURIComponent(id))));
  const key = (s) => '\u00a0'.repeat(s.depth * 3) + s.name;
  const byName = (detail) => new Map(detail.stages.map((s) => [key(s), s]));
  const l = byName(left), r = byName(right);
  const names = [...new Set([...l.keys(), ...r.keys()])];
  const cpu = (s) => (s ? (s.cpu_user_ms ?? 0) + (s.cpu_system_ms ?? 0) : null);
  const change = (x, y) => (x == null || y == null || x === 0 ? '' : ((y / x - 1) * 100 >= 0 ? '+' : '') + ((y / x - 1) * 100).toFixed(0) + ' %');
  const table = el('table', { id: 'compare-table' }, el('tr', {}, ...['stage', left.run.experiment_id, right.run.experiment_id, 'change', 'cpu A', 'cpu B', 'peak RSS A', 'peak RSS B'].map((h) => el('th', { text: h }))),
    ...names.map((name) => {
      const x = l.get(name), y = r.get(name);
      return el('tr', { 'data-stage': name.trim() },
        el('td', { text: name }),
        el('td', { class: 'num', text: x ? fmtMs(x.duration_ms) : '-' }),
        el('td', { class: 'num', text: y ? fmtMs(y.duration_ms) : '-' }),
        el('td', { class: 'num change', text: change(x?.duration_ms, y?.duration_ms) }),
        el('td', { class: 'num', text: x ? fmtMs(cpu(x)) : '-' }),
        el('td', { class: 'num', text: y ? fmtMs(cpu(y)) : '-' }),
        el('td', { class: 'num', text: x?.rss_peak_mb != null ? x.rss_peak_mb + ' MB' : '-' }),
        el('td', { class: 'num', text: y?.rss_peak_mb != null ? y.rss_peak_mb + ' MB' : '-' }));
    }));
  document.getElementById('app').replaceChildren(el('section', {}, el('h2', { text: 'Stages of two runs' }),
    el('p', { class: 'muted', text: left.run.experiment_id + ' (' + fmtMs(left.run.duration_ms) + ') against ' + right.run.experiment_id + ' (' + fmtMs(right.run.duration_ms) + ')' }), table));
}

// A running run whose process stopped sending its heartbeat will not end by itself, and a gateway
// run whose records still arrive is not over: say so.
function statusText(run) {
  if (run.status !== 'running') return run.live ? run.status + ', live' : run.status;
  return run.live ? run.status : 'running (no heartbeat)';
}

async function route() {
  const match = /^#\\/run\\/(.+)$/.exec(location.hash);
  const pair = /^#\\/compare\\/([^/]+)\\/([^/]+)$/.exec(location.hash);
  try {
    if (match) await showRun(decodeURIComponent(match[1]));
    else if (pair) await showCompare(decodeURIComponent(pair[1]), decodeURIComponent(pair[2]));
    else await showRuns();
  } catch (error) {
    document.getElementById('app').replaceChildren(el('section', {}, el('h2', { text: 'Error' }), el('p', { text: String(error.message || error) })));
  }
}
window.addEventListener('hashchange', route);
route();
</script>
</body>
</html>
`;
