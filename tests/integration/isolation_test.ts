/**
 * Tenant isolation: two apps with the same user ids and room names; nothing crosses appIds.
 * Every WS path and HTTP path a tenant can use is tried against the other app.
 */
import assert from "node:assert/strict";
import { TestClient, withServer } from "../support/helpers.ts";

Deno.test("isolation: sends, rooms, lists, presence, history, sync and enter pushes stay in their app", async () => {
  await withServer({ api: { keys: ["ops", "k101:101"] } }, async (server) => {
    const connect = () => TestClient.connect(server.wsPort);
    // "alice" and "bob" exist in both apps; "carol" only in 102.
    const [a1, b1, a2, b2] = await Promise.all([connect(), connect(), connect(), connect()]);
    await a1.login("alice", 101);
    await b1.login("bob", 101);
    await b2.login("bob", 102);
    const enterSeen = await b1.drain("enter", 50);
    await a2.login("alice", 102);
    const carol = await connect();
    await carol.login("carol", 102);
    // Logins in 102 are not announced in 101.
    const enters101 = [...enterSeen, ...await b1.drain("enter", 100)].map((f) => f.response.data.from);
    assert.ok(!enters101.includes("carol"), "a 102 login was announced in 101");

    // Direct messages: same userId in the other app receives nothing; naming the other app is refused.
    const sent = await a1.request("sendMsg", { to: "bob", msg: "for bob@101" });
    assert.equal(sent.response.code, 200);
    assert.equal((await b1.push("msg")).response.data.msg, "for bob@101");
    const cross = await a1.request("sendMsg", { to: "bob", msg: "x", appId: 102 });
    assert.equal(cross.response.code, 1020);
    const crossSpelled = await a1.request("sendMsg", { to: "bob", msg: "x", appID: 102 });
    assert.equal(crossSpelled.response.code, 1020);
    const toCarol = await a1.request("sendMsg", { to: "carol", msg: "carol is in 102 only" });
    assert.ok([200, 1015].includes(toCarol.response.code));

    // Rooms with the same name in two apps are two rooms.
    for (const c of [a1, a2, b2]) {
      assert.equal((await c.request("joinRoom", { room: "lobby" })).response.code, 200);
    }
    assert.equal((await a1.request("joinRoom", { room: "lobby", appId: 102 })).response.code, 1020);
    const members101 = await a1.request("roomMembers", { room: "lobby" });
    assert.deepEqual(members101.response.data.members ?? members101.response.data, ["alice"]);
    assert.equal((await a1.request("roomMsg", { room: "lobby", msg: "room 101" })).response.code, 200);
    assert.equal((await a2.request("roomMsg", { room: "lobby", msg: "room 102" })).response.code, 200);
    assert.equal((await b2.push("msg")).response.data.msg, "room 102");

    // users / HTTP lists / presence only see the asking app.
    const users101 = (await a1.request("users")).response.data.userList.sort();
    assert.deepEqual(users101, ["alice", "bob"]);
    const base = `http://127.0.0.1:${server.httpPort}`;
    const get = async (path: string, key = "ops") =>
      await (await fetch(base + path, { headers: { authorization: `Bearer ${key}` } })).json();
    assert.deepEqual((await get("/user/list?appId=101")).data.userList.sort(), ["alice", "bob"]);
    assert.deepEqual((await get("/user/list?appId=102")).data.userList.sort(), ["alice", "bob", "carol"]);
    const online = await get("/user/online?appId=101&userId=carol");
    assert.equal(online.data.online, false, `carol@102 must be offline in 101: ${JSON.stringify(online)}`);
    assert.equal((await get("/user/online?appId=102&userId=carol")).data.online, true);
    assert.equal((await get("/api/v1/users/carol?appId=101")).data.online, false);
    assert.equal((await get("/api/v1/users/carol?appId=102")).data.online, true);

    // An app-limited key cannot read or write the other app.
    assert.equal((await get("/api/v1/inbox?appId=102&userId=bob", "k101")).code, 1020);
    assert.equal((await get("/api/v1/rooms/lobby/members?appId=102", "k101")).code, 1020);
    assert.equal((await get("/user/list", "k101")).code, 1020);
    assert.deepEqual((await get("/api/v1/rooms/lobby/members?appId=101", "k101")).data.members, ["alice"]);

    // History and inbox: bob@102 has only what was sent in 102.
    const hist = await b2.request("history", { room: "lobby" });
    assert.deepEqual(hist.response.data.messages.map((m: { msg: string }) => m.msg), ["room 102"]);
    const peerHist = await b2.request("history", { peer: "alice" });
    assert.deepEqual(peerHist.response.data.messages, []);
    const inbox102 = await get("/api/v1/inbox?appId=102&userId=bob");
    assert.ok(inbox102.data.entries.every((e: { msg: string }) => !e.msg.includes("101")));
    assert.equal((await b2.request("sync", { since: 0 })).response.code, 200);
    const replayed = await b2.drain("msg", 150);
    assert.ok(replayed.every((f) => !String(f.response.data.msg).includes("101")), "101 entry in 102 inbox");

    // Nothing leaked to the other app's sockets during all of the above.
    for (const c of [a2, b2, carol]) {
      const leaked = (await c.drain("msg", 20)).filter((f) => String(f.response.data.msg).includes("101"));
      assert.deepEqual(leaked, []);
    }
    await Promise.all([a1, b1, a2, b2, carol].map((c) => c.close()));
  });
});

Deno.test("isolation: multiDevice single does not kick the same userId in another app", async () => {
  await withServer({ im: { multiDevice: "single" } }, async (server) => {
    const x = await TestClient.connect(server.wsPort);
    const y = await TestClient.connect(server.wsPort);
    await x.login("dana", 101);
    await y.login("dana", 102);
    assert.equal((await x.request("ping")).response.data, "pong");
    assert.equal(x.socket.readyState, WebSocket.OPEN);
    await x.close();
    await y.close();
  });
});
