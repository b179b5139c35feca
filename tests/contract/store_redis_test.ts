/**
 * RedisStore against a real redis-server: inbox seqs, bounds, ranges, marks, claims, rooms,
 * presence (windows, expiry, node reaping), outage → 1024, epoch change on data loss.
 * @module
 */
import assert from "node:assert/strict";
import { StorageError } from "../../src/protocol/errors.ts";
import { connectLink, type RedisLink } from "../../src/store/redis/link.ts";
import { RedisKeys } from "../../src/store/redis/keys.ts";
import { RedisStore } from "../../src/store/redis/store.ts";
import type { NewEntry, StorePolicy } from "../../src/store/store.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { redisAvailable, RedisServer, redisTest } from "../support/redis_helper.ts";
import { loginStormScenario, presenceScenario } from "./redis_presence_scenario.ts";
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

/** Script calls (EVALSHA and EVAL) the server has run so far. */
async function scriptCalls(link: RedisLink): Promise<number> {
  const info = String(await link.send(undefined, ["INFO", "commandstats"]));
  return [...info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((t, m) => t + Number(m[1]), 0);
}

// The shared contracts, on a fresh redis-server per test (fake clock for ages and windows).
const freshStore = async (policy: StorePolicy): Promise<SuiteStore> => {
  if (!redisAvailable) throw new Error("redis-server not installed and IM_REQUIRE_REDIS=1");
  const redis = await RedisServer.start();
  const clock = new FakeClock(1_700_000_000_000);
  try {
    const store = await RedisStore.open({ urls: [redis.url], cluster: false }, {
      keys: new RedisKeys("im:"),
      policy,
      clock,
    });
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
  const store = await RedisStore.open({ urls: [redis.url], cluster: false }, {
    keys: new RedisKeys("t4:"),
    policy: SUITE_POLICY,
  });
  try {
    const before = store.epoch;
    assert(before.length > 0);
    await redis.stop();
    await assert.rejects(() => store.append(101, "bob", entry("x", Date.now())), StorageError);
    await redis.restart();
    for (let i = 0; i < 100 && !store.link.isReady; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await store.loadEpoch(), true);
    assert(store.epoch !== before);
    assert.equal((await store.append(101, "bob", entry("y", Date.now()))).seq, 1);
  } finally {
    await store.close();
  }
});

redisTest("redis store: a write counter that goes back is reported as a rollback", async (redis) => {
  const store = await RedisStore.open({ urls: [redis.url], cluster: false }, {
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
    await store.link.send("t5:wc", ["SET", "t5:wc", "2"]);
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
    assert.equal(await store.link.send("t5:epoch", ["GET", "t5:epoch"]), now);
  } finally {
    await store.close();
  }
});

redisTest("redis store: a member whose room list lost the room gets it back on re-join", async (redis) => {
  const keys = new RedisKeys("t6:");
  const store = await RedisStore.open({ urls: [redis.url], cluster: false }, {
    keys,
    policy: { ...SUITE_POLICY, maxRoomsPerUser: 1 },
  });
  try {
    assert.equal(await store.joinRoom(101, "lobby", "ann"), "joined");
    // the member set says ann is in; her list lost the room (a half-done write of an older node)
    const list = keys.userRooms(101, "ann");
    await store.link.send(list, ["SREM", list, "lobby"]);
    assert.equal(await store.joinRoom(101, "lobby", "ann"), "already");
    assert.deepEqual(await store.userRooms(101, "ann"), ["lobby"]);
    assert.equal(await store.joinRoom(101, "games", "ann"), "tooManyRooms");
  } finally {
    await store.close();
  }
});

redisTest("redis presence: windows, first connection, expiry and node reaping", async (redis) => {
  const link = await connectLink({ urls: [redis.url], cluster: false });
  try {
    await presenceScenario(link);
  } finally {
    await link.close();
  }
});

redisTest(
  "redis presence: a login storm shares script calls, one first connection per user",
  async (redis) => {
    const link = await connectLink({ urls: [redis.url], cluster: false });
    const evalCalls = () => scriptCalls(link);
    try {
      // one redis-server: the storm leaves in a few batches
      await loginStormScenario(link, evalCalls, 10);
    } finally {
      await link.close();
    }
  },
);

redisTest(
  "redis store: concurrent message saves share script calls; a retry keeps the first",
  async (redis) => {
    const store = await RedisStore.open({ urls: [redis.url], cluster: false }, {
      keys: new RedisKeys("sv:"),
      policy: SUITE_POLICY,
    });
    const evalCalls = () => scriptCalls(store.link);
    const kept = (i: number, msg = `m${i}`) => ({ ...entry(msg, Date.now()), msgId: `k${i}` });
    try {
      const before = await evalCalls();
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.saveMessage(101, kept(i))));
      const calls = await evalCalls() - before;
      assert.ok(calls <= 3, `100 concurrent saves took ${calls} script calls`);
      // a retried save (same msgId, other text) does not overwrite, in a batch or alone
      await Promise.all([store.saveMessage(101, kept(7, "changed")), store.saveMessage(101, kept(100))]);
      const found = await store.messages(101, ["k7", "k99", "k100"]);
      assert.equal(found.get("k7")?.msg, "m7");
      assert.equal(found.get("k99")?.msg, "m99");
      assert.equal(found.get("k100")?.msg, "m100");
    } finally {
      await store.close();
    }
  },
);

redisTest(
  "redis store: a room message's json goes to Redis once per call, not once per member",
  async (redis) => {
    const store = await RedisStore.open({ urls: [redis.url], cluster: false }, {
      keys: new RedisKeys("rj:"),
      policy: SUITE_POLICY,
    });
    const inputBytes = async () => {
      const info = String(await store.link.send(undefined, ["INFO", "stats"]));
      return Number(info.match(/total_net_input_bytes:(\d+)/)?.[1]);
    };
    try {
      const members = Array.from({ length: 100 }, (_, i) => `u${i}`);
      const big = { ...entry("x".repeat(4000), Date.now()), target: "lobby" };
      await store.appendMany(101, members.slice(0, 2), big); // scripts loaded, keys warm
      const before = await inputBytes();
      const seqs = await store.appendMany(101, members, { ...big, msgId: "m-big2" });
      const sent = await inputBytes() - before;
      assert.equal(seqs.length, 100);
      // 100 × 4 KB if each member carried the json; one copy plus the members' keys now
      assert.ok(sent < 60_000, `a 100-member append of a 4 KB message sent ${sent} bytes`);
      const got = await store.range(101, "u42", 0, 10);
      assert.equal(got.at(-1)?.msg.length, 4000);
    } finally {
      await store.close();
    }
  },
);

redisTest(
  "redis store: a login storm's inbox reads (head, range, unread) share script calls",
  async (redis) => {
    const store = await RedisStore.open({ urls: [redis.url], cluster: false }, {
      keys: new RedisKeys("lr:"),
      policy: SUITE_POLICY,
    });
    const evalCalls = () => scriptCalls(store.link);
    try {
      const users = Array.from({ length: 100 }, (_, i) => `u${i}`);
      await Promise.all(
        users.map((u, i) => store.append(101, u, { ...entry(`hi ${i}`, Date.now()), to: u })),
      );
      await Promise.all([store.head(101, "x"), store.range(101, "x", 0, 1), store.unreadTotal(101, "x")]);
      const before = await evalCalls();
      const [heads, ranges, unread] = await Promise.all([
        Promise.all(users.map((u) => store.head(101, u))),
        Promise.all(users.map((u) => store.range(101, u, 0, 10))),
        Promise.all(users.map((u) => store.unreadTotal(101, u))),
      ]);
      const calls = await evalCalls() - before;
      assert.ok(calls <= 9, `300 concurrent reads took ${calls} script calls`);
      assert.deepEqual(heads.map((h) => [h.firstSeq, h.lastSeq]), users.map(() => [1, 1]));
      assert.deepEqual(ranges.map((r) => r.map((e) => e.msg)), users.map((_, i) => [`hi ${i}`]));
      assert.deepEqual(unread, users.map(() => 1));
    } finally {
      await store.close();
    }
  },
);
