// Earful dashboard: team views over the JSON API. No build step, no CDN: ECharts is vendored.
// State lives in the URL (?view=pr&project=skyway&range=7d), so a link shows what you saw.
"use strict";

const BOOT = window.EARFUL || {projects: [], data: {}};
const COLOURS = {negative: "#dc2626", neutral: "#9ca3af", positive: "#16a34a"};
const PALETTE = ["#4f46e5", "#0891b2", "#d97706", "#db2777", "#65a30d", "#7c3aed", "#0d9488", "#ea580c"];
const $ = (sel, el = document) => el.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const fmt = new Intl.NumberFormat(undefined, {maximumFractionDigits: 1});
const compact = new Intl.NumberFormat(undefined, {notation: "compact", maximumFractionDigits: 1});
const fmt2 = new Intl.NumberFormat(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2, signDisplay: "exceptZero"});
const pct = (x) => (x == null ? "—" : `${fmt.format(100 * x)}%`);
const net = (x) => (x == null ? "—" : fmt2.format(x));
const charts = [];

// -- state -------------------------------------------------------------------------------------
function readState() {
  const q = new URLSearchParams(location.search);
  return {
    view: q.get("view") || "overview",
    project: q.get("project") || (BOOT.projects[0] || {}).name || "",
    range: q.get("range") || "all",
    from: q.get("from") || "",
    to: q.get("to") || "",
    q: q.get("q") || "",
    team: q.get("team") || "",
  };
}
let state = readState();

function go(changes) {
  state = {...state, ...changes};
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v) q.set(k, v);
  history.pushState(null, "", `?${q}`);
  render();
}
window.addEventListener("popstate", () => { state = readState(); render(); });

function project() {
  return BOOT.projects.find((p) => p.name === state.project) || BOOT.projects[0] || {brands: [], brand: ""};
}

// The time window every panel follows. "Last N" counts back from the newest mention, so a
// replayed history reads the same as a live stream.
function window_() {
  const last = BOOT.data.last ? new Date(BOOT.data.last) : new Date();
  const end = new Date(last.getTime() + 1000);
  if (state.range === "custom" && state.from && state.to) {
    return {start: new Date(state.from + "Z"), end: new Date(state.to + "Z")};
  }
  const spans = {"24h": 1, "3d": 3, "7d": 7, "30d": 30};
  if (spans[state.range]) return {start: new Date(end - spans[state.range] * 864e5), end};
  const first = BOOT.data.first ? new Date(BOOT.data.first) : new Date(end - 7 * 864e5);
  return {start: first, end};
}
function interval(w) {
  const hours = (w.end - w.start) / 36e5;
  return hours <= 72 ? "1h" : hours <= 24 * 14 ? "6h" : "1d";
}
function span() {
  const w = window_();
  return {start: w.start.toISOString(), end: w.end.toISOString(), interval: interval(w)};
}

// -- API ---------------------------------------------------------------------------------------
function token() { return localStorage.getItem("earful_token") || ""; }
async function api(path, params = {}, init = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) url.searchParams.set(k, v);
  const headers = {...(init.headers || {})};
  if (token()) headers.authorization = `Bearer ${token()}`;
  const r = await fetch(url, {...init, headers});
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : {};
  if (!r.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
    throw new Error(`${r.status}: ${detail}`);
  }
  return body;
}
function say(text, bad = false) {
  const el = $("#status");
  el.textContent = text;
  el.style.color = bad ? "#b91c1c" : "";
}

// -- charts ------------------------------------------------------------------------------------
// Charts follow their card's size (cards reflow as the grid fills and the window changes).
const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) echarts.getInstanceByDom(entry.target)?.resize();
});

// Value axes read "800K", not "800,000" cut off at the card's edge; an axis name sits inside the
// chart (the left one reads rightwards, the right one leftwards). The grid makes room for its
// labels however long (containLabel), where a fixed margin clipped a reach axis to ")00,000".
function valueAxes(y) {
  const list = (Array.isArray(y) ? y : [y]).map((a, i) => {
    if (!a || a.type !== "value") return a;
    const out = {...a, axisLabel: {formatter: (v) => compact.format(v), ...(a.axisLabel || {})}};
    if (a.name && !a.nameTextStyle) out.nameTextStyle = {align: i === 0 ? "left" : "right"};
    return out;
  });
  return Array.isArray(y) ? list : list[0];
}
function chart(el, option) {
  const c = echarts.init(el, null, {renderer: "canvas"});
  resizer.observe(el);
  // an axis name goes above its axis: a row lower, so it never sits on the legend
  const named = [option.yAxis || []].flat().some((a) => a && a.name);
  c.setOption({
    animation: false,
    grid: {left: 8, right: 12, top: named ? 52 : 36, bottom: 8, containLabel: true},
    tooltip: {trigger: "axis"},
    legend: {top: 0, type: "scroll"},
    ...option,
    ...(option.yAxis ? {yAxis: valueAxes(option.yAxis)} : {}),
  });
  charts.push(c);
  return c;
}
window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
const timeAxis = {type: "time", axisLabel: {hideOverlap: true}};

// Typical volume for each hour: the mean of the same hour on the other days in view, with a
// 95% Poisson band (what the detectors expect, roughly: they also learn weekdays and levels).
function expectedBand(points) {
  const byHour = {};
  for (const p of points) (byHour[new Date(p.at).getUTCHours()] ||= []).push(p.count);
  return points.map((p) => {
    const same = byHour[new Date(p.at).getUTCHours()];
    const others = same.length > 1 ? (same.reduce((a, b) => a + b, 0) - p.count) / (same.length - 1) : p.count;
    const half = 1.96 * Math.sqrt(Math.max(others, 1));
    return [p.at, Math.max(0, others - half), others + half];
  });
}

// -- views -------------------------------------------------------------------------------------
const views = {overview, pr, product, care, alerts: alertsView, search: searchView, reports: reportsView};

async function render() {
  charts.splice(0).forEach((c) => { resizer.unobserve(c.getDom()); c.dispose(); });
  for (const a of document.querySelectorAll("#tabs a")) {
    a.toggleAttribute("aria-current", a.dataset.view === state.view);
    if (a.dataset.view === state.view) a.setAttribute("aria-current", "page");
  }
  $("#project").value = state.project;
  $("#range").value = state.range;
  $("#custom").hidden = state.range !== "custom";
  // Each drawing gets its own box: a slower one still loading (signing in redraws the view)
  // fills a box no longer on the page instead of appending a second copy of the view.
  const main = document.createElement("div");
  $("#view").replaceChildren(main);
  const w = window_();
  say(`${project().label || ""} · ${w.start.toISOString().slice(0, 16).replace("T", " ")} – ${w.end.toISOString().slice(0, 16).replace("T", " ")} UTC`);
  try {
    await (views[state.view] || overview)(main);
  } catch (err) {
    say(String(err.message || err), true);
  }
}

function section(main, title, html = "") {
  const el = document.createElement("section");
  el.className = "card";
  el.innerHTML = `<h2>${esc(title)}</h2>${html}`;
  main.append(el);
  return el;
}
function chartIn(sectionEl, height = 280) {
  const el = document.createElement("div");
  el.className = "chart";
  el.style.height = `${height}px`;
  sectionEl.append(el);
  return el;
}

async function overview(main) {
  const p = project();
  const sov = await api("/api/share-of-voice", {project: p.name, ...span()});
  const own = sov.brands[0] || {};
  const kpis = document.createElement("div");
  kpis.className = "kpis";
  kpis.innerHTML = [
    ["Mentions", fmt.format(own.mentions || 0)],
    ["Share of voice", pct(own.share)],
    ["Net sentiment", net(own.net_sentiment)],
    ["Reach", fmt.format(own.reach || 0)],
    ["Engagement", fmt.format(own.engagement || 0)],
  ].map(([k, v]) => `<div class="kpi"><b>${esc(v)}</b><span>${esc(k)} · ${esc(p.brand)}</span></div>`).join("");
  main.append(kpis);
  const grid = document.createElement("div");
  grid.className = "grid";
  main.append(grid);
  // the table and its pie side by side, two columns wide where two fit: stacked in one
  // column, the table's six columns were cut off at the card's edge
  const totals = section(grid, "Share of voice", `<div class="split"><table aria-label="Share of voice"><tr><th>Brand</th><th>Mentions</th><th>Share</th><th>Net sentiment</th><th>Reach</th><th>Engagement</th></tr>${
    sov.brands.map((b) => `<tr><td>${esc(b.brand)}</td><td>${fmt.format(b.mentions)}</td><td>${pct(b.share)}</td><td class="${b.net_sentiment < 0 ? "neg" : "pos"}">${net(b.net_sentiment)}</td><td title="${fmt.format(b.reach)}">${compact.format(b.reach)}</td><td title="${fmt.format(b.engagement)}">${compact.format(b.engagement)}</td></tr>`).join("")}</table></div>`);
  totals.classList.add("wide");
  chart(chartIn($(".split", totals), 260), {
    tooltip: {trigger: "item"},
    legend: {show: false},
    series: [{type: "pie", radius: ["40%", "70%"], data: sov.brands.map((b, i) => ({name: b.brand, value: b.mentions, itemStyle: {color: PALETTE[i]}}))}],
  });
  const over = section(grid, "Share of voice over time");
  chart(chartIn(over), {
    xAxis: timeAxis,
    yAxis: {type: "value", max: 1, axisLabel: {formatter: (v) => `${v * 100}%`}},
    tooltip: {trigger: "axis", valueFormatter: (v) => pct(v)},
    series: sov.brands.map((b, i) => ({
      name: b.brand, type: "line", stack: "sov", areaStyle: {}, symbol: "none", color: PALETTE[i],
      data: sov.series.map((s) => [s.at, s.share[b.brand] ?? 0]),
    })),
  });
  const vol = section(grid, "Mentions per interval");
  chart(chartIn(vol), {
    xAxis: timeAxis, yAxis: {type: "value"},
    series: sov.brands.map((b, i) => ({name: b.brand, type: "line", symbol: "none", color: PALETTE[i], data: sov.series.map((s) => [s.at, s.mentions[b.brand]])})),
  });
  const trend = await api("/api/trends", {brand: p.brand, ...span()});
  const reach = section(grid, `Reach and engagement · ${p.brand}`);
  chart(chartIn(reach), {
    xAxis: timeAxis,
    yAxis: [{type: "value", name: "reach"}, {type: "value", name: "engagement"}],
    series: [
      {name: "reach", type: "bar", color: "#a5b4fc", data: trend.points.map((x) => [x.at, x.reach])},
      {name: "engagement", type: "line", yAxisIndex: 1, color: "#db2777", symbol: "none", data: trend.points.map((x) => [x.at, x.engagement])},
    ],
  });
}

async function pr(main) {
  const p = project();
  const alerts = await api("/api/alerts", {team: "pr", brand: p.brand, order: "priority", size: 20, latest: true});
  const crisis = section(main, "Crisis alerts");
  crisis.append(...alertList(alerts.alerts.filter((a) => inWindow(a.fired_at)).slice(0, 6), "No PR alerts in this time range."));
  const trend = await api("/api/trends", {brand: p.brand, ...span()});
  const grid = document.createElement("div");
  grid.className = "grid";
  main.append(grid);
  const band = expectedBand(trend.points);
  // each alert from when it fired until it resolved (or the end of the view, while it fires)
  const end = window_().end.toISOString();
  const marks = alerts.alerts.filter((a) => inWindow(a.fired_at))
    .map((a) => a.status === "resolved"
      ? [{xAxis: a.began_at || a.window_start, name: a.kind}, {xAxis: a.fired_at}]
      : [{xAxis: a.fired_at, name: a.kind}, {xAxis: end}]);
  const vol = section(grid, `Volume · ${p.brand}`, '<p class="muted">Band: typical mentions for that hour on the other days in view (95%). Shaded: while an alert fired.</p>');
  chart(chartIn(vol), {
    xAxis: timeAxis, yAxis: {type: "value"},
    legend: {top: 0, data: ["expected band", "mentions"]},
    series: [
      {name: "expected low", type: "line", symbol: "none", lineStyle: {opacity: 0}, stack: "band", data: band.map(([t, lo]) => [t, lo]), tooltip: {show: false}},
      {name: "expected band", type: "line", symbol: "none", lineStyle: {opacity: 0}, stack: "band", color: "#c7d2fe", areaStyle: {color: "#e0e7ff"}, data: band.map(([t, lo, hi]) => [t, hi - lo])},
      {name: "mentions", type: "line", symbol: "none", color: "#4f46e5", data: trend.points.map((x) => [x.at, x.count]), markArea: {itemStyle: {color: "rgba(220,38,38,0.08)"}, label: {show: false}, data: marks}},
    ],
  });
  const sent = section(grid, `Sentiment · ${p.brand}`);
  chart(chartIn(sent), {
    xAxis: timeAxis, yAxis: [{type: "value"}, {type: "value", max: 1, axisLabel: {formatter: (v) => `${v * 100}%`}}],
    series: [
      ...["negative", "neutral", "positive"].map((k) => ({name: k, type: "bar", stack: "mix", color: COLOURS[k], data: trend.points.map((x) => [x.at, x[k] || 0])})),
      {name: "negative share", type: "line", yAxisIndex: 1, symbol: "none", color: "#7f1d1d", data: trend.points.map((x) => [x.at, x.negative_share])},
    ],
  });
}

function inWindow(at) {
  const w = window_();
  const t = new Date(at);
  return t >= w.start && t <= w.end;
}

async function product(main) {
  const p = project();
  const grid = document.createElement("div");
  grid.className = "grid";
  main.append(grid);
  const topics = await api("/api/topics", {brand: p.brand, ...span()});
  const t = section(grid, `Topics over time · ${p.brand}`);
  chart(chartIn(t), {
    xAxis: timeAxis, yAxis: {type: "value"},
    series: topics.topics.map((name, i) => ({name, type: "bar", stack: "topics", color: PALETTE[i % PALETTE.length], data: topics.series.map((s) => [s.at, s.topics[name]])})),
  });
  const w = window_();
  const emerging = await api("/api/trends/emerging", {brand: p.brand, end: w.end.toISOString(), window: "24h", background: "7d"});
  const e = section(grid, "Emerging now", `<p class="muted">Last 24 h against the 7 days before (${fmt.format(emerging.mentions)} vs ${fmt.format(emerging.background_mentions)} mentions).</p>`);
  const rows = [
    ...emerging.topics.map((x) => ({label: `topic: ${x.topic}`, detail: `${x.mentions} now, ${x.background} before · ×${x.lift}`, examples: x.examples, q: "", topic: x.topic})),
    ...emerging.terms.map((x) => ({label: x.term, detail: `${x.mentions} now, ${x.background} before · ×${x.lift}`, examples: x.examples, q: x.term})),
  ];
  e.insertAdjacentHTML("beforeend", rows.length ? `<table>${rows.map((r) => `<tr><td><a href="?${new URLSearchParams({...state, view: "search", q: r.q || `topics:"${r.topic}"`})}">${esc(r.label)}</a><div class="muted">${esc(r.detail)}</div></td><td>${r.examples.map((x) => `<div>“${esc(x.text)}” <span class="muted">@${esc(x.author?.handle)}</span></div>`).join("")}</td></tr>`).join("")}</table>` : '<p class="muted">Nothing is rising against its background.</p>');
  const alerts = await api("/api/alerts", {team: "product", brand: p.brand, size: 10, latest: true});
  const a = section(main, "Product alerts (trending topics, new terms)");
  a.append(...alertList(alerts.alerts, "No product alerts."));
  await searchView(main, {brand: p.brand});
}

async function care(main) {
  const w = span();
  const data = await api("/api/care/response-times", {start: w.start, end: w.end});
  const grid = document.createElement("div");
  grid.className = "grid";
  main.append(grid);
  const sla = Object.fromEntries(data.sla.map((s) => [s.metric, s.within_s / 60]));
  const last = data.points[data.points.length - 1] || {};
  const kpis = document.createElement("div");
  kpis.className = "kpis";
  kpis.innerHTML = [
    ["First reply median", last.first_response_median_s == null ? "—" : `${fmt.format(last.first_response_median_s / 60)} min`],
    ["Response rate", pct(last.response_rate)],
    ["Backlog", fmt.format(last.backlog ?? 0)],
    ["SLA first reply", sla.first_response ? `${fmt.format(sla.first_response)} min` : "—"],
    ["CSAT (last 24 h)", last.csat_mean == null ? "—" : `${fmt.format(last.csat_mean)} / 5 (${last.csat_responses})`],
    ["Mood after a reply", net(last.sentiment_shift_mean)],
  ].map(([k, v]) => `<div class="kpi"><b>${esc(v)}</b><span>${esc(k)}</span></div>`).join("");
  main.prepend(kpis);
  const minutes = (f) => data.points.map((p) => [p.at, p[f] == null ? null : p[f] / 60]);
  const rt = section(grid, "Response times against SLA (minutes, business time)");
  chart(chartIn(rt), {
    xAxis: timeAxis, yAxis: {type: "value", name: "min"},
    series: [
      {name: "first reply median", type: "line", symbol: "none", color: "#4f46e5", data: minutes("first_response_median_s"),
       markLine: sla.first_response ? {symbol: "none", lineStyle: {color: "#dc2626"}, data: [{yAxis: sla.first_response, name: "SLA"}], label: {formatter: "SLA", position: "insideEndTop"}} : undefined},
      {name: "first reply p90", type: "line", symbol: "none", color: "#a5b4fc", data: minutes("first_response_p90_s")},
      {name: "reply wait median", type: "line", symbol: "none", color: "#0891b2", data: minutes("reply_wait_median_s")},
    ],
  });
  const bl = section(grid, "Backlog and response rate");
  chart(chartIn(bl), {
    xAxis: timeAxis, yAxis: [{type: "value", name: "waiting"}, {type: "value", max: 1, axisLabel: {formatter: (v) => `${v * 100}%`}}],
    series: [
      {name: "backlog", type: "bar", color: "#f59e0b", data: data.points.map((p) => [p.at, p.backlog])},
      {name: "response rate", type: "line", yAxisIndex: 1, symbol: "none", color: "#16a34a", data: data.points.map((p) => [p.at, p.response_rate])},
    ],
  });
  const alerts = await api("/api/alerts", {team: "care", order: "priority", size: 20, latest: true});
  const a = section(main, "SLA breaches");
  a.append(...alertList(alerts.alerts.filter((x) => inWindow(x.fired_at)), "No breaches in this time range."));
}

async function alertsView(main) {
  const bar = document.createElement("form");
  bar.className = "searchbar";
  bar.innerHTML = `<label>Team <select name="team">${["", "pr", "product", "care"].map((t) => `<option value="${t}" ${t === state.team ? "selected" : ""}>${t || "all"}</option>`).join("")}</select></label>`;
  bar.addEventListener("change", (e) => go({team: e.target.value}));
  main.append(bar);
  const alerts = await api("/api/alerts", {team: state.team, order: "priority", size: 100, latest: true});
  const list = section(main, `Alerts (${alerts.alerts.length})`);
  list.append(...alertList(alerts.alerts, "No alerts."));
  const silences = await api("/api/silences");
  const s = section(main, "Active silences");
  s.insertAdjacentHTML("beforeend", silences.silences.length
    ? `<table><tr><th>Matchers</th><th>Until</th><th>By</th><th>Why</th><th></th></tr>${silences.silences.map((x) => `<tr><td>${x.matchers.map(esc).join(" ")}</td><td>${esc(x.ends_at.slice(0, 16).replace("T", " "))}</td><td>${esc(x.created_by)}</td><td>${esc(x.comment)}</td><td><button class="small secondary" data-expire="${esc(x.id)}">Expire</button></td></tr>`).join("")}</table>`
    : '<p class="muted">None.</p>');
  s.addEventListener("click", async (e) => {
    const id = e.target.dataset.expire;
    if (!id) return;
    try {
      await api(`/api/silences/${encodeURIComponent(id)}`, {comment: "expired from the dashboard"}, {method: "DELETE"});
      say(`Silence ${id} expired.`);
      render();
    } catch (err) { say(String(err.message), true); }
  });
}

function alertList(alerts, empty) {
  if (!alerts.length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = empty;
    return [p];
  }
  return alerts.map((a) => {
    const el = document.createElement("article");
    const ev = a.evidence || {};
    el.className = `alert ${a.severity}-${a.status}`;
    const posts = (ev.top_posts || []).slice(0, 3).map((p) => `<blockquote>${esc(p.text)} <span class="muted">— @${esc(p.author)} (${fmt.format(p.followers || 0)} followers)</span></blockquote>`).join("");
    const terms = (ev.top_terms || []).slice(0, 6).map((t) => `<span class="pill">${esc(t[0])} · ${esc(t[1])}</span>`).join("");
    const acked = a.acknowledged ? `<span class="pill resolved">acknowledged by ${esc(a.acknowledged.by)}</span>` : "";
    const at = (t) => esc((t || "").slice(0, 16).replace("T", " "));
    const when = a.status === "resolved"
      ? `${a.began_at ? `fired ${at(a.began_at)} · ` : ""}resolved ${at(a.fired_at)} UTC`
      : `fired ${at(a.fired_at)} UTC`;
    el.innerHTML = `<h3><span class="pill ${a.status === "resolved" ? "resolved" : a.severity}">${esc(a.status)} · ${esc(a.severity)}</span> ${esc(a.kind)} · ${esc(a.brand)} ${acked} <span class="muted">${when}</span></h3>
      <div>${esc(a.summary)}</div>
      <div class="muted">${esc((a.window_start || "").slice(0, 16).replace("T", " "))} – ${esc((a.window_end || "").slice(11, 16))} UTC · observed ${esc(fmt.format(ev.observed ?? 0))} vs expected ${esc(fmt.format(ev.expected ?? 0))} ${esc(ev.unit || "")}</div>
      ${posts}${terms ? `<div>${terms}</div>` : ""}
      <div class="actions">${ev.search_query ? `<a href="?${new URLSearchParams({...state, view: "search", q: ev.search_query})}">Mentions behind it</a>` : ""}
      ${a.status === "firing" && !a.acknowledged ? `<button class="small" data-ack="${esc(a.id)}">Acknowledge</button>` : ""}
      ${a.status === "firing" ? `<button class="small secondary" data-silence="brand=${esc(a.brand)}&#10;kind=${esc(a.kind)}">Silence…</button>` : ""}</div>`;
    el.addEventListener("click", async (e) => {
      if (e.target.dataset.ack) {
        const why = await ask("Acknowledge", [["comment", "Why / who is on it", ""]]);
        if (!why) return;
        try {
          await api(`/api/alerts/${encodeURIComponent(e.target.dataset.ack)}/ack`, {}, post(why));
          say(`Acknowledged ${a.kind} for ${a.brand}.`);
          render();
        } catch (err) { say(String(err.message), true); }
      } else if (e.target.dataset.silence) {
        const form = await ask("Silence", [["matchers", "Matchers (one per line)", e.target.dataset.silence, true], ["duration", "For (30m, 2h, 1d)", "2h"], ["comment", "Why", ""]]);
        if (!form) return;
        try {
          const made = await api("/api/silences", {}, post({...form, matchers: form.matchers.split("\n").map((s) => s.trim()).filter(Boolean)}));
          say(`Silence ${made.id} created.`);
        } catch (err) { say(String(err.message), true); }
      }
    });
    return el;
  });
}

function post(body) {
  return {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)};
}

// A small modal form; resolves to the values, or null when cancelled.
function ask(title, fields) {
  const dialog = $("#dialog");
  const form = $("#dialog-form");
  form.innerHTML = `<h2>${esc(title)}</h2>${fields.map(([name, label, value, multi]) => `<label for="f-${name}">${esc(label)}</label>${multi ? `<textarea id="f-${name}" name="${name}" rows="3">${esc(value)}</textarea>` : `<input id="f-${name}" name="${name}" value="${esc(value)}">`}`).join("")}
    <p class="actions"><button value="ok">${esc(title)}</button><button value="cancel" class="secondary" formnovalidate>Cancel</button></p>`;
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? Object.fromEntries(new FormData(form)) : null);
    }, {once: true});
  });
}

async function searchView(main, fixed = {}) {
  const box = section(main, "Mentions");
  const form = document.createElement("form");
  form.className = "searchbar";
  form.setAttribute("role", "search");
  form.innerHTML = `<input type="search" name="q" aria-label="Search mentions" placeholder='delay* AND NOT refund' value="${esc(state.q)}">
    <select name="sort" aria-label="Sort"><option value="time">newest</option><option value="reach">reach</option><option value="engagement">engagement</option></select>
    <select name="sentiment" aria-label="Sentiment"><option value="">any sentiment</option><option>negative</option><option>neutral</option><option>positive</option></select>
    <button>Search</button>`;
  box.append(form);
  const results = document.createElement("div");
  results.className = "results";
  results.setAttribute("aria-live", "polite");
  box.append(results);
  const more = document.createElement("button");
  more.className = "secondary";
  more.textContent = "Load more";
  more.hidden = true;
  box.append(more);
  let cursor = null;
  const w = span();
  const brand = fixed.brand || (state.view === "search" ? project().brand : "");
  // the topics a correction may name (the worker's taxonomy); without them, no topic editor
  taxonomy = await api("/api/taxonomy").then((t) => t.topics.map((x) => x.name)).catch(() => []);
  // Only the newest search may fill the list: an older answer arriving late (a search typed
  // while the previous one was in flight) would otherwise replace the newer results.
  let latest = 0;
  async function load(reset) {
    const mine = ++latest;
    results.setAttribute("aria-busy", "true");
    try {
      const f = Object.fromEntries(new FormData(form));
      const page = await api("/api/mentions", {q: f.q, sort: f.sort, sentiment: f.sentiment, brand, start: w.start, end: w.end, size: 20, cursor: reset ? null : cursor});
      if (mine !== latest) return;
      if (reset) results.innerHTML = `<p class="muted">${fmt.format(page.total)} mentions</p>`;
      results.insertAdjacentHTML("beforeend", page.hits.map(hitHtml).join(""));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } finally {
      if (mine === latest) results.setAttribute("aria-busy", "false");
    }
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    state.q = new FormData(form).get("q");
    history.replaceState(null, "", `?${new URLSearchParams(Object.entries(state).filter(([, v]) => v))}`);
    load(true).catch((err) => say(String(err.message), true));
  });
  more.addEventListener("click", () => load(false).catch((err) => say(String(err.message), true)));
  // a person's correction: applied at once (search, charts) and learned by `earful models adapt`
  results.addEventListener("change", async (e) => {
    const select = e.target.closest("select[data-label]");
    if (!select || !select.value) return;
    try {
      const id = select.dataset.label;
      const done = await api(`/api/mentions/${encodeURIComponent(id)}/label`, {}, post({sentiment: select.value, source: "dashboard"}));
      corrections.set(id, {...done.mention, id});
      // the list may have been redrawn while the correction was on its way: update it wherever it is now
      for (const hit of document.querySelectorAll(`.hit[data-id="${CSS.escape(id)}"]`)) hit.outerHTML = hitHtml(shown.get(id) || {...done.mention, id});
      say(`Corrected to ${select.value}; the model learns from it at its next adapt.`);
    } catch (err) {
      select.value = "";
      say(String(err.message).startsWith("401") ? "Sign in with an operator token to correct sentiment." : String(err.message), true);
    }
  });
  // a topic correction: the mention's topics become the ticked ones (tagger learns at adapt)
  results.addEventListener("submit", async (e) => {
    const edit = e.target.closest("form[data-topics]");
    if (!edit) return;
    e.preventDefault();
    const id = edit.dataset.topics;
    const topics = new FormData(edit).getAll("topic");
    try {
      const done = await api(`/api/mentions/${encodeURIComponent(id)}/label`, {}, post({topics, source: "dashboard"}));
      corrections.set(id, {...done.mention, id});
      for (const hit of document.querySelectorAll(`.hit[data-id="${CSS.escape(id)}"]`)) hit.outerHTML = hitHtml(shown.get(id) || {...done.mention, id});
      say(`Topics corrected to ${topics.length ? topics.join(", ") : "none"}; the tagger learns from it at its next adapt.`);
    } catch (err) {
      say(String(err.message).startsWith("401") ? "Sign in with an operator token to correct topics." : String(err.message), true);
    }
  });
  await load(true);
  if (state.view === "search") await modelCard(main);
}

// Corrections made on this page: a search answered before the index saw one still shows it.
const corrections = new Map();
let taxonomy = [];
const shown = new Map(); // each mention as its search found it, with the highlighted text

function hitHtml(found) {
  shown.set(found.id, found);
  const mine = corrections.get(found.id);
  const h = mine && !(found.corrected?.at > mine.corrected.at) ? {...mine, highlight: found.highlight} : found;
  const label = h.sentiment?.label;
  const cls = label === "negative" ? "neg" : label === "positive" ? "pos" : "neu";
  // what the model said, for each field a person corrected (a field never corrected has no model_* value)
  const said = [h.model_sentiment && `sentiment ${h.model_sentiment.label}`, h.model_topics && `topics ${h.model_topics.join(", ") || "none"}`].filter(Boolean).join("; ");
  const corrected = h.corrected ? ` <span class="pill" title="model said: ${esc(said || "?")}">corrected by ${esc(h.corrected.by)}</span>` : "";
  const choices = ["negative", "neutral", "positive"].filter((x) => x !== label).map((x) => `<option value="${x}">${x}</option>`).join("");
  return `<div class="hit" data-id="${esc(h.id)}"><div>${h.highlight || esc(h.text)}</div>
      <div class="muted"><span class="${cls}">${esc(label)}</span>${corrected} · @${esc(h.author?.handle)} · ${esc(h.created_at.slice(0, 16).replace("T", " "))} · reach ${fmt.format(h.reach || 0)} · ${esc((h.brands || []).join(", "))} ${(h.topics || []).map((t) => `<span class="pill">${esc(t)}</span>`).join("")}
      <select data-label="${esc(h.id)}" aria-label="Correct the sentiment of this mention" class="correct"><option value="">correct…</option>${choices}</select>${topicEditor(h)}</div></div>`;
}

function topicEditor(h) {
  if (!taxonomy.length) return "";
  const mine = new Set(h.topics || []);
  return ` <details class="topics-edit"><summary>topics…</summary><form data-topics="${esc(h.id)}" aria-label="Correct the topics of this mention">${taxonomy.map((t) => `<label><input type="checkbox" name="topic" value="${esc(t)}" ${mine.has(t) ? "checked" : ""}> ${esc(t)}</label>`).join("")}<button>Save topics</button></form></details>`;
}

// Per language: how many corrections exist and how the model in use scores on held-out ones.
async function modelCard(main) {
  const m = await api("/api/models");
  const box = section(main, `Sentiment model: ${m.version === "base" ? "as shipped" : `version ${m.version}`}`,
    '<p class="muted">Corrections teach the model: <code>earful models adapt</code> (also on the worker\'s schedule) trains a head per language with enough of them, and the topics people corrected, and publishes a new version only where it is not worse on held-out corrections. Languages without a head of their own are moved onto English from their own mentions, and until they have enough of them by a starter shift learned from translated text (no labels needed).</p>');
  const t = m.topics || {};
  const f1 = (s) => (s && s.micro_f1 != null ? `${Math.round(s.micro_f1 * 100)}%` : "–");
  if (t.corrections) {
    box.insertAdjacentHTML("beforeend", `<p>Topics: ${fmt.format(t.corrections)} topic corrections${t.held_out != null ? `, ${fmt.format(t.held_out)} held out` : ""}. ${t.adopted ? `Adapted (${esc((t.topics || []).join(", "))}): tag F1 on held-out corrections ${f1(t.after)} <span class="muted">(was ${f1(t.before)})</span>` : `<span class="muted">Zero-shot${t.why ? `: ${esc(t.why)}` : ""}</span>`}</p>`);
  }
  if (!m.languages.length) {
    box.insertAdjacentHTML("beforeend", '<p class="muted">No corrections yet: correct a mention above (operator sign-in) or import a spreadsheet with <code>earful labels import</code>.</p>');
    return;
  }
  const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)}%`);
  box.insertAdjacentHTML("beforeend", `<table aria-label="Sentiment model per language"><tr><th>Language</th><th>Corrections</th><th>Held out</th><th>Accuracy on held-out corrections</th><th></th></tr>${m.languages.map((l) => `<tr><td>${esc(l.lang)}</td><td>${fmt.format(l.corrections)}</td><td>${fmt.format(l.held_out)}</td><td>${pct(l.accuracy)}${l.adapted && l.accuracy_before != null ? ` <span class="muted">(was ${pct(l.accuracy_before)})</span>` : ""}</td><td class="muted">${esc(l.adapted ? "adapted" : l.shift ? (l.shift.kept ? "moved onto English (the shift of an earlier version)" : `moved onto English (from ${fmt.format(l.shift.texts)} mentions; ${pct(l.shift.changed)} of labels changed)`) : l.starter ? "moved onto English by the starter shift (from parallel text, until it has enough mentions for its own)" : l.note)}</td></tr>`).join("")}</table>`);
}

async function reportsView(main) {
  const body = await api("/api/reports");
  const list = section(main, `Reports (${body.reports.length})`, '<p class="muted">Rendered on their schedule or with <code>earful reports render NAME --period 2026-W47</code>.</p>');
  if (!body.reports.length) {
    list.insertAdjacentHTML("beforeend", '<p class="muted">No reports rendered yet.</p>');
    return;
  }
  list.insertAdjacentHTML("beforeend", `<table aria-label="Reports"><tr><th>Report</th><th>Period</th><th>Summary</th><th></th></tr>${body.reports.map((r) => `<tr><td><b>${esc(r.title)}</b><div class="muted">${esc(r.name)} · ${esc(r.language)}</div></td><td>${esc(r.period_text)}<div class="muted">${esc(r.period)}</div></td><td>${r.narrative.map((s) => `<div>${esc(s)}</div>`).join("")}</td><td><a href="${esc(r.html)}" target="_blank" rel="noopener">Open</a> · <a href="${esc(r.pdf)}">PDF</a></td></tr>`).join("")}</table>`);
}

// -- chrome ------------------------------------------------------------------------------------
$("#tabs").addEventListener("click", (e) => {
  const view = e.target.dataset?.view;
  if (!view) return;
  e.preventDefault();
  go({view});
});
$("#pickers").addEventListener("change", (e) => {
  if (e.target.id === "project") go({project: e.target.value});
  if (e.target.id === "range") {
    if (e.target.value === "custom") {
      $("#custom").hidden = false;
      const w = window_();
      $("#from").value = w.start.toISOString().slice(0, 16);
      $("#to").value = w.end.toISOString().slice(0, 16);
      $("#from").focus();
    } else {
      go({range: e.target.value, from: "", to: ""});
    }
  }
});
$("#pickers").addEventListener("submit", (e) => {
  e.preventDefault();
  go({range: "custom", from: $("#from").value, to: $("#to").value});
});

async function whoami() {
  try {
    const me = await api("/api/whoami");
    $("#signin").textContent = me.name === "anonymous" ? "Sign in" : `${me.name} (${me.role})`;
  } catch {
    $("#signin").textContent = "Sign in";
  }
}
$("#signin").addEventListener("click", async () => {
  const form = await ask("Sign in", [["token", "API token (kept in this browser)", token()]]);
  if (!form) return;
  if (form.token) {
    localStorage.setItem("earful_token", form.token);
    document.cookie = `earful_token=${encodeURIComponent(form.token)}; path=/; SameSite=Strict`;
  } else {
    localStorage.removeItem("earful_token");
    document.cookie = "earful_token=; path=/; max-age=0";
  }
  await whoami();
  render();
});

whoami();
render();
