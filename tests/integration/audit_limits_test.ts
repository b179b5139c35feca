/**
 * Audit regressions, limits: inboxes of made-up recipients (item 7), enter/exit amplification
 * (item 8), metrics label explosion (item 13) and bad input reported as a server fault (item 14).
 *
 * These tests describe the fixed behaviour; each fails on the code the audit looked at.
 * Config keys that the fixes add are passed through {@linkcode added}.
 * @module
 */
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../../src/server.ts";
import { type ConfigOverrides, TestClient, testConfig, tick, withServer } from "../support/helpers.ts";
import { encodeFrame, rawConnect, readUntilClosed, writeAll } from "../fuzz/raw_ws.ts";

/** Overrides that include config keys the fixes add (unknown to today's types; Object.assign takes them). */
const added = (overrides: Record<string, Record<string, unknown>>) => overrides as unknown as ConfigOverrides;

/** `/metrics` text of `server`. */
async function scrape(server: RunningServer): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
}

/** Value of an unlabelled series in Prometheus text (NaN when absent). */
function series(text: string, name: string): number {
  return Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1] ?? NaN);
}

/** Label values of `label` in the series of `name`, one per series line. */
function labelValues(text: string, name: string, label: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = line.match(new RegExp(`${label}="((?:[^"\\\\]|\\\\.)*)"`));
    if (m) out.push(m[1]);
  }
  return out;
}

Deno.test("audit #7: a WebSocket sender reaches at most limits.recipientsPerMinute distinct recipients", async () => {
  await withServer(added({ limits: { recipientsPerMinute: 100 } }), async (server) => {
    const alice = await TestClient.connect(server.wsPort);
    try {
      await alice.login("alice");
      // Windows of 25 requests: fewer than a connection may queue (limits.maxQueuedFrames, audit #6).
      const replies = [];
      for (let i = 0; i < 1000; i += 25) {
        replies.push(
          ...await Promise.all(
            Array.from({ length: 25 }, (_, k) => alice.request("sendMsg", { to: `ghost${i + k}`, msg: "x" })),
          ),
        );
      }
      const ok = replies.filter((r) => r.response.code === 200).length;
      const limited = replies.filter((r) => r.response.code === 1012);
      const inboxes = series(await scrape(server), "im_inboxes");
      console.log(`recipients: ${ok} × 200, ${limited.length} × 1012; im_inboxes ${inboxes}`);
      assert.ok(ok >= 1 && ok <= 100, `${ok} of 1000 sends to distinct made-up recipients were accepted`);
      assert.equal(limited.length, 1000 - ok, "every refused send answers 1012");
      for (const r of limited) {
        assert.ok(r.response.data.retryMs > 0, `1012 without retryMs: ${JSON.stringify(r.response)}`);
      }
      assert.ok(inboxes <= 102, `the memory store holds ${inboxes} inboxes after the refused sends`);
    } finally {
      await alice.close();
    }
  });
});

/** Count the presence frames (`enter`, `exit`, `presence`) a socket receives. */
const PRESENCE_CMD = /^\{"seq":"[^"]*","cmd":"(enter|exit|presence)"/;

/** Wait until `count()` stops changing for `quietMs`, at most `maxMs`. */
async function settle(count: () => number, quietMs: number, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  while (Date.now() < deadline) {
    const now = count();
    if (now === last) return;
    last = now;
    await tick(quietMs);
  }
}

Deno.test("audit #8: login/logout cycles on one connection do not amplify into unbounded enter/exit pushes", async () => {
  await withServer({}, async (server) => {
    const bystanders: TestClient[] = [];
    let attacker: TestClient | undefined;
    let presence = 0;
    try {
      for (let i = 0; i < 100; i += 20) {
        const batch = await Promise.all(Array.from({ length: 20 }, () => TestClient.connect(server.wsPort)));
        await Promise.all(batch.map((c, k) => c.login(`by${i + k}`)));
        bystanders.push(...batch);
      }
      for (const c of bystanders) {
        c.socket.addEventListener("message", (e) => {
          if (PRESENCE_CMD.test(e.data as string)) presence++;
        });
      }
      await settle(() => bystanders.reduce((n, c) => n + c.frames.length, 0), 200, 3000);
      presence = 0;
      attacker = await TestClient.connect(server.wsPort);
      const a = attacker;
      const ask = (cmd: string, data?: unknown) => a.request(cmd, data).catch(() => undefined);
      const deadline = Date.now() + 15_000;
      let cycles = 0, refused = "";
      for (; cycles < 1000 && Date.now() < deadline; cycles++) {
        const login = await ask("login", { userId: "mallory", appId: 101 });
        if (login?.response.code !== 200) {
          refused = `login ${login?.response.code ?? "unanswered"}`;
          break;
        }
        const logout = await ask("logout");
        if (logout?.response.code !== 200) {
          refused = `logout ${logout?.response.code ?? "unanswered"}`;
          break;
        }
        if (cycles % 50 === 0) bystanders.forEach((c) => c.frames.length = 0);
      }
      await settle(() => presence, 300, 5000);
      console.log(
        `login/logout: ${cycles} cycles (${refused || "never refused"}), ` +
          `${presence} enter/exit/presence frames to 100 bystanders`,
      );
      assert.ok(presence <= 100 * 50, `${presence} presence frames for ${cycles} login/logout cycles`);
      if (refused) assert.match(refused, /^login 1023$/, "further logins on the connection answer 1023");
    } finally {
      await attacker?.close();
      for (const c of bystanders) await c.close();
    }
  });
});

Deno.test("audit #8: a storm of 1,000 logins in one app causes a bounded number of presence pushes", async () => {
  const server = await startServer(testConfig());
  const sockets: WebSocket[] = [];
  const closed: Promise<unknown>[] = [];
  let presence = 0;
  try {
    const url = `ws://127.0.0.1:${server.wsPort}/im`;
    const logins: Promise<number>[] = [];
    for (let i = 0; i < 1000; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, () =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(url);
            ws.onopen = () => resolve(ws);
            ws.onerror = () => reject(new Error("connect failed"));
          })),
      );
      for (const ws of batch) {
        sockets.push(ws);
        closed.push(new Promise((r) => ws.addEventListener("close", r)));
      }
    }
    const started = Date.now();
    for (const [i, ws] of sockets.entries()) {
      logins.push(
        new Promise<number>((resolve) => {
          ws.onmessage = (e) => {
            const text = e.data as string;
            if (PRESENCE_CMD.test(text)) presence++;
            else if (text.startsWith('{"seq":"L","cmd":"login"')) resolve(JSON.parse(text).response.code);
          };
        }),
      );
      ws.send(JSON.stringify({ seq: "L", cmd: "login", data: { userId: `u${i}`, appId: 101 } }));
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const codes = await Promise.race([
      Promise.all(logins),
      new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error("logins: 60 s")), 60_000)),
    ]).finally(() => clearTimeout(timer));
    const loginMs = Date.now() - started;
    await settle(() => presence, 500, 10_000);
    console.log(`login storm: 1000 logins in ${loginMs} ms; ${presence} enter/exit/presence frames in all`);
    assert.equal(codes.filter((c) => c === 200).length, 1000, "every login of the storm succeeds");
    assert.ok(presence <= 10 * 1000, `${presence} presence frames for a storm of 1,000 logins`);
  } finally {
    // Server first: its shutdown closes every socket without pushing an exit per connection.
    await server.shutdown();
    for (const ws of sockets) if (ws.readyState < WebSocket.CLOSING) ws.close();
    await Promise.all(closed);
  }
});

/** Sum of every im_closes_total series. */
function closeCount(text: string): number {
  return text.split("\n").filter((l) => l.startsWith("im_closes_total{"))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

Deno.test("audit #13: metrics label values are a small fixed set (no numbers, retry hints or regexes)", async () => {
  await withServer({ limits: { messagesPerSecond: 1, messageBurst: 3 } }, async (server) => {
    // Rate-limit abuse (close 4003, its reason says "retry in N ms"): burst 3, then 4 refused
    // frames. Exactly as many as it takes: a frame sent after the server's close makes the server
    // reset the connection, and the close frame is lost.
    const flooder = await rawConnect(server.wsPort);
    const ping = (i: number) => encodeFrame(1, new TextEncoder().encode(`{"seq":"p${i}","cmd":"ping"}`));
    for (let i = 0; i < 7; i++) await writeAll(flooder.conn, ping(i));
    // A binary frame (close 1003) and an oversized text frame (close 1009, "frame over 65536 bytes").
    const binary = await rawConnect(server.wsPort);
    await writeAll(binary.conn, encodeFrame(2, new Uint8Array([1, 2, 3])));
    const big = await rawConnect(server.wsPort);
    await writeAll(big.conn, encodeFrame(1, new TextEncoder().encode("x".repeat(70_000))));
    // readUntilClosed closes each socket, whatever the server did.
    const ends = [];
    for (const ws of [flooder, binary, big]) ends.push(await readUntilClosed(ws, 5000));
    const codes = ends.map((e) => e.closeCode);
    assert.ok(ends.every((e) => e.eof), `the server closes each connection: ${JSON.stringify(ends)}`);
    const base = `http://127.0.0.1:${server.httpPort}`;
    const sendMessage = { method: "POST", body: "appId=101&userId=bob&message=hi" };
    await (await fetch(`${base}/user/sendMessage`, sendMessage)).body?.cancel();
    await (await fetch(`${base}/api/v1/users/alice?appId=101`)).body?.cancel();
    let text = "";
    for (let i = 0; i < 50; i++) {
      text = await scrape(server);
      if (closeCount(text) >= 3) break;
      await tick(50);
    }
    const reasons = labelValues(text, "im_closes_total", "reason");
    const paths = labelValues(text, "im_http_requests_total", "path");
    console.log(`close codes ${JSON.stringify(codes)}`);
    console.log(`im_closes_total reasons ${JSON.stringify(reasons)}; http paths ${JSON.stringify(paths)}`);
    assert.ok(closeCount(text) >= 3, `closes not counted: ${JSON.stringify(reasons)}`);
    for (const reason of reasons) {
      assert.doesNotMatch(reason, /\d|retry/i, `im_closes_total has a per-close label value: "${reason}"`);
    }
    assert.ok(paths.includes("/user/sendMessage"), `routes named by path: ${JSON.stringify(paths)}`);
    for (const path of paths) {
      assert.doesNotMatch(path, /[\^$\\]/, `im_http_requests_total path label is a regex: "${path}"`);
      assert.doesNotMatch(path, /alice/, `im_http_requests_total path label holds a user id: "${path}"`);
    }
  });
});

Deno.test("audit #14: an upgrade request without Connection/Sec-WebSocket-Key is a 400 JSON 1001, not a 500", async () => {
  await withServer({}, async (server) => {
    const res = await fetch(`http://127.0.0.1:${server.wsPort}/im`, { headers: { Upgrade: "websocket" } });
    const body = await res.text();
    assert.equal(res.status, 400, `HTTP ${res.status}: ${body}`);
    assert.match(res.headers.get("content-type") ?? "", /json/);
    assert.equal(JSON.parse(body).code, 1001, body);
  });
});

Deno.test("audit #14: a bad %-escape in an /api/v1 path is a 400 JSON 1001, not a server error", async () => {
  await withServer({}, async (server) => {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/users/%E0%A4%A?appId=101`);
    const body = await res.text();
    assert.equal(res.status, 400, `HTTP ${res.status}: ${body}`);
    assert.equal(JSON.parse(body).code, 1001, body);
  });
});
