// The console's shell: who is signed in, the router (#/jobs, #/jobs/J,
// #/jobs/J/trials/T, #/nodes, each with ?project=P) and the live loop.
//
// Live updates poll the REST API once a second while the page is visible
// (not server-sent events): every view reads paged or cached resources
// (the Job answers 304 to If-None-Match while it is unchanged), the
// master's HTTP thread forwards one request at a time to its core loop,
// which answers from memory, and polling needs no long-lived connection
// per browser in that thread. One second keeps every change on screen
// within 2 s.
import { api, ApiError } from "./api.js";
import { clear, h } from "./dom.js";
import { JobsView } from "./jobs.js";
import { JobView } from "./job.js";
import { TrialView } from "./trial.js";
import { NodesView } from "./nodes.js";

const POLL_MS = 1000;
const main = document.getElementById("main");
const banner = document.getElementById("banner");
const who = document.getElementById("who");
const signOut = document.getElementById("sign-out");
const projectInput = document.getElementById("project");
const live = document.getElementById("live");

const ctx = {
  me: null,
  project: "default",
  navigate(hash) { location.hash = hash; },
  showError(error) {
    if (error instanceof ApiError && error.status === 401) { start(); return; }
    banner.hidden = false;
    banner.textContent = error.message || String(error);
  },
  clearError() { banner.hidden = true; },
};
// For the browser tests: the open view and its charts.
window.hptConsole = { ctx, view: null, renderedAt: null };

let view = null;
let timer = null;
let generation = 0;

function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/jobs";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params };
}

function makeView(parts, params) {
  if (parts[0] === "nodes") return new NodesView(ctx, main);
  if (parts[0] === "jobs" && parts.length === 4 && parts[2] === "trials")
    return new TrialView(ctx, main, parts[1], parts[3]);
  if (parts[0] === "jobs" && parts.length === 2) return new JobView(ctx, main, parts[1]);
  return new JobsView(ctx, main, params);
}

async function tick(mine) {
  if (mine !== generation || !view) return;
  if (!document.hidden) {
    try {
      await view.refresh();
      // When the view first showed its data (ms since navigation): the
      // figure tests/bench/console_render.py prints.
      if (window.hptConsole.renderedAt === null) window.hptConsole.renderedAt = performance.now();
      live.classList.remove("stale");
      live.textContent = new Date().toLocaleTimeString();
      if (mine === generation) ctx.clearError();
    } catch (error) {
      live.classList.add("stale");
      if (mine === generation) ctx.showError(error);
    }
  }
  if (mine === generation) timer = setTimeout(() => tick(mine), POLL_MS);
}

function show() {
  if (!ctx.me) return;
  clearTimeout(timer);
  if (view && view.destroy) view.destroy();
  const { parts, params } = parseHash();
  ctx.project = params.get("project") || "default";
  projectInput.value = ctx.project;
  document.getElementById("nav-jobs").className = parts[0] !== "nodes" ? "active" : "";
  document.getElementById("nav-nodes").className = parts[0] === "nodes" ? "active" : "";
  clear(main);
  ctx.clearError();
  view = makeView(parts, params);
  window.hptConsole.view = view;
  window.hptConsole.renderedAt = null;
  generation += 1;
  tick(generation);
}

function renderSignIn(reason) {
  clear(main);
  const input = h("input", { id: "token", type: "password", autocomplete: "off",
                             placeholder: "hpt_…", spellcheck: "false" });
  const message = h("p", { class: "error", id: "signin-error" });
  const form = h("form", { class: "signin card", id: "signin" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" },
      "This master has users. Paste your API token (hptmaster users add NAME prints one). " +
      "It is exchanged for a session cookie; the page never keeps the token."),
    input, h("button", { type: "submit", id: "signin-submit" }, "Sign in"), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.post("/v1/auth/session", { token: input.value.trim() });
      input.value = "";
      await start();
    } catch (error) {
      message.textContent = error.message;
    }
  });
  main.append(form);
  if (reason) message.textContent = "";
  input.focus();
}

async function start() {
  clearTimeout(timer);
  generation += 1;
  if (view && view.destroy) view.destroy();
  view = null;
  let me;
  try {
    me = await api.get("/v1/auth/session");
  } catch (error) {
    banner.hidden = false;
    banner.textContent = `The master did not answer: ${error.message}`;
    setTimeout(start, 2000);
    return;
  }
  if (me.signInRequired) {
    ctx.me = null;
    who.textContent = "";
    signOut.hidden = true;
    renderSignIn(me.reason);
    return;
  }
  ctx.me = me;
  who.textContent = `${me.name} (${me.role})`;
  who.dataset.role = me.role;
  signOut.hidden = !me.session;
  show();
}

signOut.addEventListener("click", async () => {
  try { await api.del("/v1/auth/session"); } catch (error) { ctx.showError(error); }
  start();
});
projectInput.addEventListener("change", () => {
  ctx.navigate(`#/jobs?project=${encodeURIComponent(projectInput.value.trim() || "default")}`);
});
window.addEventListener("hashchange", show);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && view) { clearTimeout(timer); tick(generation); }
});
start();
