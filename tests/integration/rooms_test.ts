/**
 * Rooms over real sockets: fan-out, join/leave pushes, members, persistence of membership
 * across reconnects, room history, limits and bad input, and the HTTP room send.
 * @module
 */
import assert from "node:assert/strict";
import { type Frame, TestClient, withServer } from "../support/helpers.ts";

const fast = { limits: { messagesPerSecond: 100_000, messageBurst: 100_000 } };

async function online(port: number, userId: string, extra: Record<string, unknown> = {}) {
  const c = await TestClient.connect(port);
  await c.login(userId, 101, extra);
  return c;
}

async function join(c: TestClient, room: string) {
  const r = await c.request("joinRoom", { room });
  assert.equal(r.response.code, 200, JSON.stringify(r.response));
  return r.response.data;
}

const data = (f: Frame) => f.response.data;

Deno.test("rooms: roomMsg fans out to every member once with target and per-member seq", async () => {
  await withServer(fast, async (server) => {
    const names = ["u0", "u1", "u2", "u3", "u4", "u5"];
    const users = [];
    for (const n of names) users.push(await online(server.wsPort, n));
    const sender2 = await online(server.wsPort, "u0"); // u0's second device
    // give u3 an older inbox so its seq differs from the others
    await users[0].request("sendMsg", { to: "u3", msg: "direct" });
    await users[3].push("msg");
    await sender2.push("msg");
    for (const u of users) await join(u, "lobby");
    const reply = await users[0].request("roomMsg", { room: "lobby", msg: "hello room" });
    assert.equal(reply.response.code, 200);
    const r = data(reply);
    assert.equal(r.members, 6);
    assert.equal(r.seq, 2); // the sender's own inbox: the direct copy, then this
    for (let i = 1; i < users.length; i++) {
      const m = data(await users[i].push("msg"));
      assert.equal(m.msgId, r.msgId);
      assert.equal(m.target, "lobby");
      assert.equal(m.to, "lobby");
      assert.equal(m.from, "u0");
      assert.equal(m.msg, "hello room");
      assert.equal(m.seq, i === 3 ? 2 : 1);
    }
    const copy = data(await sender2.push("msg"));
    assert.deepEqual([copy.msgId, copy.seq, copy.target], [r.msgId, 2, "lobby"]);
    for (const c of [...users, sender2]) assert.deepEqual(await c.drain("msg", 100), []);
    for (const c of [...users, sender2]) await c.close();
  });
});

Deno.test("rooms: join/leave pushes go to the room; roomMembers lists members and who is online", async () => {
  await withServer(fast, async (server) => {
    const a = await online(server.wsPort, "alice");
    const b = await online(server.wsPort, "bob");
    const c = await online(server.wsPort, "carol");
    assert.deepEqual(await join(a, "r"), { room: "r", members: 1, joined: true });
    // the joiner's own devices get the push too (they are in the room now)
    assert.equal(data(await a.push("joinRoom")).from, "alice");
    await join(b, "r");
    assert.equal(data(await b.push("joinRoom")).from, "bob");
    const seen = data(await a.push("joinRoom"));
    assert.deepEqual([seen.from, seen.room, seen.target, seen.type], ["bob", "r", "r", "join"]);
    // carol is not in the room: no push
    assert.deepEqual(await c.drain("joinRoom", 100), []);
    // joining again is not an error and pushes nothing
    assert.deepEqual(await join(b, "r"), { room: "r", members: 2, joined: false });
    assert.deepEqual(await a.drain("joinRoom", 100), []);
    const members = data(await c.request("roomMembers", { room: "r" }));
    assert.deepEqual([members.room, members.members.sort(), members.online.sort()], [
      "r",
      ["alice", "bob"],
      ["alice", "bob"],
    ]);
    const left = await b.request("leaveRoom", { room: "r" });
    assert.deepEqual(data(left), { room: "r", members: 1 });
    assert.deepEqual([data(await a.push("leaveRoom")).from, data(await b.push("leaveRoom")).type], [
      "bob",
      "leave",
    ]);
    assert.equal((await b.request("leaveRoom", { room: "r" })).response.code, 1019);
    assert.equal((await b.request("roomMsg", { room: "r", msg: "x" })).response.code, 1019);
    assert.equal((await c.request("roomMsg", { room: "nope", msg: "x" })).response.code, 1018);
    assert.equal((await c.request("roomMembers", { room: "nope" })).response.code, 1018);
    // the last member leaving removes the room
    await a.request("leaveRoom", { room: "r" });
    assert.equal((await c.request("roomMembers", { room: "r" })).response.code, 1018);
    for (const x of [a, b, c]) await x.close();
  });
});

Deno.test("rooms: membership is per user and survives disconnects; offline members get it on resume", async () => {
  await withServer(fast, async (server) => {
    const a = await online(server.wsPort, "alice");
    let b = await online(server.wsPort, "bob");
    await join(a, "club");
    await join(b, "club");
    await b.close();
    const members = data(await a.request("roomMembers", { room: "club" }));
    assert.deepEqual(members.members.sort(), ["alice", "bob"]);
    // the server learns of the close asynchronously; "online" drops bob (bounded wait)
    let onlineNow: string[] = members.online;
    for (let i = 0; i < 100 && onlineNow.length > 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
      onlineNow = data(await a.request("roomMembers", { room: "club" })).online;
    }
    assert.deepEqual(onlineNow, ["alice"]);
    const sent = data(await a.request("roomMsg", { room: "club", msg: "while away" }));
    b = await TestClient.connect(server.wsPort);
    await b.login("bob", 101, { lastSeq: 0 });
    const m = data(await b.push("msg"));
    assert.deepEqual([m.msgId, m.target, m.msg, m.seq], [sent.msgId, "club", "while away", 1]);
    // still a member after reconnecting: live room traffic arrives without re-joining
    await a.request("roomMsg", { room: "club", msg: "live" });
    assert.equal(data(await b.push("msg")).msg, "live");
    for (const x of [a, b]) await x.close();
  });
});

Deno.test("rooms: history {room} pages newest first; clientMsgId makes roomMsg idempotent", async () => {
  await withServer(fast, async (server) => {
    const a = await online(server.wsPort, "alice");
    const b = await online(server.wsPort, "bob");
    await join(a, "h");
    await join(b, "h");
    for (let i = 1; i <= 5; i++) {
      await a.request("roomMsg", { room: "h", msg: `a${i}` });
      await b.request("roomMsg", { room: "h", msg: `b${i}` });
      await a.request("sendMsg", { to: "bob", msg: `direct${i}` }); // not room history
    }
    const texts: string[] = [];
    let before: number | undefined;
    for (let page = 0; page < 10; page++) {
      const r = data(await b.request("history", { room: "h", limit: 3, ...(before ? { before } : {}) }));
      texts.push(...r.messages.map((m: { msg: string; target: string }) => `${m.target}:${m.msg}`));
      if (!r.more) break;
      before = r.before;
    }
    const expected = [];
    for (let i = 5; i >= 1; i--) expected.push(`h:b${i}`, `h:a${i}`);
    assert.deepEqual(texts, expected);
    // a room the caller never saw has no history (history comes from the caller's own inbox)
    assert.deepEqual(data(await b.request("history", { room: "other" })).messages, []);
    const first = data(await a.request("roomMsg", { room: "h", msg: "once", clientMsgId: "r-1" }));
    const again = data(await a.request("roomMsg", { room: "h", msg: "once", clientMsgId: "r-1" }));
    assert.deepEqual([again.msgId, again.seq, again.duplicate], [first.msgId, first.seq, true]);
    await b.drain("msg", 100);
    for (const x of [a, b]) await x.close();
  });
});

Deno.test("rooms: limits and bad input get their documented codes", async () => {
  const config = { ...fast, limits: { ...fast.limits, maxRoomsPerUser: 2, maxRoomMembers: 2 } };
  await withServer({ ...config, im: { maxMessageBytes: 32 } }, async (server) => {
    const anon = await TestClient.connect(server.wsPort);
    for (const cmd of ["joinRoom", "leaveRoom", "roomMsg", "roomMembers"]) {
      assert.equal((await anon.request(cmd, { room: "r" })).response.code, 1000, cmd);
    }
    const a = await online(server.wsPort, "alice");
    const b = await online(server.wsPort, "bob");
    const c = await online(server.wsPort, "carol");
    await join(a, "r1");
    await join(a, "r2");
    assert.equal((await a.request("joinRoom", { room: "r3" })).response.code, 1021);
    await join(b, "r1");
    assert.equal((await c.request("joinRoom", { room: "r1" })).response.code, 1022);
    const cases: Array<[string, unknown, number]> = [
      ["joinRoom", {}, 1001],
      ["joinRoom", { room: "" }, 1001],
      ["joinRoom", { room: 7 }, 1001],
      ["joinRoom", { room: ["r"] }, 1001],
      ["joinRoom", { room: "x".repeat(65) }, 1001],
      ["joinRoom", { room: "a\nb" }, 1001],
      ["joinRoom", { room: "r9", appId: 102 }, 1020],
      ["leaveRoom", {}, 1001],
      ["roomMembers", { room: null }, 1001],
      ["roomMsg", { room: "r1" }, 1001],
      ["roomMsg", { room: "r1", msg: "" }, 1001],
      ["roomMsg", { room: "r1", msg: { t: 1 } }, 1001],
      ["roomMsg", { room: "r1", msg: "x".repeat(33) }, 1017],
      ["roomMsg", { room: "r1", msg: "x", type: false }, 1001],
      ["roomMsg", { room: "r1", msg: "x", appId: 103 }, 1020],
    ];
    for (const [cmd, d, code] of cases) {
      const r = await a.request(cmd, d);
      assert.equal(r.response.code, code, `${cmd} ${JSON.stringify(d)} → ${JSON.stringify(r.response)}`);
    }
    assert.equal((await a.request("roomMsg", { room: "r1", msg: "x".repeat(32) })).response.code, 200);
    assert.equal((await a.request("ping")).response.data, "pong");
    for (const x of [anon, a, b, c]) await x.close();
  });
});

Deno.test("rooms: HTTP room send reaches members (sender need not be one); unknown room is 404/1018", async () => {
  await withServer(fast, async (server) => {
    const base = `http://127.0.0.1:${server.httpPort}`;
    const a = await online(server.wsPort, "alice");
    await join(a, "news room");
    const res = await fetch(`${base}/api/v1/rooms/news%20room/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ appId: 101, from: "backend", msg: "headline" }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.data.members, 1);
    assert.equal(body.data.seq, 0); // the sender is not a member: no copy
    const m = data(await a.push("msg"));
    assert.deepEqual([m.from, m.target, m.msg, m.msgId], [
      "backend",
      "news room",
      "headline",
      body.data.msgId,
    ]);
    const unknown = await fetch(`${base}/api/v1/rooms/ghost/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ appId: 101, msg: "x" }),
    });
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).code, 1018);
    const members = await (await fetch(`${base}/api/v1/rooms/news%20room/members?appId=101`)).json();
    assert.deepEqual(members.data, { room: "news room", members: ["alice"] });
    await a.close();
  });
});

Deno.test("rooms: rooms over im.roomEventMaxMembers get no join/leave pushes; messages still fan out", async () => {
  await withServer({ ...fast, im: { roomEventMaxMembers: 2 } }, async (server) => {
    const a = await online(server.wsPort, "alice");
    const b = await online(server.wsPort, "bob");
    const c = await online(server.wsPort, "carol");
    await join(a, "big");
    await join(b, "big");
    // 2 members: still pushed (alice first got her own join)
    await a.waitFor((f) => f.cmd === "joinRoom" && f.response.data.from === "bob", 5000, "bob's join");
    await a.drain("joinRoom", 50);
    await b.drain("joinRoom", 50);
    assert.deepEqual(await join(c, "big"), { room: "big", members: 3, joined: true });
    assert.deepEqual(await a.drain("joinRoom", 150), []); // 3 members: over the cap
    assert.deepEqual(await c.drain("joinRoom", 0), []);
    const sent = await a.request("roomMsg", { room: "big", msg: "hi all" });
    assert.equal(sent.response.code, 200);
    assert.equal(data(await b.push("msg")).msg, "hi all");
    assert.equal(data(await c.push("msg")).msg, "hi all");
    await c.request("leaveRoom", { room: "big" }); // counted with the leaver: 3, over the cap
    assert.deepEqual(await a.drain("leaveRoom", 150), []);
    await b.request("leaveRoom", { room: "big" }); // 2 with the leaver: pushed again
    assert.equal(data(await a.push("leaveRoom")).from, "bob");
    for (const x of [a, b, c]) await x.close();
  });
});
