/**
 * The benchmark's HTML report (`bench-results/bench-<time>.html`): the machine, the command, the
 * result table and, per scenario, bar charts of throughput and of latency percentiles with every target
 * (imserver, the baseline relay, …) side by side. One self-contained file: uPlot (from npm, imported
 * as text) and the data are embedded, so it opens offline from disk, with no CDN.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("bench-results/bench.html", htmlReport(doc));
 * ```
 * @module
 */
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import type { Row } from "./common.ts";
import type { Json } from "./proc.ts";

const escapeHtml = (s: unknown): string =>
  String(s ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** JSON safe inside a `<script>` element (no `</script>`, no `<!--`). */
const scriptJson = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

/** The chart data of one scenario: throughput per target and latency percentiles per target. */
export interface ScenarioChart {
  scenario: string;
  metric: string;
  targets: string[];
  values: number[];
  /** [p50, p90, p99, max] per target (null where a target has none). */
  latency: Array<Array<number | null>> | null;
}

/** Group the rows that completed by scenario, for the charts. */
export function chartData(rows: Row[]): ScenarioChart[] {
  const out: ScenarioChart[] = [];
  for (const row of rows) {
    if (row.status !== "ok" || !row.metric) continue;
    let chart = out.find((c) => c.scenario === row.scenario);
    if (!chart) {
      out.push(chart = { scenario: row.scenario, metric: row.metric, targets: [], values: [], latency: [] });
    }
    chart.targets.push(row.target);
    chart.values.push(row.value);
    chart.latency!.push([row.p50Ms ?? null, row.p90Ms ?? null, row.p99Ms ?? null, row.maxMs ?? null]);
  }
  for (const c of out) if (c.latency!.every((l) => l.every((v) => v === null))) c.latency = null;
  return out;
}

const COLUMNS: Array<[string, (r: Row) => unknown]> = [
  ["scenario", (r) => r.scenario],
  ["target", (r) => r.target],
  ["params", (r) => r.params],
  ["metric", (r) => r.metric],
  ["value", (r) => r.value],
  ["× baseline", (r) => r.ratio],
  ["p50 ms", (r) => r.p50Ms],
  ["p99 ms", (r) => r.p99Ms],
  ["sent", (r) => r.sent],
  ["lost", (r) => r.lost],
  ["dup", (r) => r.duplicates],
  ["server CPU %", (r) => r.serverCpu],
  ["status", (r) => r.status],
];

/** The whole report as one HTML document. */
export function htmlReport(doc: Json): string {
  const rows = doc.rows as Row[];
  const m = doc.machine;
  const table = [
    "<table><thead><tr>",
    ...COLUMNS.map(([h]) => `<th>${escapeHtml(h)}</th>`),
    "</tr></thead><tbody>",
    ...rows.map((r) =>
      `<tr class="${r.status === "ok" ? "ok" : "bad"}">${
        COLUMNS.map(([, f]) => `<td>${escapeHtml(f(r))}</td>`).join("")
      }</tr>`
    ),
    "</tbody></table>",
  ].join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imserver benchmark ${escapeHtml(doc.date)}</title>
<style>${uplotCss}</style>
<style>${STYLE}</style>
</head>
<body>
<h1>imserver benchmark</h1>
<p>${escapeHtml(doc.date)} — <code>${escapeHtml(doc.command)}</code></p>
<p>Machine: ${escapeHtml(m.cores)} cores (${escapeHtml(m.cpuModel)}), ${
    escapeHtml(Math.round(m.memoryBytes / 2 ** 30))
  } GB, ${escapeHtml(m.os)}, Deno ${escapeHtml(m.deno)}, load average at start ${
    escapeHtml(m.loadavg?.join(" "))
  }.
${escapeHtml(doc.caveat ?? "")}</p>
<h2>Throughput and latency per scenario</h2>
<p class="note">Every target of a scenario side by side: imserver and the bare baseline relay of the same run.
Runs that lost or duplicated messages, or did not complete, are in the table only.</p>
<div id="charts"></div>
<h2>All rows</h2>
<div class="wrap">${table}</div>
<script type="application/json" id="bench-data">${scriptJson(chartData(rows))}</script>
<script>${uplotJs}</script>
<script>${CHARTS_SCRIPT}</script>
</body>
</html>
`;
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; color: #1d2430; margin: 1rem auto; max-width: 1100px; padding: 0 1rem; }
h2 { margin-top: 2rem; }
.note { color: #667085; }
#charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1rem; }
figure { margin: 0; border: 1px solid #d8dce3; border-radius: 8px; padding: 0.5rem; }
figcaption { font-weight: 600; margin-bottom: 0.3rem; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #d8dce3; padding: 0.25rem 0.5rem; text-align: left; white-space: nowrap; }
tr.bad td { color: #b42318; }
`;

/** Runs in the report: grouped bars with uPlot (one x position per target within each group). */
const CHARTS_SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById("bench-data").textContent);
  var colors = ["#2f6fed", "#b54708", "#1a7f37", "#7a5af8", "#b42318", "#0e9384"];
  var root = document.getElementById("charts");
  function chart(title, groups, targets, values, unit) {
    var n = targets.length, xs = [], series = [{}], cols = [];
    groups.forEach(function (_, g) { targets.forEach(function (_, t) { xs.push(g * (n + 1) + t); }); });
    targets.forEach(function (name, t) {
      var col = xs.map(function (_, i) { return i % n === t ? values[t][Math.floor(i / n)] : null; });
      cols.push(col);
      series.push({ label: name, fill: colors[t % colors.length], stroke: colors[t % colors.length],
        paths: uPlot.paths.bars({ size: [0.9, 80] }), points: { show: false } });
    });
    var box = document.createElement("figure");
    var cap = document.createElement("figcaption");
    cap.textContent = title;
    box.appendChild(cap);
    root.appendChild(box);
    var centers = groups.map(function (_, g) { return g * (n + 1) + (n - 1) / 2; });
    new uPlot({
      width: Math.max(280, box.clientWidth - 16), height: 220,
      scales: { x: { time: false, range: [-1, groups.length * (n + 1) - 1] }, y: { range: function (u, lo, hi) { return [0, hi * 1.1 || 1]; } } },
      axes: [
        { splits: function () { return centers; }, values: function () { return groups; } },
        { label: unit, size: 60 },
      ],
      legend: { live: false },
      cursor: { show: false },
      series: series,
    }, [xs].concat(cols), box);
  }
  data.forEach(function (s) {
    chart(s.scenario + ": throughput", [s.metric], s.targets, s.values.map(function (v) { return [v]; }), s.metric);
    if (s.latency) chart(s.scenario + ": latency (ms)", ["p50", "p90", "p99", "max"], s.targets, s.latency, "ms");
  });
})();
`;
