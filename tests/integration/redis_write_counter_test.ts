/**
 * The Redis store's rollback check (src/store/redis/store.ts): the write counter read by `checkWrites`
 * and the one returned by appends race — a reply can be handled after a later one — and must never be
 * taken for Redis going back in time (that rotates the epoch and resyncs every client: the rolling
 * restart test saw it as duplicates). A real loss (Redis restarted without its data's tail) still is.
 * @module
 */
import assert from "node:assert/strict";
import { RedisKeys } from "../../src/store/redis/keys.ts";
import { RedisStore } from "../../src/store/redis/store.ts";
import type { NewEntry } from "../../src/store/store.ts";
import { testPolicy } from "../support/helpers.ts";
import { redisTest } from "../support/redis_helper.ts";

const entry = (n: number): NewEntry => ({
  msgId: `m${n}`,
  from: "alice",
  to: "bob",
  target: "",
  type: "text",
  msg: `hi ${n}`,
  time: Date.now(),
});

redisTest(
  "redis store: appends and write-counter checks in flight together are no rollback",
  async (redis) => {
    const open = () =>
      RedisStore.open({ urls: [redis.url], cluster: false }, {
        keys: new RedisKeys("wc:"),
        policy: testPolicy(),
      });
    const [a, b] = [await open(), await open()];
    const rollbacks: string[] = [];
    for (const s of [a, b]) s.listen({ rollback: (why) => rollbacks.push(why), epochChanged: () => {} });
    try {
      let n = 0;
      for (let round = 0; round < 300; round++) {
        // Two stores (two nodes) append while both check the counter, all in flight at once.
        await Promise.all([
          a.checkWrites(),
          a.append(101, `u${round % 7}`, entry(++n)),
          b.append(101, `v${round % 5}`, entry(++n)),
          a.checkWrites(),
          b.checkWrites(),
          a.append(101, `u${round % 3}`, entry(++n)),
          b.checkWrites(),
        ]);
      }
      assert.deepEqual(rollbacks, []);
    } finally {
      await a.close();
      await b.close();
    }
  },
);

redisTest(
  "redis store: a lost write is a rollback even when the next append brings the counter back up",
  async (redis) => {
    const keys = new RedisKeys("wl:");
    const store = await RedisStore.open({ urls: [redis.url], cluster: false }, {
      keys,
      policy: testPolicy(),
    });
    const rollbacks: string[] = [];
    store.listen({ rollback: (why) => rollbacks.push(why), epochChanged: () => {} });
    try {
      await store.append(101, "bob", entry(1));
      await store.append(101, "bob", entry(2));
      // Redis loses the last write (a failover to a replica that had not received it): the counter is
      // one behind what this node saw. The next append increments it back to the value seen, which must
      // not hide the loss — no check ran in between.
      assert.equal(await redis.command("DECR", keys.writeCounter), ":1");
      await store.append(101, "bob", entry(3));
      assert.equal(rollbacks.length, 1, "the append saw the counter it incremented had gone back");
      assert.match(rollbacks[0], /went back from 2 to 1/);
    } finally {
      await store.close();
    }
  },
);
