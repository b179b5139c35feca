/**
 * Slow consumer: a raw TCP client logs in and never reads; 10,000 messages of 1 KiB are aimed at
 * it. The server must close it with 4004 (counted in im_slow_consumer_closes_total) instead of
 * buffering without bound, and its RSS must come back near the baseline. The server runs as a
 * subprocess so RSS is its own; the figures are printed for the record (the bound asserted is
 * deliberately generous: numbers belong to the benchmark).
 */
import assert from "node:assert/strict";
import { TestClient } from "../support/helpers.ts";
import { encodeFrame, rawConnect, readUntilClosed, writeAll } from "../fuzz/raw_ws.ts";
import { childEnv } from "../support/node_process.ts";

const MESSAGES = 10_000;
const BODY = "m".repeat(1024);
const MiB = 1024 * 1024;

async function startChild(dir: string) {
  await Deno.writeTextFile(
    `${dir}/app.yaml`,
    [
      "app: { hostname: 127.0.0.1, httpPort: 0, webSocketPort: 0, logFile: '', logLevel: warning }",
      "limits: { messagesPerSecond: 1000000, messageBurst: 1000000 }",
      "heartbeat: { idleTimeout: 0 }",
    ].join("\n"),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../src/main.ts", import.meta.url).pathname,
      "--config",
      `${dir}/app.yaml`,
    ],
    env: childEnv({ IM_STORE_ENGINE: "memory" }), // many servers, one data/ directory
    clearEnv: true,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  for (let i = 0; i < 100; i++) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
    const m = out.match(/listening http=(\d+) ws=(\d+)/);
    if (m) {
      // Keep draining stdout so the child never blocks on a full pipe.
      const drained = (async () => {
        while (!(await reader.read()).done) { /* discard */ }
      })();
      return { child, http: Number(m[1]), ws: Number(m[2]), drained };
    }
  }
  child.kill("SIGKILL");
  await child.status;
  throw new Error("server did not start");
}

Deno.test("slow consumer: a client that never reads is closed with 4004 and RSS returns near baseline", async () => {
  const dir = await Deno.makeTempDir();
  const { child, http, ws, drained } = await startChild(dir);
  const base = `http://127.0.0.1:${http}`;
  const state = async () => (await (await fetch(`${base}/system/state?isDebug=true`)).json()).data;
  const metric = async (name: string) => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return Number(text.match(new RegExp(`^${name} (\\d+)`, "m"))?.[1] ?? NaN);
  };
  let victim: Awaited<ReturnType<typeof rawConnect>> | undefined;
  let sender: TestClient | undefined;
  try {
    victim = await rawConnect(ws);
    const login = JSON.stringify({ seq: "1", cmd: "login", data: { userId: "victim", appId: 101 } });
    await writeAll(victim.conn, encodeFrame(1, new TextEncoder().encode(login)));
    sender = await TestClient.connect(ws);
    await sender.login("flooder");
    // The victim's login is applied once it shows up online.
    for (let i = 0; i < 500 && (await state()).loggedIn < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await state()).loggedIn, 2);
    const { rss: before, heapUsed: heapBefore } = (await state()).memory;

    // Flood: windows of 500 sends, each closed by a ping so the sender itself never piles up.
    let peakRss = before;
    for (let sent = 0; sent < MESSAGES; sent += 500) {
      for (let i = 0; i < 500; i++) {
        sender.send(
          JSON.stringify({ seq: `f${sent + i}`, cmd: "sendMsg", data: { to: "victim", msg: BODY } }),
        );
      }
      await sender.request("ping", undefined, 30_000);
      if (sent % 2500 === 0) peakRss = Math.max(peakRss, (await state()).memory.rss);
    }
    sender.frames.length = 0;
    peakRss = Math.max(peakRss, (await state()).memory.rss);
    const closes = await metric("im_slow_consumer_closes_total");
    assert.equal(closes, 1, "the victim must be closed exactly once as a slow consumer");

    // The victim is forgotten at once, although its socket cannot finish closing while it does not
    // read (Deno has no way to abort a WebSocket): no presence, no deliveries.
    for (let i = 0; i < 250 && (await state()).loggedIn > 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await state()).loggedIn, 1, "the slow consumer should be unregistered before it reads");

    // Reading now, the victim finds the frames that fit the cap and then the 4004 close frame.
    const seen = await readUntilClosed(victim, 20_000);
    victim = undefined;
    assert.equal(seen.closeCode, 4004);
    assert.ok(seen.bytes < MESSAGES * 1024, `the server buffered ${seen.bytes} bytes for a dead reader`);

    let after = (await state()).memory.rss;
    const heapAfter = (await state()).memory.heapUsed;
    for (let i = 0; i < 50 && after > before + 50 * MiB; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = (await state()).memory.rss;
    }
    console.log(
      `slow consumer RSS: before ${(before / MiB).toFixed(1)} MiB, peak ${(peakRss / MiB).toFixed(1)} MiB, ` +
        `after ${(after / MiB).toFixed(1)} MiB; V8 heap used ${(heapBefore / MiB).toFixed(1)} → ` +
        `${(heapAfter / MiB).toFixed(1)} MiB; victim read ${(seen.bytes / MiB).toFixed(2)} MiB before 4004`,
    );
    assert.ok(after < before + 200 * MiB, `RSS ${after} did not return near baseline ${before}`);
    assert.equal((await state()).loggedIn, 1);
  } finally {
    if (victim) victim.conn.close();
    await sender?.close();
    child.kill("SIGTERM");
    await child.status;
    await drained;
    await Deno.remove(dir, { recursive: true });
  }
});
