/**
 * The lifecycle (src/session/lifecycle.ts) over a real hub, local presence and presence pushes, with fake
 * sockets: order per user, concurrency across users, enter/exit, multiDevice, the heartbeat sweep.
 * @module
 */
import assert from "node:assert/strict";
import { CloseCode } from "../../src/protocol/codes.ts";
import { Pushes } from "../../src/protocol/pushes.ts";
import { getLogger } from "../../src/ops/log.ts";
import { LocalBus } from "../../src/session/bus.ts";
import { Connection, connectionPolicy, type SocketLike } from "../../src/session/connection.ts";
import { Hub } from "../../src/session/hub.ts";
import { Lifecycle, type LifecycleOptions } from "../../src/session/lifecycle.ts";
import { LocalPresence, type Presence, type PresenceEntry } from "../../src/session/presence.ts";
import { PresencePushes } from "../../src/session/presence_pushes.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { testPolicy } from "../support/helpers.ts";

/** A socket that records frames and the close call. */
class FakeSocket implements SocketLike {
  bufferedAmount = 0;
  readyState = 1;
  sent: string[] = [];
  closeCode: number | undefined;
  send(data: string): void {
    this.sent.push(data);
  }
  close(code?: number): void {
    this.closeCode = code;
    this.readyState = 3;
  }
  /** The `from` of every push with `cmd`. */
  from(cmd: string): string[] {
    return this.sent.map((t) => JSON.parse(t)).filter((f) => f.cmd === cmd).map((f) => f.response.data.from);
  }
}

type TestConn = Connection & { socket: FakeSocket };

function setup(overrides: Partial<LifecycleOptions> = {}, presenceOverride?: (p: Presence) => Presence) {
  const clock = new FakeClock(1_000_000);
  const hub = new Hub();
  const store = new MemoryStore({ policy: testPolicy(), clock, pruneIntervalMs: 0 });
  const pushes = new Pushes();
  const local = new LocalPresence(hub, clock, 180_000, "n1");
  const presence = presenceOverride ? presenceOverride(local) : local;
  const presencePushes = new PresencePushes({
    hub,
    pushes,
    clock,
    enabled: true,
    intervalMs: 1000,
    batchIntervalMs: 1000,
    batchAbove: 100,
    batchMax: 100,
  });
  const online: string[] = [];
  const offline: string[] = [];
  const lifecycle = new Lifecycle({
    hub,
    presence,
    presencePushes,
    bus: new LocalBus(hub),
    store,
    pushes,
    nodeId: "n1",
    log: getLogger(["imserver", "test"]),
    multiDevice: "multi",
    onOnline: (appId, userId) => online.push(`${appId}/${userId}`),
    onOffline: (appId, userId) => offline.push(`${appId}/${userId}`),
    ...overrides,
  });
  lifecycle.start();
  const policy = connectionPolicy({
    maxBuffered: 1 << 20,
    delivery: { pageSize: 100, stallTimeoutMs: 10_000, clock, pushes },
    onSlow: () => {},
  });
  const conn = (id: string): TestConn =>
    new Connection({ id, socket: new FakeSocket(), ip: "127.0.0.1", now: clock.now(), policy }) as TestConn;
  const stop = async () => {
    await lifecycle.stop();
    presencePushes.close();
    await store.close();
  };
  return { clock, hub, store, lifecycle, presencePushes, online, offline, conn, stop };
}

const who = (userId: string, clock: FakeClock, appId = 101) => ({ userId, appId, loginTime: clock.now() });
const connIds = (hub: Hub, userId: string, appId = 101) =>
  [...hub.connectionsOf(appId, userId) ?? []].map((c) => c.id).sort();

Deno.test("lifecycle: a late unregister of A1 does not remove A2 of the same user", async () => {
  const { lifecycle, hub, clock, conn, offline, stop } = setup();
  const a1 = conn("a1");
  const a2 = conn("a2");
  await lifecycle.register(a1);
  await lifecycle.login(a1, who("alice", clock));
  await lifecycle.register(a2);
  await lifecycle.login(a2, who("alice", clock));
  assert.deepEqual(connIds(hub, "alice"), ["a1", "a2"]);
  await lifecycle.unregister(a1);
  assert.deepEqual(connIds(hub, "alice"), ["a2"]);
  assert.ok(hub.has(a2) && !hub.has(a1));
  assert.equal(a2.identity?.userId, "alice");
  assert.deepEqual(offline, [], "alice is still online through a2");
  await stop();
});

Deno.test("lifecycle: events submitted back to back are applied in submission order", async () => {
  const { lifecycle, hub, clock, conn, stop } = setup();
  const a1 = conn("a1");
  const a2 = conn("a2");
  await lifecycle.register(a1);
  // Not awaited one by one: a reconnect storm submits these from different sockets at once.
  await Promise.all([
    lifecycle.login(a1, who("alice", clock)),
    lifecycle.register(a2),
    lifecycle.login(a2, who("alice", clock)),
    lifecycle.unregister(a1),
  ]);
  assert.deepEqual(connIds(hub, "alice"), ["a2"]);
  assert.equal(hub.users, 1);
  assert.equal(hub.loggedIn, 1);
  await stop();
});

Deno.test("lifecycle: a login applied after its connection's unregister fails and leaves no ghost", async () => {
  const { lifecycle, hub, clock, conn, stop } = setup();
  const a1 = conn("a1");
  await lifecycle.register(a1);
  const gone = lifecycle.unregister(a1);
  const login = lifecycle.login(a1, who("alice", clock));
  await gone;
  await assert.rejects(login, /closed before login/);
  assert.equal(hub.connectionsOf(101, "alice"), undefined);
  assert.equal(hub.loggedIn, 0);
  await stop();
});

Deno.test("lifecycle: logins of different users proceed concurrently; one user's stay in order", async () => {
  // Presence writes that take 100 ms each, like a remote store under load.
  let inFlight = 0;
  let maxInFlight = 0;
  const slow = (inner: Presence): Presence => ({
    ...inner,
    add: async (e: PresenceEntry) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 100));
      inFlight--;
      return inner.add(e);
    },
    remove: inner.remove.bind(inner),
    connections: inner.connections.bind(inner),
    onlineUsers: inner.onlineUsers.bind(inner),
    userApps: inner.userApps.bind(inner),
  });
  const { lifecycle, hub, clock, conn, stop } = setup({}, slow);
  const conns = Array.from({ length: 20 }, (_, i) => conn(`c${i}`));
  for (const c of conns) await lifecycle.register(c);
  const started = performance.now();
  await Promise.all(conns.map((c, i) => lifecycle.login(c, who(`u${i}`, clock))));
  const elapsed = performance.now() - started;
  assert.equal(hub.loggedIn, 20);
  assert.equal(maxInFlight, 20, "every user's login was in flight at once");
  assert.ok(elapsed < 1000, `20 logins took ${elapsed} ms; one at a time they take 2000`);
  // the same user's events stay serial: login, then unregister, then a newer login
  const [x1, x2] = [conn("x1"), conn("x2")];
  await lifecycle.register(x1);
  await lifecycle.register(x2);
  inFlight = maxInFlight = 0;
  await Promise.all([
    lifecycle.login(x1, who("x", clock)),
    lifecycle.unregister(x1),
    lifecycle.login(x2, who("x", clock)),
  ]);
  assert.equal(maxInFlight, 1);
  assert.deepEqual(connIds(hub, "x"), ["x2"]);
  await stop();
});

Deno.test("lifecycle: enter goes to the app except the newcomer; exit only when the last connection goes", async () => {
  const { lifecycle, clock, conn, presencePushes, online, offline, stop } = setup();
  const [watcher, a1, a2] = [conn("w"), conn("a1"), conn("a2")];
  for (const c of [watcher, a1, a2]) await lifecycle.register(c);
  await lifecycle.login(watcher, who("watcher", clock));
  await lifecycle.login(a1, who("alice", clock));
  await lifecycle.login(a2, who("alice", clock));
  presencePushes.flush(true);
  assert.deepEqual(watcher.socket.from("enter"), ["alice"], "one enter per user per interval");
  assert.deepEqual(
    a1.socket.from("enter"),
    ["alice"],
    "a1 hears alice's second device, not watcher (there before)",
  );
  assert.deepEqual(a2.socket.from("enter"), [], "the newcomer is not told about itself");
  assert.deepEqual(online, ["101/watcher", "101/alice"], "online fires once per user, not per connection");
  await lifecycle.unregister(a1);
  presencePushes.flush(true);
  assert.deepEqual(watcher.socket.from("exit"), []);
  await lifecycle.logout(a2);
  presencePushes.flush(true);
  assert.deepEqual(watcher.socket.from("exit"), ["alice"]);
  assert.deepEqual(offline, ["101/alice"]);
  assert.equal(a2.identity, undefined);
  assert.ok(a2.open, "logout keeps the connection open");
  // A second logout / an unregister after logout pushes nothing more.
  await lifecycle.logout(a2);
  await lifecycle.unregister(a2);
  presencePushes.flush(true);
  assert.deepEqual(watcher.socket.from("exit"), ["alice"]);
  await stop();
});

Deno.test("lifecycle: multiDevice single kicks the older connection (kick push, then close 4000)", async () => {
  const { lifecycle, hub, clock, conn, stop } = setup({ multiDevice: "single" });
  const [a1, a2, b] = [conn("a1"), conn("a2"), conn("b")];
  for (const c of [a1, a2, b]) await lifecycle.register(c);
  await lifecycle.login(b, who("bob", clock));
  await lifecycle.login(a1, who("alice", clock));
  await lifecycle.login(a2, who("alice", clock));
  const last = JSON.parse(a1.socket.sent.at(-1)!);
  assert.equal(last.cmd, "kick", "the kick push is the last frame before the close");
  assert.equal(a1.socket.closeCode, CloseCode.Kicked);
  assert.equal(a2.socket.closeCode, undefined);
  assert.equal(b.socket.closeCode, undefined, "other users are not kicked");
  // The socket's close event unregisters a1 later; a2 must survive it.
  await lifecycle.unregister(a1);
  assert.deepEqual(connIds(hub, "alice"), ["a2"]);
  await stop();
});

Deno.test("lifecycle: the same userId in two apps is two users", async () => {
  const { lifecycle, hub, clock, conn, stop } = setup();
  const [a, b] = [conn("a"), conn("b")];
  for (const c of [a, b]) await lifecycle.register(c);
  await lifecycle.login(a, who("alice", clock, 101));
  await lifecycle.login(b, who("alice", clock, 102));
  assert.equal(hub.users, 2);
  await lifecycle.unregister(a);
  assert.deepEqual(connIds(hub, "alice", 101), []);
  assert.deepEqual(connIds(hub, "alice", 102), ["b"]);
  assert.equal(hub.sendToUser(102, "alice", "x"), 1);
  assert.equal(hub.sendToUser(101, "alice", "x"), 0);
  await stop();
});

Deno.test("lifecycle: sweep closes stale connections with 4001 and keeps fresh ones", async () => {
  const { lifecycle, hub, clock, conn, stop } = setup();
  const stale = conn("stale"); // never logs in: judged by its connect time
  const staleUser = conn("staleUser");
  await lifecycle.register(stale);
  await lifecycle.register(staleUser);
  await lifecycle.login(staleUser, who("old", clock));
  clock.advance(300_000);
  const fresh = conn("fresh"); // connected 300 s later
  const beating = conn("beating");
  await lifecycle.register(fresh);
  await lifecycle.register(beating);
  await lifecycle.login(beating, who("bob", clock));
  assert.equal(lifecycle.sweep(clock.now(), 360_000), 0, "nobody is stale yet");
  clock.advance(60_001); // stale ones are now 360.001 s old, fresh ones 60.001 s
  beating.touch(clock.now());
  assert.equal(lifecycle.sweep(clock.now(), 360_000), 2);
  assert.equal(stale.socket.closeCode, CloseCode.HeartbeatTimeout);
  assert.equal(staleUser.socket.closeCode, CloseCode.HeartbeatTimeout);
  assert.equal(fresh.socket.closeCode, undefined);
  assert.equal(beating.socket.closeCode, undefined);
  // Exactly at the deadline is still alive (older than the timeout is stale).
  clock.advance(360_000);
  lifecycle.sweep(clock.now(), 360_000);
  assert.equal(beating.socket.closeCode, undefined);
  clock.advance(1);
  lifecycle.sweep(clock.now(), 360_000);
  assert.equal(beating.socket.closeCode, CloseCode.HeartbeatTimeout);
  assert.equal(fresh.socket.closeCode, CloseCode.HeartbeatTimeout, "fresh never sent a heartbeat either");
  for (let i = 0; i < 50 && hub.size > 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(hub.size, 0, "closed connections are unregistered at once, not when the peer answers");
  await stop();
});

Deno.test("lifecycle: after stop, new events are refused", async () => {
  const { lifecycle, conn, stop } = setup();
  await stop();
  await assert.rejects(lifecycle.register(conn("late")));
});

Deno.test("lifecycle: flushDelivered writes one mark per user whose connections moved, none otherwise", async () => {
  const { lifecycle, store, clock, conn, stop } = setup();
  const writes: string[] = [];
  const advance = store.advanceMark.bind(store);
  store.advanceMark = (appId, userId, mark, seq) => {
    writes.push(`${userId}:${mark}:${seq}`);
    return advance(appId, userId, mark, seq);
  };
  const entry = { from: "x", to: "", target: "", type: "text", msg: "m", time: clock.now() };
  const login = async (c: TestConn, userId: string) => {
    await lifecycle.register(c);
    c.delivery.open(store, 101, userId, 0);
    await lifecycle.login(c, who(userId, clock));
    await c.delivery.replay();
  };
  const [a1, a2, b1, idle] = [conn("a1"), conn("a2"), conn("b1"), conn("idle")];
  await login(a1, "alice");
  await login(a2, "alice");
  await login(b1, "bob");
  await login(idle, "carol");
  const live = async (userId: string, ...to: TestConn[]) => {
    const e = await store.append(101, userId, {
      ...entry,
      msgId: `${userId}-${clock.now()}-${Math.random()}`,
    });
    for (const c of to) c.delivery.deliver(e, `{"seq":${e.seq}}`);
    return e.seq;
  };
  await live("alice", a1, a2);
  const second = await live("alice", a1); // a2 has not got it yet
  await live("bob", b1);
  assert.equal(await lifecycle.flushDelivered(), 2, "alice and bob, not carol");
  assert.deepEqual(writes.sort(), [`alice:delivered:${second}`, "bob:delivered:1"], "one write per user");
  assert.equal(await store.mark(101, "alice", "delivered"), second);
  writes.length = 0;
  assert.equal(await lifecycle.flushDelivered(), 0, "nothing moved: no write");
  assert.deepEqual(writes, []);
  await stop();
});
