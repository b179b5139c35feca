/**
 * A send is acknowledged only once the store says its writes are on disk (`Store.synced`, SQLite with
 * `store.sync: full`), while the live push to the recipient goes out at commit and does not wait.
 * The store here is the memory store with a `synced()` the test releases by hand.
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
