/**
 * What a replay shows (docs/MESSAGING.md §3): an entry pushed from the store looks like the message is now,
 * as `history` shows it — a blocked user's room message flagged `blocked: true` (PROTOCOL.md C.7), a
 * recalled message as a tombstone without its text and an edited one with its current text (C.4) — on the
 * memory store, on SQLite (a fresh file per test) and on Redis (one cluster node).
 * @module
 */
import assert from "node:assert/strict";
import type { RunningServer } from "../../src/server.ts";
import {
  type ConfigOverrides,
  type Frame,
  TestClient,
  withClusterNodes,
  withServer,
} from "../support/helpers.ts";
import { redisTest } from "../support/redis_helper.ts";

const fast: ConfigOverrides = { limits: { messagesPerSecond: 100_000, messageBurst: 100_000 } };

type Body = (server: RunningServer) => Promise<void>;

/** Register `fn` once per store engine; it gets a function that starts a server on that engine. */
function engines(name: string, fn: (serve: (body: Body) => Promise<void>) => Promise<void>): void {
  Deno.test(`replay view: ${name}`, () => fn((body) => withServer(fast, body)));
  Deno.test(`replay view (sqlite): ${name}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "replay-view-" });
    try {
      await fn((body) => withServer({ ...fast, store: { engine: "sqlite", path: `${dir}/im.db` } }, body));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  redisTest(
    `replay view (redis): ${name}`,
    (redis) => fn((body) => withClusterNodes(redis.port, ["n1"], fast, ([node]) => body(node))),
  );
}

async function online(port: number, userId: string, extra: Record<string, unknown> = {}) {
  const c = await TestClient.connect(port);
  await c.login(userId, 101, extra);
  return c;
}

async function ok(c: TestClient, cmd: string, data: Record<string, unknown>) {
  const r = await c.request(cmd, data);
  assert.equal(r.response.code, 200, `${cmd}: ${JSON.stringify(r.response)}`);
  return r.response.data;
}

/** The next `count` pushes of a replay, in order. */
async function pushes(c: TestClient, count: number): Promise<Frame[]> {
  const out: Frame[] = [];
  while (out.length < count) out.push(await c.waitFor((f) => !f.seq.startsWith("t"), 5000, "a push"));
  return out;
}

engines("a blocked user's room message is flagged blocked: true on replay and in history", async (serve) => {
  await serve(async (server) => {
    const alice = await online(server.wsPort, "alice");
    const bob = await online(server.wsPort, "bob");
    const carol = await online(server.wsPort, "carol");
    for (const c of [alice, bob, carol]) await ok(c, "joinRoom", { room: "rb" });
    await ok(bob, "block", { userId: "alice" });
    await bob.drain("joinRoom", 50);
    await ok(alice, "roomMsg", { room: "rb", msg: "from blocked alice" });
    await ok(carol, "roomMsg", { room: "rb", msg: "from carol" });
    await ok(bob, "roomMsg", { room: "rb", msg: "from bob" });
    const live = await bob.push("msg");
    assert.equal(live.response.data.blocked, true, "the live push is flagged");

    // bob's new device replays the whole inbox
    const device = await online(server.wsPort, "bob", { lastSeq: 0 });
    const replayed = (await pushes(device, 3)).map((f) => f.response.data);
    assert.deepEqual(
      replayed.map((d) => [d.msg, d.blocked]),
      [["from blocked alice", true], ["from carol", undefined], ["from bob", undefined]],
    );
    // history of the room (the timeline, bob is a member) and the caller's inbox once he left
    const fromTimeline = (await ok(bob, "history", { room: "rb" })).messages;
    assert.deepEqual(
      fromTimeline.map((m: Record<string, unknown>) => [m.msg, m.blocked]),
      [["from bob", undefined], ["from carol", undefined], ["from blocked alice", true]],
    );
    await ok(bob, "leaveRoom", { room: "rb" });
    const fromInbox = (await ok(bob, "history", { room: "rb" })).messages;
    assert.deepEqual(
      fromInbox.map((m: Record<string, unknown>) => [m.msg, m.blocked]),
      [["from bob", undefined], ["from carol", undefined], ["from blocked alice", true]],
    );
    // the flag follows the block list as it is now; carol blocked nobody
    await ok(bob, "unblock", { userId: "alice" });
    const again = await online(server.wsPort, "bob", { lastSeq: 0 });
    assert.equal((await pushes(again, 1))[0].response.data.blocked, undefined);
    const carolDevice = await online(server.wsPort, "carol", { lastSeq: 0 });
    assert.equal((await pushes(carolDevice, 1))[0].response.data.blocked, undefined);
    for (const c of [alice, bob, carol, device, again, carolDevice]) await c.close();
  });
});

engines("a replay sends a recalled message as a tombstone and an edited one with its text", async (serve) => {
  await serve(async (server) => {
    const alice = await online(server.wsPort, "alice");
    const bob = await online(server.wsPort, "bob");
    const m1 = await ok(alice, "sendMsg", { to: "bob", msg: "orig1" });
    const m2 = await ok(alice, "sendMsg", { to: "bob", msg: "secret" });
    const m3 = await ok(alice, "sendMsg", { to: "bob", msg: "plain" });
    const edit = await ok(alice, "editMsg", { msgId: m1.msgId, msg: "edited1" });
    const recall = await ok(alice, "recallMsg", { msgId: m2.msgId });
    await bob.drain("msg", 50);

    for (const user of ["bob", "alice"]) { // the recipient and the sender's copy
      const device = await online(server.wsPort, user, { lastSeq: 0 });
      const replayed = await pushes(device, 5);
      assert.deepEqual(replayed.map((f) => f.cmd), ["msg", "msg", "msg", "msgEdited", "msgRecalled"]);
      const [d1, d2, d3] = replayed.map((f) => f.response.data);
      assert.equal(d1.msgId, m1.msgId);
      assert.equal(d1.msg, "edited1", `${user}: the edited text`);
      assert.equal(d1.editedAt, edit.editedAt);
      assert.equal(d2.msgId, m2.msgId);
      assert.equal("msg" in d2, false, `${user}: no text for a recalled message: ${JSON.stringify(d2)}`);
      assert.equal(d2.recalled, true);
      assert.equal(d3.msgId, m3.msgId);
      assert.equal(d3.msg, "plain");
      assert.equal("editedAt" in d3 || "recalled" in d3, false);
      // the events stay as they are (clients apply them idempotently)
      assert.equal(replayed[3].response.data.msg, "edited1");
      assert.equal(replayed[4].response.data.recalledAt, recall.recalledAt);
      // `sync` rewinds the same way
      await device.request("sync", { since: 0 });
      const synced = (await pushes(device, 5)).map((f) => f.response.data);
      assert.equal(synced[0].msg, "edited1");
      assert.equal("msg" in synced[1], false);
      await device.close();
    }
    await alice.close();
    await bob.close();
  });
});
