/**
 * Random IM histories and the comparison of an engine's conversation summaries against the memory
 * engine's (the reference, rules in store/conversations.ts): messages, own copies, room messages, edits,
 * recalls, deletions (also of unknown or trimmed messages, and repeated), receipts, idempotent repeats and
 * read positions, in a small inbox that trims on most appends. After every step both engines must answer
 * the same conversations, unread total, hidden messages and read changes. Used by the Redis and the
 * SQLite differential tests.
 *
 * @example
 * ```ts
 * await replayAgainstMemory(() => sqlite, { seed: 1, steps: 160, clock, policy, aging: false });
 * ```
 * @module
 */
import assert from "node:assert/strict";
import type { EntryFields } from "../../src/protocol/pushes.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import type { Store, StorePolicy } from "../../src/store/store.ts";
import type { FakeClock } from "../../src/util/clock.ts";
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
export function* history(
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

export async function same(memory: Store, redis: Store, msgIds: string[], where: string): Promise<void> {
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

/** What one replay needs. */
export interface Replay {
  seed: number;
  steps: number;
  clock: FakeClock;
  policy: StorePolicy;
  aging: boolean;
  /** Called after each step with its number: may replace the engine under test (a restart). */
  between?: (step: number) => Promise<void>;
  /** Submit runs of up to this many appends and reads at once (one transaction of a batching engine). */
  burst?: number;
}

/** Run one random history on the memory engine and on `other()`, comparing after every step. */
export async function replayAgainstMemory(other: () => Store, r: Replay): Promise<void> {
  const { clock, policy } = r;
  const memory = new MemoryStore({ policy, clock, pruneIntervalMs: 0 });
  try {
    const ids = new Set<string>(["unknown"]);
    let i = 0;
    // Taken one at a time: a step's time is the clock's when it is made (ticks come between).
    const steps = history(r.seed, r.steps, () => clock.now(), policy.maxEntries, r.aging);
    let next = steps.next();
    while (!next.done) {
      const step = next.value;
      next = steps.next();
      const where = `seed ${r.seed} step ${++i} ${JSON.stringify(step)}`;
      if (step.op === "tick") {
        clock.advance(step.ms);
      } else {
        // A run of appends and read positions, each submitted before the previous one settled.
        const run = [step];
        while (run.length < (r.burst ?? 1) && !next.done && next.value.op !== "tick") {
          run.push(next.value);
          next = steps.next();
          i++;
        }
        const submit = (s: Store) =>
          Promise.all(run.map((a) => {
            if (a.op === "read") return s.markRead(APP, OWNER, a.conv, a.seq).then(sortById);
            if (a.op !== "append") throw new Error("a tick in a run");
            ids.add(a.entry.ref ?? a.entry.msgId);
            return a.once
              ? s.appendOnce(APP, [OWNER], a.entry)
              : s.append(APP, OWNER, a.entry).then((e) => [e]);
          }));
        const [m, o] = await Promise.all([submit(memory), submit(other())]);
        assert.deepEqual(o, m, `${where} (${run.length} at once)`);
      }
      await same(memory, other(), [...ids], where);
      await r.between?.(i);
      if (r.between) await same(memory, other(), [...ids], `${where} (after a restart)`);
    }
  } finally {
    await memory.close();
  }
}
