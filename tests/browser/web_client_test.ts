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

// ---- Part C (PROTOCOL.md §5.4): these need the server's conversations, receipts, edits, typing,
// room timelines and blocking. ----

Deno.test("client.js (C.2, C.3): unreadTotal, conversations, read per conversation, readState, read receipt", async () => {
  await withServer({}, async (server) => {
    const bob = await TestClient.connect(server.wsPort);
    await bob.login("bob");
    for (const msg of ["one", "two"]) await bob.request("sendMsg", { to: "alice", msg });
    const storage = new MemoryStorage();
    const phone = client(server, "alice", storage, { fullResume: true });
    const msgs = collect(phone, "msg");
    await phone.connect();
    assert.equal(phone.unreadTotal, 2);
    await msgs.until(2);
    const { conversations, more } = await phone.conversations();
    assert.equal(more, false);
    assert.deepEqual(conversations.map((c) => [c.id, c.kind, c.peer, c.unread, c.last?.msg]), [
      ["u:bob", "direct", "bob", 2, "two"],
    ]);
    const laptop = client(server, "alice", new MemoryStorage());
    const states = collect(laptop, "readState");
    await laptop.connect();
    const top = msgs.got[1].seq;
    const r = await phone.read("u:bob", top);
    assert.deepEqual(r, { conversation: "u:bob", readSeq: top, unread: 0 });
    await states.until(1);
    assert.deepEqual(states.got[0], { conversation: "u:bob", readSeq: top, unread: 0 });
    const receipt = await bob.push("read");
    assert.deepEqual(receipt.response.data.msgIds.sort(), msgs.got.map((m) => m.msgId).sort());
    // The old form keeps its meaning and reply.
    assert.deepEqual(await phone.read(top), { seq: top });
    for (const c of [phone, laptop]) await c.close();
    await bob.close();
  });
});

Deno.test("client.js (C.3): delivered receipts live; a read receipt for an offline sender is an entry, replayed once", async () => {
  await withServer({}, async (server) => {
    const bob = await TestClient.connect(server.wsPort);
    await bob.login("bob");
    const storage = new MemoryStorage();
    const alice = client(server, "alice", storage);
    const again = client(server, "alice", storage);
    const third = client(server, "alice", storage);
    const delivered = collect(alice, "delivered");
    await alice.connect();
    try {
      const sent = await alice.sendMsg("bob", "hi bob");
      const push = await bob.push("msg");
      await bob.request("ack", { seq: push.response.data.seq });
      await delivered.until(1);
      assert.deepEqual(delivered.got[0].msgIds, [sent.msgId]);
      assert.equal(delivered.got[0].by, "bob");
      await alice.close();

      // alice is offline when bob reads: the receipt waits in her inbox (stored once the server's
      // receipts.coalesce interval is over).
      const head = (await server.store.head(101, "alice")).lastSeq;
      await bob.request("read", { conversation: "u:alice", seq: push.response.data.seq });
      const deadline = Date.now() + 5000;
      while ((await server.store.head(101, "alice")).lastSeq === head && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const reads = collect(again, "read");
      await again.connect();
      await reads.until(1);
      assert.deepEqual(reads.got[0].msgIds, [sent.msgId]);
      assert.equal(typeof reads.got[0].seq, "number");
      assert.equal(again.lastSeq, reads.got[0].seq); // an entry: it advanced the resume position
      await again.close();
      const none = collect(third, "read");
      await third.connect();
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(none.got.length, 0, "replayed once, not on every login");
    } finally {
      for (const c of [alice, again, third]) await c.close();
      await bob.close();
    }
  });
});

Deno.test("client.js (C.4): editMsg, recallMsg, deleteMsg and their events; 1026, 1027", async () => {
  await withServer({}, async (server) => {
    const alice = client(server, "alice", new MemoryStorage());
    const bob = client(server, "bob", new MemoryStorage());
    const bob2 = client(server, "bob", new MemoryStorage());
    const msgs = collect(bob, "msg");
    const edited = collect(bob, "msgEdited");
    const recalled = collect(bob, "msgRecalled");
    const deleted = collect(bob2, "msgDeleted");
    for (const c of [alice, bob, bob2]) await c.connect();
    try {
      const first = await alice.sendMsg("bob", "helo");
      const second = await alice.sendMsg("bob", "oops");
      await msgs.until(2);
      const edit = await alice.editMsg(first.msgId, "hello");
      assert.equal(edit.msgId, first.msgId);
      assert.equal(typeof edit.editedAt, "number");
      await edited.until(1);
      assert.deepEqual([edited.got[0].msgId, edited.got[0].msg, edited.got[0].conversation], [
        first.msgId,
        "hello",
        "u:alice",
      ]);
      assert.equal(bob.lastSeq, edited.got[0].seq, "an edit is an inbox entry");
      await alice.recallMsg(second.msgId);
      await recalled.until(1);
      assert.equal(recalled.got[0].msgId, second.msgId);
      assert.deepEqual(await bob.deleteMsg(first.msgId), { msgId: first.msgId });
      await deleted.until(1);
      assert.equal(deleted.got[0].msgId, first.msgId);
      const h = await bob.history({ peer: "alice" });
      assert.deepEqual(h.messages.map((m) => [m.msgId, m.msg, m.recalled]), [[
        second.msgId,
        undefined,
        true,
      ]]);
      const third = await alice.sendMsg("bob", "not yours");
      await assert.rejects(
        bob.editMsg(third.msgId, "mine now"),
        (e: unknown) => e instanceof ImRequestError && e.code === 1027,
      );
      await assert.rejects(
        alice.recallMsg("no-such-message"),
        (e: unknown) => e instanceof ImRequestError && e.code === 1026,
      );
    } finally {
      for (const c of [alice, bob, bob2]) await c.close();
    }
  });
});

Deno.test("client.js (C.5): typing is rate-limited in the client; a stop waits out the server's 2 s", async () => {
  await withServer({}, async (server) => {
    const bob = await TestClient.connect(server.wsPort);
    await bob.login("bob");
    const alice = client(server, "alice", new MemoryStorage());
    await alice.connect();
    const frames = server.counters.frames;
    for (let i = 0; i < 10; i++) alice.typing("bob", "start");
    const start = await bob.push("typing");
    assert.deepEqual(start.response.data, { from: "alice", to: "bob", state: "start", expiresIn: 6000 });
    assert.equal(frames.get({ cmd: "typing" }), 1, "ten calls, one frame");
    const asked = Date.now();
    alice.typing({ to: "bob" }, "stop");
    alice.typing({ to: "bob" }, "stop");
    const stop = await bob.push("typing", 5000);
    assert.equal(stop.response.data.state, "stop");
    assert.ok(Date.now() - asked >= 1500, "the stop was held until 2 s after the start");
    assert.equal(frames.get({ cmd: "typing" }), 2);
    alice.typing("bob", "stop"); // nothing to stop
    assert.deepEqual(await bob.drain("typing", 100), []);
    await alice.close(); // pending typing timers end with the client
    await bob.close();
  });
});

Deno.test("client.js (C.6, C.7): room history by roomSeq for a later member; block, blocked, unblock", async () => {
  await withServer({}, async (server) => {
    const alice = client(server, "alice", new MemoryStorage());
    const bob = client(server, "bob", new MemoryStorage());
    await alice.connect();
    await bob.connect();
    await alice.joinRoom("lobby");
    const roomSeqs = [];
    for (let i = 1; i <= 5; i++) roomSeqs.push((await alice.roomMsg("lobby", `r${i}`)).roomSeq);
    assert.deepEqual(roomSeqs, [1, 2, 3, 4, 5]);
    await bob.joinRoom("lobby");
    const page1 = await bob.history({ room: "lobby", limit: 2 });
    assert.deepEqual(page1.messages.map((m) => [m.msg, m.roomSeq]), [["r5", 5], ["r4", 4]]);
    assert.equal(page1.more, true);
    const page2 = await bob.history({ room: "lobby", limit: 10, before: page1.before });
    assert.deepEqual(page2.messages.map((m) => m.msg), ["r3", "r2", "r1"]);

    assert.deepEqual(await bob.block("alice"), { userId: "alice", blocked: true });
    assert.deepEqual(await bob.blocked(), { users: ["alice"] });
    await assert.rejects(
      alice.sendMsg("bob", "let me in"),
      (e: unknown) => e instanceof ImRequestError && e.code === 1029,
    );
    const flagged = collect(bob, "msg");
    await alice.roomMsg("lobby", "room while blocked");
    await flagged.until(1);
    assert.equal(flagged.got[0].blocked, true);
    assert.deepEqual(await bob.unblock("alice"), { userId: "alice", blocked: false });
    assert.deepEqual(await bob.blocked(), { users: [] });
    await alice.sendMsg("bob", "welcome back");
    await alice.close();
    await bob.close();
  });
});
