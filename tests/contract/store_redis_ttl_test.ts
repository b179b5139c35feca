/**
 * The TTLs of an inbox's keys on Redis (scripts/append.lua): a message refreshes them only when needed
 * (one PTTL instead of five PEXPIREs), yet after any append every key of the inbox outlives it by at least
 * `keep` (maxAge + 1 day) — also when some keys vanished in between (a login keeps the marks hash alive
 * longer than the others; a trim can empty the positions zset).
 * @module
 */
import assert from "node:assert/strict";
import { RedisKeys } from "../../src/store/redis/keys.ts";
import { RedisStore } from "../../src/store/redis/store.ts";
import type { NewEntry } from "../../src/store/store.ts";
import { redisTest } from "../support/redis_helper.ts";
import { SUITE_POLICY } from "./store_suite.ts";

const APP = 101;
const KEEP_MS = SUITE_POLICY.maxAgeMs + 24 * 3600_000;
let n = 0;
const message = (from: string): NewEntry => ({
  msgId: `t${++n}`,
  from,
  to: "bob",
  target: "",
  type: "text",
  msg: "hello",
  time: Date.now(),
});

redisTest(
  "redis store: every inbox key outlives the last append by keep, PEXPIRE only when needed",
  async (redis) => {
    const keys = new RedisKeys("ttl:");
    const store = await RedisStore.open({ urls: [redis.url], cluster: false }, {
      keys,
      policy: SUITE_POLICY,
    });
    const send = (a: string[]) => store.link.send(a[1], a);
    const inboxKeys = [
      keys.marks(APP, "bob"),
      keys.inbox(APP, "bob"),
      keys.conversations(APP, "bob"),
      keys.conversationTimes(APP, "bob"),
      keys.positions(APP, "bob"),
    ];
    const assertKept = async (when: string) => {
      for (const key of inboxKeys) {
        const ttl = Number(await send(["PTTL", key]));
        assert.ok(ttl >= KEEP_MS - 60_000, `${when}: ${key} PTTL ${ttl} < keep ${KEEP_MS}`);
        assert.ok(ttl <= KEEP_MS * 9 / 8, `${when}: ${key} PTTL ${ttl} > keep + keep/8`);
      }
    };
    const pexpires = async () => {
      const info = String(await send(["INFO", "commandstats"]));
      return Number(info.match(/cmdstat_pexpire:calls=(\d+)/)?.[1] ?? 0);
    };
    try {
      await store.append(APP, "bob", message("alice"));
      await assertKept("a new inbox");

      // the same conversation again and again: no PEXPIRE while the TTLs are long enough
      const before = await pexpires();
      for (let i = 0; i < 20; i++) await store.append(APP, "bob", message("alice"));
      assert.equal(await pexpires(), before, "messages of a known conversation refreshed TTLs needlessly");
      await assertKept("20 more messages");

      // TTLs run down (time passed since the refresh): the next message refreshes them
      for (const key of inboxKeys) await send(["PEXPIRE", key, "5000"]);
      await store.append(APP, "bob", message("alice"));
      await assertKept("after the TTLs ran down");

      // every key but the marks hash gone (a login kept it alive, the others expired)
      for (const key of inboxKeys.slice(1)) await send(["DEL", key]);
      await store.append(APP, "bob", message("alice"));
      await assertKept("after all but the marks expired");

      // only the positions zset gone (a trim emptied it): a message of a known conversation recreates it
      await send(["DEL", keys.positions(APP, "bob")]);
      await store.append(APP, "bob", message("alice"));
      await assertKept("after the positions zset vanished");

      // the summaries gone while the positions stayed (an inbox whose first entries had no conversation)
      await send(["DEL", keys.conversations(APP, "bob"), keys.conversationTimes(APP, "bob")]);
      await store.append(APP, "bob", message("alice"));
      await assertKept("after the summaries vanished");

      // a new conversation in an inbox with long TTLs
      for (const key of inboxKeys) await send(["PEXPIRE", key, String(KEEP_MS + 1000)]);
      await store.append(APP, "bob", message("carol"));
      await assertKept("a new conversation");
    } finally {
      await store.close();
    }
  },
);
