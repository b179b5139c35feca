/**
 * 1:1 messaging over real sockets: multi-device delivery, offline inboxes, idempotent retries,
 * read receipts, history, `users`, bad input on every messaging command, and the HTTP sends.
 * @module
 */
import assert from "node:assert/strict";
import { StorageError } from "../../src/protocol/errors.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { type Frame, TestClient, testPolicy, withServer } from "../support/helpers.ts";

/** No rate limiting: these tests send faster than the default 50 frames/s. */
const fast = { limits: { messagesPerSecond: 100_000, messageBurst: 100_000 } };

async function online(port: number, userId: string, extra: Record<string, unknown> = {}) {
  const c = await TestClient.connect(port);
  await c.login(userId, 101, extra);
  return c;
}

/** The next `n` msg pushes of `c`, in arrival order. */
async function msgs(c: TestClient, n: number): Promise<Frame["response"]["data"][]> {
  const out = [];
  for (let i = 0; i < n; i++) out.push((await c.push("msg", 10_000)).response.data);
  return out;
}

async function closeAll(...clients: TestClient[]) {
  for (const c of clients) await c.close();
}

Deno.test("messaging: A→B reaches both of B's devices once; A's other device gets the sender copy", async () => {
  await withServer(fast, async (server) => {
    const a1 = await online(server.wsPort, "alice");
    const a2 = await online(server.wsPort, "alice");
    const b1 = await online(server.wsPort, "bob");
    const b2 = await online(server.wsPort, "bob");
    const reply = await a1.request("sendMsg", { to: "bob", msg: "hi", type: "text" });
    assert.equal(reply.response.code, 200);
    const r = reply.response.data;
    assert.equal(typeof r.msgId, "string");
    assert.equal(r.seq, 1);
    assert.equal(r.senderSeq, 1);
    assert.equal(r.delivered, true);
    for (const b of [b1, b2]) {
      const [m] = await msgs(b, 1);
      assert.deepEqual(
        { ...m, time: 0 },
        { target: "", type: "text", msg: "hi", from: "alice", to: "bob", msgId: r.msgId, time: 0, seq: 1 },
      );
    }
    const [copy] = await msgs(a2, 1);
    assert.equal(copy.msgId, r.msgId);
    assert.equal(copy.seq, r.senderSeq);
    assert.equal(copy.from, "alice");
    // nobody gets it twice, and the sending connection gets only the reply
    for (const c of [a1, a2, b1, b2]) assert.deepEqual(await c.drain("msg", 150), []);
    await closeAll(a1, a2, b1, b2);
  });
});

Deno.test("messaging: offline recipient is stored; login with lastSeq replays in order, without lastSeq not", async () => {
  await withServer(fast, async (server) => {
    const a = await online(server.wsPort, "alice");
    for (let i = 1; i <= 5; i++) {
      const r = await a.request("sendMsg", { to: "bob", msg: `m${i}` });
      assert.equal(r.response.code, 200);
      assert.equal(r.response.data.seq, i);
      assert.equal(r.response.data.delivered, false);
    }
    const b = await TestClient.connect(server.wsPort);
    const login = await b.login("bob", 101, { lastSeq: 2 });
    assert.equal(login.inboxSeq, 5);
    assert.deepEqual((await msgs(b, 3)).map((m) => [m.seq, m.msg]), [[3, "m3"], [4, "m4"], [5, "m5"]]);
    // a fresh device without lastSeq starts at the head: live traffic only
    const b2 = await online(server.wsPort, "bob");
    await a.request("sendMsg", { to: "bob", msg: "live" });
    assert.deepEqual((await msgs(b2, 1)).map((m) => [m.seq, m.msg]), [[6, "live"]]);
    assert.deepEqual((await msgs(b, 1)).map((m) => m.seq), [6]);
    assert.deepEqual(await b2.drain("msg", 100), []);
    await closeAll(a, b, b2);
  });
});

Deno.test("messaging: clientMsgId retries return the first msgId/seq and deliver once", async () => {
  await withServer(fast, async (server) => {
    const a = await online(server.wsPort, "alice");
    const b = await online(server.wsPort, "bob");
    const first = await a.request("sendMsg", { to: "bob", msg: "once", clientMsgId: "c-1" });
    const retry = await a.request("sendMsg", { to: "bob", msg: "once", clientMsgId: "c-1" });
    assert.equal(first.response.code, 200);
    assert.equal(retry.response.code, 200);
    assert.equal(retry.response.data.duplicate, true);
    assert.equal(retry.response.data.msgId, first.response.data.msgId);
    assert.equal(retry.response.data.seq, first.response.data.seq);
    // retries that race the first send (no reply yet) also get the original msgId/seq
    const devices = [a, await online(server.wsPort, "alice"), await online(server.wsPort, "alice")];
    const racing = await Promise.all(
      devices.map((d) => d.request("sendMsg", { to: "bob", msg: "race", clientMsgId: "c-2" })),
    );
    const ids = new Set(racing.map((r) => `${r.response.data.msgId}/${r.response.data.seq}`));
    assert.equal(ids.size, 1, JSON.stringify(racing.map((r) => r.response)));
    assert.equal(racing.filter((r) => r.response.data.duplicate).length, 2);
    // the key is per sender: another sender may use the same clientMsgId
    const c = await online(server.wsPort, "carol");
    const other = await c.request("sendMsg", { to: "bob", msg: "mine", clientMsgId: "c-1" });
    assert.equal(other.response.data.duplicate, undefined);
    assert.deepEqual((await msgs(b, 3)).map((m) => m.msg), ["once", "race", "mine"]);
    assert.deepEqual(await b.drain("msg", 150), []);
    await closeAll(...devices, b, c);
  });
});

Deno.test("messaging: read {seq} sends one read receipt per sender with the msgIds", async () => {
  await withServer(fast, async (server) => {
    const a = await online(server.wsPort, "alice");
    const c = await online(server.wsPort, "carol");
    const b = await online(server.wsPort, "bob");
    const ids = [];
    for (const [from, text] of [[a, "1"], [c, "2"], [a, "3"]] as const) {
      ids.push((await from.request("sendMsg", { to: "bob", msg: text })).response.data.msgId);
    }
    await msgs(b, 3);
    const read = await b.request("read", { seq: 3 });
    assert.equal(read.response.code, 200);
    assert.equal(read.response.data.seq, 3);
    const ra = (await a.push("read")).response.data;
    assert.equal(ra.from, "bob");
    assert.equal(ra.to, "alice");
    assert.deepEqual([...ra.msgIds].sort(), [ids[0], ids[2]].sort());
    assert.deepEqual((await c.push("read")).response.data.msgIds, [ids[1]]);
    // reading the same seq again (or an older one) sends nothing new
    assert.equal((await b.request("read", { seq: 2 })).response.data.seq, 3);
    assert.deepEqual(await a.drain("read", 150), []);
    // ack moves the delivered mark, capped at the inbox head
    assert.equal((await b.request("ack", { seq: 99 })).response.data.seq, 3);
    assert.equal((await b.request("ack", { seq: "x" })).response.code, 1001);
    assert.equal((await b.request("read", {})).response.code, 1001);
    await closeAll(a, b, c);
  });
});

Deno.test("messaging: history with a peer pages newest first from the caller's inbox", async () => {
  await withServer(fast, async (server) => {
    const a = await online(server.wsPort, "alice");
    const b = await online(server.wsPort, "bob");
    const c = await online(server.wsPort, "carol");
    for (let i = 1; i <= 5; i++) {
      await a.request("sendMsg", { to: "bob", msg: `ab${i}` });
      await b.request("sendMsg", { to: "alice", msg: `ba${i}` });
      await c.request("sendMsg", { to: "alice", msg: `ca${i}` });
    }
    const texts: string[] = [];
    let before: number | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await a.request("history", { peer: "bob", limit: 4, ...(before ? { before } : {}) });
      assert.equal(r.response.code, 200);
      texts.push(...r.response.data.messages.map((m: { msg: string }) => m.msg));
      if (!r.response.data.more) break;
      before = r.response.data.before;
    }
    const expected = [];
    for (let i = 5; i >= 1; i--) expected.push(`ba${i}`, `ab${i}`);
    assert.deepEqual(texts, expected);
    const carol = await a.request("history", { peer: "carol" });
    assert.deepEqual(carol.response.data.messages.map((m: { msg: string }) => m.msg), [
      "ca5",
      "ca4",
      "ca3",
      "ca2",
      "ca1",
    ]);
    assert.equal(carol.response.data.more, false);
    // exactly one of peer | room; bounded limit
    assert.equal((await a.request("history", {})).response.code, 1001);
    assert.equal((await a.request("history", { peer: "bob", room: "r" })).response.code, 1001);
    assert.equal((await a.request("history", { peer: "bob", limit: 101 })).response.code, 1001);
    assert.equal((await a.request("history", { peer: "bob", before: -1 })).response.code, 1001);
    assert.equal((await a.request("history", { peer: 5 })).response.code, 200);
    await closeAll(a, b, c);
  });
});

Deno.test("messaging: users lists each online user of the app once", async () => {
  await withServer(fast, async (server) => {
    const a1 = await online(server.wsPort, "alice");
    const a2 = await online(server.wsPort, "alice");
    const b = await online(server.wsPort, "bob");
    const other = await TestClient.connect(server.wsPort);
    await other.login("zed", 102);
    const r = await a1.request("users", {});
    assert.equal(r.response.code, 200);
    assert.deepEqual(r.response.data.userList.sort(), ["alice", "bob"]);
    assert.equal(r.response.data.userCount, 2);
    await b.close();
    // the server learns of the close asynchronously: ask again (bounded) until bob is gone
    let list: string[] = [];
    for (let i = 0; i < 100; i++) {
      list = (await a2.request("users")).response.data.userList;
      if (list.length === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(list, ["alice"]);
    await closeAll(a1, a2, other);
  });
});

Deno.test("messaging: bad input on every messaging command gets its documented code", async () => {
  await withServer({ ...fast, im: { maxMessageBytes: 64 } }, async (server) => {
    const anon = await TestClient.connect(server.wsPort);
    for (const cmd of ["sendMsg", "sync", "ack", "read", "history", "users"]) {
      assert.equal((await anon.request(cmd, {})).response.code, 1000, cmd);
    }
    const a = await online(server.wsPort, "alice");
    const cases: Array<[string, unknown, number]> = [
      ["sendMsg", {}, 1015],
      ["sendMsg", { msg: "x" }, 1015],
      ["sendMsg", { to: "", msg: "x" }, 1015],
      ["sendMsg", { to: "b".repeat(20), msg: "x" }, 1015],
      ["sendMsg", { to: "bo\u0001b", msg: "x" }, 1015],
      ["sendMsg", { to: { id: "bob" }, msg: "x" }, 1001],
      ["sendMsg", { to: ["bob"], msg: "x" }, 1001],
      ["sendMsg", { to: "alice", msg: "x" }, 1025],
      ["sendMsg", { to: "bob" }, 1001],
      ["sendMsg", { to: "bob", msg: "" }, 1001],
      ["sendMsg", { to: "bob", msg: 42 }, 1001],
      ["sendMsg", { to: "bob", msg: "x".repeat(65) }, 1017],
      ["sendMsg", { to: "bob", msg: "é".repeat(33) }, 1017],
      ["sendMsg", { to: "bob", msg: "x", type: 7 }, 1001],
      ["sendMsg", { to: "bob", msg: "x", type: "t".repeat(33) }, 1001],
      ["sendMsg", { to: "bob", msg: "x", clientMsgId: 1 }, 1001],
      ["sendMsg", { to: "bob", msg: "x", clientMsgId: "c".repeat(129) }, 1001],
      ["sendMsg", { to: "bob", msg: "x", appId: 102 }, 1020],
      ["sendMsg", { to: "bob", msg: "x", appID: 103 }, 1020],
      ["sendMsg", { to: "bob", msg: "x", appId: "abc" }, 1001],
      ["users", { appId: 102 }, 1020],
      ["users", { appID: 103 }, 1020],
      ["users", { appId: "abc" }, 1001],
      ["sync", { since: -1 }, 1001],
      ["sync", { since: 1.5 }, 1001],
      ["sync", { since: 99 }, 1001],
      ["ack", {}, 1001],
      ["ack", { seq: -3 }, 1001],
      ["read", { seq: null }, 1001],
      ["history", { peer: "" }, 1015],
      ["history", { room: 5 }, 1001],
      ["history", { peer: "bob", limit: "many" }, 1001],
    ];
    for (const [cmd, data, code] of cases) {
      const r = await a.request(cmd, data);
      assert.equal(r.response.code, code, `${cmd} ${JSON.stringify(data)} → ${JSON.stringify(r.response)}`);
      assert.equal(typeof r.response.data.error, "string");
    }
    // data that is not an object, and the boundary cases that are accepted
    a.send(JSON.stringify({ seq: "raw", cmd: "sendMsg", data: "bob" }));
    assert.equal((await a.waitFor((f) => f.seq === "raw")).response.code, 1001);
    assert.equal(
      (await a.request("sendMsg", { to: "b".repeat(19), msg: "x".repeat(64) })).response.code,
      200,
    );
    assert.equal((await a.request("sendMsg", { to: 12345, msg: "numeric id" })).response.code, 200);
    assert.equal((await a.request("sendMsg", { to: "bob", msg: "x", appId: 101 })).response.code, 200);
    assert.equal((await a.request("users", { appId: 101 })).response.code, 200);
    // the connection survived all of it
    assert.equal((await a.request("ping")).response.data, "pong");
    await closeAll(anon, a);
  });
});

Deno.test("messaging: HTTP sends go through the inbox; an offline user gets them on login with lastSeq 0", async () => {
  await withServer(fast, async (server) => {
    const base = `http://127.0.0.1:${server.httpPort}`;
    const post = async (path: string, body: unknown) => {
      const res = await fetch(base + path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };
    const compat = await post("/user/sendMessage", {
      appId: 101,
      userId: "bob",
      msgId: "h1",
      message: "old",
    });
    assert.equal(compat.body.code, 200);
    assert.equal(compat.body.data.sendResults, false);
    assert.equal(compat.body.data.seq, 1);
    const v1 = await post("/api/v1/messages", { appId: 101, to: "bob", from: "alice", msg: "v1" });
    assert.equal(v1.status, 200);
    assert.equal(v1.body.data.seq, 2);
    assert.equal(v1.body.data.senderSeq, 1);
    const bad = await post("/api/v1/messages", { appId: 101, to: "", msg: "v1" });
    assert.equal(bad.body.code, 1015);
    assert.equal(bad.status, 400);
    const big = await post("/api/v1/messages", { appId: 101, to: "bob", msg: "x".repeat(16 * 1024 + 1) });
    assert.equal(big.body.code, 1017);
    // the inbox endpoint shows both entries
    const inbox = await (await fetch(`${base}/api/v1/inbox?appId=101&userId=bob&since=0`)).json();
    assert.equal(inbox.data.inboxSeq, 2);
    assert.deepEqual(inbox.data.entries.map((e: { msg: string }) => e.msg), ["old", "v1"]);
    const page = await (await fetch(`${base}/api/v1/inbox?appId=101&userId=bob&since=1&limit=1`)).json();
    assert.deepEqual(page.data.entries.map((e: { seq: number }) => e.seq), [2]);
    // bob logs in later and gets both, in order, with the HTTP sender as `from`
    const b = await TestClient.connect(server.wsPort);
    await b.login("bob", 101, { lastSeq: 0 });
    const got = await msgs(b, 2);
    assert.deepEqual(got.map((m) => [m.seq, m.msg, m.from]), [[1, "old", ""], [2, "v1", "alice"]]);
    // sendMessage to an online user is delivered live and reports sendResults true
    const live = await post("/user/sendMessage", { appId: 101, userId: "bob", msgId: "h2", message: "now" });
    assert.equal(live.body.data.sendResults, true);
    assert.deepEqual((await msgs(b, 1)).map((m) => m.msg), ["now"]);
    // alice's copy of the v1 send is in her inbox
    const a = await TestClient.connect(server.wsPort);
    await a.login("alice", 101, { lastSeq: 0 });
    assert.deepEqual((await msgs(a, 1)).map((m) => [m.seq, m.to]), [[1, "bob"]]);
    await closeAll(a, b);
  });
});

Deno.test("messaging: sendMessageAll goes into the inboxes of the users online then, not the sender's", async () => {
  await withServer(fast, async (server) => {
    const base = `http://127.0.0.1:${server.httpPort}`;
    const a = await online(server.wsPort, "alice");
    const b = await online(server.wsPort, "bob");
    // carol was online once, but not when the broadcast is sent
    const c = await online(server.wsPort, "carol");
    await c.close();
    for (let i = 0; i < 100; i++) {
      const list = (await (await fetch(`${base}/user/list?appId=101`)).json()).data.userList;
      if (!list.includes("carol")) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const res = await fetch(`${base}/user/sendMessageAll`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ appId: 101, userId: "alice", msgId: "all-1", message: "to all" }),
    });
    assert.equal((await res.json()).data.recipients, 1);
    const m = (await b.push("msg")).response.data;
    assert.deepEqual([m.from, m.to, m.target, m.msg, m.seq], ["alice", "", "", "to all", 1]);
    const inbox = async (u: string) =>
      (await (await fetch(`${base}/api/v1/inbox?appId=101&userId=${u}`)).json()).data.entries.length;
    assert.deepEqual([await inbox("alice"), await inbox("bob"), await inbox("carol")], [0, 1, 0]);
    assert.deepEqual(await a.drain("msg", 100), []);
    await closeAll(a, b);
  });
});

Deno.test("messaging: a retry while the first send hangs completes it; both answer the same msgId and seq", async () => {
  const store = new MemoryStore({ policy: testPolicy() });
  // Failure injection: the first append to "stuck" hangs until released (a send stalled midway).
  let release = () => {};
  let hangs = 1;
  const gate = new Promise<void>((r) => release = r);
  const appendOnce = store.appendOnce.bind(store);
  store.appendOnce = async (appId, userIds, entry) => {
    if (userIds[0] === "stuck" && hangs-- > 0) await gate;
    return appendOnce(appId, userIds, entry);
  };
  await withServer(fast, async (server) => {
    const a1 = await online(server.wsPort, "alice");
    const a2 = await online(server.wsPort, "alice");
    const first = a1.request("sendMsg", { to: "stuck", msg: "x", clientMsgId: "k" }, 20_000);
    await new Promise((r) => setTimeout(r, 50));
    const retry = await a2.request("sendMsg", { to: "stuck", msg: "x", clientMsgId: "k" }, 20_000);
    assert.equal(retry.response.code, 200, JSON.stringify(retry.response));
    assert.equal(retry.response.data.duplicate, undefined, "the retry is the attempt that stored it");
    release();
    const done = await first;
    assert.equal(done.response.code, 200);
    assert.equal(done.response.data.msgId, retry.response.data.msgId);
    assert.equal(done.response.data.seq, retry.response.data.seq);
    const entries = await server.store.range(101, "stuck", 0, 10);
    assert.equal(entries.length, 1, "stored once");
    await closeAll(a1, a2);
  }, { store });
});

Deno.test("messaging: a send that failed half-way answers 1024; its retry completes it without a duplicate", async () => {
  const store = new MemoryStore({ policy: testPolicy() });
  // Failure injection: the sender's copy fails once after the recipient's copy was stored (a Redis blip
  // between two batches of appends).
  let failures = 1;
  const appendOnce = store.appendOnce.bind(store);
  store.appendOnce = async (appId, userIds, entry) => {
    if (userIds.includes("alice") && failures-- > 0) {
      await appendOnce(appId, userIds.filter((u) => u !== "alice"), entry);
      throw new StorageError("append", new Error("connection reset"));
    }
    return appendOnce(appId, userIds, entry);
  };
  await withServer(fast, async (server) => {
    const a = await online(server.wsPort, "alice");
    const b = await online(server.wsPort, "bob");
    const failed = await a.request("sendMsg", { to: "bob", msg: "once", clientMsgId: "c-1" });
    assert.equal(failed.response.code, 1024);
    assert.ok(failed.response.data.retryMs > 0);
    const retry = await a.request("sendMsg", { to: "bob", msg: "once", clientMsgId: "c-1" });
    assert.equal(retry.response.code, 200, JSON.stringify(retry.response));
    assert.equal(
      retry.response.data.duplicate,
      undefined,
      "the retry stored the sender's copy: not a mere repeat",
    );
    assert.deepEqual((await server.store.range(101, "bob", 0, 10)).map((e) => e.msg), ["once"]);
    assert.deepEqual((await server.store.range(101, "alice", 0, 10)).map((e) => e.msg), ["once"]);
    // bob saw it once (the first attempt's live push); the retry's push is a duplicate seq
    const pushes = await b.drain("msg", 150);
    assert.deepEqual(pushes.map((f) => f.response.data.msg), ["once"]);
    await closeAll(a, b);
  }, { store });
});
