/**
 * The raw protocol probe of the fuzzer, one case made deterministic: a frame header announcing more
 * payload than is ever sent (the fuzzer's random bytes sometimes form one). A WebSocket server rightly
 * waits for the rest of a frame; the client then stops sending (half-close) and the server must close.
 * @module
 */
import assert from "node:assert/strict";
import { startServer } from "../../src/server.ts";
import { testConfig } from "../support/helpers.ts";
import { encodeFrame, rawConnect, readUntilClosed, writeAll } from "./raw_ws.ts";

Deno.test("raw probe: a frame cut short, then EOF from the client → the server closes at once", async () => {
  const server = await startServer(testConfig({}));
  try {
    const ws = await rawConnect(server.wsPort);
    // masked text frame announcing 100 payload bytes; 40 follow (a ping and a close frame's worth)
    const header = encodeFrame(1, new Uint8Array(100)).subarray(0, 6);
    await writeAll(ws.conn, header);
    await writeAll(ws.conn, new Uint8Array(40));
    await ws.conn.closeWrite();
    const started = Date.now();
    const result = await readUntilClosed(ws, 5_000);
    assert.equal(result.eof, true, `still open after 5 s: ${JSON.stringify(result)}`);
    assert(Date.now() - started < 2_000, `closed after ${Date.now() - started} ms`);
  } finally {
    await server.shutdown();
  }
});

Deno.test("raw probe: a frame cut short, the client silent → 4009, then aborted after closeGrace", async () => {
  const server = await startServer(
    testConfig({ heartbeat: { loginTimeout: 1, firstSweep: 0.1, sweep: 0.2, closeGrace: 0.5 } }),
  );
  try {
    const ws = await rawConnect(server.wsPort);
    await writeAll(ws.conn, encodeFrame(1, new Uint8Array(100)).subarray(0, 6));
    // the close frame readUntilClosed answers with is taken as the rest of the cut frame: the server
    // never sees the peer's close, as with a peer that stopped reading
    const result = await readUntilClosed(ws, 5_000);
    assert.equal(result.closeCode, 4009);
    assert.equal(result.eof, true, `still open after 5 s: ${JSON.stringify(result)}`);
    assert.equal(server.metrics.counter("im_close_aborts_total", "").get({}), 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a peer that never answers the close handshake is disconnected after heartbeat.closeGrace", async () => {
  const server = await startServer(
    testConfig({ heartbeat: { loginTimeout: 1, firstSweep: 0.1, sweep: 0.2, closeGrace: 0.5 } }),
  );
  try {
    const ws = await rawConnect(server.wsPort);
    const started = Date.now();
    const buf = new Uint8Array(4096);
    let bytes = 0;
    const timer = setTimeout(() => ws.conn.close(), 10_000);
    for (;;) {
      const n = await ws.conn.read(buf).catch(() => null);
      if (n === null) break;
      bytes += n; // the 4009 close frame; never answered
    }
    clearTimeout(timer);
    const took = Date.now() - started;
    try {
      ws.conn.close();
    } catch {
      // closed by the timer
    }
    assert(bytes > 0, "the close frame arrived");
    assert(took < 5_000, `connection ended after ${took} ms (before: never)`);
  } finally {
    await server.shutdown();
  }
});
