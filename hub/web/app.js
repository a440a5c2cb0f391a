// The operator page's shell and its alerts view: sign-in, the views' registry and router (#<view>/<arg> links can be
// shared), active alerts in triage order coloured by severity / QĐ 18/2021 risk colour, counts per severity and
// hazard, acknowledge, public warnings to approve or reject with their delivery counts. The other views (situation,
// map, cameras, nodes) live in their own scripts and use the helpers below (api, el, registerView, loadScript).
// Plain DOM and textContent only: alert text comes from devices and must never be parsed as HTML.
"use strict";

const params = new URLSearchParams(location.search);
// Alarms are pushed (openEvents); this slower poll brings the readings, nodes and anything a lost push missed.
const REFRESH_MS = Math.max(250, Number(params.get("refresh_ms")) || 10000);
const RULES = {
  flood_level: "Lũ (mực nước)",
  heavy_rain: "Mưa lớn",
  dam_safety: "An toàn hồ đập",
  camera_fire: "Camera: cháy / khói",
  forest_fire_danger: "Cấp dự báo cháy rừng",
  disaster_risk: "Rủi ro thiên tai",
  data_freshness: "Mất dữ liệu",
  data_quality: "Chất lượng dữ liệu",
  node_offline: "Thiết bị mất kết nối",
  flood_forecast: "Dự báo lũ",
  reservoir_forecast: "Dự báo mực nước hồ",
};
// The words the public page uses for the same scale (hub/api/public_page.py SEVERITY_VI): one alarm, one name.
const SEVERITY_VI = {
  critical: "Rất nguy hiểm",
  major: "Nguy hiểm",
  minor: "Cảnh báo",
  warning: "Chú ý",
  info: "Thông tin",
};
const SEVERITY_ORDER = ["critical", "major", "minor", "warning", "info"];
// Hazards an officer counts by: several rules watch the same one (a flood is measured and forecast).
const HAZARD_OF = {
  flood_level: "flood",
  flood_forecast: "flood",
  heavy_rain: "rain",
  dam_safety: "dam",
  reservoir_forecast: "dam",
  camera_fire: "fire",
  forest_fire_danger: "fire",
  disaster_risk: "risk",
  data_freshness: "data",
  data_quality: "data",
  node_offline: "data",
};
const HAZARDS = {
  flood: "Lũ",
  rain: "Mưa lớn",
  dam: "Hồ đập",
  fire: "Cháy rừng",
  risk: "Rủi ro thiên tai",
  data: "Chất lượng dữ liệu",
  other: "Khác",
};
const STATES = {
  ACTIVE_UNACK: "Chưa xác nhận",
  ACTIVE_ACK: "Đã xác nhận",
  CLEARED_UNACK: "Đã hết, chưa xác nhận",
  CLEARED_ACK: "Đã hết, đã xác nhận",
};

let me = null;
let timer = null;
// Wall display (?wall=1): no controls, large type; it refreshes itself like every view.
const WALL = params.get("wall") === "1";

// Views by name: { refresh(section, arg), show?(section, arg), hide?(section) }; "alerts" is app.js's own.
const VIEWS = new Map();
let current = { name: "alerts", arg: "" };

function registerView(name, view) {
  VIEWS.set(name, view);
}

function route() {
  const [name, ...rest] = decodeURIComponent(location.hash.replace(/^#/, "")).split("/");
  return VIEWS.has(name) ? { name, arg: rest.join("/") } : { name: "alerts", arg: "" };
}

function showView() {
  const next = route();
  const before = current;
  current = next;
  for (const section of document.querySelectorAll("main .view")) section.hidden = section.id !== `view-${next.name}`;
  for (const a of document.querySelectorAll("#views a")) {
    if (a.dataset.view === next.name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (before.name !== next.name) VIEWS.get(before.name)?.hide?.($(`view-${before.name}`));
  VIEWS.get(next.name)?.show?.($(`view-${next.name}`), next.arg);
  soon();
}

// A vendored library (hub/web/vendor), loaded the first time a view needs it: the alerts view paints without it.
const loaded = new Map();

function loadScript(path) {
  if (!loaded.has(path)) {
    loaded.set(
      path,
      new Promise((resolve, reject) => {
        const node = document.createElement("script");
        node.src = `/web/${path}`;
        node.onload = resolve;
        node.onerror = () => reject(new Error(`không tải được ${path}`));
        document.head.append(node);
      }),
    );
  }
  return loaded.get(path);
}

function loadStyle(path) {
  if (!loaded.has(path)) {
    loaded.set(
      path,
      new Promise((resolve, reject) => {
        const node = document.createElement("link");
        node.rel = "stylesheet";
        node.href = `/web/${path}`;
        node.onload = resolve;
        node.onerror = () => reject(new Error(`không tải được ${path}`));
        document.head.append(node);
      }),
    );
  }
  return loaded.get(path);
}

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

class AuthError extends Error {}

// Carries the HTTP status, so a caller can tell "not configured here" (404) from a failure.
class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Authenticated by the session cookie (HttpOnly: this script never sees it). The header marks the request as the
// page's own: the hub refuses a change made with the cookie without it (a cross-site form cannot add it).
async function api(path, options = {}) {
  const headers = { "X-Requested-With": "iocgw", ...(options.body ? { "Content-Type": "application/json" } : {}) };
  const resp = await fetch(path, { ...options, headers, credentials: "same-origin" });
  if (resp.status === 401) throw new AuthError("Phiên đăng nhập đã hết");
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new HttpError(resp.status, errorText(resp.status, body));
  return body;
}

// What an officer reads when an action fails: in Vietnamese, with the field the hub named and its reason.
const STATUS_TEXT = {
  400: "Yêu cầu không hợp lệ",
  403: "Không đủ quyền cho thao tác này",
  404: "Không tìm thấy (có thể đã bị xoá)",
  409: "Dữ liệu vừa thay đổi, hãy tải lại trang",
  413: "Nội dung gửi lên quá lớn",
  422: "Dữ liệu không hợp lệ",
  429: "Quá nhiều yêu cầu, hãy thử lại sau ít phút",
  503: "Máy chủ tạm thời chưa sẵn sàng, hãy thử lại sau",
};
const FIELD_TEXT = { comment: "ghi chú" };

function errorText(status, body) {
  const base = STATUS_TEXT[status] || (status >= 500 ? "Máy chủ gặp sự cố, hãy thử lại sau" : `Lỗi HTTP ${status}`);
  const problems = (body.problems || []).map((p) => `${FIELD_TEXT[p.field] || p.field}: ${p.reason}`);
  return problems.length ? `${base}: ${problems.join("; ")}` : base;
}

function showLogin(message) {
  clearTimeout(timer);
  closeEvents();
  // The open view lets go of what it holds (a live camera stream) before the board is hidden.
  if (me) VIEWS.get(current.name)?.hide?.($(`view-${current.name}`));
  me = null;
  resetWarnings();
  $("bulk-status").textContent = "";
  $("board").hidden = true;
  $("views").hidden = true;
  $("who").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

// The token is sent once, here; the hub answers with the session cookie and the page forgets the token.
async function signIn(token) {
  let session;
  try {
    session = await api("/api/session", { method: "POST", body: JSON.stringify({ token }) });
  } catch (err) {
    showLogin(err instanceof AuthError ? "Mã truy cập không đúng." : `Không kết nối được: ${err.message}`);
    return;
  }
  if (session) start();
}

// A shared link (/#map, /#situation/rivers/...) opens here: signed in already, the view shows at once; if not, the
// sign-in form comes first and the same view after it (the hash is kept).
async function start() {
  try {
    const session = await api("/api/session");
    if (!session.signed_in) return showLogin("");
    me = await api("/api/whoami");
  } catch (err) {
    showLogin(err instanceof AuthError ? "" : `Không kết nối được: ${err.message}`);
    return;
  }
  $("login").hidden = true;
  $("who").hidden = false;
  $("who-name").textContent = `${me.name} (${me.role})`;
  $("board").hidden = false;
  $("views").hidden = false;
  openEvents();
  showView();
}

async function signOut() {
  try {
    await api("/api/session", { method: "DELETE" });
  } finally {
    showLogin("");
  }
}

// Alarm changes pushed by the hub (server-sent events): the view refreshes at once, not at the next poll. A refresh
// already under way finishes first, then one more runs, so a burst of changes costs at most two.
let events = null;
let refreshing = null;
let again = false;

function openEvents() {
  closeEvents();
  events = new EventSource("/api/events");
  events.addEventListener("alerts", () => soon());
  // After a reconnect (hub restarted, link back) anything missed meanwhile is fetched.
  events.addEventListener("open", () => soon());
}

function closeEvents() {
  if (events) events.close();
  events = null;
}

function soon() {
  if (!me) return;
  if (refreshing) again = true;
  else refresh();
}

function time(iso) {
  return iso ? new Date(iso).toLocaleString("vi-VN") : "";
}

// Camera snapshots by API path: fetched with the token (an <img src> cannot send it) and shown through object URLs;
// a refresh asks again with the ETag, so an unchanged picture is neither downloaded nor redrawn.
const snapshots = new Map(); // path -> { url, etag, pending }

function snapshotPath(topic) {
  // <prefix>/v1/<node_id>/snapshot/<camera>/<label>; the prefix may itself hold slashes.
  const [node, channel, camera, label] = String(topic || "").split("/").slice(-4);
  if (channel !== "snapshot" || !node || !camera || !label) return null;
  return `/api/snapshots/${[node, camera, label].map(encodeURIComponent).join("/")}`;
}

async function fetchSnapshot(path) {
  const cached = snapshots.get(path) || {};
  const headers = {};
  if (cached.etag) headers["If-None-Match"] = cached.etag;
  const resp = await fetch(path, { headers, cache: "no-store" });
  if (resp.status === 304 && cached.url) return cached.url;
  if (!resp.ok) {
    if (cached.url) URL.revokeObjectURL(cached.url);
    snapshots.delete(path);
    return null;
  }
  const url = URL.createObjectURL(await resp.blob());
  if (cached.url) URL.revokeObjectURL(cached.url);
  snapshots.set(path, { url, etag: resp.headers.get("ETag") });
  return url;
}

function showSnapshot(path, img) {
  const cached = snapshots.get(path) || {};
  if (!cached.pending) {
    cached.pending = fetchSnapshot(path).finally(() => {
      const now = snapshots.get(path);
      if (now) delete now.pending;
    });
    snapshots.set(path, cached);
  }
  cached.pending
    .then((url) => {
      if (!url) img.hidden = true;
      else if (img.src !== url) img.src = url;
    })
    .catch(() => {
      img.hidden = true;
    });
}

function eventCell(alert, old) {
  const d = alert.details || {};
  const path = alert.rule === "camera_fire" ? snapshotPath(d.snapshot) : null;
  const key = alert.rule === "camera_fire" ? `${d.event_id}|${d.snapshot}` : "";
  // The same event keeps its cell, so the picture does not flicker on every refresh; only a changed one is redrawn.
  if (old && old.dataset.key === key) {
    if (path) showSnapshot(path, old.querySelector("img"));
    return old;
  }
  const td = el("td", null, "event");
  td.dataset.key = key;
  if (alert.rule !== "camera_fire") return td;
  td.append(el("div", `Sự kiện: ${d.event_id || "?"}`));
  if (!path) {
    td.append(el("div", d.snapshot ? `Ảnh: ${d.snapshot}` : "Không có ảnh", "muted"));
    return td;
  }
  td.dataset.snapshot = path;
  const figure = el("figure", null, "snapshot");
  const img = el("img");
  img.alt = "Ảnh chụp từ camera";
  img.addEventListener("load", () => {
    img.hidden = false;
  });
  img.hidden = true;
  const cached = snapshots.get(path);
  if (cached && cached.url) img.src = cached.url;
  // The topic stays as the caption, and is all there is while the hub has no picture.
  figure.append(img, el("figcaption", `Ảnh: ${d.snapshot}`, "muted"));
  td.append(figure);
  showSnapshot(path, img);
  return td;
}

function ackCell(alert) {
  const td = el("td", null, "ack");
  if (alert.state === "ACTIVE_UNACK" || alert.state === "CLEARED_UNACK") {
    if (!me || !me.may.includes("acknowledge")) {
      td.append(el("span", "Cần quyền trực ban", "muted"));
      return td;
    }
    const comment = el("input");
    comment.type = "text";
    comment.placeholder = "Ghi chú";
    comment.className = "ack-comment";
    const button = el("button", "Xác nhận", "ack-button");
    button.type = "button";
    const error = el("div", null, "error");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const updated = await api(`/api/alerts/${encodeURIComponent(alert.id)}/ack`, {
          method: "POST",
          body: JSON.stringify({ comment: comment.value.trim() || null }),
        });
        updateRow(rowFor(updated.id), updated, true);
      } catch (err) {
        if (err instanceof AuthError) return showLogin("Phiên đã hết, vui lòng đăng nhập lại.");
        error.textContent = err.message;
        button.disabled = false;
      }
    });
    td.append(comment, button, error);
  } else if (alert.acked_by) {
    td.append(el("div", `${alert.acked_by}, ${time(alert.acked_at)}`));
    if (alert.ack_comment) td.append(el("div", alert.ack_comment, "muted"));
  }
  return td;
}

function rowFor(id) {
  return document.querySelector(`#alerts tbody tr[data-alert-id="${CSS.escape(id)}"]`);
}

// What a row shows; an unchanged signature leaves the row's cells alone, so a refresh redraws nothing it need not.
function signature(alert) {
  const { id, state, severity, level, message, subject_name, area_name, acked_by, acked_at, ack_comment } = alert;
  const picture = alert.rule === "camera_fire" ? [alert.details.event_id, alert.details.snapshot] : null;
  const shown = [id, state, severity, level, message, subject_name, area_name, acked_by, acked_at, ack_comment];
  return JSON.stringify([...shown, alert.display, picture, !!me && me.may.includes("acknowledge")]);
}

// The code stays reachable (a tooltip) for whoever must look it up in a rule file or a log.
function named(name, code) {
  const td = el("td", name || code || "");
  if (name && code) td.title = code;
  return td;
}

function updateRow(tr, alert, force) {
  const sig = signature(alert);
  if (!force && tr.dataset.sig === sig) {
    const event = tr.querySelector("td.event");
    if (event && event.dataset.snapshot) showSnapshot(event.dataset.snapshot, event.querySelector("img"));
    return;
  }
  // The risk levels' official name ("Cấp 3 · da cam"); the others their severity in words, never colour alone.
  const badge = el("span", alert.display.official ? alert.display.label : SEVERITY_VI[alert.severity], "badge");
  badge.dataset.severity = alert.severity;
  badge.style.backgroundColor = alert.display.fill;
  badge.style.color = alert.display.text;
  if (alert.display.official) badge.title = "Màu cấp độ rủi ro theo QĐ 18/2021/QĐ-TTg";
  const level = el("td");
  level.append(badge);
  const cells = [
    level,
    el("td", RULES[alert.rule] || alert.rule),
    named(alert.subject_name, alert.subject),
    named(alert.area_name, alert.area),
    el("td", alert.message),
    el("td", time(alert.started_at)),
    el("td", STATES[alert.state] || alert.state, "state"),
    eventCell(alert, tr.querySelector("td.event")),
  ];
  // Keep the acknowledge cell while its state holds, so a refresh never wipes a comment being typed.
  const keep = !force && tr.dataset.state === alert.state && tr.lastElementChild;
  const ack = keep ? tr.lastElementChild : ackCell(alert);
  tr.replaceChildren(...cells, ack);
  // Each cell names its column: on a phone the rows become cards and the header is not shown (style.css).
  const heads = $("alerts").tHead.rows[0].cells;
  for (const [i, td] of [...tr.cells].entries()) if (heads[i]) td.dataset.label = heads[i].textContent;
  tr.dataset.state = alert.state;
  tr.dataset.sig = sig;
  tr.style.borderLeft = `0.4rem solid ${alert.display.fill}`;
}

// Triage order: what still needs someone first, the most severe first, and within a severity what has waited
// longest first (an alarm that has been open for hours without an answer is the one falling through the cracks).
function triage(a, b) {
  const unack = (x) => (x.state === "ACTIVE_UNACK" ? 0 : 1);
  return (
    unack(a) - unack(b) ||
    SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) ||
    Date.parse(a.started_at) - Date.parse(b.started_at) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

// A row an officer is acting on: under the pointer, its note focused, or a note typed and not yet sent.
function held(tbody) {
  if (tbody.querySelector("tr:hover")) return true;
  if (tbody.contains(document.activeElement) && document.activeElement !== document.body) return true;
  return [...tbody.querySelectorAll(".ack-comment")].some((c) => c.value.trim() !== "");
}

function renderAlerts(alerts) {
  const tbody = $("alerts").querySelector("tbody");
  const sorted = [...alerts].sort(triage);
  const seen = new Set();
  // While a row is being acted on nothing moves: rows keep their places and new ones go last until it is let go.
  const freeze = held(tbody);
  const rows = [];
  const existing = new Map([...tbody.rows].map((tr) => [tr.dataset.alertId, tr]));
  for (const alert of sorted) {
    seen.add(alert.id);
    let tr = existing.get(alert.id);
    if (!tr) {
      tr = el("tr");
      tr.dataset.alertId = alert.id;
      if (freeze) tbody.append(tr); // held: a new row goes last, the others stay where they are
    }
    updateRow(tr, alert, false);
    rows.push(tr);
  }
  for (const tr of [...tbody.rows]) if (!seen.has(tr.dataset.alertId)) tr.remove();
  // Moved only when the order changed: re-appending 200 unchanged rows on every refresh cost a layout each time.
  const inOrder = tbody.rows.length === rows.length && rows.every((tr, i) => tbody.rows[i] === tr);
  if (!freeze && !inOrder) tbody.append(...rows);
  $("alerts").dataset.order = freeze ? "held" : "triage";
  // Forget the pictures no alert shows any more.
  const shown = new Set([...tbody.querySelectorAll("td[data-snapshot]")].map((td) => td.dataset.snapshot));
  for (const [path, entry] of snapshots) {
    if (shown.has(path) || entry.pending) continue;
    if (entry.url) URL.revokeObjectURL(entry.url);
    snapshots.delete(path);
  }
  $("empty").hidden = alerts.length > 0;
  renderCounts(alerts);
  renderBulk(alerts);
}

// Counts of the active alarms per severity and per hazard; "chưa xác nhận" counts the ones nobody has answered.
function renderCounts(alerts) {
  const active = alerts.filter((a) => a.state === "ACTIVE_UNACK" || a.state === "ACTIVE_ACK");
  const item = (cls, key, label, list) => {
    const unack = list.filter((a) => a.state === "ACTIVE_UNACK").length;
    const li = el("li", `${label}: ${list.length}${unack ? ` (${unack} chưa xác nhận)` : ""}`, cls);
    li.dataset.key = key;
    li.dataset.count = String(list.length);
    return li;
  };
  const bySeverity = SEVERITY_ORDER.map((s) =>
    item(`count sev-${s}`, s, SEVERITY_VI[s], active.filter((a) => a.severity === s)),
  );
  const hazards = [...new Set(active.map((a) => HAZARD_OF[a.rule] || "other"))].sort(
    (a, b) => Object.keys(HAZARDS).indexOf(a) - Object.keys(HAZARDS).indexOf(b),
  );
  const byHazard = hazards.map((h) =>
    item("count", h, HAZARDS[h], active.filter((a) => (HAZARD_OF[a.rule] || "other") === h)),
  );
  $("count-severity").replaceChildren(...bySeverity);
  $("count-hazard").replaceChildren(...byHazard);
  $("counts").hidden = false;
}

// Bulk acknowledgement: one hazard in one area (POST /api/alerts/ack). The choices are the (hazard, area) pairs of
// the alarms nobody has acknowledged; the list is rebuilt only when they change, so a refresh never resets a choice.
const AREA_CODE = /^[0-9]{2}([0-9]{3})?$/;

function renderBulk(alerts) {
  const form = $("bulk");
  if (!me || !me.may.includes("acknowledge")) {
    form.hidden = true;
    return;
  }
  const groups = new Map();
  for (const a of alerts) {
    const hazard = HAZARD_OF[a.rule];
    if (a.state !== "ACTIVE_UNACK" || !hazard || !AREA_CODE.test(a.area || "")) continue;
    const key = `${hazard}|${a.area}`;
    const group = groups.get(key) || { hazard, name: a.area_name || a.area, n: 0 };
    group.n += 1;
    groups.set(key, group);
  }
  const hazards = Object.keys(HAZARDS);
  const entries = [...groups].sort(
    ([, a], [, b]) => hazards.indexOf(a.hazard) - hazards.indexOf(b.hazard) || a.name.localeCompare(b.name, "vi"),
  );
  const select = $("bulk-group");
  const sig = JSON.stringify(entries.map(([key, g]) => [key, g.n, g.name]));
  if (select.dataset.sig !== sig) {
    const chosen = select.value;
    select.replaceChildren(
      ...entries.map(([key, g]) => {
        const option = el("option", `${HAZARDS[g.hazard]} · ${g.name} (${g.n})`);
        option.value = key;
        return option;
      }),
    );
    if (groups.has(chosen)) select.value = chosen;
    select.dataset.sig = sig;
  }
  form.hidden = groups.size === 0 && !$("bulk-status").textContent;
  $("bulk-button").disabled = groups.size === 0;
}

async function bulkAck() {
  const [hazard, area] = $("bulk-group").value.split("|");
  if (!hazard || !area) return;
  const rules = Object.keys(HAZARD_OF).filter((rule) => HAZARD_OF[rule] === hazard);
  const button = $("bulk-button");
  button.disabled = true;
  try {
    const done = await api("/api/alerts/ack", {
      method: "POST",
      body: JSON.stringify({ rules, area, comment: $("bulk-comment").value.trim() || null }),
    });
    $("bulk-status").textContent = `Đã xác nhận ${done.count} cảnh báo`;
    $("bulk-status").className = "";
    $("bulk-comment").value = "";
    for (const alert of done.alerts) {
      const tr = rowFor(alert.id);
      if (tr) updateRow(tr, alert, true);
    }
  } catch (err) {
    if (err instanceof AuthError) return showLogin("Phiên đã hết, vui lòng đăng nhập lại.");
    $("bulk-status").textContent = err.message;
    $("bulk-status").className = "error";
  } finally {
    button.disabled = false;
  }
}

// Public warnings (docs/warnings.md). null until known; false when the hub has none (no warnings section in its
// config): from then on the page does not ask again and shows nothing of them.
let warningsOn = null;
const decided = new Set(); // batches this page just decided: a list fetched before the decision must not bring them back
const ROLES = ["viewer", "officer", "hydrology", "admin"];
const RECENT = 8;
const BATCH_STATES = {
  awaiting_approval: "Chờ duyệt",
  approved: "Đã duyệt, đang tạo tin",
  expanded: "Đã duyệt gửi",
  rejected: "Không gửi",
  superseded: "Thay bằng bản mới hơn",
};
const MESSAGE_STATES = {
  queued: "Chờ gửi",
  sending: "Đang gửi",
  unknown: "Chờ báo cáo",
  sent: "Đã gửi",
  delivered: "Đã nhận",
  failed: "Lỗi",
};
// Always shown once a batch went out, zeros included, so a column never shifts; the rest only when present.
const COUNTED = ["queued", "sent", "delivered", "failed"];
const TRANSITIONS = {
  created: "Bắt đầu",
  escalated: "Tăng mức",
  deescalated: "Giảm mức",
  updated: "Cập nhật",
  cleared: "Kết thúc",
};

function mayDecide() {
  // The hub's approve/reject need the officer role; each role may do what the ones before it may (hub/api/auth.py).
  return !!me && ROLES.indexOf(me.role) >= ROLES.indexOf("officer");
}

function epoch(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString("vi-VN") : "";
}

function resetWarnings() {
  warningsOn = null;
  decided.clear();
  $("warnings").hidden = true;
  $("warn-pending").replaceChildren();
  $("warn-recent").querySelector("tbody").replaceChildren();
  $("warn-status").textContent = "";
}

function countsList(batch) {
  const counts = batch.counts || {};
  const states = [...COUNTED, ...Object.keys(counts).filter((s) => !COUNTED.includes(s) && counts[s] > 0)];
  const ul = el("ul", null, "counts");
  for (const state of states) {
    const n = counts[state] || 0;
    // A zero is greyed, so a red "Lỗi: 0" does not call for attention it does not need.
    ul.append(el("li", `${MESSAGE_STATES[state] || state}: ${n}`, n ? `msg-${state}` : `msg-${state} zero`));
  }
  return ul;
}

function decisionText(batch) {
  if (batch.state === "awaiting_approval") return "";
  if (batch.decided_by) return `${batch.decided_by}, ${epoch(batch.decided_at)}`;
  return batch.approval === "auto" ? "Gửi tự động" : "";
}

function pendingCard(batch) {
  const card = el("article", null, "warn-batch");
  card.dataset.batchId = batch.id;
  card.append(el("h4", batch.alarm.message || batch.alarm.subject, "warn-message"));
  const facts = el("p", null, "muted");
  facts.textContent = [
    `Chính sách: ${batch.policy}`,
    `Khu vực: ${batch.area || "—"}`,
    `Thay đổi: ${TRANSITIONS[batch.transition] || batch.transition}`,
    `Chờ từ: ${epoch(batch.created_at)}`,
  ].join(" · ");
  card.append(facts);
  // A held batch has no messages yet: the hub creates them, one per recipient and channel, once it is approved.
  card.append(
    el("p", batch.messages ? `Số tin sẽ gửi: ${batch.messages}` : "Số người nhận: tính khi duyệt gửi", "warn-count"),
  );
  if (!mayDecide()) {
    card.append(el("p", "Cần quyền trực ban để duyệt", "muted"));
    return card;
  }
  const label = el("label", "Ghi chú (không bắt buộc)");
  const comment = el("input", null, "warn-comment");
  comment.type = "text";
  comment.maxLength = 2000;
  label.append(comment);
  const approve = el("button", "Duyệt gửi", "warn-approve");
  const reject = el("button", "Không gửi", "warn-reject");
  approve.type = reject.type = "button";
  const error = el("div", null, "error");
  error.setAttribute("role", "alert");
  approve.addEventListener("click", () => decide(batch, true, card));
  reject.addEventListener("click", () => decide(batch, false, card));
  const actions = el("div", null, "warn-actions");
  actions.append(approve, reject);
  card.append(label, actions, error);
  return card;
}

async function decide(batch, approve, card) {
  const buttons = [...card.querySelectorAll("button")];
  for (const b of buttons) b.disabled = true;
  const comment = card.querySelector(".warn-comment").value.trim();
  try {
    await api(`/api/warnings/batches/${encodeURIComponent(batch.id)}/${approve ? "approve" : "reject"}`, {
      method: "POST",
      body: JSON.stringify({ comment }),
    });
    decided.add(batch.id);
    card.remove();
    const what = batch.alarm.message || batch.alarm.subject;
    $("warn-status").textContent = `${approve ? "Đã duyệt gửi" : "Đã quyết định không gửi"}: ${what}`;
  } catch (err) {
    if (err instanceof AuthError) return showLogin("Phiên đã hết, vui lòng đăng nhập lại.");
    card.querySelector(".error").textContent = err.message;
    for (const b of buttons) b.disabled = false;
    return;
  }
  // The new state and counts now rather than at the next cycle; a failure here is the cycle's to report.
  refreshWarnings().catch(() => {});
}

function renderPending(batches) {
  const box = $("warn-pending");
  const shown = batches.filter((b) => !decided.has(b.id));
  const seen = new Set();
  for (const batch of shown) {
    seen.add(batch.id);
    // A card stays where it is while its batch waits: a refresh never wipes a comment being typed, and never moves
    // the card either (moving an element takes the focus from the comment field, so the next keys went nowhere).
    if (!box.querySelector(`[data-batch-id="${CSS.escape(batch.id)}"]`)) box.append(pendingCard(batch));
  }
  for (const card of [...box.children]) if (!seen.has(card.dataset.batchId)) card.remove();
  $("warn-pending-empty").hidden = shown.length > 0;
}

function renderRecent(batches) {
  const tbody = $("warn-recent").querySelector("tbody");
  tbody.replaceChildren(
    ...batches.map((b) => {
      const tr = el("tr");
      tr.dataset.batchId = b.id;
      const state = el("td");
      state.append(el("span", BATCH_STATES[b.state] || b.state, `batch-state batch-${b.state}`));
      const who = decisionText(b);
      if (who) state.append(el("div", who, "muted"));
      if (b.comment) state.append(el("div", b.comment, "muted warn-decision-comment"));
      const counts = el("td");
      if (b.state === "approved" || b.state === "expanded") counts.append(countsList(b));
      else counts.append(el("span", "—", "muted"));
      tr.append(
        el("td", epoch(b.created_at)),
        el("td", b.alarm.message || b.alarm.subject),
        el("td", b.policy),
        el("td", b.area || "—"),
        state,
        counts,
      );
      return tr;
    }),
  );
  $("warn-recent-empty").hidden = batches.length > 0;
}

// A hub without public warnings answers 404 on their routes (which a browser logs as an error): whoami says whether
// this hub has them, so the page never asks one that does not.
async function refreshWarnings() {
  if (warningsOn === null) warningsOn = !!(me && me.warnings);
  if (!warningsOn) return;
  let pending;
  try {
    pending = await api("/api/warnings/batches?state=awaiting_approval");
  } catch (err) {
    if (!(err instanceof HttpError) || err.status !== 404) throw err;
    warningsOn = false;
    $("warnings").hidden = true;
    return;
  }
  const recent = await api(`/api/warnings/batches?limit=${RECENT}`);
  warningsOn = true;
  renderPending(pending.batches);
  renderRecent(recent.batches);
  $("warnings").hidden = false;
}

registerView("alerts", {
  async refresh() {
    const [alerts] = await Promise.all([api("/api/alerts?active=true"), refreshWarnings()]);
    renderAlerts(alerts.alerts);
    return `${alerts.count} cảnh báo`;
  },
});

async function refresh() {
  clearTimeout(timer);
  const { name, arg } = current;
  refreshing = (async () => {
    try {
      const summary = await VIEWS.get(name).refresh($(`view-${name}`), arg);
      const at = `cập nhật ${new Date().toLocaleTimeString("vi-VN")}`;
      $("status").textContent = summary ? `${summary} · ${at}` : at;
      $("status").className = "";
    } catch (err) {
      if (err instanceof AuthError) return showLogin("Phiên đã hết, vui lòng đăng nhập lại.");
      $("status").textContent = `Lỗi cập nhật: ${err.message}`;
      $("status").className = "error";
    }
  })();
  await refreshing;
  refreshing = null;
  if (!me) return;
  if (again) {
    again = false;
    refresh();
    return;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  if (WALL) {
    document.documentElement.classList.add("wall");
    document.body.classList.add("wall");
  }
  window.addEventListener("hashchange", showView);
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn($("token").value.trim());
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("bulk").addEventListener("submit", (ev) => {
    ev.preventDefault();
    bulkAck();
  });
  start();
});
