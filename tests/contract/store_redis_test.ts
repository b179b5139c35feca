/**
 * RedisStore against a real redis-server: inbox seqs, bounds, ranges, marks, claims, rooms,
 * presence (windows, expiry, node reaping), outage → 1024, epoch change on data loss.
 * @module
 */
import assert from "node:assert/strict";
import { RedisPresence } from "../../src/cluster/presence.ts";
import { StorageError } from "../../src/protocol/errors.ts";
import type { PresenceEntry } from "../../src/session/presence.ts";
import { connectRedis } from "../../src/store/redis/client.ts";
import { RedisKeys } from "../../src/store/redis/keys.ts";
import { RedisStore } from "../../src/store/redis/store.ts";
import type { NewEntry, StorePolicy } from "../../src/store/store.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { redisAvailable, RedisServer, redisTest } from "../support/redis_helper.ts";
import { storeImSuite } from "./store_im_suite.ts";
import { storeSuite, SUITE_POLICY, type SuiteStore } from "./store_suite.ts";

const entry = (msg: string, time: number): NewEntry => ({
  msgId: `m-${msg}`,
  from: "alice",
  to: "bob",
  target: "",
  type: "text",
  msg,
  time,
});

// The shared contracts, on a fresh redis-server per test (fake clock for ages and windows).
const freshStore = async (policy: StorePolicy): Promise<SuiteStore> => {
  if (!redisAvailable) throw new Error("redis-server not installed and IM_REQUIRE_REDIS=1");
  const redis = await RedisServer.start();
  const clock = new FakeClock(1_700_000_000_000);
  try {
    const store = await RedisStore.open({ url: redis.url }, { keys: new RedisKeys("im:"), policy, clock });
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
};
const suiteOptions = {
  ignore: !redisAvailable && Deno.env.get("IM_REQUIRE_REDIS") !== "1" ? "redis-server not installed" : false,
};
storeSuite("redis store", freshStore, suiteOptions);
storeImSuite("redis store", freshStore, suiteOptions);

redisTest("redis store: outage fails with StorageError, data loss changes the epoch", async (redis) => {
  const store = await RedisStore.open({ url: redis.url }, {
    keys: new RedisKeys("t4:"),
    policy: SUITE_POLICY,
  });
  try {
    const before = store.epoch;
    assert(before.length > 0);
    await redis.stop();
    await assert.rejects(() => store.append(101, "bob", entry("x", Date.now())), StorageError);
    await redis.restart();
    for (let i = 0; i < 100 && !store.client.isReady; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await store.loadEpoch(), true);
    assert(store.epoch !== before);
    assert.equal((await store.append(101, "bob", entry("y", Date.now()))).seq, 1);
  } finally {
    await store.close();
  }
});

redisTest("redis store: a write counter that goes back is reported as a rollback", async (redis) => {
  const store = await RedisStore.open({ url: redis.url }, {
    keys: new RedisKeys("t5:"),
    policy: SUITE_POLICY,
  });
  const rollbacks: string[] = [];
  const epochs: string[] = [];
  store.listen({ rollback: (why) => rollbacks.push(why), epochChanged: () => {} });
  try {
    for (let i = 0; i < 5; i++) await store.append(101, "bob", entry(`${i}`, Date.now()));
    await store.checkWrites();
    assert.equal(rollbacks.length, 0);
    // Redis loses its last writes (as after a restart from an older snapshot)
    await store.client.set("t5:wc", "2");
    await store.checkWrites();
    assert.equal(rollbacks.length, 1);
    assert.match(rollbacks[0], /from 5 to 2/);
    // the next append is measured from the new value: no second report
    await store.append(101, "bob", entry("later", Date.now()));
    assert.equal(rollbacks.length, 1);
    // rotating the epoch is compare-and-set and resets the measure
    const before = store.epoch;
    store.listen({ rollback: (why) => rollbacks.push(why), epochChanged: (e) => epochs.push(e) });
    const now = await store.rotateEpoch();
    assert.notEqual(now, before);
    assert.deepEqual(epochs, [now]);
    assert.equal(await store.client.get("t5:epoch"), now);
  } finally {
    await store.close();
  }
});

const presence = (userId: string, connId: string, nodeId: string, at: number): PresenceEntry => ({
  appId: 101,
  userId,
  connId,
  nodeId,
  since: at,
  heartbeatAt: at,
});

redisTest("redis presence: windows, first connection, expiry and node reaping", async (redis) => {
  const clock = new FakeClock(5_000_000);
  const client = await connectRedis({ url: redis.url });
  const keys = new RedisKeys("t3:");
  const make = (nodeId: string) =>
    new RedisPresence({
      client,
      keys,
      clock,
      nodeId,
      onlineWindowMs: 60_000,
      ttlMs: 400,
      keepInboxMs: 60_000,
    });
  const n1 = make("n1");
  const n2 = make("n2");
  try {
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
  } finally {
    await client.close();
  }
});
