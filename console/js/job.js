// The job page, live while the job runs: its summary; the trials table
// (sortable on every column, filters on any metric, parameter and step
// range); parallel coordinates whose axis brushes are the table's
// filters and show them; optimization history; learning curves with the
// early-stopping reference; parameter importance; slice plots.
//
// Each refresh is a conditional GET of the Job (304 while unchanged:
// nothing else is read or drawn); when it changed, the insights too.
import { api, projectPath } from "./api.js";
import { fill, fmtDuration, fmtNumber, fmtTime, h, route, span, stateBadge } from "./dom.js";
import { applyFilters, bestSoFar, sortRows, trialColumns, trialRows } from "./trials.js";
import { curvesOption, historyOption, importanceOption, parallelOption, sliceOption } from "./charts.js";
import { FilterBar } from "./filters.js";

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

function card(title, id, ...body) {
  return h("section", { class: "card", id }, h("h2", {}, title), ...body);
}

export class JobView {
  constructor(ctx, root, jobId) {
    this.ctx = ctx;
    this.jobId = jobId;
    this.path = projectPath(ctx.project, `/${encodeURIComponent(jobId)}`);
    this.etag = null;
    this.rows = [];
    this.columns = [];
    this.filters = new Map();
    this.sort = { key: "id", desc: false };
    this.charts = {};
    this.sliceKey = null;
    this.build(root);
  }

  build(root) {
    const chart = (name, cls = "chart") => h("div", { class: cls, id: `chart-${name}` });
    this.summary = h("div", {});
    this.filterBar = new FilterBar(() => this.filtersChanged(false));
    this.count = h("span", { class: "muted", id: "trials-count" });
    this.table = h("div", { class: "scroll" });
    this.importanceNote = h("p", { class: "explain", id: "importance-note" });
    this.sliceTabs = h("div", { class: "tabs" });
    this.curvesNote = h("p", { class: "explain" });
    root.append(
      h("section", { class: "card", id: "job-summary" }, this.summary),
      card("Trials", "trials", this.filterBar.element, h("div", { class: "toolbar" }, this.count),
           this.table),
      h("div", { class: "row" },
        card("Parallel coordinates", "parallel",
             h("p", { class: "explain" }, "One line per trial with an objective. Drag along an axis to brush it: " +
               "the brush is a filter of the trials table, and the table's filters show on the axes."),
             chart("parallel", "chart tall")),
        card("Optimization history", "history",
             h("p", { class: "explain" }, "Each trial's objective in trial order, and the best so far."),
             chart("history", "chart tall"))),
      h("div", { class: "row" },
        card("Learning curves", "curves", this.curvesNote, chart("curves")),
        card("Parameter importance", "importance", this.importanceNote, chart("importance"))),
      card("Slice plots", "slices", h("p", { class: "explain" }, "The objective against one parameter."),
           this.sliceTabs, chart("slice")));
    for (const name of ["parallel", "history", "curves", "importance", "slice"])
      this.charts[name] = echarts.init(root.querySelector(`#chart-${name}`), null, { renderer: "canvas" });
    this.charts.parallel.on("axisareaselected", (event) => this.brushed(event));
    this.onResize = () => Object.values(this.charts).forEach((c) => c.resize());
    window.addEventListener("resize", this.onResize);
  }

  destroy() {
    window.removeEventListener("resize", this.onResize);
    Object.values(this.charts).forEach((c) => c.dispose());
  }

  async refresh() {
    const answer = await api.getIfChanged(this.path, this.etag);
    if (answer.notModified) return;
    const insights = await api.get(`${this.path}/insights`);
    this.etag = answer.etag;
    this.job = answer.data;
    this.insights = insights;
    const tags = new Set();
    for (const f of insights.finalMetrics || []) Object.keys(f.metrics || {}).forEach((t) => tags.add(t));
    this.columns = trialColumns(this.job, [...tags].sort());
    this.filterBar.setColumns(this.columns, this.filters);
    this.rows = trialRows(this.job, insights.finalMetrics);
    this.renderSummary();
    this.renderTrials();
    this.renderCharts();
  }

  get spec() { return (this.job.trainingInput && this.job.trainingInput.hyperparameters) || {}; }

  // The Job's header: state, counts, best, owner, labels, times, config.
  renderSummary() {
    const job = this.job;
    const out = job.trainingOutput || {};
    const counts = out.hptTrialCounts || {};
    const best = out.hptBestTrial;
    const labels = Object.entries(job.labels || {}).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`));
    fill(this.summary,
      h("div", { class: "toolbar" },
        h("h1", { id: "job-title" }, `Job ${job.jobId}`), stateBadge(job.state), this.cancelButton()),
      h("dl", { class: "kv" },
        h("dt", {}, "Trials"), h("dd", { id: "job-counts" },
          `${counts.finished || 0} finished of ${this.spec.maxTrials || "?"} (${counts.inFlight || 0} running, ` +
          `${counts.failed || 0} failed)`),
        h("dt", {}, "Best"), h("dd", {}, best ? `${fmtNumber(best.objectiveValue)} (trial ${best.trialId}, ` +
          `${this.spec.goal || "MAXIMIZE"} ${out.hyperparameterMetricTag || ""})` : "–"),
        h("dt", {}, "Owner"), h("dd", {}, job.createdBy || "–"),
        h("dt", {}, "Labels"), h("dd", {}, labels.length ? labels : "–"),
        h("dt", {}, "Created"), h("dd", {}, fmtTime(job.createTime)),
        h("dt", {}, "Started"), h("dd", {}, fmtTime(job.startTime)),
        h("dt", {}, "Ended"), h("dd", {}, fmtTime(job.endTime)),
        h("dt", {}, "Duration"), h("dd", {}, fmtDuration(span(job.startTime, job.endTime))),
        job.errorMessage ? [h("dt", {}, "Error"), h("dd", { class: "error" }, job.errorMessage)] : null),
      h("details", {}, h("summary", {}, "Configuration"), h("pre", { class: "json", id: "job-config" },
        JSON.stringify(this.visibleInput(), null, 2))));
  }

  // trainingInput without env values the caller may not see: the master
  // sends "<redacted>" for them; the page shows the names only.
  visibleInput() {
    const input = JSON.parse(JSON.stringify(this.job.trainingInput || {}));
    if (input.env && Object.values(input.env).some((v) => v === "<redacted>"))
      input.env = Object.keys(input.env).sort().map((name) => `${name} (value hidden)`);
    return input;
  }

  // Cancel, for the job's owner (a user) and admins, while it can be.
  cancelButton() {
    const me = this.ctx.me;
    const mine = me.role === "admin" || (me.role === "user" && this.job.createdBy === me.name);
    if (!mine || TERMINAL.has(this.job.state) || this.job.state === "CANCELLING") return null;
    return h("button", { class: "danger", id: "job-cancel", onclick: async () => {
      if (!confirm(`Cancel job ${this.jobId}?`)) return;
      try { await api.post(`${this.path}:cancel`); } catch (error) { this.ctx.showError(error); }
    } }, "Cancel job");
  }

  visibleRows() {
    return applyFilters(this.rows, this.columns, this.filters);
  }

  renderTrials() {
    const shown = this.visibleRows();
    const column = this.columns.find((c) => c.key === this.sort.key) || this.columns[0];
    const sorted = sortRows(shown, column, this.sort.desc);
    const best = this.job.trainingOutput && this.job.trainingOutput.hptBestTrial;
    this.count.textContent = `${shown.length} of ${this.rows.length} trials`;
    const head = this.columns.map((c) => h("th", {
      class: `sortable${c.key === this.sort.key ? (this.sort.desc ? " sorted-desc" : " sorted-asc") : ""}`,
      dataset: { key: c.key },
      onclick: () => { this.sort = { key: c.key, desc: c.key === this.sort.key ? !this.sort.desc : false };
                       this.renderTrials(); } }, c.label));
    const body = sorted.map((row) => this.trialRow(row, best && Number(best.trialId) === row.id));
    fill(this.table, h("table", { class: "grid", id: "trials-table" },
      h("thead", {}, h("tr", {}, head)), h("tbody", {}, body)));
  }

  trialRow(row, isBest) {
    const link = route(`/jobs/${encodeURIComponent(this.jobId)}/trials/${row.id}`, { project: this.ctx.project });
    const cells = this.columns.map((c) => {
      const v = c.get(row);
      if (c.key === "id") return h("td", { class: "num" }, h("a", { href: link }, String(v)));
      if (c.key === "state") return h("td", {}, stateBadge(v));
      if (c.key === "duration") return h("td", { class: "num" }, fmtDuration(v));
      // A trial stopped early carries the rule's reason, not an error.
      if (c.key === "error") return h("td", { class: row.state === "FAILED" ? "wrap error" : "wrap muted" }, v);
      if (c.kind !== "num") return h("td", {}, v);
      // The cell shows a rounded number; its title the exact value.
      return h("td", { class: "num", title: v === null || v === undefined ? undefined : String(v) }, fmtNumber(v));
    });
    return h("tr", { class: `clickable${isBest ? " best" : ""}`, dataset: { trial: row.id },
                     onclick: (event) => { if (event.target.tagName !== "A") this.ctx.navigate(link); } }, cells);
  }

  filtersChanged(fromBrush) {
    this.filterBar.render(this.filters);
    this.renderTrials();
    this.renderCharts(fromBrush);
  }

  // The parameters, then the objective: the parallel axes.
  axes() {
    return [...this.columns.filter((c) => c.group === "parameter"), this.columns.find((c) => c.key === "objective")];
  }

  renderCharts(fromBrush = false) {
    const keep = new Set(this.visibleRows().map((r) => r.id));
    const axes = this.axes();
    this.charts.parallel.setOption(parallelOption(this.rows, axes, keep), { replaceMerge: ["series"] });
    if (!fromBrush) this.showFiltersOnAxes(axes);
    const goal = this.spec.goal || "MAXIMIZE";
    this.charts.history.setOption(historyOption(this.rows, bestSoFar(this.rows, goal), goal, keep), true);
    this.renderCurves();
    this.renderImportance();
    this.renderSlices(keep);
  }

  // The table's filter of each axis as its brush (ECharts' active
  // intervals), without the event that a user's brush sends.
  showFiltersOnAxes(axes) {
    // Each action redraws the chart: send them only when a filter moved.
    const signature = JSON.stringify(axes.map((c) => {
      const f = this.filters.get(c.key);
      return f && f.values ? [...f.values] : f || null;
    }));
    if (signature === (this.axesShown ?? JSON.stringify(axes.map(() => null)))) {
      this.axesShown = signature;
      return;
    }
    this.axesShown = signature;
    for (const column of axes) {
      const f = this.filters.get(column.key);
      let intervals = [];
      if (f && column.kind === "cat")
        intervals = column.categories.map((c, i) => (f.values.has(c) ? [i, i] : null)).filter(Boolean);
      else if (f)
        intervals = [this.axisRange(column, f)];
      this.charts.parallel.dispatchAction({ type: "axisAreaSelect", parallelAxisId: `axis:${column.key}`,
                                            intervals }, { silent: true });
    }
    // An axis does not redraw its own brush on its own action (it drew it
    // while brushing); one action naming no axis redraws them all.
    this.charts.parallel.dispatchAction({ type: "axisAreaSelect", parallelAxisId: "axis:none",
                                          intervals: [] }, { silent: true });
  }

  // A filter's range on its axis: an open end goes to the end of the
  // axis (the parameter's range, or the values there are).
  axisRange(column, f) {
    const values = this.rows.map((r) => column.get(r)).filter((v) => v !== null && v !== undefined);
    const low = column.min ?? Math.min(...values), high = column.max ?? Math.max(...values);
    return [f.min ?? low, f.max ?? high];
  }

  // A brush on a parallel axis becomes (or clears) that column's filter.
  brushed(event) {
    this.axesShown = "brushed";
    const key = String(event.parallelAxisId || "").replace(/^axis:/, "");
    const column = this.columns.find((c) => c.key === key);
    if (!column) return;
    const intervals = event.intervals || [];
    if (!intervals.length) this.filters.delete(key);
    else if (column.kind === "cat")
      this.filters.set(key, { values: new Set(column.categories.filter((c, i) =>
        intervals.some(([a, b]) => a <= i && i <= b))) });
    else
      this.filters.set(key, { min: Math.min(...intervals.map((i) => i[0])),
                              max: Math.max(...intervals.map((i) => i[1])) });
    this.filtersChanged(true);
  }

  renderCurves() {
    const early = this.insights.earlyStopping;
    this.curvesNote.textContent = early
      ? (early.rule === "MEDIAN"
        ? "Early stopping is on (median rule): a trial stops when its best value so far is worse than the " +
          "median of the completed trials' running averages at the same step (dashed)."
        : "Early stopping is on (ASHA): at each rung (dotted) only the best 1/reductionFactor continue; squares " +
          "are the rungs' cutoffs.") + " Red triangles: trials stopped early, where they stopped."
      : "Each trial's objective reports against step (the last 1000 per trial). Early stopping is off.";
    this.charts.curves.setOption(curvesOption(this.rows, early), true);
  }

  renderImportance() {
    const importance = this.insights.parameterImportance;
    if (!importance) {
      this.importanceNote.textContent = `Not available yet: ${this.insights.parameterImportanceUnavailable || "no model"}.`;
      this.charts.importance.clear();
      return;
    }
    this.importanceNote.textContent =
      `From the Gaussian process the optimizer fitted to ${importance.fittedOn} trials: each parameter's ` +
      "share of 1/length-scale. A short length scale means the objective changes quickly along that " +
      "parameter (over its whole range, log-scaled where the parameter is), so it explains more of the " +
      "objective. It is the model's view, not a measured effect, and says nothing of interactions.";
    this.charts.importance.setOption(importanceOption(importance), true);
  }

  renderSlices(keep) {
    const params = this.columns.filter((c) => c.group === "parameter");
    if (!params.length) return;
    if (!params.some((c) => c.key === this.sliceKey)) this.sliceKey = params[0].key;
    fill(this.sliceTabs, params.map((c) => h("button", {
      class: c.key === this.sliceKey ? "active" : "", dataset: { key: c.key },
      onclick: () => { this.sliceKey = c.key; this.renderSlices(new Set(this.visibleRows().map((r) => r.id))); },
    }, c.label)));
    this.charts.slice.setOption(sliceOption(this.rows, params.find((c) => c.key === this.sliceKey), keep), true);
  }
}
