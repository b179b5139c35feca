/**
 * A send is acknowledged only once the store says its writes are on disk (`Store.synced`, SQLite with
 * `store.sync: full`), while the live push to the recipient goes out at commit and does not wait.
 * Meanwhile no push with a higher seq overtakes the sender's own reply (its `senderSeq` stays a safe resume
 * point). The store here is the memory store with a `synced()` the test releases by hand.
 * @module
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/store/memory.ts";
import { TestClient, testPolicy, withServer } from "../support/helpers.ts";

/** The memory store whose `synced()` resolves only when the test says so. */
class GatedStore extends MemoryStore {
  readonly gates: (() => void)[] = [];
  synced(): Promise<void> {
    return new Promise((resolve) => this.gates.push(resolve));
  }
}

Deno.test("send: the push goes out at commit, the 200 only after synced()", async () => {
  const store = new GatedStore({ policy: testPolicy(), pruneIntervalMs: 0 });
  await withServer({}, async (server) => {
    const bob = await TestClient.connect(server.wsPort);
    await bob.login("bob");
    const alice = await TestClient.connect(server.wsPort);
    await alice.login("alice");
    let answered = false;
    const http = fetch(`http://127.0.0.1:${server.httpPort}/api/v1/messages`, {
      method: "POST",
      body: new URLSearchParams({ appId: "101", to: "bob", msg: "over http" }),
    }).then((r) => (answered = true, r.json()));
    assert.equal((await bob.push("msg")).response.data.msg, "over http");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(answered, false, "no 200 before the store is on disk");
    assert.equal(store.gates.length, 1);
    store.gates.shift()!();
    assert.equal((await http).code, 200);
    // the same over WebSocket
    let replied = false;
    const reply = alice.request("sendMsg", { to: "bob", msg: "over ws" }).then((f) => (replied = true, f));
    assert.equal((await bob.push("msg")).response.data.msg, "over ws");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(replied, false);
    store.gates.shift()!();
    assert.equal((await reply).response.code, 200);
    await alice.close();
    await bob.close();
  }, { store });
});

/** The frames a client receives, in arrival order (replies and pushes). */
function arrivals(c: TestClient): Array<{ cmd: string; data: Record<string, number> }> {
  const out: Array<{ cmd: string; data: Record<string, number> }> = [];
  c.socket.addEventListener("message", (e) => {
    const f = JSON.parse(e.data as string);
    out.push({ cmd: f.cmd, data: f.response.data });
  });
  return out;
}

Deno.test("send: no push with a higher seq reaches the sender before the reply with its senderSeq", async () => {
  const store = new GatedStore({ policy: testPolicy(), pruneIntervalMs: 0 });
  await withServer({}, async (server) => {
    const alice = await TestClient.connect(server.wsPort);
    await alice.login("alice");
    const bob = await TestClient.connect(server.wsPort);
    await bob.login("bob");
    const seen = arrivals(alice);
    // alice's copy is seq 1 of her inbox; her reply waits for the disk ...
    const reply = alice.request("sendMsg", { to: "bob", msg: "from alice" });
    await bob.push("msg");
    // ... while bob's message, seq 2 of alice's inbox, is committed: it must not overtake the reply
    const bobSend = bob.request("sendMsg", { to: "alice", msg: "from bob" });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen.map((f) => f.cmd), [], "nothing before alice's reply");
    assert.equal((await bob.drain("msg", 0)).length, 0);
    store.gates.shift()!(); // alice's send is on disk
    assert.equal((await reply).response.data.senderSeq, 1);
    assert.equal((await alice.push("msg")).response.data.seq, 2);
    assert.deepEqual(seen.map((f) => [f.cmd, f.data.senderSeq ?? f.data.seq]), [["sendMsg", 1], ["msg", 2]]);
    store.gates.shift()!();
    assert.equal((await bobSend).response.code, 200);
    await alice.close();
    await bob.close();
  }, { store });
});

Deno.test("send: a send that fails after its copy was passed lets the later pushes through", async () => {
  const store = new GatedStore({ policy: testPolicy(), pruneIntervalMs: 0 });
  await withServer({}, async (server) => {
    const alice = await TestClient.connect(server.wsPort);
    await alice.login("alice");
    const bob = await TestClient.connect(server.wsPort);
    await bob.login("bob");
    const failing = store.synced.bind(store);
    let fail = true;
    store.synced = () => fail ? (fail = false, Promise.reject(new Error("disk gone"))) : failing();
    const reply = await alice.request("sendMsg", { to: "bob", msg: "not on disk" });
    assert.notEqual(reply.response.code, 200);
    const bobSend = bob.request("sendMsg", { to: "alice", msg: "from bob" });
    assert.equal((await alice.push("msg")).response.data.seq, 2, "the push after the failed send arrives");
    store.gates.shift()!();
    assert.equal((await bobSend).response.code, 200);
    await alice.close();
    await bob.close();
  }, { store });
});
