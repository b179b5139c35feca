/**
 * The benchmark's HTML report (tests/bench/report_html.ts) opened from disk in a real headless
 * Chromium, offline: the embedded uPlot draws a throughput and a latency chart per scenario with the
 * baseline beside imserver, hostile target names stay text, and nothing is fetched from anywhere.
 * Screenshot: test-artifacts/bench-report.png.
 * @module
 */
import assert from "node:assert/strict";
import type { Row } from "../bench/common.ts";
import { chartData, htmlReport } from "../bench/report_html.ts";
import { browserTest, screenshot } from "../support/chromium.ts";

const row = (scenario: string, target: string, value: number, p50?: number, p99?: number): Row => ({
  scenario,
  target,
  params: "100 pairs",
  metric: scenario === "fanout" ? "deliveries/s" : "msgs/s",
  value,
  p50Ms: p50,
  p90Ms: p50 && p50 * 2,
  p99Ms: p99,
  maxMs: p99 && p99 * 2,
  sent: 1000,
  received: 1000,
  lost: 0,
  duplicates: 0,
  errors: 0,
  serverCpu: 90,
  loaderCpu: [80],
  status: "ok",
  extra: {},
});

const doc = {
  date: "2026-12-01T10:00:00.000Z",
  command: "deno task bench rtt fanout",
  machine: {
    cores: 2,
    cpuModel: "test CPU",
    memoryBytes: 24 * 2 ** 30,
    os: "linux",
    deno: "2.9.6",
    loadavg: [1, 1, 1],
  },
  caveat: "a fixture",
  rows: [
    row("rtt", "imserver", 33071, 2.7, 9.8),
    row("rtt", "baseline", 34368, 1.2, 6.8),
    row("fanout", "imserver", 54370),
    row("fanout", "</script><b>baseline</b>", 57946),
    { ...row("idle", "imserver", 0), status: "FAILED: fixture" },
  ],
};

Deno.test("bench report: chart data per scenario, every target beside the others, failed rows left out", () => {
  const charts = chartData(doc.rows);
  assert.deepEqual(charts.map((c) => c.scenario), ["rtt", "fanout"]);
  assert.deepEqual(charts[0].targets, ["imserver", "baseline"]);
  assert.deepEqual(charts[0].values, [33071, 34368]);
  assert.deepEqual(charts[0].latency![1], [1.2, 2.4, 6.8, 13.6]);
  assert.equal(charts[1].latency, null, "no latency figures: no latency chart");
  const html = htmlReport(doc);
  assert.ok(!html.includes("</script><b>"), "data cannot end the script element");
  assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/i);
});

browserTest("bench report: opens offline from a file and draws its charts", async (browser) => {
  const dir = await Deno.makeTempDir({ prefix: "im-bench-report-" });
  try {
    const file = `${dir}/bench.html`;
    await Deno.writeTextFile(file, htmlReport(doc));
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 }, offline: true });
    const page = await context.newPage();
    const errors: string[] = [];
    const fetched: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("request", (r) => fetched.push(r.url()));
    await page.goto(`file://${file}`);
    await page.waitForFunction(() => document.querySelectorAll("#charts figure canvas").length === 3);
    assert.deepEqual(errors, []);
    assert.deepEqual(fetched, [`file://${file}`]);
    const captions = await page.$$eval("#charts figcaption", (cs) => cs.map((c) => c.textContent));
    assert.deepEqual(captions, ["rtt: throughput", "rtt: latency (ms)", "fanout: throughput"]);
    const legend = await page.textContent("#charts");
    assert.match(legend ?? "", /<\/script><b>baseline<\/b>/, "a target name is text");
    assert.equal(await page.$("#charts b"), null);
    await screenshot(page, "bench-report");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The page's document, for functions that playwright runs inside the browser. */
declare const document: { querySelectorAll(selector: string): { length: number } };
