/**
 * IM semantics over real sockets (PROTOCOL.md C, docs/PROTOCOL.md §5.4): conversations and unread counts,
 * per-conversation reads with readState and receipts (live and stored), delivered receipts, edit / recall /
 * delete with their windows, typing, room timelines for later members, blocking, and the HTTP endpoints —
 * each on the memory store and on SQLite (the embedded default), a fresh file per test.
 * @module
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../src/util/clock.ts";
import type { StartOptions } from "../../src/server.ts";
import {
  type ConfigOverrides,
  type Frame,
  TestClient,
  tick,
  withServer as serve,
} from "../support/helpers.ts";

const fast = { limits: { messagesPerSecond: 100_000, messageBurst: 100_000 } };

type Serve = typeof serve;

/** Register `fn` once per store engine; it gets a `withServer` that starts the server on that engine. */
function imTest(name: string, fn: (withServer: Serve) => Promise<void>): void {
  Deno.test(`im: ${name}`, () => fn(serve));
  Deno.test(`im (sqlite): ${name}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "im-test-sqlite-" });
    try {
      await fn((overrides: ConfigOverrides, body, options?: StartOptions) =>
        serve({ ...overrides, store: { engine: "sqlite", path: `${dir}/im.db` } }, body, options)
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

async function online(port: number, userId: string, extra: Record<string, unknown> = {}) {
  const c = await TestClient.connect(port);
  const data = await c.login(userId, 101, extra);
  return Object.assign(c, { session: data });
}

async function ok(c: TestClient, cmd: string, data: Record<string, unknown>) {
  const r = await c.request(cmd, data);
  assert.equal(r.response.code, 200, `${cmd}: ${JSON.stringify(r.response)}`);
  return r.response.data;
}

async function closeAll(...cs: TestClient[]) {
  await Promise.all(cs.map((c) => c.close()));
}

imTest(
  "conversations, unreadTotal at login, a read moves one conversation and tells the others",
  async (withServer) => {
    await withServer(fast, async (server) => {
      const alice = await online(server.wsPort, "alice");
      const carol = await online(server.wsPort, "carol");
      for (const m of ["a1", "a2", "a3"]) await ok(alice, "sendMsg", { to: "bob", msg: m });
      await ok(carol, "sendMsg", { to: "bob", msg: "c1" });
      const bob1 = await online(server.wsPort, "bob", { lastSeq: 0 });
      assert.equal(bob1.session.unreadTotal, 4);
      const bob2 = await online(server.wsPort, "bob", { lastSeq: 0 });
      const { conversations, more } = await ok(bob1, "conversations", {});
      assert.equal(more, false);
      assert.deepEqual(conversations.map((c: Frame["response"]["data"]) => [c.id, c.unread, c.last.msg]), [
        ["u:carol", 1, "c1"],
        ["u:alice", 3, "a3"],
      ]);
      // bob reads alice's conversation up to a2 (seq 2) on device 1
      const read = await ok(bob1, "read", { conversation: "u:alice", seq: 2 });
      assert.deepEqual(read, { conversation: "u:alice", readSeq: 2, unread: 1 });
      const state = await bob2.push("readState");
      assert.deepEqual(state.response.data, { conversation: "u:alice", readSeq: 2, unread: 1 });
      assert.deepEqual(await bob1.drain("readState", 100), [], "not to the device that read");
      const receipt = (await alice.push("read")).response.data;
      assert.equal(receipt.by, "bob");
      assert.equal(receipt.conversation, "u:bob");
      assert.equal(receipt.msgIds.length, 2);
      assert.deepEqual(await carol.drain("read", 100), [], "carol's message is not read yet");
      // the old form marks everything
      assert.deepEqual(await ok(bob1, "read", { seq: 4 }), { seq: 4 });
      assert.equal((await carol.push("read")).response.data.msgIds.length, 1);
      const after = await ok(bob2, "conversations", {});
      assert.deepEqual(after.conversations.map((c: Frame["response"]["data"]) => c.unread), [0, 0]);
      await closeAll(alice, carol, bob1, bob2);
    });
  },
);

imTest(
  "receipts reach an offline sender as inbox entries; ack sends delivered receipts",
  async (withServer) => {
    await withServer(fast, async (server) => {
      const alice = await online(server.wsPort, "alice");
      const sent = await ok(alice, "sendMsg", { to: "bob", msg: "hi" });
      const aliceSeq = sent.senderSeq;
      await alice.close();
      const bob = await online(server.wsPort, "bob", { lastSeq: 0 });
      const push = (await bob.push("msg")).response.data;
      assert.deepEqual(await ok(bob, "ack", { seq: push.seq }), { seq: push.seq });
      await new Promise((r) => setTimeout(r, 150)); // past receipts.coalesce (50 ms): two receipts
      await ok(bob, "read", { conversation: "u:alice", seq: push.seq });
      await new Promise((r) => setTimeout(r, 150)); // the read receipt leaves its window while alice is away
      // alice comes back: both receipts are in her inbox, after her own copy
      const back = await online(server.wsPort, "alice", { lastSeq: aliceSeq });
      const delivered = (await back.push("delivered")).response.data;
      assert.deepEqual([delivered.by, delivered.conversation, delivered.msgIds], ["bob", "u:bob", [
        sent.msgId,
      ]]);
      assert.equal(typeof delivered.seq, "number", "a stored receipt has its inbox seq");
      const read = (await back.push("read")).response.data;
      assert.deepEqual([read.by, read.msgIds, read.seq > delivered.seq], ["bob", [sent.msgId], true]);
      // and with alice online, a new ack is live (no inbox entry)
      const second = await ok(back, "sendMsg", { to: "bob", msg: "again" });
      const push2 = (await bob.push("msg")).response.data;
      await ok(bob, "ack", { seq: push2.seq });
      const live = (await back.push("delivered")).response.data;
      assert.deepEqual([live.msgIds, live.seq], [[second.msgId], undefined]);
      await closeAll(bob, back);
    });
  },
);

imTest("receipts within receipts.coalesce go out as one; read implies delivered", async (withServer) => {
  await withServer(fast, async (server) => {
    const alice = await online(server.wsPort, "alice");
    const bob = await online(server.wsPort, "bob");
    const phone = await online(server.wsPort, "bob");
    const ids = [];
    for (const m of ["one", "two", "three"]) {
      ids.push((await ok(alice, "sendMsg", { to: "bob", msg: m })).msgId);
    }
    const seqs = [];
    for (let i = 0; i < 3; i++) seqs.push((await bob.push("msg")).response.data.seq);
    // A reply waits for the window carrying its receipts, so one connection's requests (handled one at a
    // time) never share a window; two devices of bob acking and reading at the same moment do.
    await Promise.all([
      ok(bob, "ack", { seq: seqs[2] }),
      ok(phone, "read", { conversation: "u:alice", seq: seqs[2] }),
    ]);
    const read = (await alice.push("read")).response.data;
    assert.deepEqual(read.msgIds, ids, "one read receipt for the three");
    assert.equal(read.upTo, seqs[2]);
    assert.deepEqual(await alice.drain("read", 150), []);
    assert.deepEqual(await alice.drain("delivered", 150), [], "read implies delivered");
    await closeAll(alice, bob, phone);
  });
});

imTest(
  "editMsg, recallMsg, deleteMsg sent with msgID answer msgID (A.2), with msgId msgId",
  async (withServer) => {
    await withServer(fast, async (server) => {
      const alice = await online(server.wsPort, "alice");
      const bob = await online(server.wsPort, "bob");
      const one = (await ok(alice, "sendMsg", { to: "bob", msg: "one" })).msgId;
      const two = (await ok(alice, "sendMsg", { to: "bob", msg: "two" })).msgId;
      const edited = await ok(alice, "editMsg", { msgID: one, msg: "one!" });
      assert.deepEqual(Object.keys(edited), ["msgID", "editedAt"]);
      assert.equal(edited.msgID, one);
      assert.deepEqual(Object.keys(await ok(alice, "editMsg", { msgId: one, msg: "one!!" })), [
        "msgId",
        "editedAt",
      ]);
      const recalled = await ok(alice, "recallMsg", { msgID: two });
      assert.deepEqual(Object.keys(recalled), ["msgID", "recalledAt"]);
      assert.equal(recalled.msgID, two);
      assert.deepEqual(await ok(alice, "deleteMsg", { msgID: one }), { msgID: one });
      assert.deepEqual(await ok(bob, "deleteMsg", { msgId: one }), { msgId: one });
      await closeAll(alice, bob);
    });
  },
);

imTest(
  "edit and recall reach every device; history and conversations follow; errors and windows",
  async (withServer) => {
    const clock = new FakeClock(Date.now());
    await withServer({ ...fast, im: { editWindow: 60, recallWindow: 10 } }, async (server) => {
      const a1 = await online(server.wsPort, "alice");
      const a2 = await online(server.wsPort, "alice");
      const bob = await online(server.wsPort, "bob");
      const sent = await ok(a1, "sendMsg", { to: "bob", msg: "helo" });
      await bob.push("msg");
      await a2.push("msg");
      const edit = await ok(a1, "editMsg", { msgId: sent.msgId, msg: "hello" });
      assert.equal(edit.msgId, sent.msgId);
      for (const c of [bob, a2]) {
        const e = (await c.push("msgEdited")).response.data;
        assert.deepEqual([e.msgId, e.msg, e.by], [sent.msgId, "hello", "alice"]);
      }
      assert.equal((await ok(bob, "history", { peer: "alice" })).messages[0].msg, "hello");
      assert.equal((await ok(bob, "conversations", {})).conversations[0].last.msg, "hello");
      // only the sender, only within the window, only known messages
      const notSender = await bob.request("editMsg", { msgId: sent.msgId, msg: "mine now" });
      assert.equal(notSender.response.code, 1027);
      assert.equal((await a1.request("editMsg", { msgId: "nope", msg: "x" })).response.code, 1026);
      clock.advance(11_000);
      assert.equal((await a1.request("recallMsg", { msgId: sent.msgId })).response.code, 1028);
      const fresh = await ok(a1, "sendMsg", { to: "bob", msg: "oops" });
      await bob.push("msg");
      const recall = await ok(a1, "recallMsg", { msgId: fresh.msgId });
      assert.equal(typeof recall.recalledAt, "number");
      assert.equal((await bob.push("msgRecalled")).response.data.msgId, fresh.msgId);
      const history = (await ok(bob, "history", { peer: "alice" })).messages;
      assert.deepEqual(history.map((m: Frame["response"]["data"]) => [m.msg, m.recalled]), [
        [undefined, true],
        [
          "hello",
          undefined,
        ],
      ]);
      const conv = (await ok(bob, "conversations", {})).conversations[0];
      assert.deepEqual(
        [conv.last.recalled, conv.unread],
        [true, 1],
        "the recalled message no longer counts as unread",
      );
      clock.advance(61_000);
      assert.equal((await a1.request("editMsg", { msgId: sent.msgId, msg: "late" })).response.code, 1028);
      await closeAll(a1, a2, bob);
    }, { clock });
  },
);

imTest("deleteMsg hides a message for the caller's devices only", async (withServer) => {
  await withServer(fast, async (server) => {
    const alice = await online(server.wsPort, "alice");
    const b1 = await online(server.wsPort, "bob");
    const b2 = await online(server.wsPort, "bob");
    const one = await ok(alice, "sendMsg", { to: "bob", msg: "one" });
    const two = await ok(alice, "sendMsg", { to: "bob", msg: "two" });
    await ok(b1, "deleteMsg", { msgId: two.msgId });
    assert.equal((await b2.push("msgDeleted")).response.data.msgId, two.msgId);
    assert.deepEqual(await alice.drain("msgDeleted", 100), []);
    const mine = (await ok(b2, "history", { peer: "alice" })).messages.map((m: Frame["response"]["data"]) =>
      m.msg
    );
    assert.deepEqual(mine, ["one"]);
    const hers = (await ok(alice, "history", { peer: "bob" })).messages.map((m: Frame["response"]["data"]) =>
      m.msg
    );
    assert.deepEqual(hers, ["two", "one"]);
    const conv = (await ok(b1, "conversations", {})).conversations[0];
    assert.equal(conv.last.msgId, one.msgId);
    assert.equal((await b1.request("deleteMsg", { msgId: "nope" })).response.code, 1026);
    // deleting again answers the same and tells no device twice
    const head = (await server.store.head(101, "bob")).lastSeq;
    assert.deepEqual(await ok(b2, "deleteMsg", { msgId: two.msgId }), { msgId: two.msgId });
    assert.equal((await server.store.head(101, "bob")).lastSeq, head);
    assert.deepEqual(await b1.drain("msgDeleted", 100), []);
    await closeAll(alice, b1, b2);
  });
});

imTest("typing goes to the peer, at most once per 2 s, never stored", async (withServer) => {
  await withServer(fast, async (server) => {
    const alice = await online(server.wsPort, "alice");
    const bob = await online(server.wsPort, "bob");
    assert.equal(await ok(alice, "typing", { to: "bob", state: "start" }), null);
    await ok(alice, "typing", { to: "bob", state: "start" });
    const t = (await bob.push("typing")).response.data;
    assert.deepEqual(t, { from: "alice", to: "bob", state: "start", expiresIn: 6000 });
    assert.deepEqual(await bob.drain("typing", 100), [], "the second start within 2 s was dropped");
    await ok(alice, "typing", { to: "bob", state: "stop" });
    assert.equal((await bob.push("typing")).response.data.state, "stop");
    assert.equal((await alice.request("typing", { to: "bob", state: "maybe" })).response.code, 1001);
    assert.equal((await alice.request("typing", { room: "lobby", state: "start" })).response.code, 1019);
    assert.equal((await ok(bob, "conversations", {})).conversations.length, 0, "typing is not stored");
    await closeAll(alice, bob);
  });
});

imTest(
  "typing: per sender (all devices) and conversation, a stop only after a forwarded start",
  async (withServer) => {
    const clock = new FakeClock(Date.now());
    await withServer(fast, async (server) => {
      const a1 = await online(server.wsPort, "alice");
      const a2 = await online(server.wsPort, "alice");
      const bob = await online(server.wsPort, "bob");
      const states = async () => (await bob.drain("typing", 150)).map((f) => f.response.data.state);
      // ten alternating frames at once: one start, then the stop that ends it; the rest dropped
      for (let i = 0; i < 10; i++) {
        await ok(a1, "typing", { to: "bob", state: i % 2 === 0 ? "start" : "stop" });
      }
      assert.deepEqual(await states(), ["start", "stop"]);
      clock.advance(2001);
      // two devices of alice within 2 s: one start; a stop from either ends it once
      await ok(a1, "typing", { to: "bob", state: "start" });
      await ok(a2, "typing", { to: "bob", state: "start" });
      await ok(a2, "typing", { to: "bob", state: "stop" });
      await ok(a1, "typing", { to: "bob", state: "stop" });
      assert.deepEqual(await states(), ["start", "stop"]);
      // another conversation has a budget of its own
      await ok(a1, "typing", { to: "carol", state: "start" });
      clock.advance(2001);
      await ok(a1, "typing", { to: "bob", state: "start" });
      assert.deepEqual(await states(), ["start"]);
      // long after the start (its 6 s are over, the entry expired): a stop is still harmless
      clock.advance(7000);
      await ok(a2, "typing", { to: "bob", state: "stop" });
      assert.deepEqual(await states(), []);
      await closeAll(a1, a2, bob);
    }, { clock });
  },
);

imTest("a member who joins later reads the room's earlier messages by roomSeq", async (withServer) => {
  await withServer(fast, async (server) => {
    const alice = await online(server.wsPort, "alice");
    await ok(alice, "joinRoom", { room: "lobby" });
    for (const m of ["r1", "r2", "r3"]) await ok(alice, "roomMsg", { room: "lobby", msg: m });
    const bob = await online(server.wsPort, "bob");
    assert.deepEqual(
      (await ok(bob, "history", { room: "lobby" })).messages,
      [],
      "the timeline is for members",
    );
    await ok(bob, "joinRoom", { room: "lobby" });
    const page = await ok(bob, "history", { room: "lobby", limit: 2 });
    assert.deepEqual(page.messages.map((m: Frame["response"]["data"]) => [m.msg, m.roomSeq]), [["r3", 3], [
      "r2",
      2,
    ]]);
    assert.equal(page.more, true);
    const rest = await ok(bob, "history", { room: "lobby", before: page.before, limit: 2 });
    assert.deepEqual(rest.messages.map((m: Frame["response"]["data"]) => m.msg), ["r1"]);
    const live = await ok(alice, "roomMsg", { room: "lobby", msg: "r4" });
    assert.equal(live.roomSeq, 4);
    assert.equal((await bob.push("msg")).response.data.roomSeq, 4);
    await closeAll(alice, bob);
  });
});

imTest(
  "blocking refuses direct messages (1029, stored nowhere), flags room ones, drops typing and receipts",
  async (withServer) => {
    await withServer(fast, async (server) => {
      const bob = await online(server.wsPort, "bob");
      const mallory = await online(server.wsPort, "mallory");
      assert.deepEqual(await ok(bob, "block", { userId: "mallory" }), { userId: "mallory", blocked: true });
      assert.deepEqual(await ok(bob, "blocked", {}), { users: ["mallory"] });
      // sent with userID, answered with userID (A.2)
      assert.deepEqual(await ok(bob, "unblock", { userID: "mallory" }), {
        userID: "mallory",
        blocked: false,
      });
      assert.deepEqual(await ok(bob, "block", { userID: "mallory" }), { userID: "mallory", blocked: true });
      const refused = await mallory.request("sendMsg", { to: "bob", msg: "hey" });
      assert.equal(refused.response.code, 1029);
      assert.deepEqual(await server.store.range(101, "bob", 0, 10), [], "stored nowhere");
      assert.deepEqual(await server.store.range(101, "mallory", 0, 10), []);
      const http = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ appId: 101, to: "bob", from: "mallory", msg: "via http" }),
      });
      assert.equal((await http.json()).code, 1029);
      await ok(mallory, "typing", { to: "bob", state: "start" });
      assert.deepEqual(await bob.drain("typing", 150), []);
      await ok(bob, "joinRoom", { room: "r" });
      await ok(mallory, "joinRoom", { room: "r" });
      await ok(mallory, "roomMsg", { room: "r", msg: "in the room" });
      const flagged = (await bob.push("msg")).response.data;
      assert.deepEqual([flagged.msg, flagged.blocked], ["in the room", true]);
      // bob messages mallory (allowed); mallory's read receipt is dropped, bob blocked her
      const sent = await ok(bob, "sendMsg", { to: "mallory", msg: "go away" });
      const got = (await mallory.push("msg")).response.data;
      assert.equal(got.msgId, sent.msgId);
      await ok(mallory, "read", { conversation: "u:bob", seq: got.seq });
      assert.deepEqual(await bob.drain("read", 150), []);
      assert.deepEqual(await ok(bob, "unblock", { userId: "mallory" }), {
        userId: "mallory",
        blocked: false,
      });
      assert.equal((await mallory.request("sendMsg", { to: "bob", msg: "sorry" })).response.code, 200);
      await closeAll(bob, mallory);
    });
  },
);

imTest("HTTP conversations, moderator edit and recall", async (withServer) => {
  await withServer(fast, async (server) => {
    const base = `http://127.0.0.1:${server.httpPort}`;
    const alice = await online(server.wsPort, "alice");
    const bob = await online(server.wsPort, "bob");
    const sent = await ok(alice, "sendMsg", { to: "bob", msg: "rude" });
    await bob.push("msg");
    const convs = await (await fetch(`${base}/api/v1/conversations?appId=101&userId=bob`)).json();
    assert.equal(convs.code, 200);
    assert.deepEqual([convs.data.conversations[0].id, convs.data.unreadTotal], ["u:alice", 1]);
    const edit = await fetch(`${base}/api/v1/messages/${sent.msgId}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ appId: 101, msg: "[edited by a moderator]" }),
    });
    assert.equal((await edit.json()).code, 200);
    assert.equal((await bob.push("msgEdited")).response.data.msg, "[edited by a moderator]");
    const recall = await fetch(`${base}/api/v1/messages/${sent.msgId}?appId=101`, { method: "DELETE" });
    assert.equal((await recall.json()).code, 200);
    assert.equal((await bob.push("msgRecalled")).response.data.msgId, sent.msgId);
    const unknown = await fetch(`${base}/api/v1/messages/nope?appId=101`, { method: "DELETE" });
    assert.deepEqual([unknown.status, (await unknown.json()).code], [400, 1026]);
    await tick();
    await closeAll(alice, bob);
  });
});
