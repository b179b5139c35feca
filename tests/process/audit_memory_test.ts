/**
 * Audit regressions, memory under stalled replays (items 5 and 6). The server runs as a process
 * (`deno run <start flags> src/main.ts`), so the heap and RSS read from `/system/state?isDebug=true`
 * are its own. Config keys that the fixes add (`im.sendStallTimeout`, `limits.maxQueuedFrames`)
 * are passed as environment variables, which today's loader ignores.
 *
 * These tests describe the fixed behaviour; each fails on the code the audit looked at.
 * @module
 */
import assert from "node:assert/strict";
import { MAIN, quietEnv, type ServerProcess, spawnServer, START_FLAGS } from "../support/node_process.ts";
import { encodeFrame, rawConnect, type RawWs, readUntilClosed, writeAll } from "../fuzz/raw_ws.ts";

const MiB = 1024 * 1024;
/**
 * Message body. The kernel's socket buffers on loopback absorb several MiB of a peer that does not
 * read (about 4 MiB here) before the server's own buffer grows: the inbox to replay must be well
 * above that, or the replay never stalls. 2,000 × 8 KiB = 16 MiB.
 */
const BODY = "m".repeat(8 * 1024);
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/** A server process on free ports with `env`, reading an empty config file (defaults + env only). */
async function startChild(env: Record<string, string>): Promise<{ proc: ServerProcess; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "im-audit-mem-" });
  await Deno.writeTextFile(`${dir}/app.yaml`, "# defaults only\n");
  const args = ["run", ...START_FLAGS, MAIN, "--config", `${dir}/app.yaml`];
  try {
    return { proc: await spawnServer(Deno.execPath(), args, quietEnv(env), 30_000), dir };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/** SIGINT, then SIGKILL if the process has not exited after 10 s. */
async function stopChild(proc: ServerProcess, dir: string): Promise<void> {
  const timer = setTimeout(() => {
    try {
      proc.child.kill("SIGKILL");
    } catch {
      // exited meanwhile
    }
  }, 10_000);
  try {
    proc.child.kill("SIGINT");
  } catch {
    // already exited
  }
  await proc.child.status;
  clearTimeout(timer);
  await proc.drained;
  await Deno.remove(dir, { recursive: true });
}

interface Memory {
  rss: number;
  heapUsed: number;
}

/** `/system/state?isDebug=true` of the process. */
async function state(http: number): Promise<{ loggedIn: number; memory: Memory }> {
  return (await (await fetch(`http://127.0.0.1:${http}/system/state?isDebug=true`)).json()).data;
}

/** Memory after a short pause (lets a pending scavenge run), as seen by the process itself. */
async function memory(http: number): Promise<Memory> {
  await new Promise((r) => setTimeout(r, 300));
  return (await state(http)).memory;
}

/**
 * Send `n` messages of {@linkcode BODY} to `to` over `POST /api/v1/messages`, `workers` at a time; stops at
 * `deadline` (ms since epoch). Resolves to how many were accepted.
 */
async function sendHttp(http: number, to: string, n: number, workers: number, deadline: number) {
  let next = 0, ok = 0;
  const worker = async () => {
    while (next < n && Date.now() < deadline) {
      next++;
      const res = await fetch(`http://127.0.0.1:${http}/api/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ appId: 101, to, msg: BODY }),
      });
      if ((await res.json()).code === 200) ok++;
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return ok;
}

/** Write one text frame. */
function sendText(ws: RawWs, text: string): Promise<void> {
  return writeAll(ws.conn, encodeFrame(1, new TextEncoder().encode(text)));
}

/** Wait until `n` connections are logged in, at most 5 s. */
async function loggedIn(http: number, n: number): Promise<void> {
  for (let i = 0; i < 250 && (await state(http)).loggedIn < n; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal((await state(http)).loggedIn, n, "the raw client's login was applied");
}

/** A series of the process's `/metrics` (0 when absent). */
async function metric(http: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
  return Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1] ?? 0);
}

Deno.test("audit #5: a stalled replay does not hold live traffic without bound: 4004 and bounded heap", async () => {
  // The inbox keeps 2,000 entries: the live messages below replace older ones, so the inbox itself
  // does not grow and what the heap gains is what the server holds for the stalled connection.
  const { proc, dir } = await startChild({
    IM_INBOX_MAXENTRIES: "2000",
    IM_INBOX_SYNCPAGESIZE: "10", // a page (80 KiB) fits under half the send buffer cap
    IM_IM_SENDBUFFERBYTES: "262144",
    IM_IM_SENDSTALLTIMEOUT: "2", // added by the fix
    IM_HEARTBEAT_IDLETIMEOUT: "0",
  });
  let victim: RawWs | undefined;
  try {
    const http = proc.httpPort;
    const start = await memory(http);
    assert.equal(await sendHttp(http, "bob", 2000, 8, Date.now() + 20_000), 2000);
    const filled = await memory(http);

    // bob asks for the whole inbox and never reads: the replay stalls on the socket buffer.
    victim = await rawConnect(proc.wsPort);
    await sendText(
      victim,
      JSON.stringify({ seq: "1", cmd: "login", data: { userId: "bob", appId: 101, lastSeq: 0 } }),
    );
    await loggedIn(http, 1);
    const stalled = await memory(http);
    // Live traffic in two parts: 500 messages, time for the stall timeout (2 s) to close the
    // connection, then 5,500 more. The close is seen without reading: like every 4004 today, it
    // counts in im_slow_consumer_closes_total and forgets the connection at once (a peer that does
    // not read never completes the close handshake). (Had all of them been held until the close, the heap would
    // still hold them as garbage for a while: the second part is what tells a bound from none.)
    const t0 = Date.now();
    let live = await sendHttp(http, "bob", 500, 8, Date.now() + 10_000);
    let closed = false;
    for (let i = 0; i < 50 && !closed; i++) {
      closed = (await metric(http, "im_slow_consumer_closes_total")) > 0 ||
        (await state(http)).loggedIn === 0;
      if (!closed) await new Promise((r) => setTimeout(r, 100));
    }
    const closedMs = Date.now() - t0;
    live += await sendHttp(http, "bob", 5500, 8, Date.now() + 25_000);
    const sendMs = Date.now() - t0;
    const after = await memory(http);
    const growth = after.heapUsed - stalled.heapUsed;
    const budget = 48 * MiB;
    const entries = await metric(http, "im_inbox_entries");
    console.log([
      `stalled replay: heap ${mib(start.heapUsed)} → ${mib(filled.heapUsed)} with 2,000 × 8 KiB in the inbox`,
      `→ ${mib(stalled.heapUsed)} stalled → ${
        mib(after.heapUsed)
      } after ${live} live messages in ${sendMs} ms`,
      `(growth ${mib(growth)}, budget ${mib(budget)});`,
      `RSS ${mib(start.rss)} → ${mib(filled.rss)} → ${mib(stalled.rss)} → ${mib(after.rss)};`,
      `inbox entries ${entries}; closed before the peer read: ${closed ? `yes, after ${closedMs} ms` : "no"}`,
    ].join(" "));
    assert.equal(live, 6000, "every live message was accepted");
    assert.ok(closed, "the connection stalled on its replay was not closed (sendStallTimeout 2 s)");
    assert.ok(growth < budget, `heap grew ${mib(growth)} while a stalled replay held live traffic`);
    const seen = await readUntilClosed(victim, 5000);
    victim = undefined;
    assert.equal(seen.closeCode, 4004, `close code ${seen.closeCode} after ${seen.bytes} bytes`);
  } finally {
    victim?.conn.close();
    await stopChild(proc, dir);
  }
});

Deno.test("audit #6: frames behind a stalled sync are bounded: bounded heap and the connection is closed", async () => {
  const { proc, dir } = await startChild({
    IM_INBOX_MAXENTRIES: "5000",
    IM_INBOX_SYNCPAGESIZE: "10", // a page (80 KiB) fits under half the send buffer cap
    IM_IM_SENDBUFFERBYTES: "262144",
    // The token bucket must not be what refuses the flood: the queue bound is under test.
    IM_LIMITS_MESSAGESPERSECOND: "100000000",
    IM_LIMITS_MESSAGEBURST: "100000000",
    IM_HEARTBEAT_IDLETIMEOUT: "0",
  });
  let victim: RawWs | undefined;
  try {
    const http = proc.httpPort;
    assert.equal(await sendHttp(http, "bob", 2000, 8, Date.now() + 20_000), 2000);
    victim = await rawConnect(proc.wsPort);
    await sendText(victim, JSON.stringify({ seq: "1", cmd: "login", data: { userId: "bob", appId: 101 } }));
    await loggedIn(http, 1);
    // sync {since: 0} replays 16 MiB to a peer that does not read: it waits on the socket buffer.
    await sendText(victim, JSON.stringify({ seq: "2", cmd: "sync", data: { since: 0 } }));
    const before = await memory(http);

    // 100,000 pings of 600 bytes (60 MB) in a second or two, 500 per write. Today each one waits
    // behind the sync in the connection's frame queue (about 0.8 KiB of heap each).
    const ping = encodeFrame(
      1,
      new TextEncoder().encode(JSON.stringify({ seq: "p", cmd: "ping", data: { pad: "p".repeat(560) } })),
    );
    const chunk = new Uint8Array(ping.length * 500);
    for (let i = 0; i < 500; i++) chunk.set(ping, i * ping.length);
    const t0 = Date.now();
    let written = 0, writeError = "";
    for (let i = 0; i < 200 && Date.now() - t0 < 10_000; i++) {
      // A server that stopped reading (it closed the connection, or applies backpressure) leaves a
      // write pending forever: that is allowed, so a write is given 2 s.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const write = writeAll(victim.conn, chunk).then(() => "ok", (error) => String(error));
      const stalled = new Promise<string>((r) =>
        timer = setTimeout(() => r("write stalled: the server stopped reading"), 2000)
      );
      const outcome = await Promise.race([write, stalled]);
      clearTimeout(timer);
      if (outcome !== "ok") {
        writeError = outcome; // the server closed the connection or stopped reading: allowed
        break;
      }
      written += 500;
      await new Promise((r) => setTimeout(r, 4));
    }
    const writeMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 1000));
    const after = await memory(http);
    const growth = after.heapUsed - before.heapUsed;
    const pings = await metric(http, 'im_frames_in_total\\{cmd="ping"\\}');
    console.log(
      `stalled sync: wrote ${written} frames in ${writeMs} ms${writeError ? ` (then ${writeError})` : ""}; ` +
        `${pings} pings handled; heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)} ` +
        `(growth ${mib(growth)}); RSS ${mib(before.rss)} → ${mib(after.rss)}`,
    );
    const seen = await readUntilClosed(victim, Math.max(1000, 15_000 - (Date.now() - t0)));
    victim = undefined;
    console.log(`connection end: close code ${seen.closeCode}, eof ${seen.eof}, ${seen.bytes} bytes read`);
    assert.ok(growth < 32 * MiB, `heap grew ${mib(growth)} with frames queued behind a stalled sync`);
    assert.ok(seen.eof, "the connection was not closed within 15 s");
    assert.ok(
      seen.bytes < 2000 * BODY.length,
      `closed only after the client read the whole replay (${seen.bytes} bytes), not while it stalled`,
    );
    assert.ok(
      seen.closeCode === undefined || seen.closeCode === 4003 || seen.closeCode === 4004,
      `close code ${seen.closeCode}`,
    );
  } finally {
    victim?.conn.close();
    await stopChild(proc, dir);
  }
});
