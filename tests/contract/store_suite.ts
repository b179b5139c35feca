/**
 * The shared {@linkcode Store} contract: every implementation (memory, Redis) registers these
 * tests through {@linkcode storeSuite} and must pass all of them.
 *
 * Times: entries carry explicit `time` values relative to "now" (the suite's FakeClock when the
 * factory provides one, else the real clock), so age checks work without sleeping. Claim TTLs
 * are checked both ways at once: the fake clock is advanced and a short real wait elapses, so
 * a store that expires keys on server time (Redis PX) and one that uses the injected clock both
 * pass.
 *
 * @example
 * ```ts
 * storeSuite("memory", () => {
 *   const clock = new FakeClock(1_000_000);
 *   return Promise.resolve({ store: new MemoryStore(clock), clock, cleanup: () => Promise.resolve() });
 * });
 * ```
 * @module
 */
import assert from "node:assert/strict";
import type { FakeClock } from "../../src/clock.ts";
import type { InboxLimits, NewEntry, PresenceEntry, Store } from "../../src/store/store.ts";

/** What a suite factory hands each test: a fresh, empty store. */
export interface SuiteStore {
  store: Store;
  /** The store's clock, when it is fake (tests then advance it instead of sleeping). */
  clock?: FakeClock;
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
const limits: InboxLimits = { maxEntries: 1000, maxAgeMs: DAY };

const entry = (msg: string, time: number, from = "alice"): NewEntry => ({
  msgId: `m-${msg}`,
  from,
  to: "bob",
  target: "",
  type: "text",
  msg,
  time,
});

const conn = (
  appId: number,
  userId: string,
  connId: string,
  at: number,
  nodeId = "n1",
): PresenceEntry => ({ appId, userId, connId, nodeId, since: at, heartbeatAt: at });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Register the store contract tests as `Deno.test` cases named `${name}: ...`. `make` is called
 * once per test and must return an empty store; `cleanup` runs even when the test fails.
 */
export function storeSuite(
  name: string,
  make: () => Promise<SuiteStore>,
  opts: SuiteOptions = {},
): void {
  const ignore = opts.ignore === undefined ? false : Boolean(opts.ignore);
  const reason = typeof opts.ignore === "string" ? ` (skipped: ${opts.ignore})` : "";
  const test = (title: string, fn: (s: SuiteStore, now: () => number) => Promise<void>) =>
    Deno.test({
      name: `${name}: ${title}${reason}`,
      ignore,
      fn: async () => {
        const s = await make();
        const now = () => s.clock?.now() ?? Date.now();
        try {
          await fn(s, now);
        } finally {
          await s.cleanup();
        }
      },
    });

  test("presence add/remove, windows, onlineUsers and userApps", async ({ store }, now) => {
    const t = now();
    await store.addPresence(conn(APP, "u1", "c1", t));
    await store.addPresence(conn(APP, "u1", "c2", t, "n2"));
    await store.addPresence(conn(APP, "u2", "c3", t - 100_000));
    await store.addPresence(conn(OTHER_APP, "u1", "c4", t));
    assert.deepEqual((await store.presence(APP, "u1", 60_000)).map((p) => p.connId).sort(), ["c1", "c2"]);
    const c2 = (await store.presence(APP, "u1", 60_000)).find((p) => p.connId === "c2")!;
    assert.equal(c2.nodeId, "n2");
    assert.equal(c2.userId, "u1");
    assert.equal(c2.appId, APP);
    // u2's heartbeat is outside the window: present but not online
    assert.deepEqual(await store.presence(APP, "u2", 60_000), []);
    assert.deepEqual((await store.onlineUsers(APP, 60_000)).sort(), ["u1"]);
    assert.deepEqual((await store.userApps("u1", 60_000)).sort(), [APP, OTHER_APP]);
    assert.deepEqual(await store.userApps("u2", 60_000), []);
    assert.deepEqual(await store.userApps("nobody", 60_000), []);
    assert.deepEqual(await store.presence(APP, "nobody", 60_000), []);
    // refresh brings u2 back into the window
    await store.refreshPresence("n1", [conn(APP, "u2", "c3", now())]);
    assert.deepEqual((await store.onlineUsers(APP, 60_000)).sort(), ["u1", "u2"]);
    // removing one of two connections keeps the user online; removing both does not
    await store.removePresence(APP, "u1", "c1");
    assert.deepEqual((await store.presence(APP, "u1", 60_000)).map((p) => p.connId), ["c2"]);
    assert.deepEqual((await store.onlineUsers(APP, 60_000)).sort(), ["u1", "u2"]);
    await store.removePresence(APP, "u1", "c2");
    assert.deepEqual(await store.onlineUsers(APP, 60_000), ["u2"]);
    assert.deepEqual(await store.userApps("u1", 60_000), [OTHER_APP]);
    // removing an unknown connection is harmless; re-adding a connection does not duplicate it
    await store.removePresence(APP, "u1", "c1");
    await store.addPresence(conn(APP, "u3", "c5", now()));
    await store.addPresence(conn(APP, "u3", "c5", now()));
    assert.equal((await store.presence(APP, "u3", 60_000)).length, 1);
    await store.removePresence(APP, "u3", "c5");
    assert.deepEqual(await store.presence(APP, "u3", 60_000), []);
    assert.deepEqual(await store.onlineUsers(APP, 60_000), ["u2"]);
  });

  test("append assigns 1,2,3 per (appId, userId), independently", async ({ store }, now) => {
    const seqs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await store.append(APP, "bob", entry(`b${i}`, now()), limits);
      const b = await store.append(APP, "carol", entry(`c${i}`, now()), limits);
      const c = await store.append(OTHER_APP, "bob", entry(`o${i}`, now()), limits);
      seqs.push(`${a.seq}${b.seq}${c.seq}`);
    }
    assert.deepEqual(seqs, ["111", "222", "333"]);
    const got = await store.append(APP, "bob", entry("x", 1234), limits);
    assert.deepEqual(got, { ...entry("x", 1234), seq: 4 });
    // an empty, never-used inbox
    const head = await store.head(APP, "nobody", DAY);
    assert.equal(head.firstSeq, 1);
    assert.equal(head.lastSeq, 0);
    assert.deepEqual(await store.range(APP, "nobody", 0, 10, DAY), []);
    assert.deepEqual(await store.rangeBefore(APP, "nobody", 100, 10, DAY), []);
  });

  test("appendMany returns each user's seq in the order given", async ({ store }, now) => {
    await store.append(APP, "bob", entry("1", now()), limits);
    await store.append(APP, "bob", entry("2", now()), limits);
    await store.append(APP, "dave", entry("3", now()), limits);
    const seqs = await store.appendMany(APP, ["bob", "carol", "dave"], entry("r", now()), limits);
    assert.deepEqual(seqs, [3, 1, 2]);
    for (const [user, seq] of [["bob", 3], ["carol", 1], ["dave", 2]] as const) {
      const [e] = await store.range(APP, user, seq - 1, 10, DAY);
      assert.equal(e.msg, "r");
      assert.equal(e.seq, seq);
    }
    assert.deepEqual(await store.appendMany(APP, [], entry("none", now()), limits), []);
  });

  test("range and rangeBefore page forwards and backwards", async ({ store }, now) => {
    for (let i = 1; i <= 10; i++) await store.append(APP, "bob", entry(`${i}`, now()), limits);
    // forward pages of 4 cover 1..10 exactly once, oldest first
    const seen: number[] = [];
    for (let after = 0, n = 0; n < 10; n++) {
      const page = await store.range(APP, "bob", after, 4, DAY);
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.seq));
      after = page[page.length - 1].seq;
    }
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const page = await store.range(APP, "bob", 2, 3, DAY);
    assert.deepEqual(page.map((e) => [e.seq, e.msg]), [[3, "3"], [4, "4"], [5, "5"]]);
    assert.deepEqual(await store.range(APP, "bob", 10, 5, DAY), []);
    assert.deepEqual(await store.range(APP, "bob", 99, 5, DAY), []);
    // backward: newest first, strictly below `beforeSeq`
    assert.deepEqual((await store.rangeBefore(APP, "bob", 11, 3, DAY)).map((e) => e.seq), [10, 9, 8]);
    assert.deepEqual((await store.rangeBefore(APP, "bob", 4, 10, DAY)).map((e) => e.seq), [3, 2, 1]);
    assert.deepEqual((await store.rangeBefore(APP, "bob", 1, 10, DAY)).map((e) => e.seq), []);
    assert.deepEqual((await store.rangeBefore(APP, "bob", 1e9, 2, DAY)).map((e) => e.seq), [10, 9]);
    const back: number[] = [];
    for (let before = 1e9, n = 0; n < 10; n++) {
      const p = await store.rangeBefore(APP, "bob", before, 3, DAY);
      if (p.length === 0) break;
      back.push(...p.map((e) => e.seq));
      before = p[p.length - 1].seq;
    }
    assert.deepEqual(back, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  test("trim by maxEntries moves firstSeq; range skips trimmed entries", async ({ store }, now) => {
    const small = { ...limits, maxEntries: 3 };
    for (let i = 1; i <= 7; i++) await store.append(APP, "bob", entry(`${i}`, now()), small);
    const head = await store.head(APP, "bob", DAY);
    assert.equal(head.firstSeq, 5);
    assert.equal(head.lastSeq, 7);
    assert.deepEqual((await store.range(APP, "bob", 0, 10, DAY)).map((e) => e.seq), [5, 6, 7]);
    assert.deepEqual((await store.range(APP, "bob", 2, 10, DAY)).map((e) => e.seq), [5, 6, 7]);
    assert.deepEqual((await store.range(APP, "bob", 5, 10, DAY)).map((e) => e.seq), [6, 7]);
    assert.deepEqual((await store.rangeBefore(APP, "bob", 6, 10, DAY)).map((e) => e.seq), [5]);
    // seqs are never reused after trimming
    assert.equal((await store.append(APP, "bob", entry("8", now()), small)).seq, 8);
    // other inboxes are untouched
    await store.append(APP, "carol", entry("c", now()), small);
    assert.equal((await store.head(APP, "carol", DAY)).firstSeq, 1);
  });

  test("trim by age: old entries are excluded and firstSeq moves", async ({ store, clock }, now) => {
    const t = now();
    await store.append(APP, "bob", entry("old1", t - 2_000_000), limits);
    await store.append(APP, "bob", entry("old2", t - 1_500_000), limits);
    await store.append(APP, "bob", entry("new", t - 100_000), limits);
    // with a 1000 s bound the first two are gone for every reader
    assert.deepEqual((await store.range(APP, "bob", 0, 10, 1_000_000)).map((e) => e.msg), ["new"]);
    assert.deepEqual((await store.rangeBefore(APP, "bob", 10, 10, 1_000_000)).map((e) => e.msg), ["new"]);
    const head = await store.head(APP, "bob", 1_000_000);
    assert.deepEqual([head.firstSeq, head.lastSeq], [3, 3]);
    // everything ages out: the inbox is empty, firstSeq = lastSeq + 1, seqs go on
    const gone = await store.head(APP, "bob", 50_000);
    assert.deepEqual([gone.firstSeq, gone.lastSeq], [4, 3]);
    assert.deepEqual(await store.range(APP, "bob", 0, 10, 50_000), []);
    const fresh = await store.append(APP, "bob", entry("fresh", now()), limits);
    assert.equal(fresh.seq, 4);
    assert.deepEqual((await store.range(APP, "bob", 0, 10, 50_000)).map((e) => e.msg), ["fresh"]);
    if (clock) {
      // ages are measured on the store's clock
      clock.advance(200_000);
      assert.deepEqual(await store.range(APP, "bob", 0, 10, 150_000), []);
      const h = await store.head(APP, "bob", 150_000);
      assert.deepEqual([h.firstSeq, h.lastSeq], [5, 4]);
    }
  });

  test("head epoch is stable while the store lives", async ({ store }, now) => {
    const h1 = await store.head(APP, "bob", DAY);
    assert.equal(typeof h1.epoch, "string");
    assert.ok(h1.epoch.length > 0);
    await store.append(APP, "bob", entry("1", now()), limits);
    const h2 = await store.head(APP, "bob", DAY);
    const h3 = await store.head(APP, "carol", DAY);
    assert.equal(h2.epoch, h1.epoch);
    assert.equal(h3.epoch, h1.epoch);
    assert.deepEqual([h2.firstSeq, h2.lastSeq], [1, 1]);
  });

  test("advanceMark is monotonic and capped at the head", async ({ store }, now) => {
    for (let i = 1; i <= 8; i++) await store.append(APP, "bob", entry(`${i}`, now()), limits);
    assert.equal(await store.mark(APP, "bob", "ack"), 0);
    assert.deepEqual(await store.advanceMark(APP, "bob", "ack", 5), { previous: 0, current: 5 });
    assert.deepEqual(await store.advanceMark(APP, "bob", "ack", 3), { previous: 5, current: 5 });
    assert.deepEqual(await store.advanceMark(APP, "bob", "ack", 99), { previous: 5, current: 8 });
    assert.equal(await store.mark(APP, "bob", "ack"), 8);
    // marks are independent of each other and of other users
    assert.equal(await store.mark(APP, "bob", "read"), 0);
    assert.deepEqual(await store.advanceMark(APP, "bob", "read", 2), { previous: 0, current: 2 });
    assert.equal(await store.mark(APP, "bob", "ack"), 8);
    assert.equal(await store.mark(APP, "carol", "read"), 0);
    // an empty inbox caps every mark at 0
    assert.deepEqual(await store.advanceMark(APP, "carol", "read", 4), { previous: 0, current: 0 });
  });

  test("claim, putClaim, dropClaim and TTL expiry", async ({ store, clock }) => {
    assert.equal(await store.claim("k1", "", 60_000), null);
    assert.equal(await store.claim("k1", "other", 60_000), "");
    await store.putClaim("k1", '{"seq":3}', 60_000);
    assert.equal(await store.claim("k1", "", 60_000), '{"seq":3}');
    await store.dropClaim("k1");
    assert.equal(await store.claim("k1", "x", 60_000), null);
    assert.equal(await store.claim("k1", "y", 60_000), "x");
    await store.dropClaim("never-claimed");
    // keys are independent
    assert.equal(await store.claim("k2", "z", 60_000), null);
    // TTL: the claim holds now and is gone after the TTL (fake clock advanced and real time waited)
    assert.equal(await store.claim("ttl", "a", 1000), null);
    await store.putClaim("ttl2", "b", 1000);
    assert.equal(await store.claim("ttl", "c", 1000), "a");
    assert.equal(await store.claim("ttl2", "c", 1000), "b");
    clock?.advance(5_000);
    await sleep(1100);
    assert.equal(await store.claim("ttl", "d", 60_000), null);
    assert.equal(await store.claim("ttl2", "e", 60_000), null);
    assert.equal(await store.claim("k1", "w", 60_000), "x");
  });

  test("joinRoom limits, leaveRoom, roomMembers and userRooms", async ({ store }) => {
    assert.equal(await store.joinRoom(APP, "r1", "a", 2, 2), "joined");
    assert.equal(await store.joinRoom(APP, "r1", "a", 2, 2), "already");
    assert.equal(await store.joinRoom(APP, "r1", "b", 2, 2), "joined");
    assert.equal(await store.joinRoom(APP, "r1", "c", 2, 2), "roomFull");
    assert.equal(await store.joinRoom(APP, "r2", "a", 2, 2), "joined");
    assert.equal(await store.joinRoom(APP, "r3", "a", 2, 2), "tooManyRooms");
    // "already" wins over the limits (re-joining a full room you are in is not an error)
    assert.equal(await store.joinRoom(APP, "r1", "a", 2, 2), "already");
    assert.deepEqual((await store.roomMembers(APP, "r1")).sort(), ["a", "b"]);
    assert.deepEqual((await store.userRooms(APP, "a")).sort(), ["r1", "r2"]);
    assert.deepEqual(await store.roomMembers(APP, "nope"), []);
    assert.deepEqual(await store.userRooms(APP, "nobody"), []);
    // rooms are per app
    assert.deepEqual(await store.roomMembers(OTHER_APP, "r1"), []);
    assert.equal(await store.joinRoom(OTHER_APP, "r1", "c", 2, 2), "joined");
    assert.deepEqual(await store.roomMembers(APP, "r1").then((m) => m.sort()), ["a", "b"]);
    // leaving frees both limits
    assert.equal(await store.leaveRoom(APP, "r1", "a"), true);
    assert.equal(await store.leaveRoom(APP, "r1", "a"), false);
    assert.equal(await store.leaveRoom(APP, "nope", "a"), false);
    assert.deepEqual(await store.roomMembers(APP, "r1"), ["b"]);
    assert.deepEqual(await store.userRooms(APP, "a"), ["r2"]);
    assert.equal(await store.joinRoom(APP, "r3", "a", 2, 2), "joined");
    assert.equal(await store.joinRoom(APP, "r1", "c", 2, 2), "joined");
    // the last member leaving empties the room
    assert.equal(await store.leaveRoom(APP, "r2", "a"), true);
    assert.deepEqual(await store.roomMembers(APP, "r2"), []);
  });

  test("200 parallel appends to one inbox get seqs 1..200 exactly", async ({ store }, now) => {
    const t = now();
    const got = await Promise.all(
      Array.from({ length: 200 }, (_, i) => store.append(APP, "bob", entry(`p${i}`, t), limits)),
    );
    const seqs = got.map((e) => e.seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i + 1));
    // and the stored order matches the seqs (each msg is where its seq says)
    const stored = await store.range(APP, "bob", 0, 500, DAY);
    assert.equal(stored.length, 200);
    const bySeq = new Map(got.map((e) => [e.seq, e.msg]));
    for (const e of stored) assert.equal(e.msg, bySeq.get(e.seq));
    // parallel appendMany to overlapping inboxes stays gap-free per inbox
    const many = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) => store.appendMany(APP, ["bob", "carol"], entry(`m${i}`, t), limits),
      ),
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
