// mlfabric dashboard: plain JavaScript, no build step, no network beyond this server.
// Every view polls the REST API every 2 s; tables are reconciled row by row so that a
// refresh never steals a click or a scroll position.
"use strict";

const API = "api/v1";            // relative: works behind a path prefix too
const POLL_MS = 2000;
const HISTORY_S = 3600;
const MIN_CHART_SPAN_S = 120;
const LOG_TAIL_CHARS = 400000;
const TOKEN_KEY = "mlfabric.token";
const TABS = ["overview", "jobs", "volumes", "data", "workspaces", "inference", "apps"];
const USAGE_EVERY_S = 30;        // a volume's usage walks its files: not on every poll
const PALETTE = ["#4ea1ff", "#3fcf8e", "#f0b429", "#c678dd", "#ff7b72", "#56d4dd",
                 "#e5c07b", "#98c379", "#f78c6c", "#82aaff"];

const state = {
  token: null,
  tab: "overview",
  timer: null,
  generation: 0,         // a newer refresh supersedes an older one still in flight
  skew: 0,               // server clock minus browser clock, seconds
  history: [],           // allocation samples, oldest first
  projects: [],          // latest overview project rows (colours, filters)
  logs: null,            // {project, name, abort}
  usage: new Map(),      // volume name -> {at, usage}: the last usage read, per volume
  app: null,             // the app whose page the Apps tab shows
};

// ---------------------------------------------------------------- DOM helpers

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

/** h("td", {class: "num", dataset: {x: 1}, onclick}, "text", child) */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") el.style.cssText = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "testid") el.setAttribute("data-testid", v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Make `container`'s children match `items`, rebuilding only items whose data changed. */
function reconcile(container, items, keyOf, render) {
  const old = new Map();
  for (const el of container.children) old.set(el.dataset.key, el);
  let prev = null;
  for (const item of items) {
    const key = keyOf(item);
    const sig = JSON.stringify(item);
    let el = old.get(key);
    if (!el || el.dataset.sig !== sig) {
      const fresh = render(item);
      fresh.dataset.key = key;
      fresh.dataset.sig = sig;
      if (el) el.replaceWith(fresh);
      el = fresh;
    }
    old.delete(key);
    const want = prev ? prev.nextSibling : container.firstChild;
    if (want !== el) container.insertBefore(el, want);
    prev = el;
  }
  for (const el of old.values()) el.remove();
}

function setText(id, text) {
  const el = $(id);
  if (el && el.textContent !== String(text)) el.textContent = text;
}

function showEmpty(id, empty, text) {
  const el = $(id);
  el.hidden = !empty;
  if (text !== undefined) el.textContent = text;
}

// ---------------------------------------------------------------- formatting

function num(x) {
  if (x === null || x === undefined) return "–";
  return Number.isInteger(x) ? String(x) : String(Math.round(x * 100) / 100);
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

function duration(sec) {
  if (sec === null || sec === undefined || !isFinite(sec)) return "–";
  sec = Math.max(0, Math.floor(sec));
  const d = Math.floor(sec / 86400), hr = Math.floor(sec / 3600) % 24;
  const m = Math.floor(sec / 60) % 60, x = sec % 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${x}s`;
  return `${x}s`;
}

const epoch = (iso) => (iso ? Date.parse(iso) / 1000 : null);
const serverNow = () => Date.now() / 1000 + state.skew;

/** A moment (ISO text, or epoch seconds as some records keep it) as local date and time,
 * "2026-12-06 08:02:53": always both, whatever the day. */
function when(t) {
  if (t === null || t === undefined || t === "") return "–";
  const d = new Date(typeof t === "number" ? t * 1000 : t);
  if (isNaN(d.getTime())) return String(t);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
         `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function clock(t) {
  return new Date(t * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit",
                                                    second: "2-digit", hour12: false});
}

function colorOf(project) {
  const i = state.projects.findIndex((p) => p.name === project);
  if (i >= 0) return PALETTE[i % PALETTE.length];
  let hash = 0;
  for (const c of project) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

function jobGpus(j) {
  if (j.gpu_memory) return bytes(j.gpu_memory);
  const each = j.gpus === null || j.gpus === undefined ? 1 : j.gpus;
  return j.processes > 1 ? `${j.processes}×${num(each)}` : num(each);
}

function jobWhere(j) {
  return (j.placements || []).map((p) => {
    const share = p.fraction !== null && p.fraction !== undefined ? ` @${num(p.fraction)}` : "";
    return `${p.node}:${p.gpus.join(",")}${share}`;
  }).join(" ");
}

// ---------------------------------------------------------------- API and auth

class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

async function api(path, {method = "GET", body, signal, raw = false} = {}) {
  const headers = {Authorization: `Bearer ${state.token}`};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`${API}${path}`, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    let type = "HTTPError", message = `${res.status} ${res.statusText}`;
    try {
      const err = (await res.json()).error;
      if (err) ({type, message} = err);
    } catch (_) { /* not JSON: keep the status line */ }
    if (res.status === 401) signOut(message);
    throw new ApiError(res.status, type, message);
  }
  return raw ? res : res.json();
}

const enc = encodeURIComponent;

function takeTokenFromUrl() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    localStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem(TOKEN_KEY);
}

function signOut(message) {
  localStorage.removeItem(TOKEN_KEY);
  state.token = null;
  clearTimeout(state.timer);
  closeLogs();
  // Nothing of what this token could see stays in the page for the next one.
  state.history = [];
  state.projects = [];
  state.usage.clear();
  for (const id of ["project-bars", "allocation-chart", "chart-legend", "node-grid", "jobs-table",
                    "volumes-list", "datasets-list", "cache-pools", "cache-entries",
                    "workspaces-table", "inference-table", "apps-list"]) {
    $(id).replaceChildren();
  }
  for (const el of document.querySelectorAll(".card .value")) el.textContent = "–";
  showApp(null);
  document.querySelectorAll(".view").forEach((v) => { v.hidden = true; });
  $("login-form").hidden = false;
  $("sign-out").hidden = true;
  setText("login-error", message || "");
  setText("summary", "");
  setText("updated-at", "signed out");
}

function signIn(token) {
  state.token = token;
  $("login-form").hidden = true;
  $("sign-out").hidden = false;
  showTab(tabFromHash() || state.tab);
}

// ---------------------------------------------------------------- tabs and polling

function tabFromHash() {
  const t = location.hash.slice(1);
  return TABS.includes(t) ? t : null;
}

function showTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll(".tabs button")) {
    b.classList.toggle("active", b.dataset.tab === tab);
    b.setAttribute("aria-selected", b.dataset.tab === tab);
  }
  for (const v of document.querySelectorAll(".view")) v.hidden = v.dataset.view !== tab;
  if (location.hash.slice(1) !== tab) history.replaceState(null, "", `#${tab}`);
  refresh();
}

// The overview tab renders from the overview every refresh fetches anyway.
const LOADERS = {jobs: loadJobs, volumes: loadVolumes, data: loadData,
                 workspaces: loadWorkspaces, inference: loadInference, apps: loadApps};

/** Fetch the overview (header, history) and the current tab, then schedule the next. */
async function refresh() {
  if (!state.token) return;
  clearTimeout(state.timer);
  const generation = ++state.generation;
  const started = Date.now();
  const tab = state.tab;
  try {
    await fetchOverview();
    if (LOADERS[tab]) await LOADERS[tab]();
    $("live-indicator").className = "dot live";
    setText("updated-at", `updated ${new Date().toLocaleTimeString()}`);
  } catch (e) {
    if (!state.token) return;
    $("live-indicator").className = "dot down";
    setText("updated-at", e instanceof ApiError ? `error: ${e.message}` : "server unreachable, retrying");
  }
  if (generation !== state.generation) return;
  // One poll every POLL_MS at most, counted from the start of this one.
  state.timer = setTimeout(refresh, Math.max(250, POLL_MS - (Date.now() - started)));
}

// ---------------------------------------------------------------- overview

async function fetchOverview() {
  const last = state.history.length ? state.history[state.history.length - 1].time : null;
  const data = await api(`/overview${last === null ? "" : `?since=${last}`}`);
  state.skew = data.time - Date.now() / 1000;
  state.projects = data.projects;
  state.history.push(...data.history.filter((p) => last === null || p.time > last));
  const cutoff = data.time - HISTORY_S;
  while (state.history.length && state.history[0].time < cutoff) state.history.shift();
  const g = data.gpus;
  setText("summary", `${num(g.allocated)}/${num(g.total)} GPUs · ${data.jobs.running} running` +
                     ` · ${data.jobs.pending} pending`);
  fillProjectFilter(data.projects);
  if (state.tab === "overview") renderOverview(data);
}

function renderOverview(data) {
  setText("stat-nodes", data.nodes.length);
  setText("stat-gpus-total", num(data.gpus.total));
  setText("stat-gpus-allocated", num(data.gpus.allocated));
  setText("stat-gpus-idle", num(data.gpus.idle));
  setText("stat-jobs-running", data.jobs.running);
  setText("stat-jobs-pending", data.jobs.pending);
  renderProjectBars(data.projects);
  renderChart(data.time);
  reconcile($("node-grid"), data.nodes.map((n) => ({...n, colors: n.devices.map(
    (d) => (d.projects.length ? colorOf(d.projects[0]) : null))})), (n) => n.name, renderNode);
}

function renderProjectBars(projects) {
  const scale = Math.max(1, ...projects.map((p) => Math.max(p.quota, p.allocated,
                                                            p.fair_share || 0, p.limit || 0)));
  const pct = (x) => `${(100 * x / scale).toFixed(2)}%`;
  reconcile($("project-bars"), projects.map((p) => ({...p, scale, color: colorOf(p.name)})),
            (p) => p.name, (p) => {
    const within = Math.min(p.allocated, p.quota);
    const over = Math.max(0, p.allocated - p.quota);
    return h("div", {class: "bar-row", testid: `project-bar-${p.name}`,
                     dataset: {allocated: p.allocated, quota: p.quota}},
      h("div", {class: "bar-head"},
        h("span", {class: "name"}, h("span", {class: "swatch", style: `background:${p.color}`}),
          p.name),
        h("span", {class: "nums", testid: `project-numbers-${p.name}`},
          `${num(p.allocated)} / ${num(p.quota)} GPUs`)),
      h("div", {class: "track", title: `allocated ${num(p.allocated)}, quota ${num(p.quota)}`},
        h("div", {class: "fill", style: `width:${pct(within)};background:${p.color}`}),
        over > 0 && h("div", {class: "fill over",
                              style: `left:${pct(within)};width:${pct(over)};background-color:${p.color}`}),
        h("div", {class: "marker", title: `quota ${num(p.quota)}`,
                  style: `left:calc(${pct(p.quota)} - 1px)`}),
        p.fair_share !== null && p.fair_share !== undefined &&
          h("div", {class: "marker share", title: `fair share ≈ ${num(p.fair_share)}`,
                    style: `left:calc(${pct(p.fair_share)} - 1px)`})),
      h("div", {class: "bar-foot"},
        `quota ${num(p.quota)} · fair share ≈ ${num(p.fair_share)}` +
        (p.limit !== null && p.limit !== undefined ? ` · limit ${num(p.limit)}` : "") +
        ` · ${p.running} running · ${p.pending} pending` +
        (over > 0 ? ` · ${num(over)} over quota` : "")));
  });
}

function renderNode(n) {
  return h("div", {class: "node", testid: `node-${n.name}`},
    h("div", {class: "node-head"},
      h("span", {class: "name"}, n.name),
      h("span", {class: "muted mono"}, `${num(n.allocated)}/${n.gpus} GPUs`)),
    h("div", {class: "gpus"}, n.devices.map((d, i) => h("div", {
      class: "gpu", testid: `gpu-${n.name}-${d.index}`,
      title: `GPU ${d.index}: ${Math.round(d.used * 100)}% used` +
             (d.projects.length ? ` by ${d.projects.join(", ")}` : ""),
    }, h("div", {class: "level",
                 style: `height:${(d.used * 100).toFixed(0)}%;background:${n.colors[i] || "#56657a"}`})))),
    h("div", {class: "muted small", style: "margin-top:6px"},
      `pool ${n.pool} · runtime ${n.runtime || "local"}`));
}

function renderChart(now) {
  const svg = $("allocation-chart");
  const W = 640, H = 240, L = 36, R = 10, T = 10, B = 24;
  const pts = state.history;
  const names = state.projects.map((p) => p.name);
  const t1 = now, t0 = Math.min(pts.length ? pts[0].time : now, now - MIN_CHART_SPAN_S);
  const top = Math.max(1, ...pts.map((p) => Math.max(p.capacity,
    Object.values(p.allocated).reduce((a, b) => a + b, 0))));
  const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const nodes = [];
  for (const v of niceTicks(top)) {
    nodes.push(s("line", {class: "gridline", x1: L, x2: W - R, y1: y(v), y2: y(v)}));
    nodes.push(s("text", {class: "tick", x: L - 6, y: y(v) + 4, "text-anchor": "end"}, num(v)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (t1 - t0) * i / 4;
    nodes.push(s("text", {class: "tick", x: x(t), y: H - 6,
                          "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle"}, clock(t)));
  }
  nodes.push(s("line", {class: "axis", x1: L, x2: W - R, y1: y(0), y2: y(0)}));
  if (pts.length) {
    // Stacked areas, one per project, in the same order and colours as the bars.
    const base = pts.map(() => 0);
    for (const name of names) {
      const upper = pts.map((p, i) => base[i] + (p.allocated[name] || 0));
      const fwd = pts.map((p, i) => `${x(p.time).toFixed(1)},${y(upper[i]).toFixed(1)}`);
      const back = pts.map((p, i) => `${x(p.time).toFixed(1)},${y(base[i]).toFixed(1)}`).reverse();
      const color = colorOf(name);
      nodes.push(s("path", {class: "area", d: `M${fwd.join("L")}L${back.join("L")}Z`,
                            fill: color, stroke: color, "data-project": name}));
      upper.forEach((v, i) => { base[i] = v; });
    }
    const cap = pts.map((p) => `${x(p.time).toFixed(1)},${y(p.capacity).toFixed(1)}`);
    nodes.push(s("path", {class: "capacity", d: `M${cap.join("L")}`}));
  }
  svg.replaceChildren(...nodes);
  svg.dataset.samples = pts.length;
  reconcile($("chart-legend"), [...names.map((n) => ({n, c: colorOf(n)})), {n: "capacity", c: null}],
            (e) => e.n, (e) => h("span", {},
              e.c ? h("span", {class: "swatch", style: `background:${e.c}`})
                  : h("span", {class: "swatch", style: "border:1px dashed #dbe3ee"}), e.n));
}

function niceTicks(top) {
  const raw = top / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw);
  const out = [];
  for (let v = 0; v <= top + 1e-9; v += step) out.push(Math.round(v * 100) / 100);
  return out;
}

// ---------------------------------------------------------------- jobs and logs

function fillProjectFilter(projects) {
  const sel = $("jobs-project");
  const want = ["", ...projects.map((p) => p.name)];
  const have = [...sel.options].map((o) => o.value);
  if (JSON.stringify(want) === JSON.stringify(have)) return;
  const current = sel.value;
  sel.replaceChildren(...want.map((v) => h("option", {value: v}, v || "all")));
  sel.value = want.includes(current) ? current : "";
}

const STATE_FILTERS = {
  active: (j) => j.state === "Pending" || j.state === "Running",
  done: (j) => j.state !== "Pending" && j.state !== "Running",
  Running: (j) => j.state === "Running",
  Pending: (j) => j.state === "Pending",
  "": () => true,
};

async function loadJobs() {
  const project = $("jobs-project").value;
  const list = await api(`/jobs${project ? `?project=${enc(project)}` : ""}`);
  const shown = list.filter(STATE_FILTERS[$("jobs-state").value]);
  // Newest first: a job just submitted shows at the top.
  shown.reverse();
  reconcile($("jobs-table"), shown, (j) => j.ref, renderJobRow);
  showEmpty("jobs-empty", shown.length === 0);
  tickElapsed();
  if (state.logs) {
    const j = list.find((x) => x.project === state.logs.project && x.name === state.logs.name);
    if (j) setText("logs-state", j.state);
    // A job read once (pending, simulated) is read again when its state changes: once it
    // runs, its log streams. A stream ends by itself when the job does.
    if (j && !state.logs.live && (j.state !== state.logs.state || j.runtime !== state.logs.runtime)) {
      openLogs(j);
    }
  }
}

function renderJobRow(j) {
  const started = epoch(j.started_at), finished = epoch(j.finished_at);
  const running = j.state === "Running";
  const elapsed = running ? {from: started} : started && finished ? {from: started, to: finished}
                : j.state === "Pending" ? {from: epoch(j.submitted_at), prefix: "queued "} : null;
  const note = j.state === "Pending" ? j.reason : j.message;
  const selected = state.logs && state.logs.project === j.project && state.logs.name === j.name;
  return h("tr", {class: `clickable${selected ? " selected" : ""}`, testid: `job-row-${j.ref}`,
                  dataset: {state: j.state}, onclick: () => openLogs(j)},
    h("td", {}, h("span", {class: `badge ${j.state}`, testid: "job-state"}, j.state)),
    h("td", {class: "mono", testid: "job-name"}, j.name,
      j.interactive && h("span", {class: "chip", style: "margin-left:6px"}, "interactive"),
      j.runtime === "sim" && h("span", {class: "chip sim", testid: "job-simulated",
                                        title: "on a simulated node: scheduled, no process runs"},
                               "simulated"),
      daskChip(j)),
    h("td", {testid: "job-project"}, j.project),
    h("td", {class: "num mono", testid: "job-gpus"}, jobGpus(j)),
    h("td", {class: "mono", testid: "job-node"}, jobWhere(j) || "–"),
    h("td", {class: "mono", testid: "job-submitted"}, when(j.submitted_at)),
    h("td", {class: "mono elapsed", testid: "job-runtime",
             dataset: elapsed ? {from: elapsed.from, to: elapsed.to || "", prefix: elapsed.prefix || ""} : {},
             title: j.runtime ? `runtime backend: ${j.runtime}` : null}, "–"),
    h("td", {class: j.state === "Pending" ? "reason" : "muted", testid: "job-reason"}, note || ""));
}

/** A running Dask cluster job's dashboard link (on the server's loopback), its scheduler
 * address as the title; clicking it does not open the job's logs. */
function daskChip(j) {
  const ep = j.endpoints || {};
  if (!ep.dashboard) return null;
  return h("a", {class: "chip", style: "margin-left:6px", href: ep.dashboard, target: "_blank",
                 rel: "noopener", testid: "job-dask-dashboard",
                 title: `Dask scheduler ${ep.scheduler} (on the server's loopback)`,
                 onclick: (e) => e.stopPropagation()}, "dask dashboard");
}

/** Refresh the running-time cells without rebuilding their rows. */
function tickElapsed() {
  const now = serverNow();
  for (const td of document.querySelectorAll("td.elapsed[data-from]")) {
    const to = td.dataset.to ? Number(td.dataset.to) : now;
    const text = td.dataset.prefix + duration(to - Number(td.dataset.from));
    if (td.textContent !== text) td.textContent = text;
  }
}

/**
 * Show a job's logs: streamed while it runs on a runtime with processes, else read once
 * (a stream of a pending or simulated job would hold a server thread until it ends).
 */
function openLogs(job) {
  closeLogs();
  const abort = new AbortController();
  state.logs = {project: job.project, name: job.name, state: job.state,
                runtime: job.runtime, abort};
  for (const tr of $("jobs-table").children) {
    tr.classList.toggle("selected", tr.dataset.key === job.ref);
  }
  $("logs-panel").hidden = false;
  setText("logs-title", job.ref);
  setText("logs-state", job.state);
  const out = $("logs-output");
  out.textContent = "";
  const live = job.state === "Running" && job.runtime !== "sim";
  state.logs.live = live;
  out.dataset.live = String(live);
  const read = live ? streamLogs(job, abort.signal, out) : readLogs(job, abort.signal, out);
  read.catch((e) => {
    if (abort.signal.aborted) return;
    out.append(`\n[log stream stopped: ${e.message}]`);
  }).finally(() => {
    if (!abort.signal.aborted) out.dataset.live = "false";
  });
  $("logs-panel").scrollIntoView({behavior: "smooth", block: "nearest"});
}

async function streamLogs(job, signal, out) {
  const res = await api(`/jobs/${enc(job.name)}/logs/stream?project=${enc(job.project)}`,
                        {signal, raw: true});
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.append(value);
    if (out.textContent.length > LOG_TAIL_CHARS) {
      out.textContent = out.textContent.slice(-LOG_TAIL_CHARS);
    }
    if (stick) out.scrollTop = out.scrollHeight;
  }
  if (!out.textContent) out.append("(no output)");
  out.append("\n[stream ended: the job is no longer running]");
}

async function readLogs(job, signal, out) {
  if (job.runtime === "sim") {  // the server refuses it too: there is no log to read
    out.textContent = "[a simulated job runs no processes: it has no logs]";
    return;
  }
  const text = await api(`/jobs/${enc(job.name)}/logs?project=${enc(job.project)}`, {signal});
  if (signal.aborted) return;
  const why = job.state === "Pending" ? "the job is pending; its logs stream once it runs" : null;
  out.textContent = text.slice(-LOG_TAIL_CHARS) || "(no output)";
  if (why) out.append(`\n[${why}]`);
}

function closeLogs() {
  if (!state.logs) return;
  state.logs.abort.abort();
  state.logs = null;
  $("logs-panel").hidden = true;
  for (const tr of $("jobs-table").children) tr.classList.remove("selected");
}

// ---------------------------------------------------------------- volumes and snapshots

async function loadVolumes() {
  const vols = await api("/volumes");
  const [snaps, usage] = await Promise.all([
    Promise.all(vols.map((v) => api(`/volumes/${enc(v.name)}/snapshots`))),
    Promise.all(vols.map((v) => volumeUsage(v.name)))]);
  const items = vols.map((v, i) => ({...v, snaps: snaps[i], usage: usage[i]}));
  reconcile($("volumes-list"), items, (v) => v.name, renderVolume);
  showEmpty("volumes-empty", items.length === 0);
}

/** A volume's usage, read again when older than USAGE_EVERY_S (or after an action). */
async function volumeUsage(name) {
  const known = state.usage.get(name);
  if (known && serverNow() - known.at < USAGE_EVERY_S) return known.usage;
  const usage = await api(`/volumes/${enc(name)}/usage`);
  state.usage.set(name, {at: serverNow(), usage});
  return usage;
}

function usageLine(v) {
  const u = v.usage;
  return h("div", {class: `usage${u.over_size ? " over" : ""}`, testid: `volume-usage-${v.name}`,
                   dataset: {files: u.files, bytes: u.logical_bytes}},
    `${num(u.files)} files · ${bytes(u.logical_bytes)}` +
    (u.size_limit ? ` of ${bytes(u.size_limit)}` : "") +
    ` · ${u.snapshots} snapshot(s) storing ${bytes(u.stored_bytes)}` +
    (u.warning ? ` · ${u.warning}` : ""));
}

function renderVolume(v) {
  const labels = Object.entries(v.labels || {}).map(([k, val]) => h("span", {class: "chip"}, `${k}=${val}`));
  return h("div", {class: "panel", testid: `volume-${v.name}`},
    h("div", {class: "volume-head"},
      h("h2", {class: "mono"}, v.name),
      labels,
      v.read_only && h("span", {class: "chip"}, "read-only"),
      h("span", {class: "muted small"}, [
        `driver ${v.driver}`, v.size_limit ? `limit ${bytes(v.size_limit)}` : null,
        v.origin ? `cloned from ${v.origin}` : null, `created ${when(v.created_at)}`,
      ].filter(Boolean).join(" · ")),
      h("span", {class: "actions"},
        h("button", {class: "small", testid: `snapshot-create-${v.name}`,
                     onclick: () => createSnapshot(v.name)}, "Snapshot"))),
    usageLine(v),
    v.snaps.length === 0
      ? h("p", {class: "muted"}, "No snapshots yet.")
      : h("table", {class: "grid"},
          h("thead", {}, h("tr", {}, ["Snapshot", "Created", "Kind"].map((c) => h("th", {}, c)),
            h("th", {class: "num"}, "Files"), h("th", {class: "num"}, "Size"), h("th", {}))),
          h("tbody", {}, v.snaps.map((sn) => h("tr", {testid: `snapshot-row-${sn.ref}`},
            h("td", {class: "mono"}, sn.name),
            h("td", {}, when(sn.created_at)),
            h("td", {class: "muted"}, sn.kind),
            h("td", {class: "num"}, num(sn.files)),
            h("td", {class: "num"}, bytes(sn.bytes)),
            h("td", {class: "row-actions"},
              h("button", {class: "small", testid: `snapshot-clone-${sn.ref}`,
                           onclick: () => cloneSnapshot(sn)}, "Clone…"),
              h("button", {class: "small danger", testid: `snapshot-restore-${sn.ref}`,
                           onclick: () => restoreSnapshot(sn)}, "Restore…")))))));
}

async function createSnapshot(volume) {
  const snap = await ask({title: `Snapshot ${volume}`, confirm: "Create snapshot",
    message: "Record the volume's current files as an immutable snapshot.",
    field: {label: "Name (optional; default: a timestamp)", placeholder: "e.g. before-cleanup"},
    run: (value) => api(`/volumes/${enc(volume)}/snapshots`, {method: "POST",
                                                             body: value ? {name: value} : {}})});
  if (snap !== null) toast(`snapshot ${snap.ref} created (${num(snap.files)} files)`);
}

async function cloneSnapshot(sn) {
  const made = await ask({title: `Clone ${sn.ref}`, confirm: "Create volume",
    message: "Create a new volume with the files of this snapshot.",
    field: {label: "New volume name", value: `${sn.volume}-${sn.name}`.slice(0, 63)},
    run: (value) => api(`/volumes/${enc(value)}/clone`, {method: "POST",
                                                         body: {source: sn.ref, mode: "auto"}})});
  if (made !== null) toast(`volume ${made.name} cloned from ${sn.ref}`);
}

async function restoreSnapshot(sn) {
  const done = await ask({title: `Restore ${sn.ref}?`, confirm: "Restore",
    message: `The files of volume ${sn.volume} will be replaced by those of snapshot ` +
             `${sn.name}. Its current state is first kept as a safety snapshot.`,
    run: () => api(`/snapshots/${enc(sn.ref)}/restore`, {method: "POST", body: {}})});
  if (done !== null) {
    toast(`restored ${sn.ref} (${done.written} written, ${done.removed} removed)` +
          (done.safety_snapshot ? `; previous state kept as ${done.safety_snapshot}` : ""));
  }
}

// ---------------------------------------------------------------- datasets and caches

async function loadData() {
  const [sets, stats, entries] = await Promise.all([api("/datasets"), api("/caches/stats"),
                                                    api("/caches")]);
  const versions = await Promise.all(sets.map((d) => api(`/datasets/${enc(d.name)}/versions`)));
  // Version listings leave out lineage; the cache entries say where each version is.
  const pools = {};
  for (const e of entries) (pools[e.ref] = pools[e.ref] || []).push(e.pool);
  reconcile($("datasets-list"), sets.map((d, i) => ({...d, versions: versions[i].map(
    (v) => ({...v, cached_in: pools[v.ref] || []}))})), (d) => d.name, renderDataset);
  showEmpty("datasets-empty", sets.length === 0);
  reconcile($("cache-pools"), stats, (p) => p.pool, renderPool);
  reconcile($("cache-entries"), entries, (e) => `${e.pool}/${e.ref}`, (e) =>
    h("tr", {testid: `cache-entry-${e.pool}/${e.ref}`},
      h("td", {}, e.pool), h("td", {class: "mono"}, e.ref),
      h("td", {}, h("span", {class: `badge ${e.state}`}, e.state)),
      h("td", {class: "num"}, num(e.files)), h("td", {class: "num"}, bytes(e.bytes)),
      h("td", {class: "num"}, e.uses), h("td", {}, when(e.last_used_at)),
      h("td", {class: "muted"}, (e.leases || []).join(", ") || "–")));
  showEmpty("caches-empty", stats.length === 0 && entries.length === 0);
  $("cache-entries").closest("table").hidden = entries.length === 0;
}

function renderDataset(d) {
  return h("div", {class: "dataset", testid: `dataset-${d.name}`},
    h("div", {class: "dataset-head"},
      h("span", {class: "name mono"}, d.name),
      h("span", {class: "muted small"},
        `remote ${d.remote} · ${d.versions.length} version(s) · latest ${d.latest || "–"}`)),
    h("table", {class: "grid"},
      h("thead", {}, h("tr", {}, h("th", {}, "Version"), h("th", {}, "Created"),
        h("th", {class: "num"}, "Files"), h("th", {class: "num"}, "Size"),
        h("th", {}, "From"), h("th", {}, "Cached in"))),
      h("tbody", {}, d.versions.map((v) => h("tr", {testid: `dataset-version-${v.ref}`},
        h("td", {class: "mono"}, v.version), h("td", {}, when(v.created_at)),
        h("td", {class: "num"}, num(v.files)), h("td", {class: "num"}, bytes(v.bytes)),
        h("td", {class: "mono muted"}, v.source || "–"),
        h("td", {}, (v.cached_in || []).join(", ") || "–"))))));
}

function renderPool(p) {
  const pct = (x) => `${Math.min(100, 100 * x).toFixed(1)}%`;
  const color = p.usage_ratio >= p.high ? "var(--bad)" : p.usage_ratio >= p.low ? "var(--warn)"
                                                                                 : "var(--ok)";
  return h("div", {class: "pool", testid: `cache-pool-${p.pool}`,
                   dataset: {usage: p.usage_ratio, hitRatio: p.hit_ratio}},
    h("div", {class: "bar-head"},
      h("span", {class: "name mono"}, p.pool),
      h("span", {class: "nums"}, `${bytes(p.bytes)} / ${bytes(p.budget)}`)),
    h("div", {class: "track", title: `usage ${pct(p.usage_ratio)}; eviction starts above ` +
                                     `${pct(p.high)} and stops at ${pct(p.low)}`},
      h("div", {class: "fill", style: `width:${pct(p.usage_ratio)};background:${color}`}),
      h("div", {class: "marker low", title: `low watermark ${pct(p.low)}`,
                style: `left:calc(${pct(p.low)} - 1px)`}),
      h("div", {class: "marker high", title: `high watermark ${pct(p.high)}`,
                style: `left:calc(${pct(p.high)} - 1px)`})),
    h("div", {class: "bar-foot"},
      `usage ${pct(p.usage_ratio)} · watermarks low ${pct(p.low)}, high ${pct(p.high)} · ` +
      `TTL ${duration(p.ttl)}`),
    h("div", {class: "stats"},
      stat("hit ratio", `${(100 * p.hit_ratio).toFixed(0)}%`, `cache-hit-ratio-${p.pool}`),
      stat("hits / misses", `${p.hits} / ${p.misses}`),
      stat("entries", p.entries), stat("leases", p.leases), stat("evictions", p.evictions)));
}

function stat(label, value, testid) {
  return h("div", {class: "stat"}, h("div", {class: "v", testid}, value),
           h("div", {class: "l"}, label));
}

// ---------------------------------------------------------------- workspaces

async function loadWorkspaces() {
  let list;
  try {
    list = await api("/workspaces");
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
    reconcile($("workspaces-table"), [], () => "", () => null);
    showEmpty("workspaces-empty", true, "Workspaces are not available on this server.");
    return;
  }
  reconcile($("workspaces-table"), list, (w) => `${w.project}/${w.name}`, (w) =>
    h("tr", {testid: `workspace-row-${w.name}`, dataset: {state: w.state}},
      h("td", {}, h("span", {class: `badge ${w.state}`}, w.state)),
      h("td", {class: "mono"}, w.name),
      h("td", {}, w.project || "–"),
      h("td", {class: "num mono"}, num(w.gpus)),
      h("td", {class: "mono muted"}, [w.volume, ...(w.volumes || []), ...(w.datasets || [])]
        .filter(Boolean).join(" ") || "–"),
      h("td", {}, when(w.created_at)),
      h("td", {class: w.state === "Pending" ? "reason" : "muted"}, w.reason || ""),
      h("td", {class: "row-actions"}, w.url && w.state === "Running"
        ? h("a", {href: w.url, target: "_blank", rel: "noopener", testid: `workspace-open-${w.name}`},
            "Open JupyterLab ↗")
        : h("span", {class: "muted"}, "–"))));
  showEmpty("workspaces-empty", list.length === 0,
            "No workspaces yet: mlfabric workspace create NAME -p PROJECT.");
}

// ---------------------------------------------------------------- inference servers

async function loadInference() {
  const list = await api("/inference");
  reconcile($("inference-table"), list, (sv) => sv.name, renderServer);
  showEmpty("inference-empty", list.length === 0);
}

function renderServer(sv) {
  // the server's own words while its job runs (serving/status.py), else the job's in lower case
  const running = ["starting", "ready", "restarting"].includes(sv.state);
  return h("tr", {testid: `inference-row-${sv.name}`, dataset: {state: sv.state, ready: sv.ready}},
    h("td", {}, h("span", {class: `badge ${sv.state}`}, sv.state)),
    h("td", {class: "mono"}, sv.name),
    h("td", {}, sv.project),
    h("td", {}, h("span", {class: `badge ${sv.ready ? "ready" : "not-ready"}`,
                           testid: `inference-ready-${sv.name}`},
                  sv.ready ? "ready" : "not ready")),
    h("td", {}, sv.models.length === 0 ? h("span", {class: "muted"}, running ? "none loaded" : "–")
      : sv.models.map((m) => h("div", {class: "model", testid: `inference-model-${sv.name}-${m.name}`,
                                        dataset: {state: m.state}, title: m.reason || ""},
          h("span", {class: "mono"}, m.name),
          (m.versions || []).length ? h("span", {class: "muted small"}, ` v${m.versions.join(",v")}`) : null,
          " ", h("span", {class: `badge ${m.state}`}, m.state),
          m.reason ? h("div", {class: "muted small"}, m.reason) : null))),
    h("td", {class: "mono small", testid: `inference-endpoints-${sv.name}`},
      h("div", {}, "http ", h("span", {testid: `inference-http-${sv.name}`}, sv.http_url)),
      h("div", {}, `grpc ${sv.grpc_url}`),
      h("div", {}, `metrics ${sv.metrics_url}`)),
    h("td", {class: "mono muted"}, sv.model_repo),
    h("td", {}, when(sv.created_at)),
    h("td", {class: sv.state === "Pending" ? "reason" : "muted"}, sv.message || ""));
}

// ---------------------------------------------------------------- dialog and toasts

/**
 * Ask for confirmation (and optionally one value), then run the action while the dialog
 * stays open; an error shows in the dialog. Resolves to the action's result, or null.
 */
function ask({title, message, field, confirm, run}) {
  const dialog = $("modal");
  const input = $("modal-input");
  setText("modal-title", title);
  setText("modal-message", message || "");
  setText("modal-error", "");
  $("modal-field").hidden = !field;
  if (field) {
    $("modal-field").querySelector("span").textContent = field.label;
    input.value = field.value || "";
    input.placeholder = field.placeholder || "";
  }
  const ok = $("modal-confirm");
  ok.textContent = confirm || "OK";
  ok.disabled = false;
  return new Promise((resolve) => {
    const onClick = async (ev) => {
      ev.preventDefault();
      ok.disabled = true;
      try {
        const result = await run(field ? input.value.trim() : undefined);
        finish(result);
        dialog.close();
      } catch (e) {
        setText("modal-error", e.message);
        ok.disabled = false;
      }
    };
    const onClose = () => finish(null);
    let settled = false;
    function finish(value) {
      if (settled) return;
      settled = true;
      ok.removeEventListener("click", onClick);
      dialog.removeEventListener("close", onClose);
      resolve(value);
      state.usage.clear();  // an action may have changed what volumes hold
      refresh();
    }
    ok.addEventListener("click", onClick);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    (field ? input : ok).focus();
  });
}

function toast(message, kind = "ok") {
  const el = h("div", {class: `toast ${kind}`, testid: "toast", role: "status"}, message);
  $("toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 9000 : 5000);
}

// ---------------------------------------------------------------- start

function start() {
  for (const b of document.querySelectorAll(".tabs button")) {
    b.addEventListener("click", () => showTab(b.dataset.tab));
  }
  window.addEventListener("hashchange", () => {
    const tab = tabFromHash();
    if (tab && tab !== state.tab && state.token) showTab(tab);
  });
  $("jobs-project").addEventListener("change", refresh);
  $("jobs-state").addEventListener("change", refresh);
  $("logs-close").addEventListener("click", closeLogs);
  $("modal-cancel").addEventListener("click", () => $("modal").close());
  $("sign-out").addEventListener("click", () => signOut());
  $("login-form").querySelector("form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("login-token").value.trim();
    localStorage.setItem(TOKEN_KEY, token);
    $("login-token").value = "";
    signIn(token);
  });
  state.tab = tabFromHash() || "overview";
  const token = takeTokenFromUrl();
  if (token) signIn(token);
  else signOut();
}

document.addEventListener("DOMContentLoaded", start);

// ---------------------------------------------------------------- apps

async function loadApps() {
  const apps = await api("/apps");
  reconcile($("apps-list"), apps, (a) => a.name, renderApp);
  showEmpty("apps-empty", apps.length === 0);
}

function renderApp(a) {
  const open = a.page
    ? h("button", {class: "link", testid: `app-open-${a.name}`, onclick: () => showApp(a)}, "open page")
    : h("span", {class: "muted"}, "no page");
  return h("div", {class: "app-row", testid: `app-${a.name}`},
    h("strong", {}, a.name), " ", h("span", {class: "muted"}, a.help), " ", open,
    h("div", {class: "muted small"}, a.routes.join(" · ")));
}

/** Show an app's page (same origin: it reads the token through /dashboard/appkit.js). */
function showApp(a) {
  state.app = a ? a.name : null;
  $("app-panel").hidden = !a;
  setText("app-title", a ? a.name : "");
  const frame = $("app-frame");
  if (!a) frame.removeAttribute("src");
  else if (frame.getAttribute("src") !== a.page) frame.setAttribute("src", a.page);
}
