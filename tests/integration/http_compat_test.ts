import assert from "node:assert/strict";
import { Code } from "../../src/protocol/codes.ts";
import type { RunningServer } from "../../src/server.ts";
import { TestClient, withServer } from "../support/helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** Call the HTTP API and return status, headers and parsed body (the body is always consumed). */
async function call(
  server: RunningServer,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: Json }> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, init);
  const text = await res.text();
  let body: Json = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (pages, 404 of the ws port)
  }
  return { status: res.status, headers: res.headers, body };
}

const form = (params: Record<string, string>): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(params).toString(),
});
const jsonBody = (params: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(params),
});

/** Connect and log in one client per (userId, appId). */
async function loggedIn(
  server: RunningServer,
  ...users: Array<string | [string, number]>
): Promise<TestClient[]> {
  return await Promise.all(users.map(async (u) => {
    const [userId, appId] = typeof u === "string" ? [u, 101] : u;
    const c = await TestClient.connect(server.wsPort);
    await c.login(userId, appId);
    return c;
  }));
}

/** `msg` pushes a client has received so far (a ping round trip first flushes what is in flight). */
async function msgPushes(c: TestClient): Promise<Json[]> {
  await c.request("ping");
  return c.frames.filter((f) => f.cmd === "msg").map((f) => f.response.data);
}

const closeAll = (clients: TestClient[]) => Promise.all(clients.map((c) => c.close()));

Deno.test("http: sendMessage reaches every device of the recipient exactly once", async () => {
  await withServer({ im: { enterExitPushes: false } }, async (server) => {
    const clients = await loggedIn(server, "bob", "bob", "carol");
    const [bob1, bob2, carol] = clients;
    const r = await call(
      server,
      "/user/sendMessage",
      form({ appId: "101", userId: "bob", msgId: "m1", message: "hi", from: "alice" }),
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.code, 200);
    assert.equal(r.body.data.sendResults, true);
    for (const bob of [bob1, bob2]) {
      const got = await msgPushes(bob);
      assert.equal(got.length, 1);
      assert.equal(got[0].msg, "hi");
      assert.equal(got[0].from, "alice", "from is the sender, not the recipient (Go bug)");
      assert.equal(got[0].target, "");
      assert.equal(got[0].type, "text");
    }
    assert.deepEqual(await msgPushes(carol), []);
    await closeAll(clients);
  });
});

Deno.test("http: sendMessage to an offline user answers sendResults false", async () => {
  await withServer({}, async (server) => {
    const r = await call(
      server,
      "/user/sendMessage",
      form({ appId: "101", userId: "nobody", message: "hi" }),
    );
    assert.equal(r.body.code, 200);
    assert.equal(r.body.data.sendResults, false);
  });
});

Deno.test("http: sendMessageAll reaches the app except the sender's devices", async () => {
  await withServer({ im: { enterExitPushes: false } }, async (server) => {
    const clients = await loggedIn(server, "alice", "alice", "bob", "carol", ["dave", 102]);
    const [alice1, alice2, bob, carol, dave] = clients;
    const r = await call(
      server,
      "/user/sendMessageAll",
      form({ appId: "101", userId: "alice", msgId: "all-1", message: "hello all" }),
    );
    assert.equal(r.body.code, 200);
    assert.equal(r.body.data.sendResults, true);
    for (const c of [bob, carol]) {
      const got = await msgPushes(c);
      assert.deepEqual(got.map((m) => [m.msg, m.from]), [["hello all", "alice"]]);
    }
    for (const c of [alice1, alice2, dave]) assert.deepEqual(await msgPushes(c), []);
    await closeAll(clients);
  });
});

Deno.test("http: sendMessageAll without userId (or empty) is a system broadcast to the whole app, from empty", async () => {
  await withServer({ im: { enterExitPushes: false } }, async (server) => {
    const clients = await loggedIn(server, "alice", "bob", ["dave", 102]);
    const [alice, bob, dave] = clients;
    const sends = [
      form({ appId: "101", message: "system 1" }),
      form({ appId: "101", userId: "", message: "system 2" }),
      jsonBody({ appId: 101, message: "system 3" }),
    ];
    for (const init of sends) {
      const r = await call(server, "/user/sendMessageAll", init);
      assert.equal(r.body.code, 200, JSON.stringify(r.body));
      assert.equal(r.body.data.sendResults, true);
      assert.equal(r.body.data.recipients, 2);
    }
    for (const c of [alice, bob]) {
      const got = await msgPushes(c);
      assert.deepEqual(got.map((m) => [m.msg, m.from]), [["system 1", ""], ["system 2", ""], [
        "system 3",
        "",
      ]]);
    }
    assert.deepEqual(await msgPushes(dave), []);
    // A userId that is there must still be a valid one.
    const bad = await call(
      server,
      "/user/sendMessageAll",
      form({ appId: "101", userId: "x".repeat(20), message: "m" }),
    );
    assert.equal(bad.body.code, Code.UnauthorizedUserId);
    await closeAll(clients);
  });
});

Deno.test("http: a repeated msgId answers duplicate and is not delivered twice", async () => {
  await withServer({ im: { enterExitPushes: false } }, async (server) => {
    const clients = await loggedIn(server, "bob", "carol");
    const [bob, carol] = clients;
    const send = { appId: "101", userId: "bob", msgId: "dup-1", message: "once" };
    const first = await call(server, "/user/sendMessage", form(send));
    assert.equal(first.body.data.duplicate, undefined);
    const second = await call(server, "/user/sendMessage", form({ ...send, message: "changed" }));
    assert.equal(second.body.code, 200);
    assert.equal(second.body.data.duplicate, true);
    assert.equal(second.body.data.sendResults, true);
    // msgID spelling, JSON body: the same key.
    const third = await call(
      server,
      "/user/sendMessage",
      jsonBody({ appID: 101, userID: "bob", msgID: "dup-1", message: "x" }),
    );
    assert.equal(third.body.data.duplicate, true);
    // A numeric msgId in a JSON body is its decimal string (as a numeric userId is).
    const numeric = await call(
      server,
      "/user/sendMessage",
      jsonBody({ appId: 101, userId: "bob", msgId: 987654321, message: "n" }),
    );
    assert.equal(numeric.body.code, 200, JSON.stringify(numeric.body));
    assert.equal(numeric.body.data.duplicate, undefined);
    const asString = await call(server, "/user/sendMessage", form({ ...send, msgId: "987654321" }));
    assert.equal(asString.body.data.duplicate, true);
    for (const msgId of [1.5, -0.5, 1e300, true, { id: 1 }]) {
      const bad = await call(
        server,
        "/user/sendMessage",
        jsonBody({ appId: 101, userId: "bob", msgId, message: "x" }),
      );
      assert.equal(bad.body.code, Code.ParameterIllegal, JSON.stringify(msgId));
    }
    assert.deepEqual((await msgPushes(bob)).map((m) => m.msg), ["once", "n"]);
    // The same msgId in another app is another message.
    const other = await call(server, "/user/sendMessage", form({ ...send, appId: "102" }));
    assert.equal(other.body.data.duplicate, undefined);
    // sendMessageAll de-duplicates too.
    const all = { appId: "101", userId: "bob", msgId: "dup-all", message: "to all" };
    await call(server, "/user/sendMessageAll", form(all));
    assert.equal((await call(server, "/user/sendMessageAll", form(all))).body.data.duplicate, true);
    assert.deepEqual((await msgPushes(carol)).map((m) => m.msg), ["to all"]);
    await closeAll(clients);
  });
});

Deno.test("http: /user/list counts unique users of the app", async () => {
  await withServer({}, async (server) => {
    const clients = await loggedIn(server, "alice", "alice", "bob", ["carol", 102]);
    const list = await call(server, "/user/list?appId=101");
    assert.equal(list.status, 200);
    assert.equal(list.body.code, 200);
    assert.equal(list.body.data.userCount, 2);
    assert.deepEqual(list.body.data.userList.sort(), ["alice", "bob"]);
    assert.deepEqual((await call(server, "/user/list?appID=102")).body.data, {
      userCount: 1,
      userList: ["carol"],
    });
    assert.deepEqual((await call(server, "/user/list?appId=103")).body.data, { userCount: 0, userList: [] });
    assert.equal((await call(server, "/user/list?appId=abc")).body.code, Code.ParameterIllegal);
    await closeAll(clients);
    // Once everyone left, the list is empty (presence is removed on close).
    for (let i = 0; i < 100 && server.hub.loggedIn > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await call(server, "/user/list?appId=101")).body.data.userCount, 0);
  });
});

Deno.test("http: /user/online per app, and appId 0 or absent means any app", async () => {
  await withServer({}, async (server) => {
    const clients = await loggedIn(server, ["alice", 102]);
    const online = async (q: string) => (await call(server, `/user/online?${q}`)).body;
    assert.deepEqual((await online("userId=alice&appId=102")).data, { userId: "alice", online: true });
    assert.deepEqual((await online("userId=alice&appId=101")).data, { userId: "alice", online: false });
    assert.equal((await online("userId=alice&appId=0")).data.online, true);
    assert.equal((await online("userId=alice")).data.online, true);
    assert.equal((await online("userID=alice&appID=102")).data.online, true);
    assert.equal((await online("userId=bob")).data.online, false);
    assert.equal((await online("appId=101")).code, Code.UnauthorizedUserId);
    assert.equal((await online(`userId=${"x".repeat(20)}`)).code, Code.UnauthorizedUserId);
    await closeAll(clients);
  });
});

Deno.test("http: /user/online answers in the userId spelling the backend used (query, form, JSON)", async () => {
  await withServer({}, async (server) => {
    const clients = await loggedIn(server, "alice");
    const asked: Array<[string, RequestInit, Json]> = [
      ["/user/online?userID=alice&appID=101", {}, { userID: "alice", online: true }],
      ["/user/online?userId=alice&appID=101", {}, { userId: "alice", online: true }],
      ["/user/online", form({ userID: "alice", appId: "101" }), { userID: "alice", online: true }],
      ["/user/online", jsonBody({ userID: "alice", appId: 101 }), { userID: "alice", online: true }],
      ["/user/online", jsonBody({ userId: "alice" }), { userId: "alice", online: true }],
    ];
    for (const [path, init, data] of asked) {
      const r = await call(server, path, init);
      assert.deepEqual(r.body.data, data, `${path} ${init.body ?? ""}`);
    }
    await closeAll(clients);
  });
});

Deno.test("http: parameters from query, form body and JSON body, both spellings", async () => {
  await withServer({ im: { enterExitPushes: false } }, async (server) => {
    const clients = await loggedIn(server, "bob");
    const [bob] = clients;
    const variants: Array<[string, RequestInit]> = [
      ["/user/sendMessage?appId=101&userId=bob&message=q1", { method: "POST" }],
      ["/user/sendMessage?appID=101&userID=bob&message=q2", { method: "GET" }],
      ["/user/sendMessage", form({ appId: "101", userId: "bob", message: "f1" })],
      ["/user/sendMessage", form({ appID: "101", userID: "bob", message: "f2" })],
      ["/user/sendMessage", jsonBody({ appId: 101, userId: "bob", message: "j1" })],
      ["/user/sendMessage", jsonBody({ appID: "101", userID: "bob", message: "j2" })],
      // Query and body merge; the body wins.
      ["/user/sendMessage?appId=101&message=lost", form({ userId: "bob", message: "m1" })],
      // No content-type: a JSON-looking body is JSON, anything else a form.
      ["/user/sendMessage", { method: "POST", body: '{"appId":101,"userId":"bob","message":"n1"}' }],
    ];
    for (const [path, init] of variants) {
      const r = await call(server, path, init);
      assert.equal(r.body.code, 200, `${path} ${init.body}: ${JSON.stringify(r.body)}`);
    }
    const got = (await msgPushes(bob)).map((m) => m.msg);
    assert.deepEqual(got, ["q1", "q2", "f1", "f2", "j1", "j2", "m1", "n1"]);
    await closeAll(clients);
  });
});

Deno.test("http: bad bodies and bad params are 1001 with HTTP 200", async () => {
  await withServer({ http: { maxBodyBytes: 1024 } }, async (server) => {
    const cases: Array<[string, RequestInit]> = [
      ["invalid JSON", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" }],
      ["JSON array", jsonBody([{ appId: 101, userId: "bob", message: "x" }])],
      ["JSON string", jsonBody("appId=101")],
      ["JSON null", jsonBody(null)],
      ["oversize form", form({ appId: "101", userId: "bob", message: "x".repeat(2000) })],
      ["oversize JSON", jsonBody({ appId: 101, userId: "bob", message: "x".repeat(2000) })],
      ["not UTF-8", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new Uint8Array([0x61, 0x3d, 0xff, 0xfe]),
      }],
      ["unsupported type", { method: "POST", headers: { "content-type": "application/xml" }, body: "<a/>" }],
      ["appId not a number", form({ appId: "x1", userId: "bob", message: "x" })],
      ["missing message", form({ appId: "101", userId: "bob" })],
      ["message not a string", jsonBody({ appId: 101, userId: "bob", message: { a: 1 } })],
    ];
    for (const [what, init] of cases) {
      const r = await call(server, "/user/sendMessage", init);
      assert.equal(r.status, 200, what);
      assert.equal(r.body.code, Code.ParameterIllegal, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(typeof r.body.msg, "string");
    }
    // A streamed (chunked) oversize body is cut off while reading.
    const chunk = new TextEncoder().encode("message=" + "x".repeat(600));
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(chunk);
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const streamed = await call(server, "/user/sendMessage?appId=101&userId=bob", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    assert.equal(streamed.body.code, Code.ParameterIllegal);
    // An appId outside the allow-list is 1003.
    assert.equal(
      (await call(server, "/user/sendMessage", form({ appId: "999", userId: "b", message: "x" }))).body.code,
      Code.Unauthorized,
    );
    // The server is still fine.
    assert.equal((await call(server, "/healthz")).status, 200);
  });
});

Deno.test("http: unknown path 404, OPTIONS and CORS, /healthz, /system/state, pages", async () => {
  await withServer({}, async (server) => {
    const missing = await call(server, "/no/such/path");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, Code.RouteNotExist);
    const options = await call(server, "/user/sendMessage", { method: "OPTIONS" });
    assert.equal(options.status, 204);
    assert.equal(options.headers.get("access-control-allow-origin"), "*");
    assert.match(options.headers.get("access-control-allow-methods") ?? "", /POST/);
    const list = await call(server, "/user/list?appId=101");
    assert.equal(list.headers.get("access-control-allow-origin"), "*");
    assert.match(list.headers.get("content-type") ?? "", /application\/json/);
    const health = await call(server, "/healthz");
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: "ok" });

    const clients = await loggedIn(server, "alice", "alice");
    const state = await call(server, "/system/state");
    assert.equal(state.body.code, 200);
    assert.equal(state.body.data.nodeId, server.nodeId);
    assert.equal(state.body.data.connections, 2);
    assert.equal(state.body.data.loggedIn, 2);
    assert.equal(state.body.data.users, 1);
    assert.equal(typeof state.body.data.uptimeSeconds, "number");
    assert.equal(typeof state.body.data.eventQueueLength, "number");
    assert.equal(state.body.data.memory, undefined);
    const debug = await call(server, "/system/state?isDebug=true");
    assert.equal(typeof debug.body.data.memory.rss, "number");
    await closeAll(clients);

    for (const page of ["/", "/home/index"]) {
      const r = await call(server, page);
      assert.equal(r.status, 200, page);
      assert.match(r.headers.get("content-type") ?? "", /text\/html/);
    }
  });
  // Every reply carries the CORS header: API, pages, the web client's files, /metrics.
  const everyKind = ["/healthz", "/user/list?appId=101", "/", "/home/index", "/web/config.json", "/metrics"];
  await withServer({ http: { corsOrigin: "https://chat.example" } }, async (server) => {
    for (const path of everyKind) {
      const r = await call(server, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get("access-control-allow-origin"), "https://chat.example", path);
    }
  });
  await withServer({ http: { corsOrigin: "" } }, async (server) => {
    for (const path of everyKind) {
      const r = await call(server, path);
      assert.equal(r.headers.get("access-control-allow-origin"), null, path);
    }
  });
});

Deno.test("http: compat endpoints answer HTTP 200 for any method (a JSON 1001 for the unsupported ones)", async () => {
  await withServer({}, async (server) => {
    const paths = [
      "/user/list?appId=101",
      "/user/online?userId=a",
      "/user/sendMessage",
      "/user/sendMessageAll",
    ];
    for (const path of [...paths, "/system/state"]) {
      for (const method of ["PUT", "DELETE", "PATCH"]) {
        const r = await call(server, path, { method });
        assert.equal(r.status, 200, `${method} ${path}`);
        assert.equal(r.body.code, Code.ParameterIllegal, `${method} ${path}`);
        assert.equal(r.body.data, null);
        assert.match(r.body.msg, /GET or POST/);
        assert.equal(r.headers.get("access-control-allow-origin"), "*");
      }
      const head = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, { method: "HEAD" });
      await head.body?.cancel();
      assert.equal(head.status, 200, `HEAD ${path}`);
    }
    // CORS preflight unchanged; /api/v1 keeps its 405.
    assert.equal((await call(server, "/user/list", { method: "OPTIONS" })).status, 204);
    const v1 = await call(server, "/api/v1/users?appId=101", { method: "PUT" });
    assert.equal(v1.status, 405);
    assert.equal(v1.body.code, Code.ParameterIllegal);
  });
});

Deno.test("http: the WebSocket port answers 404 off /im and /acc, 426 without upgrade", async () => {
  await withServer({}, async (server) => {
    // JSON in the project's error shape, like the HTTP port (not Go's plain-text "404 page not found").
    for (const path of ["/", "/imx", "/im/x", "/user/list", "/ws", "/%zz"]) {
      const res = await fetch(`http://127.0.0.1:${server.wsPort}${path}`);
      assert.equal(res.status, 404, path);
      assert.match(res.headers.get("content-type") ?? "", /application\/json/, path);
      const body = await res.json();
      assert.equal(body.code, Code.RouteNotExist, path);
      assert.equal(typeof body.msg, "string");
      assert.equal(body.data, null);
    }
    for (const path of ["/im", "/acc", "/im?x=1"]) {
      const plain = await fetch(`http://127.0.0.1:${server.wsPort}${path}`);
      assert.equal(plain.status, 426, path);
      assert.equal(plain.headers.get("upgrade"), "websocket");
      const body = await plain.json();
      assert.equal(body.code, Code.ParameterIllegal, path);
      assert.match(body.msg, /upgrade/i);
      assert.equal(body.data, null);
    }
    // A WebSocket to another path is refused.
    const socket = new WebSocket(`ws://127.0.0.1:${server.wsPort}/nope`);
    const failed = await new Promise<boolean>((resolve) => {
      socket.onopen = () => resolve(false);
      socket.onerror = () => resolve(true);
    });
    if (socket.readyState !== WebSocket.CLOSED) {
      await new Promise((r) => socket.onclose = r);
    }
    assert.equal(failed, true);
  });
});

Deno.test("http: one listener serves both when the ports are equal", async () => {
  // Port 0 cannot be shared; find a free port first.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await withServer({ app: { httpPort: port, webSocketPort: port } }, async (server) => {
    assert.equal(server.httpPort, server.wsPort);
    const [c] = await loggedIn(server, "alice");
    assert.equal((await call(server, "/user/online?userId=alice&appId=101")).body.data.online, true);
    await c.close();
  });
});
