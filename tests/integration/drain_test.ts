/**
 * Graceful drain (src/drain.ts), SIGTERM/SIGINT wiring of src/main.ts and login rate shaping
 * (src/login_shaping.ts).
 * @module
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../src/util/clock.ts";
import { ReplyError } from "../../src/protocol/errors.ts";
import { LoginShaper } from "../../src/ops/login_shaping.ts";
import { CloseCode, Code } from "../../src/protocol/codes.ts";
import { TestClient, withServer } from "../support/helpers.ts";
import { exitCode, MAIN, quietEnv, spawnServer, START_FLAGS, stopServer } from "../support/node_process.ts";

/** A WebSocket that completes the upgrade and then never answers anything (not even a close). */
async function stubbornSocket(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request =
    `GET /im HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  await conn.write(new TextEncoder().encode(request));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1.1 101/);
  return conn;
}

Deno.test("drain: jittered reconnect pushes, close 1012 with the hint, readyz 503 and upgrades refused", async () => {
  await withServer({}, async (server) => {
    const clients = await Promise.all(["a", "b", "c"].map(() => TestClient.connect(server.wsPort)));
    await Promise.all(clients.map((c, i) => c.login(`user${i}`)));
    // Holds the drain open (it waits for close handshakes) so we can look at the node meanwhile.
    const stubborn = await stubbornSocket(server.wsPort);
    const draws = [0.1, 0.5, 0.9, 0.3];
    let d = 0;
    const drained = server.drain({ windowMs: 5000, deadlineMs: 20_000, random: () => draws[d++ % 4] });

    const hints: number[] = [];
    for (const client of clients) {
      const push = await client.push("reconnect");
      const retryMs = push.response.data.retryMs;
      assert.ok(Number.isInteger(retryMs) && retryMs >= 0 && retryMs < 5000, `retryMs ${retryMs}`);
      const closed = await client.closed;
      assert.equal(closed.code, CloseCode.ServiceRestart);
      assert.equal(closed.reason, `server restarting; retry in ${retryMs} ms`);
      hints.push(retryMs);
    }
    assert.ok(new Set(hints).size > 1, "hints are spread, not identical");

    const ready = await fetch(`http://127.0.0.1:${server.httpPort}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal((await ready.json()).status, "draining");
    await assert.rejects(TestClient.connect(server.wsPort), /connect failed/);
    // a plain request to the WebSocket port gets the refusal as JSON, like every other refusal there
    const refused = await fetch(`http://127.0.0.1:${server.wsPort}/im`, {
      headers: { upgrade: "websocket" },
    });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal((await refused.json()).code, 1024);

    stubborn.close(); // the last connection goes: the drain proceeds to shut down
    const report = await drained;
    assert.equal(report.clients, 4);
    assert.equal(report.onTime, true);
  });
});

Deno.test("login shaping: over drain.loginsPerSecond → 1023 with retryMs, socket stays usable", async () => {
  const clock = new FakeClock(1_000_000);
  await withServer({ drain: { window: 10, deadline: 20, loginsPerSecond: 2 } }, async (server) => {
    const clients = await Promise.all([0, 1, 2].map(() => TestClient.connect(server.wsPort)));
    await clients[0].login("u0");
    await clients[1].login("u1");
    const refused = await clients[2].request("login", { userId: "u2", appId: 101 });
    assert.equal(refused.response.code, Code.LoginRateLimited);
    assert.ok(refused.response.data.retryMs > 0);
    clock.advance(1000);
    await clients[2].login("u2"); // same socket, one second later
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    assert.match(metrics, /im_errors_total\{code="1023"\} 1/);
    await Promise.all(clients.map((c) => c.close()));
  }, { clock });
});

Deno.test("login shaping: retry hints spread wider as the backlog grows", () => {
  const clock = new FakeClock(0);
  const shaper = new LoginShaper(10, clock, () => 0.999);
  for (let i = 0; i < 10; i++) shaper.admit();
  const hints: number[] = [];
  for (let i = 0; i < 50; i++) {
    try {
      shaper.admit();
      assert.fail("should refuse");
    } catch (e) {
      assert.ok(e instanceof ReplyError && e.code === Code.LoginRateLimited);
      hints.push(e.retryMs!);
    }
  }
  assert.equal(shaper.refused, 50);
  assert.ok(hints[49] > hints[0], `${hints[0]} → ${hints[49]}`);
  assert.ok(hints[49] >= 4000, "50 waiting at 10/s are spread over about 5 s");
  clock.advance(1000); // refills 10 tokens
  shaper.admit();
});

/** Send `signal` once to a fresh main.ts process holding one logged-in client; returns close and exit codes. */
async function signalled(signal: Deno.Signal, user: string) {
  const env = quietEnv({ IM_DRAIN_WINDOW: "1", IM_DRAIN_DEADLINE: "5" });
  const proc = await spawnServer(Deno.execPath(), ["run", ...START_FLAGS, MAIN], env);
  try {
    const client = await TestClient.connect(proc.wsPort);
    await client.login(user);
    proc.child.kill(signal);
    const pushed = signal === "SIGTERM" ? await client.push("reconnect", 10_000) : undefined;
    const closed = await client.closed;
    // One signal only: a second one could arrive after main.ts removed its listener (exit 143/130).
    return { pushed, closeCode: closed.code, exit: await exitCode(proc) };
  } finally {
    await stopServer(proc, "SIGKILL"); // no-op when it already exited; reaps it when an assertion failed
  }
}

Deno.test("main.ts: SIGTERM drains (reconnect, 1012) and exits 0; SIGINT closes 1001 and exits 0", async () => {
  const term = await signalled("SIGTERM", "alice");
  assert.ok(term.pushed!.response.data.retryMs < 1000);
  assert.equal(term.closeCode, CloseCode.ServiceRestart);
  assert.equal(term.exit, 0);
  const int = await signalled("SIGINT", "bob");
  assert.equal(int.closeCode, CloseCode.GoingAway);
  assert.equal(int.exit, 0);
});
