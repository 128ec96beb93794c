// A job's trials as rows and columns, and the filters over them. Pure
// data (no DOM): the job page's table, parallel coordinates and charts
// all read the same rows and the same filter set, which is what links
// them (a brush on an axis is a filter; a filter shows on its axis).
//
// A column is {key, label, kind: "num" | "cat" | "text", get(row),
// filterable, log (a log-scaled parameter), categories (a categorical
// one's values)}. A filter on a column is {min, max} (either may be
// absent) for numbers, {values: Set} for categories.
import { parseTime, span } from "./dom.js";

// The parameters of the job's spec as columns.
function parameterColumns(spec) {
  return (spec.params || []).map((p) => {
    const numeric = p.type !== "CATEGORICAL";
    const discrete = p.type === "DISCRETE";
    return {
      key: `param:${p.parameterName}`, label: p.parameterName, group: "parameter",
      kind: numeric ? "num" : "cat", filterable: true,
      log: numeric && !discrete && /LOG/.test(p.scaleType || ""),
      categories: numeric ? null : p.categoricalValues || [],
      min: p.minValue, max: p.maxValue,
      get: (row) => row.params[p.parameterName],
    };
  });
}

// Every column of the trials table for a job and the metric tags its
// trials reported (tags: names other than the objective's tag).
export function trialColumns(job, tags) {
  const spec = (job.trainingInput && job.trainingInput.hyperparameters) || {};
  const objectiveTag = spec.hyperparameterMetricTag || "training/hptuning/metric";
  return [
    { key: "id", label: "Trial", kind: "num", get: (r) => r.id },
    { key: "state", label: "State", kind: "cat", get: (r) => r.state },
    { key: "objective", label: `Objective (${objectiveTag})`, group: "metric", kind: "num",
      filterable: true, get: (r) => r.objective },
    { key: "step", label: "Step", group: "step", kind: "num", filterable: true, get: (r) => r.step },
    ...parameterColumns(spec),
    ...tags.filter((t) => t !== objectiveTag).map((tag) => ({
      key: `metric:${tag}`, label: tag, group: "metric", kind: "num", filterable: true,
      get: (r) => r.metrics[tag],
    })),
    { key: "duration", label: "Duration", kind: "num", get: (r) => r.duration },
    { key: "node", label: "Node", kind: "text", get: (r) => r.node },
    { key: "stoppedEarly", label: "Stopped early", kind: "text", get: (r) => (r.stoppedEarly ? "yes" : "") },
    { key: "error", label: "Error", kind: "text", get: (r) => r.error },
  ];
}

function numberOrNull(value) {
  if (value === undefined || value === null || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

// One row per trial of the Job, with the last value of every metric tag
// from the insights' finalMetrics.
export function trialRows(job, finalMetrics, now = Date.now()) {
  const spec = (job.trainingInput && job.trainingInput.hyperparameters) || {};
  const kinds = Object.fromEntries((spec.params || []).map((p) => [p.parameterName, p.type]));
  const byTrial = new Map((finalMetrics || []).map((f) => [String(f.trialId), f.metrics || {}]));
  const trials = (job.trainingOutput && job.trainingOutput.trials) || [];
  return trials.map((t) => {
    const params = {};
    for (const [name, value] of Object.entries(t.hyperparameters || {}))
      params[name] = kinds[name] === "CATEGORICAL" ? value : numberOrNull(value);
    const metrics = {};
    for (const [tag, point] of Object.entries(byTrial.get(String(t.trialId)) || {}))
      metrics[tag] = numberOrNull(point.value);
    const final = t.finalMetric || {};
    const points = t.allMetrics || [];
    const last = points.length ? points[points.length - 1] : null;
    return {
      id: Number(t.trialId), state: t.hptState || t.state,
      objective: numberOrNull(final.objectiveValue !== undefined ? final.objectiveValue
                                                                  : last && last.objectiveValue),
      step: numberOrNull(final.trainingStep !== undefined ? final.trainingStep : last && last.trainingStep),
      params, metrics,
      duration: parseTime(t.startTime) === null ? null : span(t.startTime, t.endTime, now),
      node: (t.hptNodes || [])[0] || "", stoppedEarly: !!t.isTrialStoppedEarly,
      error: t.errorMessage || "", trial: t,
    };
  });
}

// Whether value passes filter on a column of kind.
function passes(filter, kind, value) {
  if (kind === "cat") return filter.values.has(value);
  if (value === null || value === undefined) return false;
  if (filter.min !== undefined && filter.min !== null && value < filter.min) return false;
  if (filter.max !== undefined && filter.max !== null && value > filter.max) return false;
  return true;
}

// The rows every filter lets through (filters: Map of column key to filter).
export function applyFilters(rows, columns, filters) {
  const active = [...filters.entries()].map(([key, f]) => [columns.find((c) => c.key === key), f])
    .filter(([column]) => column);
  return rows.filter((row) => active.every(([column, f]) => passes(f, column.kind, column.get(row))));
}

// rows sorted on column (ascending unless desc); empty values last.
export function sortRows(rows, column, desc) {
  const sign = desc ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = column.get(a), y = column.get(b);
    const xe = x === null || x === undefined || x === "", ye = y === null || y === undefined || y === "";
    if (xe || ye) return xe === ye ? a.id - b.id : xe ? 1 : -1;
    if (x < y) return -sign;
    if (x > y) return sign;
    return a.id - b.id;
  });
}

// The best trial's id of rows for goal (MAXIMIZE or MINIMIZE), or null.
export function bestSoFar(rows, goal) {
  const better = goal === "MAXIMIZE" ? (a, b) => a > b : (a, b) => a < b;
  let best = null;
  const line = [];
  for (const row of [...rows].sort((a, b) => a.id - b.id)) {
    if (row.objective === null) continue;
    if (best === null || better(row.objective, best)) best = row.objective;
    line.push([row.id, best]);
  }
  return line;
}
