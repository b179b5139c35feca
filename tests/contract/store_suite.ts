/**
 * The shared {@linkcode Store} contract: every engine (memory, SQLite, Redis) registers these tests
 * through {@linkcode storeSuite} and must pass all of them.
 *
 * Times: entries carry explicit `time` values relative to "now" (the suite's FakeClock when the factory
 * provides one, else the real clock), so age checks work without sleeping. Claim TTLs are checked both
 * ways at once: the fake clock is advanced and a short real wait elapses, so a store that expires keys
 * on server time (Redis PX) and one that uses the injected clock both pass.
 *
 * @example
 * ```ts
 * storeSuite("memory", (policy) => {
 *   const clock = new FakeClock(1_000_000);
 *   return Promise.resolve({ store: new MemoryStore({ policy, clock }), clock, cleanup: () => Promise.resolve() });
 * });
 * ```
 * @module
 */
import assert from "node:assert/strict";
import type { FakeClock } from "../../src/util/clock.ts";
import type { NewEntry, Store, StorePolicy } from "../../src/store/store.ts";

/** What a suite factory hands each test: a fresh, empty store with the given policy. */
export interface SuiteStore {
  store: Store;
  /** The store's clock, when it is fake (tests then advance it instead of sleeping). */
  clock?: FakeClock;
  /** Run the engine's retention of idle inboxes now, when it can be triggered (memory, SQLite). */
  expireIdle?: () => void | Promise<void>;
  /** Close the store and release whatever backs it. */
  cleanup(): Promise<void>;
}

/** Options of {@linkcode storeSuite}. */
export interface SuiteOptions {
  /** Passed to every `Deno.test` (`true` or a reason string skips the suite). */
  ignore?: boolean | string;
}

const APP = 101;
const OTHER_APP = 202;
const DAY = 86_400_000;

/** The policy tests use unless they need another bound. */
export const SUITE_POLICY: StorePolicy = {
  maxEntries: 1000,
  maxConversations: 1000,
  maxAgeMs: DAY,
  dedupTtlMs: 60_000,
  maxRoomsPerUser: 2,
  maxRoomMembers: 2,
};

const entry = (msg: string, time: number, from = "alice"): NewEntry => ({
  msgId: `m-${msg}`,
  from,
  to: "bob",
  target: "",
  type: "text",
  msg,
  time,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Register the store contract tests as `Deno.test` cases named `${name}: ...`. `make` is called once per
 * test with the policy the test needs and must return an empty store; `cleanup` runs even when the test
 * fails.
 */
export function storeSuite(
  name: string,
  make: (policy: StorePolicy) => Promise<SuiteStore>,
  opts: SuiteOptions = {},
): void {
  const ignore = opts.ignore === undefined ? false : Boolean(opts.ignore);
  const reason = typeof opts.ignore === "string" ? ` (skipped: ${opts.ignore})` : "";
  const test = (
    title: string,
    fn: (s: SuiteStore, now: () => number) => Promise<void>,
    policy: Partial<StorePolicy> = {},
  ) =>
    Deno.test({
      name: `${name}: ${title}${reason}`,
      ignore,
      fn: async () => {
        const s = await make({ ...SUITE_POLICY, ...policy });
        const now = () => s.clock?.now() ?? Date.now();
        try {
          await fn(s, now);
        } finally {
          await s.cleanup();
        }
      },
    });

  test("append assigns 1,2,3 per (appId, userId), independently", async ({ store }, now) => {
    const seqs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await store.append(APP, "bob", entry(`b${i}`, now()));
      const b = await store.append(APP, "carol", entry(`c${i}`, now()));
      const c = await store.append(OTHER_APP, "bob", entry(`o${i}`, now()));
      seqs.push(`${a.seq}${b.seq}${c.seq}`);
    }
    assert.deepEqual(seqs, ["111", "222", "333"]);
    const t = now();
    const got = await store.append(APP, "bob", entry("x", t));
    assert.deepEqual(got, { ...entry("x", t), seq: 4 });
    // an empty, never-used inbox
    const head = await store.head(APP, "nobody");
    assert.equal(head.firstSeq, 1);
    assert.equal(head.lastSeq, 0);
    assert.deepEqual(await store.range(APP, "nobody", 0, 10), []);
    assert.deepEqual(await store.rangeBefore(APP, "nobody", 100, 10), []);
  });

  test("appendMany returns each user's seq in the order given", async ({ store }, now) => {
    await store.append(APP, "bob", entry("1", now()));
    await store.append(APP, "bob", entry("2", now()));
    await store.append(APP, "dave", entry("3", now()));
    const seqs = await store.appendMany(APP, ["bob", "carol", "dave"], entry("r", now()));
    assert.deepEqual(seqs, [3, 1, 2]);
    for (const [user, seq] of [["bob", 3], ["carol", 1], ["dave", 2]] as const) {
      const [e] = await store.range(APP, user, seq - 1, 10);
      assert.equal(e.msg, "r");
      assert.equal(e.seq, seq);
    }
    assert.deepEqual(await store.appendMany(APP, [], entry("none", now())), []);
  });

  test("appendOnce: the same msgId lands once per inbox and answers its seq", async ({ store }, now) => {
    const t = now();
    assert.deepEqual(await store.appendOnce(APP, ["bob"], entry("hello", t)), [{ seq: 1, repeated: false }]);
    assert.deepEqual(await store.appendOnce(APP, ["bob"], entry("hello", t)), [{ seq: 1, repeated: true }]);
    // a partial earlier attempt (bob has it, carol not) completes without duplicating
    assert.deepEqual(await store.appendOnce(APP, ["bob", "carol"], entry("hello", t)), [
      { seq: 1, repeated: true },
      { seq: 1, repeated: false },
    ]);
    assert.deepEqual((await store.range(APP, "bob", 0, 10)).map((e) => e.msg), ["hello"]);
    assert.deepEqual((await store.range(APP, "carol", 0, 10)).map((e) => e.msg), ["hello"]);
    // a plain append does not look (callers only pay for the check when a send carries a key)
    assert.equal((await store.append(APP, "bob", entry("hello", t))).seq, 2);
    assert.deepEqual(await store.appendOnce(APP, ["bob"], entry("other", t)), [{ seq: 3, repeated: false }]);
    assert.deepEqual(await store.appendOnce(APP, [], entry("none", t)), []);
  });

  test("range and rangeBefore page forwards and backwards", async ({ store }, now) => {
    for (let i = 1; i <= 10; i++) await store.append(APP, "bob", entry(`${i}`, now()));
    // forward pages of 4 cover 1..10 exactly once, oldest first
    const seen: number[] = [];
    for (let after = 0, n = 0; n < 10; n++) {
      const page = await store.range(APP, "bob", after, 4);
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.seq));
      after = page[page.length - 1].seq;
    }
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const page = await store.range(APP, "bob", 2, 3);
    assert.deepEqual(page.map((e) => [e.seq, e.msg]), [[3, "3"], [4, "4"], [5, "5"]]);
    assert.deepEqual(await store.range(APP, "bob", 10, 5), []);
    assert.deepEqual(await store.range(APP, "bob", 99, 5), []);
    // backward: newest first, strictly below `beforeSeq`
    assert.deepEqual((await store.rangeBefore(APP, "bob", 11, 3)).map((e) => e.seq), [10, 9, 8]);
    assert.deepEqual((await store.rangeBefore(APP, "bob", 4, 10)).map((e) => e.seq), [3, 2, 1]);
    assert.deepEqual((await store.rangeBefore(APP, "bob", 1, 10)).map((e) => e.seq), []);
    assert.deepEqual((await store.rangeBefore(APP, "bob", 1e9, 2)).map((e) => e.seq), [10, 9]);
    // "no upper bound" as callers spell it (history without `before`)
    assert.deepEqual(
      (await store.rangeBefore(APP, "bob", Number.MAX_SAFE_INTEGER, 2)).map((e) => e.seq),
      [10, 9],
    );
    const back: number[] = [];
    for (let before = 1e9, n = 0; n < 10; n++) {
      const p = await store.rangeBefore(APP, "bob", before, 3);
      if (p.length === 0) break;
      back.push(...p.map((e) => e.seq));
      before = p[p.length - 1].seq;
    }
    assert.deepEqual(back, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  test("trim by maxEntries moves firstSeq; range skips trimmed entries", async ({ store }, now) => {
    for (let i = 1; i <= 7; i++) await store.append(APP, "bob", entry(`${i}`, now()));
    const head = await store.head(APP, "bob");
    assert.equal(head.firstSeq, 5);
    assert.equal(head.lastSeq, 7);
    assert.deepEqual((await store.range(APP, "bob", 0, 10)).map((e) => e.seq), [5, 6, 7]);
    assert.deepEqual((await store.range(APP, "bob", 2, 10)).map((e) => e.seq), [5, 6, 7]);
    assert.deepEqual((await store.range(APP, "bob", 5, 10)).map((e) => e.seq), [6, 7]);
    assert.deepEqual((await store.rangeBefore(APP, "bob", 6, 10)).map((e) => e.seq), [5]);
    // seqs are never reused after trimming
    assert.equal((await store.append(APP, "bob", entry("8", now()))).seq, 8);
    // other inboxes are untouched
    await store.append(APP, "carol", entry("c", now()));
    assert.equal((await store.head(APP, "carol")).firstSeq, 1);
  }, { maxEntries: 3 });

  test("trim by age: old entries are excluded and firstSeq moves", async ({ store, clock }, now) => {
    const t = now();
    await store.append(APP, "bob", entry("old1", t - 2_000_000));
    await store.append(APP, "bob", entry("old2", t - 1_500_000));
    await store.append(APP, "bob", entry("new", t - 100_000));
    // with a 1000 s bound the first two are gone for every reader
    assert.deepEqual((await store.range(APP, "bob", 0, 10)).map((e) => e.msg), ["new"]);
    assert.deepEqual((await store.rangeBefore(APP, "bob", 10, 10)).map((e) => e.msg), ["new"]);
    const head = await store.head(APP, "bob");
    assert.deepEqual([head.firstSeq, head.lastSeq], [3, 3]);
    const fresh = await store.append(APP, "bob", entry("fresh", now()));
    assert.equal(fresh.seq, 4);
    if (clock) {
      // ages are measured on the store's clock: everything ages out, firstSeq = lastSeq + 1, seqs go on
      clock.advance(1_200_000);
      assert.deepEqual(await store.range(APP, "bob", 0, 10), []);
      const h = await store.head(APP, "bob");
      assert.deepEqual([h.firstSeq, h.lastSeq], [5, 4]);
      assert.equal((await store.append(APP, "bob", entry("later", now()))).seq, 5);
    }
  }, { maxAgeMs: 1_000_000 });

  test("the epoch of an inbox is stable while it lives, from its first head on", async ({ store }, now) => {
    const h0 = await store.head(APP, "bob");
    assert.equal(typeof h0.epoch, "string");
    assert.ok(h0.epoch.length > 0);
    await store.append(APP, "bob", entry("1", now()));
    const h1 = await store.head(APP, "bob");
    assert.equal(h1.epoch, h0.epoch, "a login before the first message must not see the epoch change");
    await store.append(APP, "bob", entry("2", now()));
    assert.equal((await store.head(APP, "bob")).epoch, h0.epoch);
    assert.deepEqual([h1.firstSeq, h1.lastSeq], [1, 1]);
  });

  test("an idle inbox that expired starts again with a new epoch", async (s, now) => {
    if (!s.expireIdle || !s.clock) return; // engines that expire on their own clock (Redis TTL) skip this
    const { store, clock } = s;
    await store.append(APP, "bob", entry("1", now()));
    await store.append(APP, "bob", entry("2", now()));
    const before = await store.head(APP, "bob");
    clock.advance(2 * DAY);
    await s.expireIdle();
    const after = await store.head(APP, "bob");
    assert.notEqual(after.epoch, before.epoch, "a restarted sequence must have another epoch");
    assert.equal(after.lastSeq, 0);
    assert.equal((await store.append(APP, "bob", entry("3", now()))).seq, 1);
    assert.equal((await store.head(APP, "bob")).epoch, after.epoch);
  });

  test("advanceMark is monotonic and capped at the head", async ({ store }, now) => {
    for (let i = 1; i <= 8; i++) await store.append(APP, "bob", entry(`${i}`, now()));
    assert.equal(await store.mark(APP, "bob", "ack"), 0);
    assert.deepEqual(await store.advanceMark(APP, "bob", "ack", 5), { previous: 0, current: 5 });
    assert.deepEqual(await store.advanceMark(APP, "bob", "ack", 3), { previous: 5, current: 5 });
    assert.deepEqual(await store.advanceMark(APP, "bob", "ack", 99), { previous: 5, current: 8 });
    assert.equal(await store.mark(APP, "bob", "ack"), 8);
    // marks are independent of each other and of other users
    assert.equal(await store.mark(APP, "bob", "read"), 0);
    assert.deepEqual(await store.advanceMark(APP, "bob", "read", 2), { previous: 0, current: 2 });
    assert.deepEqual(await store.advanceMark(APP, "bob", "delivered", 6), { previous: 0, current: 6 });
    assert.equal(await store.mark(APP, "bob", "ack"), 8);
    assert.equal(await store.mark(APP, "bob", "delivered"), 6);
    assert.equal(await store.mark(APP, "carol", "read"), 0);
    // an empty inbox caps every mark at 0
    assert.deepEqual(await store.advanceMark(APP, "carol", "read", 4), { previous: 0, current: 0 });
  });

  test("claim holds a value for the de-dup TTL", async ({ store, clock }) => {
    assert.equal(await store.claim("k1", "a"), null);
    assert.equal(await store.claim("k1", "other"), "a");
    assert.equal(await store.claim("k2", "z"), null);
    assert.equal(await store.claim("k2", "y"), "z");
    // TTL: the claim is gone after the TTL (fake clock advanced and real time waited)
    clock?.advance(5_000);
    await sleep(1100);
    assert.equal(await store.claim("k1", "b"), null);
    assert.equal(await store.claim("k1", "c"), "b");
  }, { dedupTtlMs: 1000 });

  test("joinRoom limits, leaveRoom, roomMembers and userRooms", async ({ store }) => {
    assert.equal(await store.joinRoom(APP, "r1", "a"), "joined");
    assert.equal(await store.joinRoom(APP, "r1", "a"), "already");
    assert.equal(await store.joinRoom(APP, "r1", "b"), "joined");
    assert.equal(await store.joinRoom(APP, "r1", "c"), "roomFull");
    assert.equal(await store.joinRoom(APP, "r2", "a"), "joined");
    assert.equal(await store.joinRoom(APP, "r3", "a"), "tooManyRooms");
    // "already" wins over the limits (re-joining a full room you are in is not an error)
    assert.equal(await store.joinRoom(APP, "r1", "a"), "already");
    assert.deepEqual((await store.roomMembers(APP, "r1")).sort(), ["a", "b"]);
    assert.deepEqual((await store.userRooms(APP, "a")).sort(), ["r1", "r2"]);
    assert.deepEqual(await store.userRooms(APP, "nobody"), []);
    assert.deepEqual(await store.roomMembers(APP, "nope"), []);
    // rooms are per app
    assert.deepEqual(await store.roomMembers(OTHER_APP, "r1"), []);
    assert.equal(await store.joinRoom(OTHER_APP, "r1", "c"), "joined");
    assert.deepEqual(await store.roomMembers(APP, "r1").then((m) => m.sort()), ["a", "b"]);
    // leaving frees both limits
    assert.equal(await store.leaveRoom(APP, "r1", "a"), true);
    assert.equal(await store.leaveRoom(APP, "r1", "a"), false);
    assert.equal(await store.leaveRoom(APP, "nope", "a"), false);
    assert.deepEqual(await store.roomMembers(APP, "r1"), ["b"]);
    assert.deepEqual(await store.userRooms(APP, "a"), ["r2"]);
    assert.equal(await store.joinRoom(APP, "r3", "a"), "joined");
    assert.equal(await store.joinRoom(APP, "r1", "c"), "joined");
    // the last member leaving empties the room
    assert.equal(await store.leaveRoom(APP, "r2", "a"), true);
    assert.deepEqual(await store.roomMembers(APP, "r2"), []);
  });

  test("200 parallel appends to one inbox get seqs 1..200 exactly", async ({ store }, now) => {
    const t = now();
    const got = await Promise.all(
      Array.from({ length: 200 }, (_, i) => store.append(APP, "bob", entry(`p${i}`, t))),
    );
    const seqs = got.map((e) => e.seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i + 1));
    // and the stored order matches the seqs (each msg is where its seq says)
    const stored = await store.range(APP, "bob", 0, 500);
    assert.equal(stored.length, 200);
    const bySeq = new Map(got.map((e) => [e.seq, e.msg]));
    for (const e of stored) assert.equal(e.msg, bySeq.get(e.seq));
    // parallel appendMany to overlapping inboxes stays gap-free per inbox
    const many = await Promise.all(
      Array.from({ length: 50 }, (_, i) => store.appendMany(APP, ["bob", "carol"], entry(`m${i}`, t))),
    );
    assert.deepEqual(
      many.map((s) => s[1]).sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      many.map((s) => s[0]).sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 201),
    );
  });
}
