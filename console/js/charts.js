// The job page's charts as Apache ECharts options (the vendored
// console/vendor/echarts): parallel coordinates, optimization history,
// learning curves, parameter importance and slice plots. Each function
// takes the trial rows (trials.js) and returns an option; nothing here
// touches the DOM. Animations are off: the charts are redrawn live.
const BASE = { animation: false };
const SELECTED = "#1f6feb";
const OTHER = "#c3cad3";

// The parallel axis of a column: log axes for log-scaled parameters,
// categorical ones for categories.
function parallelAxis(column, index) {
  const axis = { id: `axis:${column.key}`, dim: index, name: column.label, nameTextStyle: { fontSize: 11 },
                 nameLocation: "end", realtime: true };
  if (column.kind === "cat") return { ...axis, type: "category", data: column.categories };
  if (column.log) return { ...axis, type: "log", min: column.min, max: column.max, logBase: 10 };
  if (column.key === "objective") return { ...axis, type: "value", scale: true };
  return { ...axis, type: "value", min: column.min, max: column.max };
}

// Rows of keep (a Set of trial ids) and the others, as two series of
// one style each: a style per point would cost ECharts a thousand
// style objects per redraw.
function split(points, rows, keep) {
  const kept = [], other = [];
  rows.forEach((row, i) => (keep.has(row.id) ? kept : other).push(points[i]));
  return { kept, other };
}

// Parallel coordinates over axes (parameter columns, then the objective)
// for the rows with an objective; rows of keep in color, others grey.
export function parallelOption(rows, axes, keep) {
  const usable = rows.filter((r) => r.objective !== null);
  const value = (row, column) => {
    const v = column.get(row);
    if (column.kind === "cat") return v;
    return v === null || v === undefined ? "-" : v;
  };
  const { kept, other } = split(usable.map((row) => axes.map((c) => value(row, c))), usable, keep);
  const series = (id, data, color, opacity) => ({
    id, name: id, type: "parallel", data, lineStyle: { width: 1.5, color, opacity },
    inactiveOpacity: 0.05, activeOpacity: 1, progressive: 0 });
  return {
    ...BASE,
    parallel: { left: 60, right: 90, top: 40, bottom: 30,
                parallelAxisDefault: { nameGap: 12, axisLabel: { fontSize: 11 } } },
    parallelAxis: axes.map(parallelAxis),
    series: [series("filtered out", other, OTHER, 0.35), series("trials", kept, SELECTED, 0.8)],
  };
}

// The objective of each trial in trial order, with the best so far.
export function historyOption(rows, best, goal, keep) {
  const usable = rows.filter((r) => r.objective !== null);
  const { kept, other } = split(usable.map((r) => [r.id, r.objective]), usable, keep);
  const bestName = `best so far (${goal === "MAXIMIZE" ? "max" : "min"})`;
  return {
    ...BASE,
    grid: { left: 60, right: 20, top: 40, bottom: 40 },
    legend: { top: 4, data: ["objective", "filtered out", bestName] },
    tooltip: { trigger: "item", formatter: (p) => `trial ${p.value[0]}: ${p.value[1]}` },
    xAxis: { type: "value", name: "trial", nameLocation: "middle", nameGap: 24, minInterval: 1 },
    yAxis: { type: "value", scale: true, name: "objective" },
    series: [
      { name: "objective", type: "scatter", symbolSize: 6, data: kept, itemStyle: { color: SELECTED } },
      { name: "filtered out", type: "scatter", symbolSize: 5, data: other, itemStyle: { color: OTHER } },
      { name: bestName, type: "line", step: "end", showSymbol: false, data: best,
        lineStyle: { color: "#1a7f37", width: 2 }, itemStyle: { color: "#1a7f37" } },
    ],
  };
}

// Many curves draw as one "lines" series of polylines in ECharts' large
// mode (one path for all), which is what keeps a thousand trials of a
// hundred points each fast; a few are drawn one line series each, so
// each has its color and tooltip.
const SEPARATE_CURVES = 60;

function curvePoints(row) {
  return (row.trial.allMetrics || []).map((m) => [Number(m.trainingStep), Number(m.objectiveValue)]);
}

function referenceSeries(early) {
  if (!early) return [];
  if (early.rule === "MEDIAN")
    return [{ name: "median of completed trials", type: "line", showSymbol: false, z: 5,
              lineStyle: { color: "#24292f", width: 2.5, type: "dashed" }, itemStyle: { color: "#24292f" },
              data: (early.median || []).map((m) => [Number(m.trainingStep), Number(m.value)]) }];
  const rungs = (early.rungs || []).filter((r) => r.cutoff !== undefined);
  return [{ name: "ASHA rung cutoffs", type: "scatter", symbol: "rect", symbolSize: 12, z: 5,
            itemStyle: { color: "#24292f" },
            data: rungs.map((r) => [Number(r.trainingStep), Number(r.cutoff)]),
            markLine: { silent: true, symbol: "none", lineStyle: { color: "#8c959f", type: "dotted" },
                        data: (early.rungs || []).map((r) => ({ xAxis: Number(r.trainingStep) })) } }];
}

// Every trial's objective reports against step; trials stopped early
// marked where they stopped; the early-stopping rule's reference.
export function curvesOption(rows, early) {
  const withPoints = rows.filter((r) => (r.trial.allMetrics || []).length);
  let curves;
  if (withPoints.length <= SEPARATE_CURVES) {
    curves = withPoints.map((r) => ({ name: `trial ${r.id}`, type: "line", showSymbol: false,
                                      lineStyle: { width: 1.2 }, data: curvePoints(r) }));
  } else {
    curves = [{ name: "trials", type: "lines", coordinateSystem: "cartesian2d", polyline: true,
                large: true, largeThreshold: SEPARATE_CURVES, silent: true,
                lineStyle: { width: 1, color: "#1f6feb", opacity: 0.35 },
                data: withPoints.map((r) => ({ coords: curvePoints(r) })) }];
  }
  const stopped = withPoints.filter((r) => r.stoppedEarly).map((r) => {
    const points = curvePoints(r);
    return { value: points[points.length - 1], name: `trial ${r.id}` };
  });
  const reference = referenceSeries(early);
  return {
    ...BASE,
    grid: { left: 60, right: 20, top: 40, bottom: 40 },
    legend: { type: "scroll", top: 4, data: ["stopped early", ...reference.map((s) => s.name)] },
    tooltip: { trigger: "item", formatter: (p) => `${p.seriesName === "stopped early" ? p.name + " stopped" : p.seriesName}: step ${p.value[0]}, ${p.value[1]}` },
    xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 24, scale: true },
    yAxis: { type: "value", scale: true, name: "objective" },
    series: [...curves,
      { name: "stopped early", type: "scatter", symbol: "triangle", symbolSize: 10, z: 6,
        itemStyle: { color: "#cf222e" }, data: stopped },
      ...reference],
  };
}

// How much each parameter explains the objective (the GP's length scales).
export function importanceOption(importance) {
  const params = [...importance.parameters].sort((a, b) => a.importance - b.importance);
  return {
    ...BASE,
    grid: { left: 120, right: 40, top: 10, bottom: 30 },
    tooltip: { trigger: "item", formatter: (p) => `${p.name}: ${(p.value * 100).toFixed(1)}% (length scale ${params[p.dataIndex].lengthScale.toPrecision(3)})` },
    xAxis: { type: "value", max: 1, axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
    yAxis: { type: "category", data: params.map((p) => p.parameterName) },
    series: [{ type: "bar", data: params.map((p) => p.importance), itemStyle: { color: "#1f6feb" },
               label: { show: true, position: "right", formatter: (p) => `${(p.value * 100).toFixed(0)}%` } }],
  };
}

// The objective against one parameter (column), one point per trial.
export function sliceOption(rows, column, keep) {
  const usable = rows.filter((r) => r.objective !== null && column.get(r) !== null && column.get(r) !== undefined);
  const { kept, other } = split(usable.map((r) => [column.get(r), r.objective, r.id]), usable, keep);
  const x = column.kind === "cat" ? { type: "category", data: column.categories }
    : column.log ? { type: "log", min: column.min, max: column.max } : { type: "value", scale: true };
  return {
    ...BASE,
    grid: { left: 60, right: 20, top: 20, bottom: 50 },
    tooltip: { trigger: "item", formatter: (p) => `trial ${p.value[2]}: ${column.label}=${p.value[0]}, objective ${p.value[1]}` },
    xAxis: { ...x, name: column.label, nameLocation: "middle", nameGap: 28 },
    yAxis: { type: "value", scale: true, name: "objective" },
    series: [{ type: "scatter", symbolSize: 5, data: other, itemStyle: { color: OTHER } },
             { type: "scatter", symbolSize: 7, data: kept, itemStyle: { color: SELECTED } }],
  };
}
