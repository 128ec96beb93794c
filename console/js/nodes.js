// The nodes page: every agent with its state, heartbeat age, CPUs and
// memory (free of total), each accelerator (type, index, NUMA node, the
// task that holds it), drain state with its reason; drain, undrain and
// delete for admins only (others would get 403, so they see no buttons).
import { api, listAll } from "./api.js";
import { fill, fmtNumber, h, parseTime, stateBadge } from "./dom.js";

export class NodesView {
  constructor(ctx, root) {
    this.ctx = ctx;
    this.table = h("div", { class: "scroll" });
    root.append(h("section", { class: "card" }, h("h1", {}, "Nodes"), this.table));
  }

  async refresh() {
    this.render(await listAll("/v1/nodes", "nodes"));
  }

  render(nodes) {
    const admin = this.ctx.me.role === "admin";
    const header = ["Node", "State", "Heartbeat", "CPUs free / total", "Memory free / total", "Accelerators",
                    "Tasks", "Drain", ...(admin ? [""] : [])];
    fill(this.table, h("table", { class: "grid", id: "nodes-table" },
      h("thead", {}, h("tr", {}, header.map((x) => h("th", {}, x)))),
      h("tbody", {}, nodes.length ? nodes.map((n) => this.row(n, admin))
        : h("tr", {}, h("td", { colspan: header.length, class: "muted" }, "No agent has registered.")))));
  }

  row(node, admin) {
    const seen = parseTime(node.lastSeen);
    const age = seen === null ? "–" : `${Math.max(0, (Date.now() - seen) / 1000).toFixed(1)} s ago`;
    const accels = (node.accelerators || []).map((a) => h("span", {},
      `${a.type} ${a.index} · NUMA ${a.numaNode}` + (a.heldBy ? ` · ${a.heldBy}` : a.free ? " · free" : " · busy")));
    const drain = node.drainState === "NONE" ? stateBadge("NONE")
      : [stateBadge(node.drainState), " ", node.drainReason || "", node.drainedBy ? ` (by ${node.drainedBy})` : ""];
    return h("tr", { dataset: { node: node.name } },
      h("td", {}, node.name), h("td", {}, stateBadge(node.state)), h("td", {}, age),
      h("td", { class: "num" }, `${fmtNumber(node.freeCpus)} / ${fmtNumber(node.cpus)}`),
      h("td", { class: "num" }, `${fmtNumber(node.freeMemoryGb, 3)} / ${fmtNumber(node.memoryGb, 3)} GB`),
      h("td", {}, h("div", { class: "accels" }, accels.length ? accels : "–")),
      h("td", { class: "num" }, node.runningTasks),
      h("td", { class: "wrap" }, drain),
      admin ? h("td", {}, this.actions(node)) : null);
  }

  actions(node) {
    const path = `/v1/nodes/${encodeURIComponent(node.name)}`;
    const act = (label, fn, cls) => h("button", { class: cls, dataset: { action: label.toLowerCase() },
      onclick: async () => { try { await fn(); await this.refresh(); } catch (e) { this.ctx.showError(e); } } }, label);
    const buttons = [];
    if (node.drainState === "NONE")
      buttons.push(act("Drain", async () => {
        const reason = prompt(`Drain ${node.name}: reason?`, "maintenance");
        if (reason !== null) await api.post(`${path}:drain`, { reason });
      }));
    else buttons.push(act("Undrain", () => api.post(`${path}:undrain`)));
    buttons.push(act("Delete", async () => {
      if (confirm(`Delete node ${node.name}? Its agent must register again.`)) await api.del(path);
    }, "danger"));
    return buttons;
  }
}
