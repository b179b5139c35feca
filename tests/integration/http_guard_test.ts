/**
 * Timeouts and connection caps of a real node (docs/SECURITY.md "Timeouts and connection caps"),
 * over real sockets on port 0 with small limits: header and idle deadlines and the connection cap
 * of the HTTP listener, the body deadline of the API, WebSocket traffic through the relay
 * (`http.guard: all`), and the login deadline (close 4009).
 * @module
 */
import assert from "node:assert/strict";
import { TestClient, withServer } from "../support/helpers.ts";
import { connectRaw, parseResponse, readUntilClosed, writeText } from "../support/raw_tcp.ts";

const HEAD = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
/** A deadline of 0.3 s must close within this window (timer slack on a shared machine). */
const closedInTime = (ms: number, what: string) => {
  assert.ok(ms >= 250, `${what}: closed after ${ms.toFixed(0)} ms, before the deadline`);
  assert.ok(ms < 2500, `${what}: closed after ${ms.toFixed(0)} ms`);
};

Deno.test("http guard: a partial request head, and a connection that sends nothing, are closed after http.headerTimeout", async () => {
  await withServer({ http: { headerTimeout: 0.3 } }, async (server) => {
    const partial = await connectRaw(server.httpPort, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    const silent = await connectRaw(server.httpPort);
    const [a, b] = await Promise.all([readUntilClosed(partial, 3000), readUntilClosed(silent, 3000)]);
    assert.ok(a.byServer, "the partial head was not closed by the server");
    assert.equal(a.text, "", "no reply to a head that never completed");
    closedInTime(a.ms, "partial head");
    assert.ok(b.byServer, "the silent connection was not closed by the server");
    closedInTime(b.ms, "silent connection");
    // a request that completes its head in time is still served
    const ok = await fetch(`http://127.0.0.1:${server.httpPort}/healthz`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });
});

Deno.test("http guard: an idle keep-alive connection is closed after http.idleTimeout", async () => {
  await withServer({ http: { idleTimeout: 0.3 } }, async (server) => {
    const conn = await connectRaw(server.httpPort, HEAD("/healthz"));
    const first = await readUntilClosed(conn, 3000, (t) => t.includes('"ok"'));
    assert.equal(parseResponse(first.text).status, 200);
    assert.ok(!first.byServer);
    const rest = await readUntilClosed(conn, 3000);
    assert.ok(rest.byServer, "the idle keep-alive connection was not closed by the server");
    closedInTime(rest.ms, "idle keep-alive");
  });
});

Deno.test("http guard: a body sent 1 byte every 200 ms gets 408 {code:1001} after http.bodyTimeout and the connection is closed", async () => {
  await withServer({ http: { bodyTimeout: 0.5 } }, async (server) => {
    const body = JSON.stringify({ appId: 101, to: "bob", msg: "x".repeat(64) });
    const conn = await connectRaw(
      server.httpPort,
      `POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
        `content-length: ${body.length}\r\n\r\n`,
    );
    let stop = false;
    const trickle = (async () => {
      // bounded: at most 20 bytes (4 s), far less than the body
      for (let i = 0; i < 20 && !stop; i++) {
        try {
          await writeText(conn, body[i]);
        } catch {
          return; // the server closed
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const got = await readUntilClosed(conn, 4000);
    stop = true;
    await trickle;
    const res = parseResponse(got.text);
    assert.equal(res.status, 408, `reply: ${got.text.slice(0, 200)}`);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const json = JSON.parse(res.body);
    assert.equal(json.code, 1001);
    assert.match(json.msg, /body/);
    assert.ok(got.byServer, "the connection stayed open after the 408");
    assert.ok(got.ms >= 400 && got.ms < 3000, `408 after ${got.ms.toFixed(0)} ms`);
  });
});

Deno.test("http guard: beyond http.maxConnections a connection gets 503 {code:1013}; freed slots are served again", async () => {
  await withServer({ http: { maxConnections: 3, headerTimeout: 10 } }, async (server) => {
    const held = await Promise.all([1, 2, 3].map(() => connectRaw(server.httpPort)));
    await new Promise((r) => setTimeout(r, 100)); // accepted and counted
    const extra = await connectRaw(server.httpPort, HEAD("/healthz"));
    const refused = await readUntilClosed(extra, 3000);
    const res = parseResponse(refused.text);
    assert.equal(res.status, 503, `reply: ${refused.text.slice(0, 200)}`);
    assert.equal(JSON.parse(res.body).code, 1013);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.ok(refused.byServer, "the refused connection was left open");
    for (const c of held) c.close();
    // released asynchronously: poll (bounded) until a request is served again
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const conn = await connectRaw(server.httpPort, HEAD("/healthz", "connection: close\r\n"));
      status = parseResponse((await readUntilClosed(conn, 3000)).text).status;
    }
    assert.equal(status, 200, "the cap did not recover after the held connections closed");
  });
});

Deno.test("http guard: all — WebSocket through the relay: slowloris closed, login + sendMsg and a 1 MiB burst arrive, idle tunnels stay", async () => {
  await withServer(
    {
      http: { guard: "all", headerTimeout: 0.3, idleTimeout: 0.3 },
      im: { sendBufferBytes: 8 * 1024 * 1024 },
    },
    async (server) => {
      const slow = await connectRaw(server.wsPort, "GET /im HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: web");
      const closed = await readUntilClosed(slow, 3000);
      assert.ok(closed.byServer, "a partial upgrade request on the WebSocket port was not closed");
      closedInTime(closed.ms, "partial upgrade request");

      const alice = await TestClient.connect(server.wsPort);
      const bob = await TestClient.connect(server.wsPort);
      try {
        await alice.login("alice");
        await bob.login("bob");
        const reply = await alice.request("sendMsg", { to: "bob", msg: "hello" });
        assert.equal(reply.response.code, 200);
        const push = await bob.waitFor((f) => f.cmd === "msg", 3000, "msg push");
        assert.equal(push.response.data.msg, "hello");

        // longer than the idle deadline: upgraded connections are tunnels, without deadlines
        await new Promise((r) => setTimeout(r, 800));
        const N = 128;
        const body = "m".repeat(8 * 1024); // 128 × 8 KiB = 1 MiB
        const replies = Array.from(
          { length: N },
          (_, i) => alice.request("sendMsg", { to: "bob", msg: `${i}:${body}` }, 15_000),
        );
        const results = await Promise.all(replies);
        assert.ok(results.every((r) => r.response.code === 200), "every send accepted");
        const got: number[] = [];
        for (let i = 0; i < N; i++) {
          const m = await bob.waitFor((f) => f.cmd === "msg", 15_000, `burst push ${i}`);
          got.push(Number(String(m.response.data.msg).split(":")[0]));
          assert.equal(String(m.response.data.msg).length, `${got[i]}:`.length + body.length);
        }
        assert.deepEqual(got, Array.from({ length: N }, (_, i) => i), "burst in order, complete");
        assert.equal(alice.socket.readyState, WebSocket.OPEN);
        assert.equal(bob.socket.readyState, WebSocket.OPEN);
      } finally {
        alice.socket.close();
        bob.socket.close();
        await Promise.all([alice.closed, bob.closed]);
      }
    },
  );
});

Deno.test("login deadline: a WebSocket that does not log in within heartbeat.loginTimeout is closed with 4009", async () => {
  await withServer(
    { heartbeat: { loginTimeout: 0.3, firstSweep: 0.05, sweep: 0.1 } },
    async (server) => {
      const idle = await TestClient.connect(server.wsPort);
      const user = await TestClient.connect(server.wsPort);
      try {
        await user.login("carol");
        const start = performance.now();
        let limit: ReturnType<typeof setTimeout> | undefined;
        const event = await Promise.race([
          idle.closed,
          new Promise<undefined>((r) => limit = setTimeout(() => r(undefined), 3000)),
        ]);
        clearTimeout(limit);
        assert.ok(event, "the not-logged-in connection was still open after 3 s");
        assert.equal(event.code, 4009);
        assert.match(event.reason, /login/);
        assert.ok(performance.now() - start < 2000);
        // the logged-in connection is left alone
        assert.equal(user.socket.readyState, WebSocket.OPEN);
        assert.equal((await user.request("heartbeat", {})).response.code, 200);
      } finally {
        idle.socket.close();
        user.socket.close();
        await Promise.all([idle.closed, user.closed]);
      }
    },
  );
});

Deno.test("login deadline: a login still being applied past heartbeat.loginTimeout is not closed; it completes", async () => {
  await withServer(
    { heartbeat: { loginTimeout: 0.3, firstSweep: 0.05, sweep: 0.1 } },
    async (server) => {
      const store = server.store;
      const loginState = store.loginState;
      let release!: () => void;
      const held = new Promise<void>((r) => release = r);
      // A store slower than the deadline (a storm, a slow Redis): failure injection, the store is real.
      store.loginState = async function (...args: Parameters<typeof loginState>) {
        await held;
        return loginState.apply(this, args);
      };
      const client = await TestClient.connect(server.wsPort);
      try {
        const reply = client.request("login", { userId: "slow", appId: 101 });
        await new Promise((r) => setTimeout(r, 800)); // several sweeps past the 0.3 s deadline
        assert.equal(client.socket.readyState, WebSocket.OPEN, "closed while its login was being applied");
        release();
        assert.equal((await reply).response.code, 200);
        assert.equal((await client.request("heartbeat", {})).response.code, 200);
      } finally {
        release();
        store.loginState = loginState;
        client.socket.close();
        await client.closed;
      }
    },
  );
});
