import assert from "node:assert/strict";
import { TestClient, withServer } from "../support/helpers.ts";

Deno.test("smoke: login, sendMsg, push, http list", async () => {
  await withServer({}, async (server) => {
    const alice = await TestClient.connect(server.wsPort);
    const bob = await TestClient.connect(server.wsPort, "/acc");
    await alice.login("alice");
    await bob.login("bob");
    const reply = await alice.request("sendMsg", { to: "bob", msg: "hi" });
    assert.equal(reply.response.code, 200);
    const push = await bob.push("msg");
    assert.equal(push.response.data.msg, "hi");
    assert.equal(push.response.data.from, "alice");
    assert.equal(push.response.data.seq, reply.response.data.seq);
    const list = await (await fetch(`http://127.0.0.1:${server.httpPort}/user/list?appId=101`)).json();
    assert.deepEqual(list.data.userList.sort(), ["alice", "bob"]);
    await alice.close();
    await bob.close();
  });
});
