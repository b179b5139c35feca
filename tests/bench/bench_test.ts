/**
 * Keeps the benchmark from rotting: runs `deno task bench --quick` (every scenario, tiny
 * sizes, real server/baseline/loader subprocesses) and checks that it completed with zero loss
 * and zero duplicates and wrote its JSON. Numbers are never asserted: they belong to the report.
 */
import assert from "node:assert/strict";
import { childEnv } from "../support/node_process.ts";
import { parseArgs } from "./run.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("deno task bench --quick completes without loss or duplicates", async () => {
  const out = await Deno.makeTempDir({ prefix: "bench-test-" });
  try {
    const run = await new Deno.Command("deno", {
      args: ["task", "-q", "bench", "--quick", "--duration=0.5", `--out=${out}`],
      cwd: root,
      // The bench starts src/main.ts itself (without --allow-env to filter): strip the harness switches here.
      env: childEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(run.stdout);
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, `bench failed:\n${stdout}\n${stderr.slice(-3000)}`);
    assert.match(stdout, /\| scenario \| target \|/);
    const files = [...Deno.readDirSync(out)].map((e) => e.name);
    const json = files.find((f) => f.endsWith(".json"));
    assert.ok(json, `no JSON result in ${files}`);
    assert.ok(files.some((f) => f.endsWith(".md")), "no markdown result");
    const html = files.find((f) => f.endsWith(".html"));
    assert.ok(html, "no HTML report");
    const page = await Deno.readTextFile(`${out}/${html}`);
    assert.match(page, /uPlot/, "uPlot is embedded");
    assert.doesNotMatch(page, /<(script|link)[^>]+(src|href)=/i, "nothing loaded from elsewhere");
    const doc = JSON.parse(await Deno.readTextFile(`${out}/${json}`));
    assert.ok(doc.machine.cores > 0 && doc.machine.memoryBytes > 0 && doc.machine.deno);
    const scenarios = new Set(doc.rows.map((r: { scenario: string }) => r.scenario));
    for (const s of ["rtt", "rtt-rate", "fanout", "idle", "cluster", "durability"]) {
      assert.ok(scenarios.has(s), `no ${s} row`);
    }
    for (const t of ["imserver", "imserver (memory)", "baseline"]) {
      assert.ok(doc.rows.some((r: { target: string }) => r.target === t), `no ${t} row`);
    }
    for (const row of doc.rows) {
      assert.ok(
        row.status === "ok" || row.status.startsWith("unavailable"),
        `${row.scenario}: ${row.status}`,
      );
      assert.equal(row.lost, 0);
      assert.equal(row.duplicates, 0);
      if (row.status === "ok") {
        assert.ok(row.received > 0, `${row.scenario} ${row.target} received nothing`);
        assert.equal(row.sent, row.received);
      }
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("bench flags keep every '=' after the first in their value (--v8-flags=--max-semi-space-size=4)", () => {
  const { o, scenarios } = parseArgs(["rtt", "--v8-flags=--max-semi-space-size=4", "--quick"]);
  assert.deepEqual(scenarios, ["rtt"]);
  assert.equal(o.v8Flags, "--max-semi-space-size=4");
});
