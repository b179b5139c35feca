import assert from "node:assert/strict";
import { Client, type SocketLike } from "../../src/client.ts";
import { FakeClock } from "../../src/clock.ts";
import { getLogger } from "../../src/log.ts";
import { ClientManager, type ManagerOptions } from "../../src/manager.ts";
import { CloseCode } from "../../src/protocol.ts";
import { MemoryStore } from "../../src/store/memory.ts";

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
  /** Parsed frames with `cmd`. */
  // deno-lint-ignore no-explicit-any
  frames(cmd: string): any[] {
    return this.sent.map((t) => JSON.parse(t)).filter((f) => f.cmd === cmd);
  }
}

interface Setup {
  clock: FakeClock;
  store: MemoryStore;
  manager: ClientManager;
  broadcasts: Array<{ appId: number; cmd: string; from: string; except?: string }>;
  online: string[];
  offline: string[];
  client(id: string): Client & { socket: FakeSocket };
}

const HOUR = 3600_000;

/** A started manager over a memory store, a fake clock, and a broadcast that records pushes. */
function setup(overrides: Partial<ManagerOptions> = {}): Setup {
  const clock = new FakeClock(1_000_000);
  const store = new MemoryStore(clock);
  const broadcasts: Setup["broadcasts"] = [];
  const online: string[] = [];
  const offline: string[] = [];
  const manager = new ClientManager({
    nodeId: "n1",
    store,
    clock,
    log: getLogger(["imserver", "test"]),
    multiDevice: "multi",
    enterExitPushes: true,
    heartbeatTimeoutMs: 360_000,
    onlineWindowMs: 180_000,
    hooks: {
      broadcastApp: (appId, text, except) => {
        const frame = JSON.parse(text);
        broadcasts.push({ appId, cmd: frame.cmd, from: frame.response.data.from, except });
      },
      onOnline: (appId, userId) => online.push(`${appId}/${userId}`),
      onOffline: (appId, userId) => offline.push(`${appId}/${userId}`),
    },
    ...overrides,
  });
  manager.start();
  const client = (id: string) =>
    new Client(id, new FakeSocket(), "127.0.0.1", clock.now(), 1 << 20) as Client & { socket: FakeSocket };
  return { clock, store, manager, broadcasts, online, offline, client };
}

const who = (userId: string, clock: FakeClock, appId = 101) => ({ userId, appId, loginTime: clock.now() });
const connIds = async (store: MemoryStore, userId: string, appId = 101) =>
  (await store.presence(appId, userId, HOUR)).map((p) => p.connId).sort();

Deno.test("manager: a late unregister of A1 does not remove A2 of the same user", async () => {
  const { manager, store, clock, client, offline } = setup();
  const a1 = client("a1");
  const a2 = client("a2");
  await manager.register(a1);
  await manager.login(a1, who("alice", clock));
  await manager.register(a2);
  await manager.login(a2, who("alice", clock));
  assert.deepEqual(await connIds(store, "alice"), ["a1", "a2"]);
  await manager.unregister(a1);
  assert.deepEqual(await connIds(store, "alice"), ["a2"]);
  assert.deepEqual([...manager.connectionsOf(101, "alice") ?? []].map((c) => c.id), ["a2"]);
  assert.ok(manager.clients.has("a2") && !manager.clients.has("a1"));
  assert.equal(a2.identity?.userId, "alice");
  assert.deepEqual(offline, [], "alice is still online through a2");
  await manager.stop();
});

Deno.test("manager: events submitted back to back are applied in submission order", async () => {
  const { manager, store, clock, client } = setup();
  const a1 = client("a1");
  const a2 = client("a2");
  await manager.register(a1);
  // Not awaited one by one: a reconnect storm submits these from different sockets at once.
  await Promise.all([
    manager.login(a1, who("alice", clock)),
    manager.register(a2),
    manager.login(a2, who("alice", clock)),
    manager.unregister(a1),
  ]);
  assert.deepEqual(await connIds(store, "alice"), ["a2"]);
  assert.equal(manager.userCount, 1);
  assert.equal(manager.loggedInCount, 1);
  await manager.stop();
});

Deno.test("manager: a login applied after its connection's unregister fails and leaves no ghost", async () => {
  const { manager, store, clock, client } = setup();
  const a1 = client("a1");
  await manager.register(a1);
  const gone = manager.unregister(a1);
  const login = manager.login(a1, who("alice", clock));
  await gone;
  await assert.rejects(login, /closed before login/);
  assert.deepEqual(await connIds(store, "alice"), []);
  assert.equal(manager.connectionsOf(101, "alice"), undefined);
  assert.equal(manager.loggedInCount, 0);
  await manager.stop();
});

Deno.test("manager: enter goes to the app except the newcomer; exit only when the last connection goes", async () => {
  const { manager, clock, client, broadcasts, online, offline } = setup();
  const a1 = client("a1");
  const a2 = client("a2");
  for (const c of [a1, a2]) await manager.register(c);
  await manager.login(a1, who("alice", clock));
  await manager.login(a2, who("alice", clock));
  assert.deepEqual(broadcasts, [
    { appId: 101, cmd: "enter", from: "alice", except: "a1" },
    { appId: 101, cmd: "enter", from: "alice", except: "a2" },
  ]);
  assert.deepEqual(online, ["101/alice"], "online fires once per user, not per connection");
  broadcasts.length = 0;
  await manager.unregister(a1);
  assert.deepEqual(broadcasts, []);
  await manager.logout(a2);
  assert.deepEqual(broadcasts, [{ appId: 101, cmd: "exit", from: "alice", except: undefined }]);
  assert.deepEqual(offline, ["101/alice"]);
  assert.equal(a2.identity, undefined);
  assert.ok(manager.clients.has("a2"), "logout keeps the connection registered");
  // A second logout / an unregister after logout pushes nothing more.
  await manager.logout(a2);
  await manager.unregister(a2);
  assert.equal(broadcasts.length, 1);
  await manager.stop();
});

Deno.test("manager: enterExitPushes off sends neither", async () => {
  const { manager, clock, client, broadcasts } = setup({ enterExitPushes: false });
  const a1 = client("a1");
  await manager.register(a1);
  await manager.login(a1, who("alice", clock));
  await manager.unregister(a1);
  assert.deepEqual(broadcasts, []);
  await manager.stop();
});

Deno.test("manager: the same userId in two apps is two users", async () => {
  const { manager, store, clock, client } = setup();
  const a = client("a");
  const b = client("b");
  for (const c of [a, b]) await manager.register(c);
  await manager.login(a, who("alice", clock, 101));
  await manager.login(b, who("alice", clock, 102));
  assert.equal(manager.userCount, 2);
  await manager.unregister(a);
  assert.deepEqual(await connIds(store, "alice", 101), []);
  assert.deepEqual(await connIds(store, "alice", 102), ["b"]);
  assert.equal(manager.sendToUser(102, "alice", "x"), 1);
  assert.equal(manager.sendToUser(101, "alice", "x"), 0);
  await manager.stop();
});

Deno.test("manager: multiDevice single kicks the older connection (kick push, then close 4000)", async () => {
  const { manager, store, clock, client } = setup({ multiDevice: "single" });
  const a1 = client("a1");
  const a2 = client("a2");
  const b = client("b");
  for (const c of [a1, a2, b]) await manager.register(c);
  await manager.login(b, who("bob", clock));
  await manager.login(a1, who("alice", clock));
  await manager.login(a2, who("alice", clock));
  const last = JSON.parse(a1.socket.sent.at(-1)!);
  assert.equal(last.cmd, "kick", "the kick push is the last frame before the close");
  assert.equal(last.response.code, 200);
  assert.equal(a1.socket.closeCode, CloseCode.Kicked);
  assert.equal(a2.socket.closeCode, undefined);
  assert.equal(b.socket.closeCode, undefined, "other users are not kicked");
  // The socket's close event unregisters a1 later; a2 must survive it.
  await manager.unregister(a1);
  assert.deepEqual(await connIds(store, "alice"), ["a2"]);
  await manager.stop();
});

Deno.test("manager: multiDevice multi keeps every device and delivers to all", async () => {
  const { manager, clock, client } = setup();
  const devices = [client("d1"), client("d2"), client("d3")];
  for (const c of devices) {
    await manager.register(c);
    await manager.login(c, who("alice", clock));
  }
  assert.equal(manager.sendToUser(101, "alice", "hello"), 3);
  assert.equal(manager.sendToUser(101, "alice", "again", "d2"), 2);
  for (const c of devices) assert.equal(c.socket.closeCode, undefined);
  assert.deepEqual(devices.map((c) => c.socket.sent.filter((t) => t === "hello").length), [1, 1, 1]);
  assert.equal(manager.sendToApp(101, "all", "d1"), 2);
  await manager.stop();
});

Deno.test("manager: sweep closes stale connections with 4001 and keeps fresh ones", async () => {
  const { manager, clock, client } = setup();
  const stale = client("stale"); // never logs in: judged by its connect time
  const staleUser = client("staleUser");
  await manager.register(stale);
  await manager.register(staleUser);
  await manager.login(staleUser, who("old", clock));
  clock.advance(300_000);
  const fresh = client("fresh"); // connected 300 s later
  const beating = client("beating");
  await manager.register(fresh);
  await manager.register(beating);
  await manager.login(beating, who("bob", clock));
  assert.deepEqual(manager.sweep().map((p) => p.connId), ["staleUser", "beating"], "nobody is stale yet");
  clock.advance(60_001); // stale ones are now 360.001 s old, fresh ones 60.001 s
  beating.heartbeatAt = clock.now();
  const live = manager.sweep();
  assert.equal(stale.socket.closeCode, CloseCode.HeartbeatTimeout);
  assert.equal(staleUser.socket.closeCode, CloseCode.HeartbeatTimeout);
  assert.equal(fresh.socket.closeCode, undefined);
  assert.equal(beating.socket.closeCode, undefined);
  assert.deepEqual(live.map((p) => [p.connId, p.heartbeatAt]), [["beating", clock.now()]]);
  // Exactly at the deadline is still alive (older than the timeout is stale).
  clock.advance(360_000);
  manager.sweep();
  assert.equal(beating.socket.closeCode, undefined);
  clock.advance(1);
  manager.sweep();
  assert.equal(beating.socket.closeCode, CloseCode.HeartbeatTimeout);
  await manager.stop();
});

Deno.test("manager: after stop, new events are refused", async () => {
  const { manager, client } = setup();
  await manager.stop();
  await assert.rejects(manager.register(client("late")));
});
