/**
 * Age trimming on the Redis engine where entry times do not follow the seqs, and after `maxAge` is lowered:
 * the two cases a cached "the head is due at" got wrong (review of 2026-12-02). A retried send keeps its first
 * attempt's time (messaging/dedup.ts) and node clocks differ, so a count trim can leave an older entry at the
 * head; the memory engine trims from the front by each head's own time, and Redis must agree.
 * @module
 */
import assert from "node:assert/strict";
import type { NewEntry } from "../../src/store/store.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { RedisKeys } from "../../src/store/redis/keys.ts";
import { RedisStore } from "../../src/store/redis/store.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { redisTest } from "../support/redis_helper.ts";
import { same } from "./im_histories.ts";
import { SUITE_POLICY } from "./store_suite.ts";

const APP = 101;
const HOUR = 3_600_000;

const message = (msgId: string, from: string, time: number): NewEntry => ({
  msgId,
  from,
  to: "bob",
  target: "",
  type: "text",
  msg: msgId,
  time,
});

const recall = (msgId: string, ref: string, by: string, time: number): NewEntry => ({
  msgId,
  from: by,
  to: "bob",
  target: "",
  type: "recall",
  msg: "",
  time,
  kind: "recall",
  ref,
  by,
});

redisTest(
  "redis store: a count trim that leaves an older entry at the head ages it out as the memory engine does",
  async (server) => {
    const policy = { ...SUITE_POLICY, maxEntries: 3 };
    const clock = new FakeClock(1_700_000_000_000);
    const t0 = clock.now();
    const redis = await RedisStore.open({ urls: [server.url], cluster: false }, {
      keys: new RedisKeys("age:"),
      policy,
      clock,
    });
    const memory = new MemoryStore({ policy, clock, pruneIntervalMs: 0 });
    const both = async (e: NewEntry) => {
      const [a, b] = [await memory.append(APP, "bob", e), await redis.append(APP, "bob", e)];
      assert.equal(b.seq, a.seq);
    };
    try {
      await both(message("m1", "alice", t0 + 1000)); // from a node whose clock is 1 s ahead
      await both(message("m2", "dave", t0));
      await both(message("m3", "carol", t0));
      await both(message("m4", "alice", t0 + 1)); // the count trim drops m1: m2, older than m1, is the head
      clock.advance(policy.maxAgeMs + 500); // m2…m4 are past maxAge, m1's time + maxAge is not
      await both(message("m5", "alice", clock.now()));
      await both(recall("e6", "m3", "carol", clock.now())); // m3 aged out: the recall finds nothing to uncount
      await same(memory, redis, ["m1", "m2", "m3", "m4", "m5"], "after the recall of an aged-out message");
    } finally {
      await redis.close();
      await memory.close();
    }
  },
);

redisTest("redis store: a lower maxAge after a restart trims by the new one at once", async (server) => {
  const clock = new FakeClock(1_700_000_000_000);
  const open = (maxAgeMs: number) =>
    RedisStore.open({ urls: [server.url], cluster: false }, {
      keys: new RedisKeys("agemax:"),
      policy: { ...SUITE_POLICY, maxAgeMs },
      clock,
    });
  let store = await open(30 * 24 * HOUR);
  try {
    await store.append(APP, "bob", message("m1", "carol", clock.now()));
    await store.append(APP, "bob", message("m2", "carol", clock.now()));
    await store.close();
    store = await open(HOUR); // the operator lowers inbox.maxAge to an hour
    clock.advance(2 * HOUR);
    await store.append(APP, "bob", message("m3", "alice", clock.now())); // trims m1 and m2 by the new maxAge
    await store.append(APP, "bob", recall("e4", "m2", "carol", clock.now()));
    const { items } = await store.conversations(APP, "bob", 10);
    // m2 left the inbox with the trim, so its recall has nothing left to uncount (unread keeps counting
    // trimmed messages: MESSAGING.md §8a)
    assert.deepEqual(items.map((c) => [c.id, c.unread]), [["u:alice", 1], ["u:carol", 2]]);
    assert.equal(await store.unreadTotal(APP, "bob"), 3);
    assert.equal((await store.range(APP, "bob", 0, 10)).map((e) => e.msgId).join(","), "m3,e4");
  } finally {
    await store.close();
  }
});
