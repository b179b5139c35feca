/**
 * The reusable browser client module (src/web/client.js) run under Deno against a real server:
 * request/reply, pushes, resume with lastSeq from storage, reconnects, terminal closes, heartbeat.
 * @module
 */
import assert from "node:assert/strict";
import { ImClient, ImRequestError, newClientMsgId } from "../../src/web/client.js";
import { TestClient, testConfig, withServer } from "../support/helpers.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { StorageError } from "../../src/protocol/errors.ts";

/** A Map-backed Storage, so tests never touch Deno's on-disk localStorage. */
class MemoryStorage {
  readonly map = new Map<string, string>();
  get length(): number {
    return this.map.size;
  }
  clear(): void {
    this.map.clear();
  }
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  key(i: number): string | null {
    return [...this.map.keys()][i] ?? null;
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
  setItem(key: string, value: string): void {
    this.map.set(key, String(value));
  }
}

// deno-lint-ignore no-explicit-any
type Json = any;

function client(server: RunningServer, userId: string, storage: MemoryStorage, extra = {}): ImClient {
  return new ImClient({
    url: `ws://127.0.0.1:${server.wsPort}/im`,
    userId,
    appId: 101,
    storage: storage as unknown as Storage,
    minBackoffMs: 50,
    maxBackoffMs: 400,
    ...extra,
  });
}

/** Collect `type` events; `until(n)` waits (bounded) for at least n of them. */
function collect(im: ImClient, type: string) {
  const got: Json[] = [];
  const waiters: Array<() => void> = [];
  im.on(type, (d) => {
    got.push(d);
    for (const w of waiters.splice(0)) w();
  });
  const until = async (n: number, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (got.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} ${type} events (got ${got.length})`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, left);
        waiters.push(resolve);
      });
      clearTimeout(timer);
    }
  };
  return { got, until };
}

Deno.test("client.js: request/reply, msg events, resume from stored lastSeq without duplicates", async () => {
  await withServer({}, async (server) => {
    const storage = new MemoryStorage();
    const bob = await TestClient.connect(server.wsPort);
    await bob.login("bob");
    const first = client(server, "alice", storage);
    const msgs1 = collect(first, "msg");
    const login = await first.connect();
    assert.equal(login.userId, "alice");
    assert.equal(first.state, "online");
    for (const text of ["one", "two"]) await bob.request("sendMsg", { to: "alice", msg: text });
    await msgs1.until(2);
    assert.deepEqual(msgs1.got.map((m) => [m.msg, m.from, m.seq]), [["one", "bob", 1], ["two", "bob", 2]]);
    const sent = await first.sendMsg("bob", "reply");
    assert.equal(sent.senderSeq, 3); // own copy: lastSeq follows it, a resume does not replay it
    assert.equal(first.lastSeq, 3);
    await assert.rejects(first.request("sendMsg", { to: "alice", msg: "me" }), (e: unknown) => {
      return e instanceof ImRequestError && e.code === 1025;
    });
    await first.close();
    assert.equal(first.state, "closed");

    for (const text of ["three", "four"]) await bob.request("sendMsg", { to: "alice", msg: text });
    const second = client(server, "alice", storage);
    const msgs2 = collect(second, "msg");
    const again = await second.connect();
    assert.equal(again.resumeFrom, 3);
    await msgs2.until(2);
    assert.deepEqual(await second.history({ peer: "bob", limit: 10 }).then((h) => h.messages.length), 5);
    assert.deepEqual(msgs2.got.map((m) => m.msg), ["three", "four"]);
    assert.equal(JSON.parse(storage.getItem("imserver:101:alice")!).lastSeq, 5);
    await second.close();
    await bob.close();
  });
});

Deno.test("client.js: reconnects after a server-side drop and gets what was sent meanwhile once", async () => {
  await withServer({}, async (server) => {
    const bob = await TestClient.connect(server.wsPort);
    await bob.login("bob");
    const alice = client(server, "alice", new MemoryStorage());
    const logins = collect(alice, "login");
    const msgs = collect(alice, "msg");
    const closes = collect(alice, "closed");
    await alice.connect();
    for (const c of server.hub.connections()) {
      if (c.identity?.userId === "alice") c.close(4003, "rate limited; retry in 120 ms");
    }
    await closes.until(1);
    assert.equal(closes.got[0].code, 4003);
    assert.equal(alice.retryHintMs, 120);
    for (const text of ["a", "b", "c"]) await bob.request("sendMsg", { to: "alice", msg: text });
    await logins.until(2);
    await msgs.until(3);
    assert.deepEqual(msgs.got.map((m) => m.msg), ["a", "b", "c"]);
    // A send issued while offline is retried after the reconnect with the same clientMsgId.
    for (const c of server.hub.connections()) {
      if (c.identity?.userId === "alice") c.close(4001, "heartbeat timeout");
    }
    await closes.until(2);
    const sent = await alice.sendMsg("bob", "queued");
    assert.equal(sent.duplicate, undefined);
    const push = await bob.push("msg");
    assert.equal(push.response.data.msg, "queued");
    await alice.close();
    await bob.close();
  });
});

Deno.test("client.js: a refused login rejects connect() and does not retry", async () => {
  await withServer({}, async (server) => {
    const im = new ImClient({
      url: `ws://127.0.0.1:${server.wsPort}/im`,
      userId: "alice",
      appId: 999,
      storage: null,
    });
    await assert.rejects(im.connect(), (e: unknown) => e instanceof ImRequestError && e.code === 1003);
    assert.equal(im.state, "closed");
    await im.close();
  });
});

Deno.test("client.js: kicked by a newer login (single device) stays closed", async () => {
  await withServer({ im: { multiDevice: "single" } }, async (server) => {
    const first = client(server, "alice", new MemoryStorage());
    const kicks = collect(first, "kick");
    const closes = collect(first, "closed");
    await first.connect();
    const second = client(server, "alice", new MemoryStorage());
    await second.connect();
    await kicks.until(1);
    await closes.until(1);
    assert.equal(closes.got[0].code, 4000);
    assert.equal(first.state, "closed");
    assert.equal(second.state, "online");
    await first.close();
    await second.close();
  });
});

Deno.test("client.js: heartbeats on the interval from the login reply", async () => {
  await withServer({ heartbeat: { interval: 1 } }, async (server) => {
    const im = client(server, "alice", new MemoryStorage());
    const login = await im.connect();
    assert.equal(login.heartbeatInterval, 1);
    const frames = server.counters.frames;
    const deadline = Date.now() + 10_000;
    while (frames.get({ cmd: "heartbeat" }) < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(frames.get({ cmd: "heartbeat" }) >= 2, "no heartbeats seen");
    await im.close();
  });
});

Deno.test("client.js, app.js and view.js type-check against the DOM lib", async () => {
  // The page is not covered by `deno task check` (no DOM lib there); check it here with checkJs.
  const dir = await Deno.makeTempDir({ prefix: "im-web-check-" });
  try {
    const config = `${dir}/deno.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({ compilerOptions: { checkJs: true, lib: ["dom", "dom.iterable", "esnext"] } }),
    );
    const web = new URL("../../src/web/", import.meta.url);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "check",
        "--quiet",
        "--config",
        config,
        new URL("app.js", web).pathname,
        new URL("view.js", web).pathname,
        new URL("client.js", web).pathname,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client.js: fullResume shows the inbox on a new device; acks tell the next device what was seen", async () => {
  await withServer({ inbox: { maxEntries: 3 } }, async (server) => {
    const bob = await TestClient.connect(server.wsPort);
    await bob.login("bob");
    // alice is offline; with maxEntries 3 the first of four is trimmed (the expected leading gap).
    for (const text of ["m1", "m2", "m3", "m4"]) await bob.request("sendMsg", { to: "alice", msg: text });
    const phone = client(server, "alice", new MemoryStorage(), { fullResume: true, ackDelayMs: 10 });
    const msgs = collect(phone, "msg");
    const gaps = collect(phone, "gap");
    const login = await phone.connect();
    assert.equal(login.ackedSeq, 0);
    await msgs.until(3);
    assert.deepEqual(msgs.got.map((m) => m.msg), ["m2", "m3", "m4"]);
    const deadline = Date.now() + 10_000;
    while (await server.store.mark(101, "alice", "ack") < 4 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await server.store.mark(101, "alice", "ack"), 4);
    const laptop = client(server, "alice", new MemoryStorage(), { fullResume: true });
    const again = collect(laptop, "msg");
    assert.equal((await laptop.connect()).ackedSeq, 4);
    await again.until(3);
    assert.equal(gaps.got.length, 0);
    await phone.close();
    await laptop.close();
    await bob.close();
  });
});

Deno.test("client.js: the browser's online event cuts the backoff short", async () => {
  await withServer({}, async (server) => {
    const im = client(server, "alice", new MemoryStorage(), { minBackoffMs: 60_000, maxBackoffMs: 60_000 });
    const logins = collect(im, "login");
    const closes = collect(im, "closed");
    await im.connect();
    for (const c of server.hub.connections()) c.close(4001, "heartbeat timeout");
    await closes.until(1);
    assert.equal(im.state, "reconnecting"); // and would wait 30–60 s
    globalThis.dispatchEvent(new Event("online"));
    await logins.until(2);
    assert.equal(im.state, "online");
    await im.close();
  });
});

Deno.test("client.js: a 1024 reply is resent after retryMs with the same clientMsgId; the id resends later", async () => {
  await withServer({}, async (server) => {
    const bob = await TestClient.connect(server.wsPort);
    await bob.login("bob");
    const alice = client(server, "alice", new MemoryStorage(), { sendTimeoutMs: 5000 });
    await alice.connect();
    const store = server.store;
    const append = store.appendOnce; // client.js sends with a clientMsgId: idempotent appends
    let refused = 0;
    // The store is down for the first attempts (what RedisStore answers during an outage).
    store.appendOnce = function (...args: Parameters<typeof append>) {
      if (args[2].msg === "flaky" && refused++ < 2) {
        // StorageError: the reply is 1024 with the server's retry hint (1 s).
        return Promise.reject(new StorageError("append", new Error("redis is down")));
      }
      return append.apply(this, args);
    };
    try {
      const r = await alice.sendMsg("bob", "flaky");
      assert.equal(r.duplicate, undefined);
      assert.ok(refused >= 2, "resent until the store answered");
      const push = await bob.push("msg");
      assert.equal(push.response.data.msg, "flaky");
      assert.deepEqual(await bob.drain("msg", 100), [], "delivered once");

      // Down for longer than sendTimeoutMs: rejects with the 1024, and the same id resends it later.
      store.appendOnce = () => Promise.reject(new StorageError("append", new Error("redis is down")));
      const clientMsgId = newClientMsgId();
      const quick = client(server, "alice", new MemoryStorage(), { sendTimeoutMs: 300 });
      await quick.connect();
      await assert.rejects(
        quick.sendMsg("bob", "later", "text", { clientMsgId }),
        (e: unknown) => e instanceof ImRequestError && e.code === 1024,
      );
      store.appendOnce = append;
      const first = await quick.sendMsg("bob", "later", "text", { clientMsgId });
      assert.equal(first.duplicate, undefined);
      const again = await quick.sendMsg("bob", "later", "text", { clientMsgId });
      assert.equal(again.duplicate, true);
      assert.equal(again.msgId, first.msgId);
      assert.equal((await bob.push("msg")).response.data.msg, "later");
      assert.deepEqual(await bob.drain("msg", 100), [], "the resend was not delivered again");
      await quick.close();
    } finally {
      store.appendOnce = append;
      await alice.close();
      await bob.close();
    }
  });
});

Deno.test("client.js: retry events while the server is unreachable; close() cancels connect() and waiting sends", async () => {
  // A port nothing listens on: start a server for its port, then stop it.
  const gone = await startServer(testConfig());
  const url = `ws://127.0.0.1:${gone.wsPort}/im`;
  await gone.shutdown();
  const im = new ImClient({
    url,
    userId: "alice",
    appId: 101,
    storage: null,
    minBackoffMs: 20,
    maxBackoffMs: 80,
  });
  const retries = collect(im, "retry");
  const connecting = im.connect();
  await retries.until(2);
  assert.deepEqual(retries.got.map((r) => r.attempt).slice(0, 2), [1, 2]);
  assert.ok(retries.got.every((r) => r.delayMs >= 0 && r.delayMs <= 80));
  const waiting = im.sendMsg("bob", "never");
  const started = Date.now();
  await im.close();
  await assert.rejects(
    connecting,
    (e: unknown) => e instanceof ImRequestError && e.message === "client closed",
  );
  await assert.rejects(waiting, (e: unknown) => e instanceof ImRequestError && e.message === "client closed");
  assert.ok(Date.now() - started < 1000, "the waiting send failed at once, not at its deadline");
  const seen = retries.got.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(retries.got.length, seen, "no attempts after close()");
  assert.equal(im.state, "closed");
});
