/**
 * Result output: the markdown table (stdout and `bench-results/*.md`), the JSON file with
 * machine info, the command line and every row, and the HTML report with charts (report_html.ts).
 * @module
 */
import type { Row } from "./common.ts";
import type { Json } from "./proc.ts";
import { htmlReport } from "./report_html.ts";

/** Fill `ratio` of every imserver row from the baseline row of the same scenario. */
export function addRatios(rows: Row[]): void {
  for (const row of rows) {
    if (row.target === "baseline") continue;
    const base = rows.find((r) => r.target === "baseline" && r.scenario === baseScenario(row.scenario));
    if (!base || !base.value) continue;
    row.ratio = Math.round(row.value / base.value * 100) / 100;
  }
}

/**
 * SQLite vs memory (targets: ≥ 0.8 × the msgs/s, p99 ≤ 1.5 ×): `extra.vsMemory` (headline value ratio)
 * and `extra.p99VsMemory` on the default-store rows of every scenario that also ran on memory.
 */
export function addMemoryRatios(rows: Row[]): void {
  for (const row of rows) {
    if (row.target !== "imserver") continue;
    const memory = rows.find((r) => r.target === "imserver (memory)" && r.scenario === row.scenario);
    if (!memory) continue;
    if (memory.value) row.extra.vsMemory = Math.round(row.value / memory.value * 100) / 100;
    if (memory.p99Ms && row.p99Ms !== undefined) {
      row.extra.p99VsMemory = Math.round(row.p99Ms / memory.p99Ms * 100) / 100;
    }
  }
}

// The cluster rows compare with the single-node bare relay too.
function baseScenario(s: string): string {
  return s === "cluster" ? "rtt" : s === "cluster-rate" ? "rtt-rate" : s;
}

const fmt = (x: number | undefined) => x === undefined ? "" : String(x);

/** cluster rows: × single node, × single Redis, × the Socket.IO peer, and the CPU split node + redis. */
function clusterNote(r: Row): string {
  const parts = [
    r.extra.vsSingleNode !== undefined ? `${r.extra.vsSingleNode} × single node` : "",
    r.extra.ratioToSingleRedis !== undefined ? `${r.extra.ratioToSingleRedis} × single redis msgs/s` : "",
    r.extra.p99ToSingleRedis !== undefined && r.scenario === "cluster-rate"
      ? `p99 ${r.extra.p99ToSingleRedis} × single redis`
      : "",
    r.extra.ratioImserverToPeer !== undefined ? `${r.extra.ratioImserverToPeer} × socket.io msgs/s` : "",
    r.extra.p99ImserverToPeer !== undefined && r.scenario === "cluster-rate"
      ? `p99 ${r.extra.p99ImserverToPeer} × socket.io`
      : "",
    r.extra.cpuImserverToPeer !== undefined ? `CPU/msg ${r.extra.cpuImserverToPeer} × socket.io` : "",
    r.extra.nodeCpuUsPerMsg !== undefined
      ? `node ${r.extra.nodeCpuUsPerMsg} + redis ${r.extra.redisCpuUsPerMsg} µs/msg`
      : "",
  ].filter(Boolean);
  return parts.length ? ` (${parts.join("; ")})` : "";
}

/** push rows: acknowledged vs delivered, the CPU split, × embedded. */
function pushNote(r: Row): string {
  if (r.extra.acked === undefined) return "";
  const parts = [
    `acked ${r.extra.acked}, delivered ${r.extra.deliveries}`,
    `node ${r.extra.nodeCpuUsPerPush}${
      r.extra.redisCpuUsPerPush !== undefined ? ` + redis ${r.extra.redisCpuUsPerPush}` : ""
    } µs/push`,
    r.extra.ratioToEmbedded !== undefined ? `${r.extra.ratioToEmbedded} × embedded` : "",
  ].filter(Boolean);
  return ` (${parts.join("; ")})`;
}

/** The result table in markdown. */
export function markdownTable(rows: Row[]): string {
  const head = [
    "scenario",
    "target",
    "params",
    "metric",
    "value",
    "× baseline",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "sent",
    "received",
    "lost",
    "dup",
    "server CPU %",
    "server µs/msg",
    "loader CPU %",
    "loader µs/msg",
    "load",
    "status",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of rows) {
    const extra = r.scenario === "idle" || r.scenario === "cluster-idle"
      ? ` (${r.extra.loginsPerSec} logins/s, logins ${r.extra.loginSeconds} s)`
      : r.scenario === "cluster" || r.scenario === "cluster-rate"
      ? clusterNote(r)
      : r.scenario === "push"
      ? pushNote(r)
      : r.scenario === "fanout"
      ? ` (join ${r.extra.joinMs} ms)`
      : r.scenario === "durability"
      ? ` (acknowledged ${r.extra.acknowledged}, recovered ${r.extra.recovered}; first start ${r.extra.firstStartMs} ms)`
      : "";
    const vsMemory = r.extra.vsMemory !== undefined
      ? ` (${r.extra.vsMemory} × memory${
        r.extra.p99VsMemory !== undefined ? `, p99 ${r.extra.p99VsMemory} ×` : ""
      })`
      : "";
    lines.push(
      `| ${
        [
          r.scenario,
          r.target,
          r.params + extra + vsMemory,
          r.metric,
          fmt(r.value),
          fmt(r.ratio),
          fmt(r.p50Ms),
          fmt(r.p90Ms),
          fmt(r.p99Ms),
          fmt(r.maxMs),
          fmt(r.sent),
          fmt(r.received),
          fmt(r.lost),
          fmt(r.duplicates),
          fmt(r.serverCpu),
          fmt(r.extra.serverUsPerMsg),
          r.loaderCpu.join("+"),
          fmt(r.extra.loaderUsPerMsg),
          fmt(r.extra.load1),
          r.status,
        ].join(" | ")
      } |`,
    );
  }
  return lines.join("\n");
}

/** Write `bench-results/bench-<time>.{json,md,html}`; returns the JSON path. */
export async function writeResults(dir: string, doc: Json, table: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const base = `${dir}/bench-${stamp}`;
  await Deno.writeTextFile(`${base}.json`, JSON.stringify(doc, null, 2) + "\n");
  const md = [
    `# imserver benchmark ${doc.date}`,
    "",
    `Command: \`${doc.command}\``,
    "",
    `Machine: ${doc.machine.cores} cores (${doc.machine.cpuModel}), ${
      Math.round(doc.machine.memoryBytes / 2 ** 30)
    } GB, ${doc.machine.os}, Deno ${doc.machine.deno}, load average at start ${
      doc.machine.loadavg.join(" ")
    }`,
    "",
    table,
    "",
  ].join("\n");
  await Deno.writeTextFile(`${base}.md`, md);
  await Deno.writeTextFile(`${base}.html`, htmlReport(doc));
  return `${base}.json`;
}
