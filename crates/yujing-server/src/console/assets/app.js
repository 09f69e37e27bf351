// The command centre's page. Plain script, no framework and no build step: it reads the board, the map and the
// evidence from yujing's API, follows the event stream, and issues work-order commands with the session's CSRF
// token. Text from the server is only ever set as text, never as HTML.
"use strict";

const LEVEL = { red: "红", orange: "橙" };
const LEVEL_FULL = { red: "红色预警", orange: "橙色预警" };
const FEED = {
  hotline12345: "12345热线", grid: "网格平台", police: "110警情",
  screening: "排查台账", justice: "调解平台", exchange: "数据共享交换",
};
const STATUS = {
  raised: "待研判", triaged: "已研判", dispatched: "已派发", accepted: "已签收", in_progress: "处置中",
  resolved: "已化解", verifying: "回访核实", closed: "已办结", parked: "长期挂账", dismissed: "已排除",
  merged: "已合并",
};
const ACTION = {
  triage: "研判", dispatch: "派发", accept: "签收", start: "开始处置", return: "退回", escalate: "提级",
  resolve: "化解上报", verify: "回访", close: "结案", reopen: "重启", resume: "恢复办理", dismiss: "排除",
};
const CHANGE = {
  raised: "预警生成工单", triaged: "研判", dispatched: "派发", accepted: "签收", started: "开始处置",
  returned: "退回", escalated: "提级", level_raised: "升级为红色", resolved: "化解上报", verified: "回访",
  closed: "结案", reopened: "重启", parked: "挂账", resumed: "恢复办理", dismissed: "排除", merged: "合并",
  absorbed: "并入", supervised: "督办",
};
const ORDER_EVENTS = Object.keys(CHANGE);
const FILTERS = ["town", "level", "type", "state"];

const state = { who: null, csrf: "", map: null, board: null, source: null, refreshTimer: null, openWarning: null };

const $ = (id) => document.getElementById(id);

// Builds an element: attributes (on* are listeners), then children (strings become text).
function el(tag, attrs, ...children) {
  const svg = ["svg", "g", "path", "circle", "text", "rect", "line", "title"].includes(tag);
  const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function time(iso) {
  if (!iso) return "-";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  // Shown in China Standard Time whatever the browser's zone.
  const t = new Date(d.getTime() + 8 * 3600 * 1000);
  return `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}`;
}

function badge(level) {
  return el("span", { class: `badge ${level}`, title: LEVEL_FULL[level] }, LEVEL[level] || level);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json" }, method: options.method || "GET" };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers["Content-Type"] = "application/json";
  }
  if (init.method !== "GET" && state.csrf) init.headers["X-CSRF-Token"] = state.csrf;
  const response = await fetch(path, init);
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (response.status === 401 && path !== "/api/v1/session") showSignIn();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// ---- signing in -------------------------------------------------------------------------------------------

function showSignIn(message) {
  state.who = null;
  state.csrf = "";
  state.board = null;
  if (state.source) state.source.close();
  state.source = null;
  // Nothing of the last user's view stays behind for the next one.
  for (const id of ["map", "unlocated", "board", "trend", "detail-body"]) $(id).replaceChildren();
  for (const id of ["warnings", "towns"]) $(id).tBodies[0].replaceChildren();
  for (const select of $("filters").querySelectorAll("select")) {
    if (select.name !== "level") while (select.options.length > 1) select.remove(1);
  }
  if ($("detail").open) $("detail").close();
  $("console").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  setLive("off", "未连接");
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("token").focus();
}

function signedIn(who) {
  state.who = who;
  state.csrf = who.csrf;
  const role = { centre: "指挥中心", town_handler: "镇街处置", viewer: "只读" }[who.role] || who.role;
  $("who").textContent = `${who.unit} · ${who.name}（${role}）`;
  $("sign-out").hidden = false;
  $("sign-in").hidden = true;
  $("console").hidden = false;
  load();
}

async function start() {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("token");
    try {
      const who = await api("/api/v1/session", { method: "POST", body: { token: input.value } });
      input.value = "";
      signedIn(who);
    } catch (error) {
      input.value = "";
      $("sign-in-error").textContent = error.status === 401 ? "令牌无效，请重试。" : `登录失败：${error.message}`;
    }
  });
  $("sign-out").addEventListener("click", async () => {
    try { await api("/api/v1/session", { method: "DELETE" }); } catch (_) { /* signed out either way */ }
    showSignIn("已退出。");
  });
  $("detail-close").addEventListener("click", () => $("detail").close());
  $("detail").addEventListener("close", () => {
    state.openWarning = null;
    setParam("w", "");
  });
  for (const name of FILTERS) {
    $("filters").elements[name].addEventListener("change", (event) => {
      setParam(name, event.target.value);
      refresh();
    });
  }
  window.addEventListener("popstate", () => { readFilters(); refresh(); });
  try {
    signedIn(await api("/api/v1/session"));
  } catch (_) {
    showSignIn();
  }
}

// ---- the URL holds the view -------------------------------------------------------------------------------

function params() { return new URLSearchParams(location.search); }

function setParam(name, value) {
  const p = params();
  if (value) p.set(name, value); else p.delete(name);
  const query = p.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

function readFilters() {
  const p = params();
  for (const name of FILTERS) $("filters").elements[name].value = p.get(name) || "";
}

function boardQuery() {
  const p = params();
  const q = new URLSearchParams();
  for (const name of FILTERS) if (p.get(name)) q.set(name, p.get(name));
  const query = q.toString();
  return query ? `?${query}` : "";
}

// ---- loading ----------------------------------------------------------------------------------------------

async function load() {
  try {
    state.map = await api("/api/v1/map");
    await refresh();
    readFilters();
    await refresh();
    follow();
    const w = params().get("w");
    if (w) openWarning(w);
  } catch (error) {
    if (error.status !== 401) setLive("off", `加载失败：${error.message}`);
  }
}

async function refresh() {
  if (!state.who) return;
  const board = await api(`/api/v1/board${boardQuery()}`);
  state.board = board;
  fillChoices(board.choices);
  drawMap(board);
  drawWarnings(board);
  drawTowns(board);
  drawTrend(board.trend);
  drawBoard(board.columns);
  $("updated").textContent = `更新于 ${time(new Date().toISOString())}`;
}

// Many events arrive together (an ingest raises a warning and opens an order): one refresh for them all.
function refreshSoon() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(async () => {
    try {
      await refresh();
      if (state.openWarning) await openWarning(state.openWarning, true);
    } catch (_) { /* the next event or the periodic refresh tries again */ }
  }, 250);
}

// ---- live -------------------------------------------------------------------------------------------------

function setLive(kind, text) {
  const live = $("live");
  live.className = `live ${kind}`;
  live.textContent = text;
}

function follow() {
  if (state.source) state.source.close();
  // The stream starts at now: the board already holds the past. EventSource resumes after a drop with
  // Last-Event-ID by itself; a refused stream (a restart, too many streams) is opened again here.
  const source = new EventSource("/api/v1/events");
  state.source = source;
  source.onopen = () => { setLive("on", "● 实时：已连接"); refreshSoon(); };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      setLive("off", "○ 连接中断，5 秒后重连");
      setTimeout(() => { if (state.source === source && state.who) follow(); }, 5000);
    } else {
      setLive("retry", "◌ 重连中…");
    }
  };
  const names = ["warning.orange", "warning.red", ...ORDER_EVENTS.map((e) => `work_order.${e}`)];
  for (const name of names) source.addEventListener(name, refreshSoon);
}

// Deadlines pass without events: look again every minute.
setInterval(() => { if (state.who && !document.hidden) refreshSoon(); }, 60000);

// ---- panels -----------------------------------------------------------------------------------------------

function fillChoices(choices) {
  const form = $("filters");
  const fill = (select, values) => {
    if (select.options.length > 1) return;
    for (const [value, label] of values) select.append(el("option", { value }, label));
  };
  fill(form.elements.town, choices.towns.map(([, name]) => [name, name]));
  fill(form.elements.type, choices.types.map((t) => [t, t]));
  fill(form.elements.state, choices.states.map((s) => [s, STATUS[s] || s]));
}

function activate(node, action) {
  node.addEventListener("click", action);
  node.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); action(); }
  });
  return node;
}

function drawMap(board) {
  const svg = $("map");
  svg.replaceChildren();
  if (!state.map) return;
  svg.setAttribute("viewBox", state.map.view_box);
  svg.append(el("path", { id: "outline", class: "outline", d: state.map.outline, "fill-rule": "evenodd" }));
  for (const p of board.points) {
    const r = 10 + 4 * Math.sqrt(p.occurrences);
    const label = `${LEVEL_FULL[p.level]}：${p.label}，${p.occurrences} 次`;
    const point = el("g", {
      class: `point ${p.level}`, tabindex: 0, role: "button", "aria-label": label,
      "data-warning": p.warning_id, "data-inside": p.inside,
      transform: `translate(${p.x} ${p.y})`,
    },
    el("title", {}, label),
    el("circle", { r }),
    el("text", { "text-anchor": "middle", dy: "0.35em" }, LEVEL[p.level]));
    svg.append(activate(point, () => openWarning(p.warning_id)));
  }
  const list = $("unlocated");
  list.replaceChildren();
  const towns = board.towns.filter((t) => t.unlocated > 0);
  if (!towns.length) list.append(el("li", { class: "muted" }, "无"));
  for (const t of towns) list.append(el("li", {}, `${t.town_name}：${t.unlocated} 处`));
}

function drawWarnings(board) {
  $("warnings-count").textContent = board.warnings_total > board.warnings.length
    ? `共 ${board.warnings_total} 条，显示最新 ${board.warnings.length} 条` : `共 ${board.warnings_total} 条`;
  const body = $("warnings").tBodies[0];
  body.replaceChildren();
  if (!board.warnings.length) body.append(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "没有符合条件的预警")));
  for (const w of board.warnings) {
    const row = el("tr", { tabindex: 0, class: w.open ? "" : "closed", "data-warning": w.warning_id },
      el("td", {}, badge(w.level)),
      el("td", {}, w.town_name || w.town_code),
      el("td", {}, w.dispute_type),
      el("td", {}, w.place || "-"),
      el("td", { class: "num" }, w.occurrences),
      el("td", {}, time(w.first_report)),
      el("td", {}, time(w.last_report)),
      el("td", {}, w.order_status ? STATUS[w.order_status] || w.order_status : "-"));
    body.append(activate(row, () => openWarning(w.warning_id)));
  }
}

function drawTowns(board) {
  const body = $("towns").tBodies[0];
  body.replaceChildren();
  const rows = board.towns.filter((t) => t.open_orange || t.open_red || t.overdue || t.escalated);
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "各镇街暂无未办结预警")));
  for (const t of rows) {
    body.append(el("tr", {},
      el("td", {}, t.town_name),
      el("td", { class: "num" }, t.open_orange),
      el("td", { class: "num" }, t.open_red),
      el("td", { class: "num" }, t.unlocated),
      el("td", { class: "num" }, t.overdue),
      el("td", { class: "num" }, t.escalated)));
  }
}

function drawTrend(trend) {
  const svg = $("trend");
  svg.replaceChildren();
  const width = 600, height = 140, base = 120;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const max = Math.max(1, ...trend.days.map((d) => d.orange + d.red));
  const step = width / trend.days.length;
  let total = 0;
  trend.days.forEach((d, i) => {
    total += d.orange + d.red;
    const scale = (n) => (n / max) * (base - 10);
    const x = i * step + 2, w = step - 4;
    const tip = `${d.day}：红色 ${d.red}，橙色 ${d.orange}`;
    const g = el("g", {}, el("title", {}, tip));
    if (d.orange) g.append(el("rect", { class: "orange", x, width: w, y: base - scale(d.orange), height: scale(d.orange) }));
    if (d.red) g.append(el("rect", { class: "red", x, width: w, y: base - scale(d.orange) - scale(d.red), height: scale(d.red) }));
    g.append(el("rect", { class: "hit", x, width: w, y: 0, height: base }));
    svg.append(g);
  });
  svg.append(el("line", { x1: 0, x2: width, y1: base, y2: base, class: "axis" }));
  svg.append(el("text", { x: 0, y: height - 4, class: "tick" }, trend.from));
  svg.append(el("text", { x: width, y: height - 4, class: "tick", "text-anchor": "end" }, trend.to));
  svg.append(el("text", { x: 4, y: 14, class: "tick" }, `最多 ${max} 条/天`));
  svg.setAttribute("aria-label", `${trend.from} 至 ${trend.to} 共 ${total} 条预警`);
  $("trend-range").textContent = `${trend.from} 至 ${trend.to}，共 ${total} 条`;
}

function drawBoard(columns) {
  const board = $("board");
  board.replaceChildren();
  for (const column of columns) {
    if (!column.total && ["dismissed", "merged", "parked"].includes(column.status)) continue;
    const list = el("ul", {});
    for (const o of column.orders) {
      const cardText = o.card === "red" ? "红牌" : o.card === "yellow" ? "黄牌" : null;
      const item = el("li", {},
        el("button", { type: "button", class: `order ${o.overdue ? "overdue" : ""}`, "data-order": o.order_id },
          badge(o.level), " ", `${o.town} ${o.place || ""} ${o.dispute_type}`,
          cardText && el("span", { class: `card ${o.card}` }, cardText),
          o.overdue && !cardText && el("span", { class: "card yellow" }, "超期"),
          o.escalation_level > 0 && el("span", { class: "tag" }, "提级"),
          o.unit && el("span", { class: "muted unit" }, o.unit),
          o.due && el("span", { class: "muted unit" }, `时限 ${time(o.due)}`)));
      item.firstChild.addEventListener("click", () => o.warning_id ? openWarning(o.warning_id) : openOrder(o.order_id));
      list.append(item);
    }
    if (column.total > column.orders.length) list.append(el("li", { class: "muted" }, `另有 ${column.total - column.orders.length} 件`));
    board.append(el("section", { class: "column", "data-status": column.status },
      el("h3", {}, `${STATUS[column.status] || column.status} `, el("span", { class: "muted" }, `(${column.total})`)),
      list));
  }
}

// ---- drill-down -------------------------------------------------------------------------------------------

async function openWarning(warningId, quiet) {
  let answer;
  try {
    answer = await api(`/api/v1/warnings/${encodeURIComponent(warningId)}`);
  } catch (error) {
    if (!quiet) showDetail(el("p", { class: "error" }, `无法打开预警：${error.message}`));
    return;
  }
  const w = answer.warning;
  state.openWarning = warningId;
  setParam("w", warningId);
  let cluster = null;
  try { cluster = await api(`/api/v1/clusters/${encodeURIComponent(w.cluster_id)}`); } catch (_) { /* shown without texts */ }
  const clues = new Map((cluster ? cluster.clues : []).map((c) => [c.clue_id, c]));
  const s = w.subject;
  const parts = [
    el("p", { class: "summary" }, badge(w.level), ` ${LEVEL_FULL[w.level]} · ${s.town_name || s.town_code} ${s.place || ""} ${s.dispute_type}`),
    el("dl", { class: "facts" },
      el("dt", {}, "触发规则"), el("dd", {}, `${w.rule}：${w.window_days} 天内 ${w.occurrences} 次`),
      el("dt", {}, "来源渠道"), el("dd", {}, w.feeds.map((f) => FEED[f] || f).join("、")),
      el("dt", {}, "反映人数"), el("dd", {}, w.reporters),
      el("dt", {}, "预警时间"), el("dd", {}, time(w.raised_at)),
      w.risk_flags.length ? [el("dt", {}, "风险"), el("dd", {}, w.risk_flags.join("、"))] : null),
    el("h3", {}, "证据时间线"),
  ];
  const timeline = el("ol", { class: "timeline" });
  for (const e of w.evidence) {
    const clue = clues.get(e.clue_id);
    const text = clue ? (clue.title ? `${clue.title}：` : "") + (clue.description || "") : "";
    const people = clue ? clue.parties.filter((p) => p.kind === "person").map((p) => [p.name_masked, p.phone_masked].filter(Boolean).join(" ")).join("；") : "";
    timeline.append(el("li", {},
      el("div", { class: "when" }, time(e.occurred_at), " · ", FEED[e.feed] || e.feed, el("span", { class: "muted" }, ` ${e.source_id}`)),
      text && el("div", { class: "text" }, text),
      people && el("div", { class: "muted" }, `当事人：${people}`),
      el("div", { class: "why" }, e.matched.length
        ? `关联依据：${e.matched.join("、")}（得分 ${e.score.toFixed(1)}）` : "首条反映")));
  }
  parts.push(timeline);
  const orderId = answer.order_ids[0];
  if (orderId) parts.push(await orderSection(orderId));
  showDetail(...parts);
}

async function openOrder(orderId) {
  showDetail(await orderSection(orderId));
}

async function orderSection(orderId) {
  let answer;
  try {
    answer = await api(`/api/v1/orders/${encodeURIComponent(orderId)}`);
  } catch (error) {
    return el("p", { class: "error" }, `无法读取工单 ${orderId}：${error.message}`);
  }
  const o = answer.order;
  const section = el("section", { class: "order-detail", "data-order": o.order_id, "data-status": o.status });
  const cards = (o.cards || []).map((c) => (c === "red" ? "红牌" : "黄牌")).join("、");
  section.append(
    el("h3", {}, `工单 ${o.order_id}`),
    el("dl", { class: "facts" },
      el("dt", {}, "状态"), el("dd", { id: "order-status" }, STATUS[o.status] || o.status),
      el("dt", {}, "承办单位"), el("dd", {}, o.unit || "-"),
      el("dt", {}, "签收时限"), el("dd", {}, time(o.accept_by)),
      el("dt", {}, "办理时限"), el("dd", {}, time(o.handle_by)),
      el("dt", {}, "督办"), el("dd", {}, cards || "-"),
      el("dt", {}, "提级"), el("dd", {}, o.escalation_level ? `第 ${o.escalation_level} 级${o.lead ? `（${o.lead}牵头）` : ""}` : "-")));
  const history = el("ol", { class: "history" });
  for (const event of answer.history) {
    history.append(el("li", { "data-type": event.type }, `${time(event.at)} · ${CHANGE[event.type] || event.type}`,
      event.actor ? ` · ${event.actor.name}` : "",
      event.reason ? el("span", { class: "muted" }, ` · ${event.reason}`) : null));
  }
  section.append(el("h3", {}, "办理记录"), history);
  const actions = el("div", { class: "actions" });
  for (const name of answer.actions || []) {
    actions.append(el("button", { type: "button", "data-action": name, onclick: () => act(o.order_id, name) }, ACTION[name] || name));
  }
  if ((answer.actions || []).length) section.append(el("h3", {}, "操作"), actions);
  section.append(el("p", { id: "action-result", class: "muted", role: "status" }));
  return section;
}

async function act(orderId, name) {
  const body = { command: name };
  const ask = (question, fallback) => {
    const answer = window.prompt(question, fallback || "");
    if (answer === null) throw new Error("cancelled");
    return answer.trim();
  };
  try {
    if (["return", "dismiss", "reopen"].includes(name)) body.reason = ask(`${ACTION[name]}的理由：`);
    if (name === "resolve") body.summary = ask("化解情况：");
    if (name === "escalate") body.target = { kind: "city_department", department: ask("提级到哪个市级部门？") };
    if (name === "verify") {
      const s = ask("回访结果（满意 / 基本满意 / 不满意）：", "满意");
      body.satisfaction = { "满意": "satisfied", "基本满意": "basically_satisfied", "不满意": "dissatisfied" }[s] || "satisfied";
    }
  } catch (_) {
    return;
  }
  const result = $("action-result");
  try {
    await api(`/api/v1/orders/${encodeURIComponent(orderId)}/commands`, { method: "POST", body });
    if (result) result.textContent = `已${ACTION[name] || name}。`;
    await refresh();
    if (state.openWarning) await openWarning(state.openWarning, true); else await openOrder(orderId);
  } catch (error) {
    if (result) result.textContent = `操作未成功：${error.message}`;
  }
}

function showDetail(...parts) {
  $("detail-body").replaceChildren(...parts);
  const dialog = $("detail");
  if (!dialog.open) dialog.showModal();
}

document.addEventListener("DOMContentLoaded", start);
