// The jobs page: one page of the project's jobs (the API's paging, 20 a
// page), filtered on the master with the language of `hpt jobs list
// --filter` (the filter and the page are kept in the address, so a view
// can be shared). Each row: state, trials finished/total, best objective,
// owner, labels, created/started/ended and duration.
import { api, projectPath } from "./api.js";
import { fill, fmtDuration, fmtNumber, fmtTime, h, route, span, stateBadge } from "./dom.js";

const PAGE_SIZE = 20;

export class JobsView {
  constructor(ctx, root, params) {
    this.ctx = ctx;
    this.filter = params.get("filter") || "";
    // Tokens of the pages before this one (for "previous") and this one's.
    this.tokens = (params.get("pages") || "").split(",").filter(Boolean);
    this.root = root;
    this.build();
  }

  build() {
    this.input = h("input", { type: "text", id: "jobs-filter", value: this.filter, spellcheck: "false",
                              placeholder: "state=RUNNING AND labels.team:vision" });
    const form = h("form", { class: "toolbar" },
      h("label", {}, "Filter "), this.input, h("button", { type: "submit" }, "Apply"),
      h("span", { class: "muted" }, "the language of hpt jobs list --filter (state, jobId, createTime, labels.KEY, …)"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.go(this.input.value.trim(), []);
    });
    this.filterError = h("p", { class: "error", id: "jobs-filter-error" });
    this.table = h("div", { class: "scroll" });
    this.pager = h("div", { class: "toolbar" });
    this.root.append(h("section", { class: "card" }, h("h1", {}, `Jobs in ${this.ctx.project}`), form,
                       this.filterError, this.table, this.pager));
  }

  go(filter, tokens) {
    this.ctx.navigate(route("/jobs", { project: this.ctx.project, filter, pages: tokens.join(",") }));
  }

  async refresh() {
    const query = new URLSearchParams({ pageSize: String(PAGE_SIZE) });
    if (this.filter) query.set("filter", this.filter);
    const token = this.tokens[this.tokens.length - 1];
    if (token) query.set("pageToken", token);
    let page;
    try {
      page = await api.get(`${projectPath(this.ctx.project)}?${query}`);
    } catch (error) {
      if (error.status === 400) { this.filterError.textContent = error.message; return; }
      throw error;
    }
    this.filterError.textContent = "";
    this.render(page.jobs || [], page.nextPageToken || "");
  }

  render(jobs, next) {
    const header = ["Job", "State", "Trials", "Best objective", "Owner", "Labels", "Created",
                    "Started", "Ended", "Duration"];
    const rows = jobs.map((job) => this.row(job));
    fill(this.table, h("table", { class: "grid", id: "jobs-table" },
      h("thead", {}, h("tr", {}, header.map((text) => h("th", {}, text)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: header.length, class: "muted" },
        this.filter ? "No job matches the filter." : "No jobs yet: hpt jobs submit training …")))));
    const first = this.tokens.length + 0;
    fill(this.pager,
      h("button", { id: "jobs-prev", disabled: first === 0,
                    onclick: () => this.go(this.filter, this.tokens.slice(0, -1)) }, "← Previous"),
      h("span", { class: "muted" }, `page ${first + 1}`),
      h("button", { id: "jobs-next", disabled: !next,
                    onclick: () => this.go(this.filter, [...this.tokens, next]) }, "Next →"));
  }

  row(job) {
    const out = job.trainingOutput || {};
    const counts = out.hptTrialCounts || {};
    const best = out.hptBestTrial;
    const total = job.trainingInput && job.trainingInput.hyperparameters
      ? job.trainingInput.hyperparameters.maxTrials : null;
    const labels = Object.entries(job.labels || {}).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`));
    const link = route(`/jobs/${encodeURIComponent(job.jobId)}`, { project: this.ctx.project });
    const tr = h("tr", { class: "clickable", dataset: { job: job.jobId } },
      h("td", {}, h("a", { href: link }, job.jobId)),
      h("td", {}, stateBadge(job.state)),
      h("td", { class: "num" }, total ? `${counts.finished || 0} / ${total}` : "–"),
      h("td", { class: "num" }, best ? `${fmtNumber(best.objectiveValue)} (#${best.trialId})` : "–"),
      h("td", {}, job.createdBy || "–"),
      h("td", { class: "wrap" }, labels),
      h("td", {}, fmtTime(job.createTime)),
      h("td", {}, fmtTime(job.startTime)),
      h("td", {}, fmtTime(job.endTime)),
      h("td", { class: "num" }, fmtDuration(span(job.startTime, job.endTime))));
    tr.addEventListener("click", (event) => { if (event.target.tagName !== "A") this.ctx.navigate(link); });
    return tr;
  }
}
