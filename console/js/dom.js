// Small DOM and formatting helpers. Text always goes in as text nodes
// (never innerHTML), so nothing a job or a trainer says can become markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// el's children replaced by children (nested arrays flattened, empty
// values skipped, as h() takes them).
export function fill(el, ...children) {
  append(clear(el), children);
  return el;
}

export function stateBadge(state) {
  return h("span", { class: `state ${state || ""}` }, state || "–");
}

export function fmtNumber(value, digits = 6) {
  if (value === undefined || value === null || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return String(n);
  const a = Math.abs(n);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? n.toExponential(3) : String(Number(n.toPrecision(digits)));
}

export function parseTime(text) {
  const ms = text ? Date.parse(text) : NaN;
  return Number.isFinite(ms) ? ms : null;
}

export function fmtTime(text) {
  const ms = parseTime(text);
  if (ms === null) return "–";
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "–";
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60), rest = Math.round(s % 60);
  if (m < 60) return `${m} min ${rest} s`;
  const hours = Math.floor(m / 60);
  return `${hours} h ${m % 60} min`;
}

// How long from start to end (or to now while it runs), in ms, or null.
export function span(start, end, now = Date.now()) {
  const a = parseTime(start);
  if (a === null) return null;
  const b = parseTime(end);
  return (b === null ? now : b) - a;
}

export function route(path, params = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") query.set(k, v);
  const q = query.toString();
  return `#${path}${q ? "?" + q : ""}`;
}
