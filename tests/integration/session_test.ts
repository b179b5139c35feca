import assert from "node:assert/strict";
import { FakeClock } from "../../src/util/clock.ts";
import { CloseCode, Code } from "../../src/protocol/codes.ts";
import type { RunningServer } from "../../src/server.ts";
import { TestClient, withServer } from "../support/helpers.ts";
import { rawConnect, readUntilClosed } from "../fuzz/raw_ws.ts";
import { defaultConfig } from "../../src/config/load.ts";

/** Poll `cond` every 10 ms, at most `timeoutMs` (bounded in count and time). */
async function waitUntil(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  for (let i = 0; i < timeoutMs / 10; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Connect `n` clients. */
const connect = (server: RunningServer, n: number) =>
  Promise.all(Array.from({ length: n }, () => TestClient.connect(server.wsPort)));

Deno.test("session: login with userId/appId echoes that spelling and the B.1 fields", async () => {
  await withServer({}, async (server) => {
    const [c] = await connect(server, 1);
    const reply = await c.request("login", { userId: "alice", appId: 101 });
    assert.equal(reply.response.code, 200);
    assert.equal(reply.response.codeMsg, "Success");
    const d = reply.response.data;
    assert.equal(d.userId, "alice");
    assert.equal(d.appId, 101);
    assert.equal(d.userID, undefined);
    assert.equal(typeof d.connId, "string");
    assert.equal(d.nodeId, server.nodeId);
    assert.equal(typeof d.serverTime, "number");
    assert.equal(d.heartbeatInterval, 30);
    assert.equal(d.inboxSeq, 0);
    await c.close();
  });
});

Deno.test("session: login with userID/appID echoes userID/appID", async () => {
  await withServer({}, async (server) => {
    const [c] = await connect(server, 1);
    const reply = await c.request("login", { userID: "bob", appID: 102 });
    assert.equal(reply.response.code, 200);
    assert.equal(reply.response.data.userID, "bob");
    assert.equal(reply.response.data.appID, 102);
    assert.equal(reply.response.data.userId, undefined);
    assert.equal(reply.response.data.appId, undefined);
    // The login is real: bob is online in app 102.
    const online = await (await fetch(`http://127.0.0.1:${server.httpPort}/user/online?userID=bob&appID=102`))
      .json();
    assert.deepEqual(online.data, { userID: "bob", online: true });
    await c.close();
  });
});

Deno.test("session: userId length is counted in UTF-8 bytes (19 OK, 20 refused with 1002)", async () => {
  await withServer({}, async (server) => {
    const cases: Array<[string, number]> = [
      ["a".repeat(19), 200],
      ["a".repeat(20), Code.UnauthorizedUserId],
      ["é".repeat(9) + "a", 200], // 19 bytes
      ["é".repeat(10), Code.UnauthorizedUserId], // 10 characters, 20 bytes
      ["中".repeat(6), 200], // 18 bytes
      ["中".repeat(7), Code.UnauthorizedUserId], // 21 bytes
      ["😀".repeat(4) + "abc", 200], // 19 bytes
      ["😀".repeat(5), Code.UnauthorizedUserId], // 20 bytes
      ["", Code.UnauthorizedUserId],
      ["tab\there", Code.UnauthorizedUserId],
    ];
    const clients = await connect(server, cases.length);
    const replies = await Promise.all(
      cases.map(([userId], i) => clients[i].request("login", { userId, appId: 101 })),
    );
    assert.deepEqual(replies.map((r) => r.response.code), cases.map(([, code]) => code));
    for (const r of replies) {
      assert.equal(r.cmd, "login");
      if (r.response.code !== 200) assert.equal(typeof r.response.data.error, "string");
    }
    await Promise.all(clients.map((c) => c.close()));
  });
});

Deno.test("session: a missing userId is 1002; wrong types are 1001", async () => {
  await withServer({}, async (server) => {
    const cases: Array<[unknown, number]> = [
      [{ appId: 101 }, Code.UnauthorizedUserId],
      [{ userId: null, appId: 101 }, Code.UnauthorizedUserId],
      [{ userId: {}, appId: 101 }, Code.ParameterIllegal],
      [{ userId: ["a"], appId: 101 }, Code.ParameterIllegal],
      [{ userId: true, appId: 101 }, Code.ParameterIllegal],
      [{ userId: "a", appId: "abc" }, Code.ParameterIllegal],
      [{ userId: "a", appId: -1 }, Code.ParameterIllegal],
      [{ userId: "a", appId: 101.5 }, Code.ParameterIllegal],
      [{ userId: "a", appId: true }, Code.ParameterIllegal],
      [{ userId: "a", appId: [101] }, Code.ParameterIllegal],
      [{ userId: "a", appId: 101, deviceId: 7 }, Code.ParameterIllegal],
      [{ userId: "a", appId: 101, lastSeq: "x" }, Code.ParameterIllegal],
      [["userId", "a"], Code.ParameterIllegal],
      ["alice", Code.ParameterIllegal],
    ];
    const [c] = await connect(server, 1);
    for (const [data, code] of cases) {
      const reply = await c.request("login", data);
      assert.equal(reply.response.code, code, JSON.stringify(data));
    }
    // None of them logged the connection in.
    assert.equal((await c.request("heartbeat")).response.code, Code.NotLoggedIn);
    await c.login("alice");
    await c.close();
  });
});

Deno.test("session: an empty optional login field (token, deviceId, platform, epoch) counts as absent", async () => {
  await withServer({}, async (server) => {
    const extras = [{ token: "" }, { deviceId: "" }, { platform: "" }, { epoch: "" }, {
      token: "",
      deviceId: "",
      platform: "",
      epoch: "",
    }];
    for (const extra of extras) {
      const [c] = await connect(server, 1);
      const reply = await c.request("login", { userId: "alice", appId: 101, ...extra });
      assert.equal(reply.response.code, 200, `${JSON.stringify(extra)}: ${JSON.stringify(reply.response)}`);
      await c.close();
    }
    // Absent, not stored empty: the presence record has no deviceId/platform.
    const [c] = await connect(server, 1);
    const { connId } = await c.login("bob", 101, { deviceId: "", platform: "" });
    const identity = server.hub.get(connId)!.identity!;
    assert.equal(identity.deviceId, undefined);
    assert.equal(identity.platform, undefined);
    await c.close();
  });
});

Deno.test("session: an appId outside the allow-list is 1003", async () => {
  await withServer({ im: { appIds: [101, 102] } }, async (server) => {
    const [c] = await connect(server, 1);
    for (const appId of [999, 103, 0, undefined]) {
      const reply = await c.request("login", { userId: "alice", appId });
      assert.equal(reply.response.code, Code.Unauthorized, String(appId));
    }
    assert.equal((await c.request("login", { userId: "alice", appId: 102 })).response.code, 200);
    await c.close();
  });
  // An empty list allows any appId.
  await withServer({ im: { appIds: [] } }, async (server) => {
    const [c] = await connect(server, 1);
    assert.equal((await c.request("login", { userId: "alice", appId: 424242 })).response.code, 200);
    await c.close();
  });
});

Deno.test("session: a second login on the same connection is 1009, even when pipelined", async () => {
  await withServer({}, async (server) => {
    const [c, d] = await connect(server, 2);
    await c.login("alice");
    const again = await c.request("login", { userId: "alice", appId: 101 });
    assert.equal(again.response.code, Code.OperationFailure);
    const other = await c.request("login", { userId: "bob", appId: 101 });
    assert.equal(other.response.code, Code.OperationFailure);
    // Two logins sent back to back before either is answered: exactly one wins.
    const both = await Promise.all([
      d.request("login", { userId: "carol", appId: 101 }),
      d.request("login", { userId: "dave", appId: 101 }),
    ]);
    assert.deepEqual(both.map((r) => r.response.code).sort((a, b) => a - b), [200, Code.OperationFailure]);
    assert.equal(server.hub.loggedIn, 2);
    await Promise.all([c.close(), d.close()]);
  });
});

Deno.test("session: heartbeat needs login; ping works before login and does not refresh", async () => {
  const clock = new FakeClock(1_000_000);
  await withServer({}, async (server) => {
    const [c] = await connect(server, 1);
    const hb = await c.request("heartbeat", {});
    assert.equal(hb.response.code, Code.NotLoggedIn);
    assert.equal(hb.seq.startsWith("t"), true);
    const ping = await c.request("ping");
    assert.deepEqual(ping.response, { code: 200, codeMsg: "Success", data: "pong" });
    const { connId } = await c.login("alice");
    const conn = server.hub.get(connId)!;
    const loginAt = conn.heartbeatAt;
    clock.advance(5000);
    assert.equal((await c.request("ping", { any: "thing" })).response.data, "pong");
    // A.4: ping takes anything as data (the Go servers never read it).
    for (const data of ['"ping"', "[]", "[1,2]", "0", "7.5", "true", "false", "null"]) {
      c.send(`{"seq":"p","cmd":"ping","data":${data}}`);
      const reply = await c.waitFor((f) => f.seq === "p");
      assert.deepEqual(reply.response, { code: 200, codeMsg: "Success", data: "pong" }, data);
    }
    assert.equal(conn.heartbeatAt, loginAt, "ping must not count as a heartbeat");
    const beat = await c.request("heartbeat", {});
    assert.deepEqual(beat.response, { code: 200, codeMsg: "Success", data: null });
    assert.equal(conn.heartbeatAt, loginAt + 5000);
    await c.close();
  }, { clock });
});

Deno.test("session: logout returns to the not-logged-in state; the socket stays open", async () => {
  await withServer({}, async (server) => {
    const [c, watcher] = await connect(server, 2);
    await watcher.login("watcher");
    await c.login("alice");
    await watcher.push("enter");
    const out = await c.request("logout", {});
    assert.deepEqual(out.response, { code: 200, codeMsg: "Success", data: null });
    assert.equal((await watcher.push("exit")).response.data.from, "alice");
    assert.equal((await c.request("heartbeat")).response.code, Code.NotLoggedIn);
    assert.equal((await c.request("logout")).response.code, Code.NotLoggedIn);
    assert.equal((await c.request("sendMsg", { to: "watcher", msg: "x" })).response.code, Code.NotLoggedIn);
    const online =
      await (await fetch(`http://127.0.0.1:${server.httpPort}/user/online?userId=alice&appId=101`))
        .json();
    assert.equal(online.data.online, false);
    // The same connection may log in again, as someone else.
    assert.equal((await c.login("bob")).userId, "bob");
    assert.equal(c.socket.readyState, WebSocket.OPEN);
    await Promise.all([c.close(), watcher.close()]);
  });
});

Deno.test("session: enter goes to the others; exit only when the user's last connection goes", async () => {
  await withServer({}, async (server) => {
    const [watcher, b1, b2, otherApp] = await connect(server, 4);
    await watcher.login("watcher");
    await otherApp.login("stranger", 102);
    await b1.login("bob");
    const enter = await watcher.push("enter");
    assert.deepEqual(enter.response, {
      code: 200,
      codeMsg: "Ok",
      data: { target: "", type: "enter", msg: "", from: "bob" },
    });
    await b2.login("bob");
    assert.equal((await watcher.push("enter")).response.data.from, "bob");
    assert.equal((await b1.push("enter")).response.data.from, "bob", "b1 hears bob's second device");
    assert.equal(
      b2.frames.filter((f) => f.cmd === "enter").length,
      0,
      "the newcomer is not told about itself",
    );

    await b1.close();
    await waitUntil(() => server.hub.size === 3, "b1 is unregistered");
    // Pushes and replies share one ordered socket: a wrong exit would arrive before this pong.
    await watcher.request("ping");
    assert.equal(watcher.frames.filter((f) => f.cmd === "exit").length, 0, "bob still has a device");

    await b2.close();
    const exit = await watcher.push("exit");
    assert.deepEqual(exit.response.data, { target: "", type: "exit", msg: "", from: "bob" });
    await otherApp.request("ping");
    assert.equal(otherApp.frames.filter((f) => f.cmd === "enter" || f.cmd === "exit").length, 0);
    await Promise.all([watcher.close(), otherApp.close()]);
  });
});

Deno.test("session: enterExitPushes: false sends none", async () => {
  await withServer({ im: { enterExitPushes: false } }, async (server) => {
    const [watcher, b] = await connect(server, 2);
    await watcher.login("watcher");
    await b.login("bob");
    await b.close();
    await waitUntil(() => server.hub.size === 1, "bob is unregistered");
    await watcher.request("ping");
    assert.deepEqual(watcher.frames.map((f) => f.cmd), []);
    await watcher.close();
  });
});

Deno.test("session: multiDevice single kicks the older device with a push and close 4000", async () => {
  await withServer({ im: { multiDevice: "single" } }, async (server) => {
    const [a1, a2] = await connect(server, 2);
    await a1.login("alice");
    await a2.login("alice");
    const kick = await a1.push("kick");
    assert.equal(kick.response.code, 200);
    assert.equal((await a1.closed).code, CloseCode.Kicked);
    assert.equal((await a2.request("heartbeat")).response.code, 200);
    await waitUntil(() => server.hub.size === 1, "a1 is unregistered");
    const online =
      await (await fetch(`http://127.0.0.1:${server.httpPort}/user/online?userId=alice&appId=101`))
        .json();
    assert.equal(online.data.online, true, "the kicked connection's unregister must not log out a2");
    await a2.close();
  });
});

Deno.test("session: /acc is an alias of /im", async () => {
  await withServer({}, async (server) => {
    const c = await TestClient.connect(server.wsPort, "/acc");
    await c.login("alice");
    await c.close();
  });
});

Deno.test("session: a binary frame gets a 1001 reply and close 1003", async () => {
  await withServer({}, async (server) => {
    const [c, other] = await connect(server, 2);
    await other.login("other");
    c.socket.send(new Uint8Array([123, 125]));
    const reply = await c.waitFor((f) => f.response.code === Code.ParameterIllegal);
    assert.deepEqual([reply.seq, reply.cmd], ["", ""]);
    assert.equal((await c.closed).code, CloseCode.UnsupportedData);
    assert.equal((await other.request("ping")).response.data, "pong", "others keep being served");
    await other.close();
  });
});

Deno.test("session: a frame over im.maxFrameBytes gets 1011, then close 1009; at the cap it is served", async () => {
  const max = 1024;
  await withServer({ im: { maxFrameBytes: max } }, async (server) => {
    const [c, multi, other] = await connect(server, 3);
    const frameOf = (pad: string) => JSON.stringify({ seq: "p", cmd: "ping", data: { pad } });
    const base = new TextEncoder().encode(frameOf("")).length;
    // Exactly at the cap (ASCII, then multibyte): served.
    c.send(frameOf("x".repeat(max - base)));
    assert.equal((await c.waitFor((f) => f.seq === "p")).response.data, "pong");
    assert.equal((max - base) % 2, 0, "test setup: padding splits into 2-byte characters");
    multi.send(frameOf("é".repeat((max - base) / 2)));
    assert.equal((await multi.waitFor((f) => f.seq === "p")).response.data, "pong");
    // One byte over, counted in UTF-8 bytes (fewer characters than bytes).
    multi.send(frameOf("é".repeat((max - base) / 2) + "x"));
    const tooBig = await multi.waitFor((f) => f.response.code === Code.FrameTooLarge);
    assert.deepEqual([tooBig.seq, tooBig.cmd], ["", ""]);
    assert.equal((await multi.closed).code, CloseCode.MessageTooBig);
    c.send("x".repeat(max * 4));
    await c.waitFor((f) => f.response.code === Code.FrameTooLarge);
    assert.equal((await c.closed).code, CloseCode.MessageTooBig);
    assert.equal((await other.request("ping")).response.data, "pong");
    await other.close();
  });
});

Deno.test("session: commands pipelined after login run after it, and replies keep request order", async () => {
  await withServer({}, async (server) => {
    const [c, bob] = await connect(server, 2);
    await bob.login("bob");
    const arrival: string[] = [];
    c.socket.addEventListener("message", (e) => arrival.push(JSON.parse(e.data as string).seq));
    // Sent in one go, without waiting for the login reply (the Go servers handled a connection's
    // frames in order, so clients that pipeline must see the login applied).
    c.send(JSON.stringify({ seq: "p1", cmd: "login", data: { userId: "alice", appId: 101 } }));
    c.send(JSON.stringify({ seq: "p2", cmd: "heartbeat" }));
    c.send(JSON.stringify({ seq: "p3", cmd: "sendMsg", data: { to: "bob", msg: "right after login" } }));
    c.send(JSON.stringify({ seq: "p4", cmd: "ping" }));
    const replies = [];
    for (const seq of ["p1", "p2", "p3", "p4"]) replies.push(await c.waitFor((f) => f.seq === seq));
    assert.deepEqual(replies.map((r) => r.response.code), [200, 200, 200, 200]);
    assert.equal((await bob.push("msg")).response.data.msg, "right after login");
    assert.deepEqual(arrival.filter((seq) => seq.startsWith("p")), ["p1", "p2", "p3", "p4"]);
    await Promise.all([c.close(), bob.close()]);
  });
});

Deno.test("session: the server's sweep closes a silent connection with 4001 and keeps a beating one", async () => {
  const clock = new FakeClock(1_000_000);
  const heartbeat = { firstSweep: 0, sweep: 0.02 };
  await withServer({ heartbeat }, async (server) => {
    const [silent, beating, watcher] = await connect(server, 3);
    await silent.login("silent");
    await beating.login("beating");
    await watcher.login("watcher");
    clock.advance(200_000);
    await beating.request("heartbeat");
    await watcher.request("heartbeat");
    clock.advance(160_001); // silent: 360.001 s without a heartbeat; the others 160.001 s
    assert.equal((await silent.closed).code, CloseCode.HeartbeatTimeout);
    assert.equal((await watcher.push("exit")).response.data.from, "silent");
    assert.equal((await beating.request("heartbeat")).response.code, 200);
    assert.equal(beating.socket.readyState, WebSocket.OPEN);
    await Promise.all([beating.close(), watcher.close()]);
  }, { clock });
});

Deno.test("session: heartbeat.idleTimeout 1 closes a peer that answers no ping (1001); 0, the default, arms no timer", async () => {
  await withServer({ heartbeat: { idleTimeout: 1 } }, async (server) => {
    const ws = await rawConnect(server.wsPort); // never answers the server's ping
    const t0 = performance.now();
    const { closeCode, eof } = await readUntilClosed(ws, 10_000);
    assert.equal(closeCode, CloseCode.GoingAway);
    assert.ok(eof, "the server ended the connection");
    assert.ok(performance.now() - t0 >= 900, "not before the timeout");
  });
  assert.equal(defaultConfig().heartbeat.idleTimeout, 0);
  await withServer({ heartbeat: { idleTimeout: 0 } }, async (server) => {
    const client = await TestClient.connect(server.wsPort);
    await client.login("idle");
    const [conn] = server.hub.connectionsOf(101, "idle") ?? [];
    assert.ok(conn);
    // Deno keeps the socket's idle timeout in an internal slot; left out of the upgrade options it is 30 s.
    const slot = Object.getOwnPropertySymbols(conn.socket).find((s) => s.description === "[[idleTimeout]]");
    assert.ok(slot, "this Deno keeps [[idleTimeout]] on the socket");
    assert.equal((conn.socket as unknown as Record<symbol, unknown>)[slot], 0);
    await client.close();
  });
});
