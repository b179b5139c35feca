/**
 * RedisStore against a real redis-server: inbox seqs, bounds, ranges, marks, claims, rooms,
 * presence (windows, expiry, node reaping), outage → 1024, epoch change on data loss.
 * @module
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../src/clock.ts";
import { ImError } from "../../src/errors.ts";
import { RedisStore } from "../../src/store/redis.ts";
import type { NewEntry, PresenceEntry } from "../../src/store/store.ts";
import { redisAvailable, RedisServer, redisTest } from "../support/redis_helper.ts";
import { storeSuite } from "./store_suite.ts";

const limits = { maxEntries: 1000, maxAgeMs: 3600_000 };
const entry = (msg: string, time: number): NewEntry => ({
  msgId: `m-${msg}`,
  from: "alice",
  to: "bob",
  target: "",
  type: "text",
  msg,
  time,
});
const presence = (userId: string, connId: string, nodeId: string, at: number): PresenceEntry => ({
  appId: 101,
  userId,
  connId,
  nodeId,
  since: at,
  heartbeatAt: at,
});

// The shared contract, on a fresh redis-server per test (fake clock for ages and windows).
storeSuite("redis store", async () => {
  if (!redisAvailable) throw new Error("redis-server not installed and IM_REQUIRE_REDIS=1");
  const redis = await RedisServer.start();
  const clock = new FakeClock(1_700_000_000_000);
  try {
    const store = await RedisStore.connect({ url: redis.url }, { clock });
    return {
      store,
      clock,
      cleanup: async () => {
        await store.close();
        await redis.dispose();
      },
    };
  } catch (error) {
    await redis.dispose();
    throw error;
  }
}, {
  ignore: !redisAvailable && Deno.env.get("IM_REQUIRE_REDIS") !== "1" ? "redis-server not installed" : false,
});

redisTest("redis store: inbox seqs, ranges, bounds and marks", async (redis) => {
  const clock = new FakeClock(1_000_000);
  const store = await RedisStore.connect({ url: redis.url }, { clock, prefix: "t1:" });
  try {
    assert.deepEqual(await store.head(101, "bob", limits.maxAgeMs), {
      firstSeq: 1,
      lastSeq: 0,
      epoch: store.epoch,
    });
    for (let i = 1; i <= 5; i++) {
      assert.deepEqual((await store.append(101, "bob", entry(`${i}`, clock.now()), limits)).seq, i);
    }
    const page = await store.range(101, "bob", 2, 2, limits.maxAgeMs);
    assert.deepEqual(page.map((e) => [e.seq, e.msg]), [[3, "3"], [4, "4"]]);
    assert.deepEqual((await store.rangeBefore(101, "bob", 4, 10, limits.maxAgeMs)).map((e) => e.seq), [
      3,
      2,
      1,
    ]);
    // maxEntries trims exactly
    await store.append(101, "bob", entry("6", clock.now()), { ...limits, maxEntries: 3 });
    assert.deepEqual((await store.head(101, "bob", limits.maxAgeMs)).firstSeq, 4);
    assert.deepEqual((await store.range(101, "bob", 0, 10, limits.maxAgeMs)).map((e) => e.seq), [4, 5, 6]);
    // age: entries older than maxAge are excluded and trimmed
    clock.advance(10_000);
    await store.append(101, "bob", entry("7", clock.now()), limits);
    assert.deepEqual((await store.range(101, "bob", 0, 10, 5_000)).map((e) => e.seq), [7]);
    assert.deepEqual(await store.head(101, "bob", 5_000), { firstSeq: 7, lastSeq: 7, epoch: store.epoch });
    // appendMany assigns per-user seqs
    assert.deepEqual(await store.appendMany(101, ["bob", "carol"], entry("r", clock.now()), limits), [8, 1]);
    // marks move forward only and never past the head
    assert.deepEqual(await store.advanceMark(101, "bob", "ack", 5), { previous: 0, current: 5 });
    assert.deepEqual(await store.advanceMark(101, "bob", "ack", 3), { previous: 5, current: 5 });
    assert.deepEqual(await store.advanceMark(101, "bob", "ack", 99), { previous: 5, current: 8 });
    assert.deepEqual(await store.mark(101, "bob", "ack"), 8);
    assert.deepEqual(await store.mark(101, "bob", "read"), 0);
  } finally {
    await store.close();
  }
});

redisTest("redis store: claims, rooms", async (redis) => {
  const store = await RedisStore.connect({ url: redis.url }, { prefix: "t2:" });
  try {
    assert.deepEqual(await store.claim("k", "", 10_000), null);
    assert.deepEqual(await store.claim("k", "", 10_000), "");
    await store.putClaim("k", '{"seq":3}', 10_000);
    assert.deepEqual(await store.claim("k", "", 10_000), '{"seq":3}');
    await store.dropClaim("k");
    assert.deepEqual(await store.claim("k", "x", 10_000), null);

    assert.deepEqual(await store.joinRoom(101, "r1", "a", 2, 2), "joined");
    assert.deepEqual(await store.joinRoom(101, "r1", "a", 2, 2), "already");
    assert.deepEqual(await store.joinRoom(101, "r1", "b", 2, 2), "joined");
    assert.deepEqual(await store.joinRoom(101, "r1", "c", 2, 2), "roomFull");
    assert.deepEqual(await store.joinRoom(101, "r2", "a", 2, 2), "joined");
    assert.deepEqual(await store.joinRoom(101, "r3", "a", 2, 2), "tooManyRooms");
    assert.deepEqual((await store.roomMembers(101, "r1")).sort(), ["a", "b"]);
    assert.deepEqual((await store.userRooms(101, "a")).sort(), ["r1", "r2"]);
    assert.deepEqual(await store.leaveRoom(101, "r1", "a"), true);
    assert.deepEqual(await store.leaveRoom(101, "r1", "a"), false);
    assert.deepEqual(await store.roomMembers(101, "r1"), ["b"]);
    assert.deepEqual(await store.roomMembers(101, "nope"), []);
  } finally {
    await store.close();
  }
});

redisTest("redis store: presence windows, expiry and node reaping", async (redis) => {
  const clock = new FakeClock(5_000_000);
  const store = await RedisStore.connect({ url: redis.url }, { clock, prefix: "t3:", presenceTtlMs: 400 });
  try {
    await store.addPresence(presence("u1", "c1", "n1", clock.now()));
    await store.addPresence(presence("u1", "c2", "n2", clock.now()));
    await store.addPresence(presence("u2", "c3", "n2", clock.now() - 100_000));
    assert.deepEqual((await store.presence(101, "u1", 60_000)).map((p) => p.connId).sort(), ["c1", "c2"]);
    assert.deepEqual((await store.onlineUsers(101, 60_000)).sort(), ["u1"]);
    assert.deepEqual((await store.onlineUsers(101, Infinity)).sort(), ["u1", "u2"]);
    assert.deepEqual(await store.userApps("u1", 60_000), [101]);
    assert.deepEqual(await store.userApps("u2", 60_000), []);
    // node n2 crashes: reaping removes its connections; u2 goes offline, u1 stays via n1
    assert.deepEqual(await store.reapNode("n2"), [{ appId: 101, userId: "u2" }]);
    assert.deepEqual((await store.presence(101, "u1", Infinity)).map((p) => p.connId), ["c1"]);
    assert.deepEqual(await store.onlineUsers(101, Infinity), ["u1"]);
    await store.removePresence(101, "u1", "c1");
    assert.deepEqual(await store.onlineUsers(101, Infinity), []);
    // nobody refreshes: the entry expires after the TTL (Redis time, not the fake clock)
    await store.addPresence(presence("u3", "c4", "n1", clock.now()));
    assert.deepEqual(await store.onlineUsers(101, Infinity), ["u3"]);
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(await store.onlineUsers(101, Infinity), []);
    assert.deepEqual(await store.presence(101, "u3", Infinity), []);
  } finally {
    await store.close();
  }
});

redisTest("redis store: outage fails with 1024, data loss changes the epoch", async (redis) => {
  const store = await RedisStore.connect({ url: redis.url }, { prefix: "t4:" });
  try {
    const before = store.epoch;
    assert(before.length > 0);
    await redis.stop();
    await assert.rejects(
      () => store.append(101, "bob", entry("x", Date.now()), limits),
      (e) => e instanceof ImError && e.code === 1024,
    );
    await redis.restart();
    for (let i = 0; i < 100 && !store.client.isReady; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await store.refreshEpoch(), true);
    assert(store.epoch !== before);
    assert.deepEqual((await store.append(101, "bob", entry("y", Date.now()), limits)).seq, 1);
  } finally {
    await store.close();
  }
});
