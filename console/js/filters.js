// The trials table's filters: "add a filter" on any metric, parameter or
// the step, then a range (min, max) for numbers or the values kept for a
// categorical parameter. The filters live in the job page's Map (column
// key to filter, trials.js); this bar edits that Map and calls onChange.
// It is redrawn only when the set of columns or filters changes, so a
// live refresh never takes the focus from a field being typed in.
import { fill, h } from "./dom.js";

export class FilterBar {
  constructor(onChange) {
    this.onChange = onChange;
    this.columns = [];
    this.filters = new Map();
    this.signature = "";
    this.element = h("div", { class: "filters", id: "trial-filters" });
  }

  setColumns(columns, filters) {
    const signature = columns.filter((c) => c.filterable).map((c) => c.key).join("\n");
    this.columns = columns;
    this.filters = filters;
    if (signature !== this.signature) {
      this.signature = signature;
      this.render(filters);
    }
  }

  render(filters) {
    this.filters = filters;
    const add = h("select", { id: "filter-add" },
      h("option", { value: "" }, "Add a filter on…"),
      ["metric", "parameter", "step"].map((group) => h("optgroup", { label: group },
        this.columns.filter((c) => c.filterable && c.group === group && !filters.has(c.key))
          .map((c) => h("option", { value: c.key }, c.label)))));
    add.addEventListener("change", () => {
      const column = this.columns.find((c) => c.key === add.value);
      if (!column) return;
      filters.set(column.key, column.kind === "cat" ? { values: new Set(column.categories) } : {});
      this.onChange();
    });
    const chips = [...filters.entries()].map(([key, f]) => this.chip(this.columns.find((c) => c.key === key), f))
      .filter(Boolean);
    fill(this.element, add, chips,
      chips.length ? h("button", { id: "filter-clear", onclick: () => { filters.clear(); this.onChange(); } },
                       "Clear filters") : null);
  }

  chip(column, f) {
    if (!column) return null;
    const remove = h("button", { class: "remove", title: "remove this filter",
                                 onclick: () => { this.filters.delete(column.key); this.onChange(); } }, "×");
    const id = `filter-${column.key.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    if (column.kind === "cat") {
      const boxes = column.categories.map((value) => {
        const box = h("input", { type: "checkbox", value, checked: f.values.has(value) });
        box.addEventListener("change", () => {
          if (box.checked) f.values.add(value); else f.values.delete(value);
          this.onChange();
        });
        return h("label", {}, box, value);
      });
      return h("span", { class: "filter", id, dataset: { key: column.key } }, column.label,
               h("span", { class: "cats" }, boxes), remove);
    }
    const bound = (name) => {
      const input = h("input", { type: "number", step: "any", class: name, placeholder: name,
                                 value: f[name] ?? "" });
      input.addEventListener("change", () => {
        const n = input.value.trim() === "" ? null : Number(input.value);
        if (n === null || !Number.isFinite(n)) delete f[name]; else f[name] = n;
        this.onChange();
      });
      return input;
    };
    return h("span", { class: "filter", id, dataset: { key: column.key } },
             bound("min"), h("span", {}, `≤ ${column.label} ≤`), bound("max"), remove);
  }
}
