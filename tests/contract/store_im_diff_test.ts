/**
 * The Redis engine's conversation summaries against the memory engine's (im_histories.ts).
 * @module
 */
import { RedisKeys } from "../../src/store/redis/keys.ts";
import { RedisStore } from "../../src/store/redis/store.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { redisTest } from "../support/redis_helper.ts";
import { replayAgainstMemory } from "./im_histories.ts";
import { SUITE_POLICY } from "./store_suite.ts";

for (
  const [maxEntries, aging, maxConversations] of [[6, false, 1000], [1000, false, 1000], [1000, true, 1000], [
    6,
    false,
    2,
  ]] as const
) {
  redisTest(
    `redis store: im summaries equal the memory engine's (random histories, maxEntries ${maxEntries}${
      maxConversations < 1000 ? `, maxConversations ${maxConversations}` : ""
    }${aging ? ", aging" : ""})`,
    async (server) => {
      const policy = { ...SUITE_POLICY, maxEntries, maxConversations };
      for (let seed = 1; seed <= 12; seed++) {
        const clock = new FakeClock(1_700_000_000_000);
        const redis = await RedisStore.open({ urls: [server.url], cluster: false }, {
          keys: new RedisKeys(`d${seed}:`),
          policy,
          clock,
        });
        try {
          await replayAgainstMemory(() => redis, { seed, steps: 160, clock, policy, aging });
        } finally {
          await redis.close();
        }
      }
    },
  );
}
