/* console.js — the web console's behaviour: sign-in with an API token kept in this tab's
 * sessionStorage only, hash routes for the views, the task list polled every 2 s, a task's
 * page with history, callbacks and audit trail, and the create/edit form. Every call goes to
 * the native API (/v1) with the token; server errors are shown beside the field they name. */
"use strict";

const TOKEN_KEY = "ferry.console.token";
const POLL_MS = 2000;
const LIST_PAGE_SIZE = 50;
const FORM_FIELDS = ["id", "name", "source_type", "source_urls", "destination",
  "backup_source_url", "pad_url", "start_time", "end_time", "loop_count", "retry_count",
  "retry_interval", "callback_url", "comment"];

let pollTimer = null;
let currentTask = null; /* the task the edit form was filled from */

/* ---------- the token: this tab's session only ---------- */

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  stopPolling();
  location.hash = "#/";
  route();
}

/* ---------- the native API ---------- */

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "";
    this.field = e.field || "";
  }
}

/* One call with the token; the JSON answer, or throws an ApiError. A 401 signs out. */
async function api(method, path, body, tok) {
  const headers = { Authorization: `Bearer ${tok || token()}` };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  if (!r.ok) {
    if (r.status === 401 && !tok) {
      signOut();
    }
    throw new ApiError(r.status, data);
  }
  return data;
}

function describe(err) {
  if (err instanceof ApiError) {
    return `${err.message} (${err.status} ${err.code})`;
  }
  return `The server could not be reached: ${err.message}`;
}

/* ---------- small DOM helpers (text only: nothing from the API is parsed as HTML) ---------- */

function $(sel) {
  return document.querySelector(sel);
}

function el(tag, props, ...children) {
  const n = document.createElement(tag);
  Object.assign(n, props || {});
  for (const c of children) {
    n.append(c instanceof Node ? c : String(c ?? ""));
  }
  return n;
}

function row(cells) {
  const tr = el("tr");
  for (const c of cells) {
    tr.append(c instanceof HTMLTableCellElement ? c : el("td", {}, c));
  }
  return tr;
}

function stateBadge(state) {
  return el("span", { className: `state state-${state}` }, state);
}

/* ---------- stream keys: masked like ferry's own redaction, shown in full on a click ---------- */

const KEYED = ["rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpts", "rtmpte", "srt"];

function maskKey(key) {
  if (!key) {
    return "";
  }
  return (key.length >= 8 ? key.slice(0, 2) : "") + "***";
}

function maskQuery(q) {
  return q.split("&").map((item) => {
    const eq = item.indexOf("=");
    if (eq < 0) {
      return item ? "***" : "";
    }
    return item.slice(0, eq + 1) + (eq + 1 < item.length ? "***" : "");
  }).join("&");
}

/* scheme://[userinfo@]host/path/KEY?query#frag: user info, the key and the values masked. */
function maskUrl(url) {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?.*)?(#.*)?$/s.exec(url || "");
  if (!m) {
    return url || "";
  }
  const [, scheme, auth, path, query, frag] = m;
  const at = auth.lastIndexOf("@");
  let out = `${scheme}://${at >= 0 ? "***@" + auth.slice(at + 1) : auth}`;
  const slash = path.lastIndexOf("/");
  if (KEYED.includes(scheme.toLowerCase()) && slash >= 0) {
    out += path.slice(0, slash + 1) + maskKey(path.slice(slash + 1));
  } else {
    out += path;
  }
  if (query) {
    out += "?" + maskQuery(query.slice(1));
  } else if (frag) {
    out += frag.length > 1 ? "#***" : "#";
  }
  return out;
}

function secretUrl(url) {
  const masked = maskUrl(url);
  if (masked === url) {
    return el("span", {}, url || "");
  }
  const s = el("span", { className: "secret", title: "Click to show the full URL" }, masked);
  s.dataset.shown = "0";
  s.addEventListener("click", (ev) => {
    ev.preventDefault();
    ev.stopPropagation();
    const shown = s.dataset.shown === "1";
    s.textContent = shown ? masked : url;
    s.dataset.shown = shown ? "0" : "1";
  });
  return s;
}

/* ---------- views ---------- */

function show(view) {
  for (const v of document.querySelectorAll(".view")) {
    v.hidden = v.id !== `view-${view}`;
  }
  const signedIn = !!token();
  $("#sign-out").hidden = !signedIn;
  $("#who").textContent = signedIn ? "signed in" : "";
}

function stopPolling() {
  if (pollTimer) {
    clearTimeout(pollTimer);
    pollTimer = null;
  }
}

/* Runs fn now and every POLL_MS while the route stays the same. */
function poll(fn) {
  stopPolling();
  const hash = location.hash;
  const tick = async () => {
    await fn();
    if (location.hash === hash && token()) {
      pollTimer = setTimeout(tick, POLL_MS);
    }
  };
  tick();
}

function route() {
  stopPolling();
  if (!token()) {
    show("login");
    $("#login-token").focus();
    return;
  }
  const h = location.hash.replace(/^#/, "") || "/";
  let m;
  if ((m = /^\/task\/([A-Za-z0-9_-]+)$/.exec(h))) {
    openTask(m[1]);
  } else if (h === "/new") {
    openEditor(null);
  } else if ((m = /^\/edit\/([A-Za-z0-9_-]+)$/.exec(h))) {
    openEditor(m[1]);
  } else {
    show("list");
    poll(refreshList);
  }
}

/* ---------- sign in ---------- */

async function signIn(ev) {
  ev.preventDefault();
  const input = $("#login-token");
  const tok = input.value.trim();
  $("#login-error").textContent = "";
  try {
    await api("GET", "/v1/tasks?page_size=1", undefined, tok);
  } catch (err) {
    $("#login-error").textContent = err.status === 401
      ? "Sign-in failed: the server does not know this token (401 unauthorized)."
      : `Sign-in failed: ${describe(err)}`;
    return;
  }
  input.value = "";
  sessionStorage.setItem(TOKEN_KEY, tok);
  route();
}

/* ---------- the task list ---------- */

function fileAndLoop(t) {
  const p = t.progress || {};
  if (t.source_type !== "files") {
    return "";
  }
  if (!p.active) {
    return "";
  }
  return `#${p.file_index} ${maskUrl(p.source_url || "")} · loop ${p.loops_done + 1}`;
}

function bitrate(p) {
  return p && p.active ? `${Math.round(p.bitrate_kbps || 0)} kb/s` : "";
}

function taskRow(t) {
  const p = t.progress || {};
  const link = el("a", { href: `#/task/${encodeURIComponent(t.id)}` }, t.id);
  const tr = row([
    link, t.name, stateBadge(t.state), secretUrl((t.source_urls || [])[0] || ""),
    p.active ? p.source_role || "" : "", fileAndLoop(t),
    el("td", { className: "num" }, bitrate(p)), secretUrl(t.destination),
    el("td", { className: "err" }, t.last_error || ""),
  ]);
  tr.dataset.id = t.id;
  tr.dataset.state = t.state;
  return tr;
}

/* The page of tasks, each read again for its progress (the list carries none). */
async function loadTasks() {
  const page = await api("GET", `/v1/tasks?page_size=${LIST_PAGE_SIZE}`);
  const tasks = await Promise.all(page.tasks.map((t) =>
    api("GET", `/v1/tasks/${encodeURIComponent(t.id)}`).catch(() => t)));
  return { tasks, total: page.total };
}

async function refreshList() {
  try {
    const { tasks, total } = await loadTasks();
    const body = $("#task-table tbody");
    body.replaceChildren(...tasks.map(taskRow));
    $("#list-empty").hidden = tasks.length > 0;
    $("#list-status").textContent = `${total} task${total === 1 ? "" : "s"} · ` +
      `updated ${new Date().toLocaleTimeString()}`;
    $("#list-error").textContent = "";
  } catch (err) {
    $("#list-error").textContent = describe(err);
  }
}

/* ---------- a task's page ---------- */

function field(dl, name, value) {
  dl.append(el("dt", {}, name), el("dd", {}, value));
}

function renderTask(t) {
  $("#task-title").textContent = t.name ? `${t.name} (${t.id})` : t.id;
  $("#task-state").replaceChildren(stateBadge(t.state));
  $("#task-edit").href = `#/edit/${encodeURIComponent(t.id)}`;
  const p = t.progress || {};
  const dl = $("#task-fields");
  dl.replaceChildren();
  field(dl, "reason", t.reason || "");
  field(dl, "source type", t.source_type);
  for (const u of t.source_urls || []) {
    field(dl, "source", secretUrl(u));
  }
  field(dl, "destination", secretUrl(t.destination));
  if (t.backup_destination) {
    field(dl, "second destination", secretUrl(t.backup_destination));
  }
  if (t.backup_source_url) {
    field(dl, "backup source", secretUrl(t.backup_source_url));
  }
  field(dl, "window", `${t.start_time || "—"} → ${t.end_time || "—"}`);
  field(dl, "relay", p.active
    ? `${p.source_role || "playing"} · ${Math.round(p.bitrate_kbps || 0)} kb/s · ${Math.round(p.fps || 0)} fps`
    : "not running");
  if (t.source_type === "files" && p.active) {
    field(dl, "file / loop", fileAndLoop(t));
  }
  field(dl, "last error", t.last_error || "—");
  for (const b of document.querySelectorAll("#view-task [data-action]")) {
    b.disabled = !actionAllowed(b.dataset.action, t);
  }
}

function actionAllowed(action, t) {
  switch (action) {
  case "pause": return t.state !== "paused" && t.state !== "finished";
  case "resume": return t.state === "paused";
  case "restart": return t.state !== "paused" && t.state !== "finished";
  case "stop": return ["idle", "running", "recovering"].includes(t.state);
  default: return true;
  }
}

function renderHistory(lines) {
  $("#history-table tbody").replaceChildren(...lines.map((h) =>
    row([h.at || "", h.from, stateBadge(h.to), h.reason, h.detail])));
}

function renderCallbacks(events) {
  const body = $("#callback-table tbody");
  if (!events.length) {
    body.replaceChildren(row([el("td", { colSpan: 7, className: "muted" },
      "No pending or dead callback events.")]));
    return;
  }
  body.replaceChildren(...events.map((c) => row([c.id, c.type, c.created_at || "",
    stateBadge(c.state), el("td", { className: "num" }, c.attempts),
    (c.state === "dead" ? c.dead_at : c.next_try_at) || "", c.last_error])));
}

function renderAudit(lines) {
  $("#audit-table tbody").replaceChildren(...lines.map((a) =>
    row([a.at || "", a.action, a.api, a.address, (a.fields || []).join(", "), a.request_id])));
}

async function refreshTask(id) {
  const q = encodeURIComponent(id);
  try {
    const [t, h, cb, au] = await Promise.all([
      api("GET", `/v1/tasks/${q}`),
      api("GET", `/v1/tasks/${q}/history`),
      api("GET", `/v1/tasks/${q}/callbacks`),
      api("GET", `/v1/audit?task_id=${q}&page_size=100`),
    ]);
    renderTask(t);
    renderHistory(h.history);
    renderCallbacks(cb.callbacks);
    renderAudit(au.audit);
  } catch (err) {
    $("#task-error").textContent = describe(err);
  }
}

function openTask(id) {
  show("task");
  $("#view-task").dataset.id = id;
  $("#task-error").textContent = "";
  $("#task-title").textContent = id;
  poll(() => refreshTask(id));
}

async function runAction(action) {
  const id = $("#view-task").dataset.id;
  const q = `/v1/tasks/${encodeURIComponent(id)}`;
  $("#task-error").textContent = "";
  try {
    if (action === "delete") {
      if (!confirm(`Delete task ${id}? Its relay stops and the task is gone.`)) {
        return;
      }
      await api("DELETE", q);
      location.hash = "#/";
      return;
    }
    renderTask(await api("POST", `${q}/${action}`));
    await refreshTask(id);
  } catch (err) {
    $("#task-error").textContent = `${action}: ${describe(err)}`;
  }
}

/* ---------- create and edit ---------- */

function isoUtc(d) {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function clearErrors() {
  for (const s of document.querySelectorAll("#task-form .field-error")) {
    s.textContent = "";
    s.parentElement.classList.remove("invalid");
  }
  $("#form-error").textContent = "";
}

/* The value a form field holds, in the API's type. */
function formValue(name) {
  const input = $(`#f-${name}`);
  const v = input.value.trim();
  if (name === "source_urls") {
    return v.split(/\s*\n\s*/).filter((s) => s);
  }
  if (input.dataset.type === "int") {
    return v === "" ? undefined : (/^-?\d+$/.test(v) ? Number(v) : v);
  }
  return v;
}

function fillForm(t) {
  for (const name of FORM_FIELDS) {
    const v = t[name];
    $(`#f-${name}`).value = Array.isArray(v) ? v.join("\n") : (v ?? "");
  }
}

async function openEditor(id) {
  show("edit");
  clearErrors();
  const creating = id === null;
  for (const n of document.querySelectorAll("[data-create-only]")) {
    n.hidden = !creating;
  }
  $("#edit-title").textContent = creating ? "New task" : `Edit ${id}`;
  $("#form-submit").textContent = creating ? "Create" : "Save";
  $("#form-cancel").href = creating ? "#/" : `#/task/${encodeURIComponent(id)}`;
  currentTask = null;
  if (creating) {
    const now = Date.now();
    fillForm({ source_type: "live", start_time: isoUtc(new Date(now + 5000)),
      end_time: isoUtc(new Date(now + 3600 * 1000)) });
    return;
  }
  try {
    currentTask = await api("GET", `/v1/tasks/${encodeURIComponent(id)}`);
    fillForm(currentTask);
  } catch (err) {
    $("#form-error").textContent = describe(err);
  }
}

/* The body: on create every field given; on edit only the fields that changed. */
function formBody() {
  const body = {};
  for (const name of FORM_FIELDS) {
    if (name === "id" && currentTask) {
      continue;
    }
    const v = formValue(name);
    if (currentTask) {
      if (JSON.stringify(v) !== JSON.stringify(currentTask[name] ?? (name === "source_urls" ? [] : ""))
        && v !== undefined) {
        body[name] = v;
      }
    } else if (v !== undefined && v !== "" && !(Array.isArray(v) && !v.length && name !== "source_urls")) {
      body[name] = v;
    }
  }
  return body;
}

/* Shows an API error beside the field it names ("source_urls[1]" belongs to source_urls). */
function showFieldError(err) {
  const name = (err.field || "").replace(/[[.].*$/, "");
  const slot = name && document.querySelector(`#task-form [data-error-for="${name}"]`);
  if (slot && !slot.parentElement.hidden) {
    slot.textContent = err.message;
    slot.parentElement.classList.add("invalid");
    $(`#f-${name}`).focus();
  } else {
    $("#form-error").textContent = describe(err);
  }
}

async function submitTask(ev) {
  ev.preventDefault();
  clearErrors();
  const body = formBody();
  try {
    const t = currentTask
      ? await api("PATCH", `/v1/tasks/${encodeURIComponent(currentTask.id)}`, body)
      : await api("POST", "/v1/tasks", body);
    location.hash = `#/task/${encodeURIComponent(t.id)}`;
  } catch (err) {
    if (err instanceof ApiError) {
      showFieldError(err);
    } else {
      $("#form-error").textContent = describe(err);
    }
  }
}

/* ---------- start ---------- */

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#task-form").addEventListener("submit", submitTask);
  for (const b of document.querySelectorAll("#view-task [data-action]")) {
    b.addEventListener("click", () => runAction(b.dataset.action));
  }
  window.addEventListener("hashchange", route);
  route();
});
