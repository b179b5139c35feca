/**
 * Audit regressions, delivery: a `clientMsgId` reused for a different message (item 4) and
 * offline messages for a login without `lastSeq` (item 15, PROTOCOL.md C.1).
 *
 * These tests describe the fixed behaviour; each fails on the code the audit looked at.
 * @module
 */
import assert from "node:assert/strict";
import { type Frame, TestClient, tick, withServer } from "../support/helpers.ts";

/** Texts of the `msg` pushes in `frames`, in arrival order. */
const texts = (frames: Frame[]) => frames.map((f) => f.response.data.msg as string);

/** Log `userId` in on a fresh connection. */
async function connectAs(port: number, userId: string, extra: Record<string, unknown> = {}) {
  const c = await TestClient.connect(port);
  const data = await c.login(userId, 101, extra);
  return { c, data };
}

/** Close `c` and give the server a moment to apply the unregister. */
async function leave(c: TestClient): Promise<void> {
  await c.close();
  await tick(100);
}

/** Collect `msg` pushes until `n` arrived or `ms` passed (then return what came). */
async function collectMsgs(c: TestClient, n: number, ms: number): Promise<Frame[]> {
  const out: Frame[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n && Date.now() < deadline) {
    try {
      out.push(await c.push("msg", Math.max(1, deadline - Date.now())));
    } catch {
      break; // timed out: return what arrived
    }
  }
  return out;
}

Deno.test("audit #4: a clientMsgId already used by sendMsg is refused (1030) by roomMsg", async () => {
  await withServer({}, async (server) => {
    const { c: alice } = await connectAs(server.wsPort, "alice");
    const { c: bob } = await connectAs(server.wsPort, "bob");
    try {
      for (const c of [alice, bob]) {
        assert.equal((await c.request("joinRoom", { room: "r" })).response.code, 200);
      }
      const first = await alice.request("sendMsg", { to: "bob", msg: "direct", clientMsgId: "x" });
      assert.equal(first.response.code, 200, JSON.stringify(first.response));
      const second = await alice.request("roomMsg", { room: "r", msg: "to the room", clientMsgId: "x" });
      assert.notEqual(
        second.response.data?.duplicate,
        true,
        `roomMsg with a clientMsgId of an earlier sendMsg was swallowed as a retry: ${
          JSON.stringify(second.response)
        }`,
      );
      assert.equal(second.response.code, 1030, JSON.stringify(second.response));
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});

Deno.test("audit #4: a clientMsgId reused for another recipient is refused (1030); a true retry is not", async () => {
  await withServer({}, async (server) => {
    const { c: alice } = await connectAs(server.wsPort, "alice");
    const { c: bob } = await connectAs(server.wsPort, "bob");
    const { c: carol } = await connectAs(server.wsPort, "carol");
    try {
      const first = await alice.request("sendMsg", { to: "bob", msg: "hello", clientMsgId: "y" });
      assert.equal(first.response.code, 200, JSON.stringify(first.response));
      // Same id, same target, same body: a retry after a lost reply (this already holds today).
      const retry = await alice.request("sendMsg", { to: "bob", msg: "hello", clientMsgId: "y" });
      assert.equal(retry.response.code, 200, JSON.stringify(retry.response));
      assert.equal(retry.response.data.duplicate, true);
      assert.equal(retry.response.data.msgId, first.response.data.msgId);
      assert.equal(retry.response.data.seq, first.response.data.seq);
      assert.deepEqual(texts(await bob.drain("msg", 100)), ["hello"], "bob got the message once");

      const other = await alice.request("sendMsg", { to: "carol", msg: "hello", clientMsgId: "y" });
      assert.notEqual(
        other.response.data?.duplicate,
        true,
        `sendMsg to carol with bob's clientMsgId was swallowed as a retry: ${JSON.stringify(other.response)}`,
      );
      assert.equal(other.response.code, 1030, JSON.stringify(other.response));
    } finally {
      await alice.close();
      await bob.close();
      await carol.close();
    }
  });
});

Deno.test("audit #15: a login without lastSeq receives what arrived while the user was offline", async () => {
  await withServer({}, async (server) => {
    const { c: alice } = await connectAs(server.wsPort, "alice");
    let bob = (await connectAs(server.wsPort, "bob")).c;
    try {
      await leave(bob);
      for (const msg of ["m1", "m2"]) {
        assert.equal((await alice.request("sendMsg", { to: "bob", msg })).response.code, 200);
      }
      bob = (await connectAs(server.wsPort, "bob")).c;
      const got = texts(await collectMsgs(bob, 2, 2000));
      assert.deepEqual(
        got,
        ["m1", "m2"],
        "a plain login must replay the messages sent while bob was offline",
      );
      assert.deepEqual(texts(await bob.drain("msg", 200)), [], "nothing pushed twice");
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});

Deno.test("audit #15: a message received live is not replayed to the next plain login; later ones are", async () => {
  await withServer({}, async (server) => {
    const { c: alice } = await connectAs(server.wsPort, "alice");
    let bob = (await connectAs(server.wsPort, "bob")).c;
    try {
      assert.equal((await alice.request("sendMsg", { to: "bob", msg: "live" })).response.code, 200);
      assert.equal((await bob.push("msg")).response.data.msg, "live");
      await leave(bob);
      assert.equal((await alice.request("sendMsg", { to: "bob", msg: "offline" })).response.code, 200);
      bob = (await connectAs(server.wsPort, "bob")).c;
      const got = texts(await collectMsgs(bob, 2, 1500));
      assert.deepEqual(got, ["offline"], "only the message bob never received is replayed");
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});

Deno.test("audit #15: a user who never connected gets the messages sent to them on the first plain login", async () => {
  await withServer({}, async (server) => {
    const { c: alice } = await connectAs(server.wsPort, "alice");
    let carol: TestClient | undefined;
    try {
      for (const msg of ["c1", "c2"]) {
        assert.equal((await alice.request("sendMsg", { to: "carol", msg })).response.code, 200);
      }
      const http = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ appId: 101, to: "carol", msg: "c3", from: "system" }),
      });
      assert.equal((await http.json()).code, 200);
      const login = await connectAs(server.wsPort, "carol");
      carol = login.c;
      assert.equal(login.data.inboxSeq, 3);
      const got = texts(await collectMsgs(carol, 3, 2000));
      assert.deepEqual(got, ["c1", "c2", "c3"], "the first plain login must deliver the stored messages");
    } finally {
      await alice.close();
      await carol?.close();
    }
  });
});
