// The call-center page: agents and their calls from the app's REST rows, and one call's
// sentences as they are heard, over the follow stream (server-sent events read through
// fetch, which, unlike EventSource, can send the dashboard's token).
"use strict";

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const wanted = new URLSearchParams(location.search);
// the calls' project: "" lets the server fill in a member's only project
const state = {project: wanted.get("project") || "", call: null, sentences: [], abort: null};

// an app route with the chosen project (and ``extra``) in its query string
function route(path, extra = {}) {
  const query = new URLSearchParams(extra);
  if (state.project) query.set("project", state.project);
  const text = query.toString();
  return `/api/v1/callcenter${path}${text ? `?${text}` : ""}`;
}

async function fillProjects() {
  const pick = $("cc-project");
  try {
    for (const p of await mlfabric.api("/api/v1/projects")) {
      if (![...pick.options].some((o) => o.value === p.name)) {
        pick.add(new Option(p.name, p.name));
      }
    }
  } catch (e) {
    showError(e);
  }
  if (state.project && ![...pick.options].some((o) => o.value === state.project)) {
    pick.add(new Option(state.project, state.project));
  }
  pick.value = state.project;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function showError(e) {
  $("cc-error").hidden = false;
  $("cc-error").textContent = `error: ${e.message}`;
}

const counts = (b) => `${b.negative} / ${b.neutral} / ${b.positive}`;
const when = (t) => new Date(t * 1000).toLocaleString();

async function refresh() {
  try {
    const agents = await mlfabric.api(route("/agents"));
    const body = $("cc-agents").querySelector("tbody");
    body.replaceChildren();
    const filter = $("cc-agent-filter");
    const known = new Set([...filter.options].map((o) => o.value));
    for (const a of agents) {
      const tr = document.createElement("tr");
      tr.dataset.testid = `cc-agent-${a.agent}`;
      for (const v of [a.agent, a.calls, a.sentences, counts(a.by_label),
                       a.mean_sentiment.toFixed(2), when(a.last_at)]) cell(tr, v);
      body.appendChild(tr);
      if (!known.has(a.agent)) filter.add(new Option(a.agent, a.agent));
    }
    const agent = filter.value;
    const calls = await mlfabric.api(route("/calls", agent ? {agent} : {}));
    const cbody = $("cc-calls").querySelector("tbody");
    cbody.replaceChildren();
    for (const c of calls) {
      const tr = document.createElement("tr");
      tr.className = "pick" + (c.call === state.call ? " chosen" : "");
      tr.dataset.testid = `cc-call-${c.call}`;
      for (const v of [c.call, c.agent, c.sentences, counts(c.by_label),
                       c.trend.map((t) => t.toFixed(1)).join(" "), when(c.started_at)]) {
        cell(tr, v);
      }
      tr.addEventListener("click", () => follow(c.call));
      cbody.appendChild(tr);
    }
    $("cc-error").hidden = true;
  } catch (e) {
    showError(e);
  }
}

function drawTrend() {
  const svg = $("cc-trend");
  const values = [];
  let total = 0;
  state.sentences.forEach((s, i) => {
    total += {negative: -1, neutral: 0, positive: 1}[s.label];
    values.push(total / (i + 1));
  });
  const n = Math.max(values.length - 1, 1);
  const points = values.map((v, i) => `${(i / n) * 300},${30 - v * 27}`).join(" ");
  svg.innerHTML = `<line x1="0" y1="30" x2="300" y2="30" stroke="#ccc"/>` +
    `<polyline fill="none" stroke="#36c" stroke-width="2" points="${points}"/>`;
}

function render() {
  const list = $("cc-sentences");
  const only = $("cc-label-filter").value;
  list.replaceChildren();
  for (const s of state.sentences) {
    if (only && s.label !== only) continue;
    const li = document.createElement("li");
    li.className = s.label;
    li.dataset.testid = `cc-sentence-${s.index}`;
    li.dataset.label = s.label;
    li.dataset.shownAt = s.shownAt;
    li.dataset.heardAt = s.heard_at;
    li.textContent = `${s.label}: ${s.text}`;
    list.appendChild(li);
  }
  drawTrend();
}

async function follow(call) {
  if (state.abort) state.abort.abort();
  state.call = call;
  state.sentences = [];
  state.abort = new AbortController();
  $("cc-live-call").textContent = call;
  render();
  refresh();
  try {
    const res = await fetch(route(`/calls/${encodeURIComponent(call)}/events`),
      {headers: {Authorization: `Bearer ${mlfabric.token()}`}, signal: state.abort.signal});
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data: "));
        if (!data.length) continue;
        const s = JSON.parse(data.map((l) => l.slice(6)).join("\n"));
        s.shownAt = Date.now() / 1000;
        state.sentences.push(s);
        render();
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") showError(e);
  }
}

$("cc-agent-filter").addEventListener("change", refresh);
$("cc-label-filter").addEventListener("change", render);
$("cc-project").addEventListener("change", () => {
  // another project: its own agents and calls, none of the last one's
  const url = new URL(location.href);
  url.search = "";
  if ($("cc-project").value) url.searchParams.set("project", $("cc-project").value);
  location.assign(url);
});
fillProjects();
if (wanted.get("call")) follow(wanted.get("call"));
refresh();
setInterval(refresh, 2000);
