/**
 * The command router (src/commands/router.ts): one reply per request, error kinds mapped to codes,
 * disconnects, storage errors without internals.
 * @module
 */
import assert from "node:assert/strict";
import { historyCommands } from "../../src/commands/history.ts";
import { imCommands } from "../../src/commands/im.ts";
import { messageCommands } from "../../src/commands/messages.ts";
import { roomCommands } from "../../src/commands/rooms.ts";
import { Reply, Router, type Routes } from "../../src/commands/router.ts";
import { sessionCommands } from "../../src/commands/session.ts";
import { createCounters } from "../../src/ops/counters.ts";
import { getLogger } from "../../src/ops/log.ts";
import { Metrics } from "../../src/ops/metrics.ts";
import { CloseCode, Code } from "../../src/protocol/codes.ts";
import { Disconnect, ReplyError, StorageError } from "../../src/protocol/errors.ts";
import { Pushes } from "../../src/protocol/pushes.ts";
import { Connection, connectionPolicy, type SocketLike } from "../../src/session/connection.ts";
import { systemClock } from "../../src/util/clock.ts";
import { testConfig } from "../support/helpers.ts";

/** A socket that records what it is sent. */
class FakeSocket implements SocketLike {
  bufferedAmount = 0;
  readyState = 1;
  sent: string[] = [];
  closedWith: [number | undefined, string | undefined] | undefined;
  send(data: string): void {
    this.sent.push(data);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = [code, reason];
    this.readyState = 3;
  }
}

const routes: Routes = {
  ping: { handler: () => "pong" },
  anything: { handler: (_conn, req) => req.data, anyData: true },
  echo: { handler: (_conn, req) => req.data },
  secret: { handler: () => ({ ok: true }), auth: true },
  refuse: {
    handler: () => {
      throw new ReplyError(Code.NoData, "nothing here", { data: { hint: 1 } });
    },
  },
  asyncRefuse: { handler: () => Promise.reject(new ReplyError(Code.RecipientUnknown, "who?")) },
  crash: {
    handler: () => {
      throw new Error("boom");
    },
  },
  crashAsync: {
    handler: async () => {
      await Promise.resolve();
      throw new TypeError("undefined is not a function");
    },
  },
  throwString: {
    handler: () => {
      throw "a string";
    },
  },
  storage: {
    handler: () => {
      throw new StorageError("append", new Error("ERR Invalid stream ID specified; script: 609ad5fc"));
    },
  },
  fatal: {
    handler: () => {
      throw new Disconnect(CloseCode.LoginRateLimited, "go away", {
        reply: { code: Code.LoginRateLimited },
        retryMs: 500,
      });
    },
  },
  then: { handler: (conn) => new Reply({ first: true }, () => conn.send("after")) },
  nothing: { handler: () => undefined },
};

function setup() {
  const socket = new FakeSocket();
  const conn = new Connection({
    id: "c1",
    socket,
    ip: "127.0.0.1",
    now: 0,
    policy: connectionPolicy({
      maxBuffered: 1 << 20,
      delivery: { pageSize: 10, stallTimeoutMs: 1000, clock: systemClock, pushes: new Pushes() },
      onSlow: () => {},
    }),
  });
  const counters = createCounters(new Metrics());
  const disconnects: Array<[number, string, string]> = [];
  const router = new Router(routes, {
    counters,
    log: getLogger(["imserver", "test"]),
    disconnect: (c, code, reason, detail) => {
      disconnects.push([code, reason, detail]);
      c.close(code, reason, detail);
    },
  });
  // deno-lint-ignore no-explicit-any
  const dispatch = async (text: string): Promise<any> => {
    const before = socket.sent.length;
    await router.dispatch(conn, text);
    assert.equal(socket.sent.length, before + 1, "exactly one reply per request");
    return JSON.parse(socket.sent[before]);
  };
  return { conn, socket, router, counters, dispatch, disconnects };
}

Deno.test("router: a handler's value becomes the reply data; undefined becomes null", async () => {
  const { dispatch, counters } = setup();
  assert.deepEqual(await dispatch('{"seq":"7","cmd":"ping"}'), {
    seq: "7",
    cmd: "ping",
    response: { code: 200, codeMsg: "Success", data: "pong" },
  });
  assert.equal((await dispatch('{"seq":"8","cmd":"nothing"}')).response.data, null);
  const echo = await dispatch('{"seq":"9","cmd":"echo","data":{"userID":"u"}}');
  assert.deepEqual(echo.response.data, { userId: "u" });
  assert.equal(counters.frames.get({ cmd: "ping" }), 1);
});

Deno.test("router: unknown cmd is 1010 with seq and cmd echoed", async () => {
  const { dispatch, counters } = setup();
  const reply = await dispatch('{"seq":"s","cmd":"nope","data":{}}');
  assert.deepEqual([reply.seq, reply.cmd, reply.response.code], ["s", "nope", Code.RouteNotExist]);
  assert.equal(counters.frames.get({ cmd: "(unknown)" }), 1);
  // The cmd is not a counter label, so a flood of random commands cannot grow the registry.
  assert.equal(counters.frames.get({ cmd: "nope" }), 0);
  // Route names are exact: case and prototype names do not match.
  for (const cmd of ["PING", "constructor", "__proto__", "toString", ""]) {
    assert.equal((await dispatch(JSON.stringify({ seq: "x", cmd }))).response.code, Code.RouteNotExist, cmd);
  }
  // Routed on cmd first (A.4): an unknown cmd is 1010 whatever its data.
  for (const data of ['"x"', "[1]", "5", "true"]) {
    const r = await dispatch(`{"seq":"u","cmd":"nope","data":${data}}`);
    assert.deepEqual([r.seq, r.cmd, r.response.code], ["u", "nope", Code.RouteNotExist], data);
  }
});

Deno.test("router: an auth route before login is 1000 and the handler does not run", async () => {
  const { dispatch, conn } = setup();
  const reply = await dispatch('{"seq":"1","cmd":"secret"}');
  assert.deepEqual([reply.seq, reply.response.code], ["1", Code.NotLoggedIn]);
  conn.bind({ userId: "u", appId: 101, loginTime: 0 });
  assert.equal((await dispatch('{"seq":"2","cmd":"secret"}')).response.code, 200);
});

Deno.test("router: malformed frames are 1001 replies, never a throw", async () => {
  const { dispatch } = setup();
  const bad = await dispatch("not json");
  assert.deepEqual([bad.seq, bad.cmd, bad.response.code], ["", "", Code.ParameterIllegal]);
  const noSeq = await dispatch('{"seq":5,"cmd":"ping"}');
  assert.deepEqual([noSeq.seq, noSeq.cmd, noSeq.response.code], ["", "", Code.ParameterIllegal]);
  const noCmd = await dispatch('{"seq":"q","cmd":5}');
  assert.deepEqual([noCmd.seq, noCmd.cmd, noCmd.response.code], ["q", "", Code.ParameterIllegal]);
  const badData = await dispatch('{"seq":"q","cmd":"echo","data":[1]}');
  assert.deepEqual([badData.seq, badData.cmd, badData.response.code], ["q", "echo", Code.ParameterIllegal]);
});

Deno.test("router: a route with anyData takes any data (as {}), an object keeps its keys", async () => {
  const { dispatch } = setup();
  for (const data of ['"x"', "[1]", "5", "true", "null"]) {
    const reply = await dispatch(`{"seq":"a","cmd":"anything","data":${data}}`);
    assert.deepEqual(reply.response, { code: 200, codeMsg: "Success", data: {} }, data);
  }
  const obj = await dispatch('{"seq":"a","cmd":"anything","data":{"userID":"u"}}');
  assert.deepEqual(obj.response.data, { userId: "u" });
});

Deno.test("router: a handler throwing ReplyError answers its code, message and data", async () => {
  const { dispatch, counters } = setup();
  const reply = await dispatch('{"seq":"1","cmd":"refuse"}');
  assert.equal(reply.response.code, Code.NoData);
  assert.equal(reply.response.codeMsg, "No data");
  assert.deepEqual(reply.response.data, { error: "nothing here", hint: 1 });
  assert.equal((await dispatch('{"seq":"2","cmd":"asyncRefuse"}')).response.code, Code.RecipientUnknown);
  assert.equal(counters.errors.get({ code: "1005" }), 1);
});

Deno.test("router: a plain Error is 1004 without internals, and the router keeps serving", async () => {
  const { dispatch } = setup();
  for (const cmd of ["crash", "crashAsync", "throwString"]) {
    const reply = await dispatch(JSON.stringify({ seq: cmd, cmd }));
    assert.equal(reply.response.code, Code.ServerError, cmd);
    assert.equal(reply.seq, cmd);
    assert.ok(!JSON.stringify(reply).includes("boom"), "the stack must not leak to clients");
  }
  assert.equal((await dispatch('{"seq":"z","cmd":"ping"}')).response.data, "pong");
});

Deno.test("router: a storage error is 1024 with a retry hint and nothing of the store's text", async () => {
  const { dispatch } = setup();
  const reply = await dispatch('{"seq":"1","cmd":"storage"}');
  assert.equal(reply.response.code, Code.Unavailable);
  assert.equal(reply.response.data.retryMs, 1000);
  assert.doesNotMatch(JSON.stringify(reply), /ERR|stream|609ad5fc|append/);
});

Deno.test("router: a Disconnect sends its last reply, then closes with its code and hint", async () => {
  const { dispatch, socket, disconnects } = setup();
  const reply = await dispatch('{"seq":"1","cmd":"fatal"}');
  assert.equal(reply.response.code, Code.LoginRateLimited);
  assert.equal(reply.response.data.retryMs, 500);
  assert.deepEqual(disconnects, [[CloseCode.LoginRateLimited, "go away", "go away; retry in 500 ms"]]);
  assert.equal(socket.closedWith?.[0], CloseCode.LoginRateLimited);
  assert.match(socket.closedWith?.[1] ?? "", /retry in 500 ms/);
});

Deno.test("router: a Reply's follow-up runs after the reply is written", async () => {
  const { router, conn, socket } = setup();
  await router.dispatch(conn, '{"seq":"1","cmd":"then"}');
  assert.equal(socket.sent.length, 2);
  assert.deepEqual(JSON.parse(socket.sent[0]).response.data, { first: true });
  assert.equal(socket.sent[1], "after");
});

Deno.test("router: the server's commands that need a login refuse before it", async () => {
  // The route tables only close over their dependencies until a command runs.
  const all = {
    ...sessionCommands({ config: testConfig() } as never),
    ...messageCommands({ config: testConfig() } as never),
    ...roomCommands({ config: testConfig() } as never),
    ...historyCommands({ config: testConfig() } as never),
    ...imCommands({ config: testConfig() } as never),
  };
  for (const cmd of ["login", "heartbeat", "ping", "logout", "sendMsg", "joinRoom", "sync"]) {
    assert.ok(cmd in all, cmd);
  }
  const { conn } = setup();
  const socket = conn.socket as FakeSocket;
  const router = new Router(all, {
    counters: createCounters(new Metrics()),
    log: getLogger(["t"]),
    disconnect: () => {},
  });
  const needLogin = ["heartbeat", "logout", "sendMsg", "joinRoom", "sync", "users", "history"];
  needLogin.push(
    "conversations",
    "editMsg",
    "recallMsg",
    "deleteMsg",
    "typing",
    "block",
    "unblock",
    "blocked",
  );
  for (const cmd of needLogin) {
    await router.dispatch(conn, JSON.stringify({ seq: "1", cmd }));
    assert.equal(JSON.parse(socket.sent.at(-1)!).response.code, Code.NotLoggedIn, cmd);
  }
  await router.dispatch(conn, '{"seq":"1","cmd":"ping","data":{"x":1}}');
  assert.equal(JSON.parse(socket.sent.at(-1)!).response.data, "pong");
});
