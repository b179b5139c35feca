/**
 * The RedisPresence scenario, run on one Redis (store_redis_test.ts) and on a Redis Cluster
 * (store_redis_cluster_test.ts): windows, first connection, expiry and node reaping.
 * @module
 */
import assert from "node:assert/strict";
import { RedisPresence } from "../../src/cluster/presence.ts";
import type { PresenceEntry } from "../../src/session/presence.ts";
import { RedisKeys } from "../../src/store/redis/keys.ts";
import type { RedisLink } from "../../src/store/redis/link.ts";
import { FakeClock } from "../../src/util/clock.ts";

const presence = (userId: string, connId: string, nodeId: string, at: number): PresenceEntry => ({
  appId: 101,
  userId,
  connId,
  nodeId,
  since: at,
  heartbeatAt: at,
});

/** Run the scenario on `link` (keys under `t3:`). */
export async function presenceScenario(link: RedisLink): Promise<void> {
  const clock = new FakeClock(5_000_000);
  const keys = new RedisKeys("t3:");
  const make = (nodeId: string) =>
    new RedisPresence({
      link,
      keys,
      clock,
      nodeId,
      onlineWindowMs: 60_000,
      ttlMs: 400,
      keepInboxMs: 60_000,
    });
  const n1 = make("n1");
  const n2 = make("n2");
  assert.equal(await n1.add(presence("u1", "c1", "n1", clock.now())), true);
  assert.equal(await n2.add(presence("u1", "c2", "n2", clock.now())), false, "u1 was online already");
  assert.equal(await n2.add(presence("u2", "c3", "n2", clock.now() - 100_000)), true);
  assert.deepEqual((await n1.connections(101, "u1")).map((p) => p.connId).sort(), ["c1", "c2"]);
  // u2's heartbeat is outside the window: present but not online
  assert.deepEqual(await n1.connections(101, "u2"), []);
  assert.deepEqual((await n1.onlineUsers(101)).sort(), ["u1"]);
  assert.deepEqual(await n1.userApps("u1"), [101]);
  assert.deepEqual(await n1.userApps("u2"), []);
  // node n2 crashes: reaping removes its connections; u2 goes offline, u1 stays via n1
  assert.deepEqual(await n1.reap("n2"), [{ appId: 101, userId: "u2" }]);
  assert.deepEqual((await n1.connections(101, "u1")).map((p) => p.connId), ["c1"]);
  assert.equal(await n1.remove(101, "u1", "c1"), true);
  assert.deepEqual(await n1.onlineUsers(101), []);
  // nobody refreshes: the entry expires after the TTL (Redis time, not the fake clock)
  await n1.add(presence("u3", "c4", "n1", clock.now()));
  assert.deepEqual(await n1.onlineUsers(101), ["u3"]);
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(await n1.onlineUsers(101), []);
  assert.deepEqual(await n1.connections(101, "u3"), []);
}

/**
 * A login storm: 100 concurrent adds (50 users, 2 connections each) — exactly one "first" per user, and
 * at most `maxCalls` script calls (logins are batched while one is in flight; on a Redis Cluster a batch
 * still splits by slot). Resolves to the calls.
 */
export async function loginStormScenario(
  link: RedisLink,
  scriptCalls: () => Promise<number>,
  maxCalls: number,
  prefix = "t6:",
): Promise<number> {
  const clock = new FakeClock(5_000_000);
  const p = new RedisPresence({
    link,
    keys: new RedisKeys(prefix),
    clock,
    nodeId: "n1",
    onlineWindowMs: 60_000,
    ttlMs: 30_000,
    keepInboxMs: 60_000,
  });
  const before = await scriptCalls();
  const entries = Array.from({ length: 100 }, (_, i) => presence(`s${i % 50}`, `c${i}`, "n1", clock.now()));
  const firsts = await Promise.all(entries.map((e) => p.add(e)));
  const calls = (await scriptCalls()) - before;
  assert.equal(firsts.filter((f) => f).length, 50, "one first connection per user");
  assert.deepEqual((await p.onlineUsers(101)).length, 50);
  assert(calls <= maxCalls, `${calls} script calls for 100 logins (at most ${maxCalls})`);
  return calls;
}
