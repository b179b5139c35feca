import assert from "node:assert/strict";
import { Client, type SocketLike } from "../../src/client.ts";
import { createCounters, type ServerContext } from "../../src/context.ts";
import { ImError } from "../../src/errors.ts";
import { getLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { CloseCode, Code } from "../../src/protocol.ts";
import { REPLIED, Router } from "../../src/router.ts";
import { createRouter } from "../../src/server.ts";

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

/** The parts of a context the router touches (counters and log). */
function bareContext(): ServerContext {
  const metrics = new Metrics();
  return {
    counters: createCounters(metrics),
    metrics,
    log: getLogger(["imserver", "test"]),
  } as ServerContext;
}

function setup() {
  const socket = new FakeSocket();
  const client = new Client("c1", socket, "127.0.0.1", 0, 1 << 20);
  const router = new Router()
    .add("ping", () => "pong")
    .add("echo", (_ctx, _client, req) => req.data)
    .add("secret", () => ({ ok: true }), { auth: true })
    .add("refuse", () => {
      throw new ImError(Code.NoData, "nothing here", { data: { hint: 1 } });
    })
    .add("asyncRefuse", () => Promise.reject(new ImError(Code.RecipientUnknown, "who?")))
    .add("crash", () => {
      throw new Error("boom");
    })
    .add("crashAsync", async () => {
      await Promise.resolve();
      throw new TypeError("undefined is not a function");
    })
    .add("throwString", () => {
      throw "a string";
    })
    .add("fatal", () => {
      throw new ImError(Code.RateLimited, "go away", { closeCode: CloseCode.RateLimited, retryMs: 500 });
    })
    .add("self", (_ctx, c) => {
      c.send("custom");
      return REPLIED;
    })
    .add("nothing", () => undefined);
  return { ctx: bareContext(), client, socket, router };
}

// deno-lint-ignore no-explicit-any
const parse = (text: string | undefined): any => JSON.parse(text!);

Deno.test("router: a handler's value becomes the reply data; undefined becomes null", async () => {
  const { ctx, client, router } = setup();
  assert.deepEqual(parse(await router.dispatch(ctx, client, '{"seq":"7","cmd":"ping"}')), {
    seq: "7",
    cmd: "ping",
    response: { code: 200, codeMsg: "Success", data: "pong" },
  });
  assert.equal(parse(await router.dispatch(ctx, client, '{"seq":"8","cmd":"nothing"}')).response.data, null);
  const echo = parse(await router.dispatch(ctx, client, '{"seq":"9","cmd":"echo","data":{"userID":"u"}}'));
  assert.deepEqual(echo.response.data, { userId: "u" });
  assert.equal(ctx.counters.frames.get({ cmd: "ping" }), 1);
});

Deno.test("router: unknown cmd is 1010 with seq and cmd echoed", async () => {
  const { ctx, client, router } = setup();
  const reply = parse(await router.dispatch(ctx, client, '{"seq":"s","cmd":"nope","data":{}}'));
  assert.equal(reply.seq, "s");
  assert.equal(reply.cmd, "nope");
  assert.equal(reply.response.code, Code.RouteNotExist);
  assert.equal(ctx.counters.frames.get({ cmd: "(unknown)" }), 1);
  // The cmd is not a counter label, so a flood of random commands cannot grow the registry.
  assert.equal(ctx.counters.frames.get({ cmd: "nope" }), 0);
  // Route names are exact: case and prototype names do not match.
  for (const cmd of ["PING", "constructor", "__proto__", "toString", ""]) {
    const r = parse(await router.dispatch(ctx, client, JSON.stringify({ seq: "x", cmd })));
    assert.equal(r.response.code, Code.RouteNotExist, cmd);
  }
});

Deno.test("router: an auth route before login is 1000 and the handler does not run", async () => {
  const { ctx, client, router } = setup();
  const reply = parse(await router.dispatch(ctx, client, '{"seq":"1","cmd":"secret"}'));
  assert.equal(reply.response.code, Code.NotLoggedIn);
  assert.equal(reply.seq, "1");
  client.identity = { userId: "u", appId: 101, loginTime: 0 };
  assert.equal(parse(await router.dispatch(ctx, client, '{"seq":"2","cmd":"secret"}')).response.code, 200);
});

Deno.test("router: malformed frames are 1001 replies, never a throw", async () => {
  const { ctx, client, router } = setup();
  const bad = parse(await router.dispatch(ctx, client, "not json"));
  assert.deepEqual([bad.seq, bad.cmd, bad.response.code], ["", "", Code.ParameterIllegal]);
  const noSeq = parse(await router.dispatch(ctx, client, '{"seq":5,"cmd":"ping"}'));
  assert.deepEqual([noSeq.seq, noSeq.cmd, noSeq.response.code], ["", "", Code.ParameterIllegal]);
  const badData = parse(await router.dispatch(ctx, client, '{"seq":"q","cmd":"ping","data":[1]}'));
  assert.deepEqual([badData.seq, badData.cmd, badData.response.code], ["q", "ping", Code.ParameterIllegal]);
});

Deno.test("router: a handler throwing ImError answers its code, message and data", async () => {
  const { ctx, client, router } = setup();
  const reply = parse(await router.dispatch(ctx, client, '{"seq":"1","cmd":"refuse"}'));
  assert.equal(reply.response.code, Code.NoData);
  assert.equal(reply.response.codeMsg, "No data");
  assert.deepEqual(reply.response.data, { error: "nothing here", hint: 1 });
  const r2 = parse(await router.dispatch(ctx, client, '{"seq":"2","cmd":"asyncRefuse"}'));
  assert.equal(r2.response.code, Code.RecipientUnknown);
  assert.equal(ctx.counters.errors.get({ code: "1005" }), 1);
});

Deno.test("router: a plain Error is 1004 without internals, and the router keeps serving", async () => {
  const { ctx, client, router } = setup();
  for (const cmd of ["crash", "crashAsync", "throwString"]) {
    const reply = parse(await router.dispatch(ctx, client, JSON.stringify({ seq: cmd, cmd })));
    assert.equal(reply.response.code, Code.ServerError, cmd);
    assert.equal(reply.seq, cmd);
    assert.ok(!JSON.stringify(reply).includes("boom"), "the stack must not leak to clients");
  }
  assert.equal(parse(await router.dispatch(ctx, client, '{"seq":"z","cmd":"ping"}')).response.data, "pong");
});

Deno.test("router: an ImError with a close code sends the reply, then closes", async () => {
  const { ctx, client, router, socket } = setup();
  assert.equal(await router.dispatch(ctx, client, '{"seq":"1","cmd":"fatal"}'), undefined);
  assert.equal(socket.sent.length, 1);
  const reply = parse(socket.sent[0]);
  assert.equal(reply.response.data.retryMs, 500);
  assert.equal(socket.closedWith?.[0], CloseCode.RateLimited);
  assert.match(socket.closedWith?.[1] ?? "", /retry in 500 ms/);
});

Deno.test("router: REPLIED means the handler answered itself", async () => {
  const { ctx, client, router, socket } = setup();
  assert.equal(await router.dispatch(ctx, client, '{"seq":"1","cmd":"self"}'), undefined);
  assert.deepEqual(socket.sent, ["custom"]);
});

Deno.test("router: the server router has the session commands; auth ones refuse before login", async () => {
  const router = createRouter();
  for (const cmd of ["login", "heartbeat", "ping", "logout"]) assert.ok(router.commands.includes(cmd), cmd);
  const { ctx, client } = setup();
  for (const cmd of ["heartbeat", "logout", "sendMsg", "joinRoom", "sync", "users", "history"]) {
    const reply = parse(await router.dispatch(ctx, client, JSON.stringify({ seq: "1", cmd })));
    assert.equal(reply.response.code, Code.NotLoggedIn, cmd);
  }
  const pong = parse(await router.dispatch(ctx, client, '{"seq":"1","cmd":"ping","data":[]}'));
  assert.equal(pong.response.code, Code.ParameterIllegal);
  const pong2 = parse(await router.dispatch(ctx, client, '{"seq":"1","cmd":"ping","data":{"x":1}}'));
  assert.equal(pong2.response.data, "pong");
});
