// The trial page: parameters, final and all metrics (every tag the
// trainer reported), its cluster (each task's node, GPUs/TPUs with their
// NUMA node, cores, port, the TF_CONFIG cluster it got), the live log
// tail of each task, and the error with the stderr tail if it failed.
// While the trial runs, every refresh reads the trial and the log tail;
// its metrics are read again only when its step or state moved.
import { api, projectPath } from "./api.js";
import { clear, fill, fmtDuration, fmtNumber, fmtTime, h, route, span, stateBadge } from "./dom.js";

const TAIL_LINES = 200;
const METRICS_PAGE = 10000;

export class TrialView {
  constructor(ctx, root, jobId, trialId) {
    this.ctx = ctx;
    this.jobId = jobId;
    this.trialId = trialId;
    this.path = projectPath(ctx.project, `/${encodeURIComponent(jobId)}`);
    this.metricsKey = null;
    this.task = null;
    this.head = h("div", {});
    this.params = h("div", {});
    this.finals = h("div", {});
    this.cluster = h("div", {});
    this.failure = h("div", {});
    this.taskTabs = h("div", { class: "tabs" });
    this.log = h("pre", { class: "log", id: "trial-log" });
    const back = route(`/jobs/${encodeURIComponent(jobId)}`, { project: ctx.project });
    root.append(
      h("p", {}, h("a", { href: back, id: "back-to-job" }, `← job ${jobId}`)),
      h("section", { class: "card", id: "trial-summary" }, this.head, this.failure),
      h("div", { class: "row" },
        h("section", { class: "card" }, h("h2", {}, "Parameters"), this.params),
        h("section", { class: "card" }, h("h2", {}, "Final metrics (every tag)"), this.finals)),
      h("section", { class: "card" }, h("h2", {}, "All metrics"), h("div", { class: "chart", id: "chart-metrics" })),
      h("section", { class: "card", id: "trial-cluster" }, h("h2", {}, "Cluster"), this.cluster),
      h("section", { class: "card", id: "trial-logs" }, h("h2", {}, `Log tail (last ${TAIL_LINES} lines)`),
        this.taskTabs, this.log));
    this.chart = echarts.init(root.querySelector("#chart-metrics"));
    this.onResize = () => this.chart.resize();
    window.addEventListener("resize", this.onResize);
  }

  destroy() {
    window.removeEventListener("resize", this.onResize);
    this.chart.dispose();
  }

  async refresh() {
    const trial = await api.get(`${this.path}/trials/${encodeURIComponent(this.trialId)}`);
    this.trial = trial;
    this.renderHead();
    this.renderTables();
    this.renderCluster();
    const key = `${trial.hptState}/${(trial.finalMetric || {}).trainingStep}/${(trial.allMetrics || []).length}`;
    if (key !== this.metricsKey) {
      this.metricsKey = key;
      await this.renderMetrics();
    }
    await this.renderLog();
    await this.renderFailure();
  }

  renderHead() {
    const t = this.trial;
    fill(this.head,
      h("div", { class: "toolbar" }, h("h1", {}, `Trial ${t.trialId} of ${this.jobId}`), stateBadge(t.hptState || t.state),
        t.isTrialStoppedEarly ? h("span", { class: "state STOPPING" }, "stopped early") : null),
      h("dl", { class: "kv" },
        h("dt", {}, "Objective"), h("dd", { id: "trial-objective" },
          t.finalMetric ? `${fmtNumber(t.finalMetric.objectiveValue)} at step ${t.finalMetric.trainingStep}` : "–"),
        h("dt", {}, "Node"), h("dd", {}, (t.hptNodes || []).join(", ") || "–"),
        h("dt", {}, "Started"), h("dd", {}, fmtTime(t.startTime)),
        h("dt", {}, "Ended"), h("dd", {}, fmtTime(t.endTime)),
        h("dt", {}, "Duration"), h("dd", {}, fmtDuration(span(t.startTime, t.endTime)))));
  }

  renderTables() {
    const t = this.trial;
    fill(this.params, h("table", { class: "grid", id: "trial-params" }, h("tbody", {},
      Object.entries(t.hyperparameters || {}).map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))))));
    const finals = Object.entries(t.hptFinalMetrics || {});
    fill(this.finals, finals.length ? h("table", { class: "grid", id: "trial-finals" },
      h("thead", {}, h("tr", {}, h("th", {}, "tag"), h("th", {}, "step"), h("th", {}, "value"))),
      h("tbody", {}, finals.map(([tag, p]) => h("tr", {}, h("td", {}, tag), h("td", { class: "num" }, p.trainingStep),
        h("td", { class: "num" }, fmtNumber(p.value)))))) : h("p", { class: "muted" }, "No metric reported yet."));
  }

  renderCluster() {
    const tasks = this.trial.hptTasks || [];
    const accel = (list) => list.map((a) => `${a.type || "gpu"} ${a.index}` +
      (a.numaNode !== undefined && a.numaNode >= 0 ? ` (NUMA ${a.numaNode})` : "")).join(", ") || "–";
    const rows = tasks.map((task) => h("tr", {},
      h("td", {}, task.taskId), h("td", {}, task.node || "–"), h("td", {}, stateBadge(task.state)),
      h("td", { class: "num" }, task.exitCode ?? "–"), h("td", { class: "num" }, `${task.cpus} / ${task.memoryMb} MB`),
      h("td", {}, accel(task.gpus || [])), h("td", {}, accel(task.tpus || [])),
      h("td", {}, (task.cores || []).join(",") || "–"), h("td", { class: "num" }, task.port ?? "–"),
      h("td", { class: "wrap" }, h("code", {}, JSON.stringify(task.clusterSpec || {})))));
    fill(this.cluster, tasks.length ? h("div", { class: "scroll" }, h("table", { class: "grid", id: "trial-tasks" },
      h("thead", {}, h("tr", {}, ["task", "node", "state", "exit", "CPUs / memory", "GPUs", "TPUs", "cores",
                                  "port", "TF_CONFIG cluster"].map((x) => h("th", {}, x)))),
      h("tbody", {}, rows))) : h("p", { class: "muted" }, "Not placed yet."));
  }

  // Every point of every tag (one page of up to METRICS_PAGE), a line per tag.
  async renderMetrics() {
    const page = await api.get(`${this.path}/trials/${encodeURIComponent(this.trialId)}/metrics?pageSize=${METRICS_PAGE}`);
    const byTag = new Map();
    for (const m of page.metrics || []) {
      if (!byTag.has(m.tag)) byTag.set(m.tag, []);
      byTag.get(m.tag).push([Number(m.trainingStep), Number(m.value)]);
    }
    this.chart.setOption({
      animation: false, legend: { type: "scroll", top: 4 }, tooltip: { trigger: "axis" },
      grid: { left: 60, right: 20, top: 40, bottom: 40 },
      xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 24, scale: true },
      yAxis: { type: "value", scale: true },
      series: [...byTag.entries()].map(([tag, data]) => ({ name: tag, type: "line", showSymbol: data.length < 50, data })),
    }, true);
  }

  async logTail(task, stream) {
    const query = new URLSearchParams({ tail: String(TAIL_LINES), trial: String(this.trialId) });
    if (task) query.set("task", task);
    if (stream) query.set("stream", stream);
    return (await api.get(`${this.path}/logs?${query}`)).entries || [];
  }

  async renderLog() {
    const tasks = (this.trial.hptTasks || []).map((t) => t.taskId);
    if (this.task !== null && !tasks.includes(this.task)) this.task = null;
    fill(this.taskTabs, [null, ...tasks].map((task) => h("button", {
      class: task === this.task ? "active" : "", onclick: () => { this.task = task; this.renderLog(); },
    }, task === null ? "all tasks" : task)));
    const entries = await this.logTail(this.task);
    const atEnd = this.log.scrollTop + this.log.clientHeight >= this.log.scrollHeight - 4;
    // A line's end may come as an entry of its own: nothing to show.
    fill(this.log, entries.filter((e) => e.text !== "\n").map((e) => h("span", { class: e.stream },
      `${e.replica ? e.replica + " " : ""}${e.text}${e.text.endsWith("\n") ? "" : "\n"}`)));
    if (atEnd) this.log.scrollTop = this.log.scrollHeight;
  }

  // A failed trial's error with its stderr tail; a trial stopped early
  // says why (it ended as the rule asked: no error, no stderr to show).
  async renderFailure() {
    const t = this.trial;
    if ((t.hptState || t.state) !== "FAILED") {
      fill(this.failure, t.isTrialStoppedEarly && t.errorMessage
        ? h("p", { class: "muted", id: "trial-stopped" }, `Stopped early: ${t.errorMessage}`) : null);
      return;
    }
    const stderr = await this.logTail(null, "stderr");
    fill(this.failure, h("h2", { class: "error" }, "Error"),
      h("p", { class: "error", id: "trial-error" }, t.errorMessage || "failed"),
      h("pre", { class: "log", id: "trial-stderr" }, stderr.length ? stderr.map((e) => e.text).join("") : "(no stderr)"));
  }
}
