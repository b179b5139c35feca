/**
 * The Redis engine's conversation summaries against the memory engine's (the reference, rules in
 * store/conversations.ts): random histories of messages, own copies, room messages, edits, recalls,
 * deletions (also of unknown or trimmed messages, and repeated), receipts, idempotent repeats and read
 * positions, in a small inbox that trims on most appends. After every step both engines must answer the
 * same conversations, unread total, hidden messages and read changes.
 * @module
 */
import assert from "node:assert/strict";
import type { EntryFields } from "../../src/protocol/pushes.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { RedisKeys } from "../../src/store/redis/keys.ts";
import { RedisStore } from "../../src/store/redis/store.ts";
import type { Store } from "../../src/store/store.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { redisTest } from "../support/redis_helper.ts";
import { SUITE_POLICY } from "./store_suite.ts";

const APP = 101;
const OWNER = "bob";
const PEERS = ["alice", "carol", "dave"];

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Step =
  | { op: "append"; entry: EntryFields; once: boolean }
  | { op: "read"; conv: string | undefined; seq: number }
  | { op: "tick"; ms: number };

/** A random history: each message remembered so events can refer to it. */
function* history(
  seed: number,
  steps: number,
  now: () => number,
  maxEntries: number,
  aging: boolean,
): Generator<Step> {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const sent: EntryFields[] = [];
  /** Idempotent appends still in the inbox (the memory engine forgets a repeat once its entry is trimmed). */
  const once: { entry: EntryFields; seq: number }[] = [];
  let n = 0;
  let seq = 0;
  for (let i = 0; i < steps; i++) {
    const time = now() + Math.floor(r() * 1000); // not monotonic: conversation time is a max
    const x = r();
    if (aging && x < 0.05) {
      yield { op: "tick", ms: Math.floor(SUITE_POLICY.maxAgeMs / 4) }; // entries age out as time goes by
      continue;
    }
    if (x < 0.45 || sent.length === 0) {
      const peer = pick(PEERS);
      const shape = r();
      const m: EntryFields = shape < 0.5
        ? { msgId: `m${++n}`, from: peer, to: OWNER, target: "", type: "text", msg: `hi ${n}`, time }
        : shape < 0.7
        ? { msgId: `m${++n}`, from: OWNER, to: peer, target: "", type: "text", msg: `own ${n}`, time }
        : shape < 0.95
        ? {
          msgId: `m${++n}`,
          from: pick([...PEERS, OWNER]),
          to: "lobby",
          target: "lobby",
          type: "t",
          msg: "r",
          time,
        }
        : r() < 0.5
        ? { msgId: `m${++n}`, from: "", to: OWNER, target: "", type: "sys", msg: "system", time }
        : {
          msgId: `m${++n}`,
          from: peer,
          to: OWNER,
          target: "",
          type: "text",
          msg: "\ud83d\ude00 \ud800",
          time,
        };
      sent.push(m);
      seq++;
      const idempotent = r() < 0.2;
      if (idempotent) once.push({ entry: m, seq });
      yield { op: "append", entry: m, once: idempotent };
    } else if (x < 0.8) {
      const kind = pick(["edit", "recall", "delete", "delete", "read", "delivered"] as const);
      const m = r() < 0.9 ? pick(sent) : { ...pick(sent), msgId: "unknown" };
      const e: EntryFields = {
        ...m,
        msgId: `e${++n}`,
        type: kind,
        msg: kind === "edit" ? `edited ${n}` : "",
        time,
        kind,
        ref: kind === "read" || kind === "delivered" ? undefined : m.msgId,
        by: kind === "delete" ? OWNER : kind === "read" || kind === "delivered" ? pick(PEERS) : m.from,
        ...(kind === "read" || kind === "delivered" ? { msgIds: [m.msgId], upTo: 3 } : {}),
      };
      seq++;
      yield { op: "append", entry: e, once: false };
    } else if (x < 0.88 && !aging) { // repeats are remembered by the de-dup TTL (Redis: real time)
      const kept = once.filter((o) => seq - o.seq < maxEntries);
      if (kept.length > 0) yield { op: "append", entry: pick(kept).entry, once: true }; // a repeat
    } else {
      const conv = r() < 0.3 ? undefined : pick([...PEERS.map((p) => `u:${p}`), "r:lobby", "u:nobody"]);
      yield { op: "read", conv, seq: Math.floor(r() * (seq + 3)) };
    }
  }
}

const sortById = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => (a.id < b.id ? -1 : 1));

async function same(memory: Store, redis: Store, msgIds: string[], where: string): Promise<void> {
  // Compared as the protocol sends them (JSON): the memory engine leaves `last: undefined` on a
  // conversation whose last message was deleted with none before it, Redis leaves `last` out. Redis
  // previews a lone surrogate as U+FFFD (cjson refuses them).
  const json = async (s: Store, limit: number, before?: number) =>
    JSON.parse(
      JSON.stringify(await s.conversations(APP, OWNER, limit, before)),
      (_k, v) => typeof v === "string" ? v.toWellFormed() : v,
    );
  const m = await json(memory, 100);
  assert.deepEqual(await json(redis, 100), m, `conversations ${where}`);
  const before = m.items[1]?.time;
  assert.deepEqual(
    await json(redis, 2, before),
    await json(memory, 2, before),
    `conversations page ${where}`,
  );
  assert.equal(await redis.unreadTotal(APP, OWNER), await memory.unreadTotal(APP, OWNER), `unread ${where}`);
  assert.deepEqual(
    await redis.hiddenAmong(APP, OWNER, msgIds),
    await memory.hiddenAmong(APP, OWNER, msgIds),
    `hidden ${where}`,
  );
}

for (const [maxEntries, aging] of [[6, false], [1000, false], [1000, true]] as const) {
  redisTest(
    `redis store: im summaries equal the memory engine's (random histories, maxEntries ${maxEntries}${
      aging ? ", aging" : ""
    })`,
    async (server) => {
      const policy = { ...SUITE_POLICY, maxEntries };
      for (let seed = 1; seed <= 12; seed++) {
        const clock = new FakeClock(1_700_000_000_000);
        const memory = new MemoryStore({ policy, clock, pruneIntervalMs: 0 });
        const redis = await RedisStore.open({ url: server.url }, {
          keys: new RedisKeys(`d${seed}:`),
          policy,
          clock,
        });
        try {
          const ids = new Set<string>(["unknown"]);
          let i = 0;
          for (const step of history(seed, 160, () => clock.now(), maxEntries, aging)) {
            const where = `seed ${seed} step ${++i} ${JSON.stringify(step)}`;
            if (step.op === "append") {
              ids.add(step.entry.ref ?? step.entry.msgId);
              const [m, r] = step.once
                ? await Promise.all([memory, redis].map((s) => s.appendOnce(APP, [OWNER], step.entry)))
                : await Promise.all(
                  [memory, redis].map(async (s) => [await s.append(APP, OWNER, step.entry)]),
                );
              assert.deepEqual(r, m, `append ${where}`);
            } else if (step.op === "tick") {
              clock.advance(step.ms);
            } else {
              const [m, r] = await Promise.all(
                [memory, redis].map((s) => s.markRead(APP, OWNER, step.conv, step.seq)),
              );
              assert.deepEqual(sortById(r), sortById(m), `markRead ${where}`);
            }
            await same(memory, redis, [...ids], where);
          }
        } finally {
          await memory.close();
          await redis.close();
        }
      }
    },
  );
}
