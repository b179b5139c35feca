/**
 * The SQLite store's bounded caches give the same answers as the file once they let a room go: the room
 * cache (member lists and counts, tests/process/sqlite_heap_test.ts shows it bounded) and the room timelines
 * (read from the file).
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync, StatementSync } from "node:sqlite";
import { MemoryStore } from "../../src/store/memory.ts";
import { prepareImStatements } from "../../src/store/sqlite/im_statements.ts";
import { CACHED_MEMBERS, CACHED_ROOMS } from "../../src/store/sqlite/records.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { testPolicy } from "../support/helpers.ts";
import { tempDb } from "../support/sqlite_helper.ts";

Deno.test("sqlite room cache: a room it let go is read again — members, count and maxRoomMembers hold", async () => {
  const db = await tempDb(testPolicy({ limits: { maxRoomMembers: 3 } }));
  try {
    const store = db.open();
    assert.equal(await store.joinRoom(101, "big", "u1"), "joined");
    assert.equal(await store.joinRoom(101, "big", "u2"), "joined");
    assert.deepEqual((await store.roomMembers(101, "big")).sort(), ["u1", "u2"]);
    // push "big" out of the cache: more rooms used since than the cache holds
    for (let i = 0; i < CACHED_ROOMS + 10; i += 500) {
      await Promise.all(Array.from({ length: 500 }, async (_, k) => {
        await store.joinRoom(101, `other-${i + k}`, "x");
        await store.roomMembers(101, `other-${i + k}`);
      }));
    }
    assert.equal(await store.joinRoom(101, "big", "u3"), "joined", "counted from the file: 2 < 3");
    assert.equal(await store.joinRoom(101, "big", "u4"), "roomFull");
    assert.deepEqual((await store.roomMembers(101, "big")).sort(), ["u1", "u2", "u3"]);
    assert.equal(await store.leaveRoom(101, "big", "u1"), true);
    assert.deepEqual(
      (await store.roomMembers(101, "big")).sort(),
      ["u2", "u3"],
      "the list follows the leave",
    );
    assert.equal(await store.joinRoom(101, "big", "u4"), "joined");
    assert.equal(await store.joinRoom(101, "big", "u5"), "roomFull");
    await store.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite room cache: lists that grow through joins count against CACHED_MEMBERS too", async () => {
  // (review finding: the bound was checked only when a room entered the cache)
  const per = 10_000;
  const rooms = Math.ceil(CACHED_MEMBERS / per) + 2;
  const db = await tempDb(testPolicy({ limits: { maxRoomMembers: per } }));
  let listReads = 0;
  const all = StatementSync.prototype.all;
  StatementSync.prototype.all = function (this: StatementSync, ...args: unknown[]) {
    if (this.sourceSQL.startsWith("SELECT user FROM room_members")) listReads++;
    return (all as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof all;
  try {
    const store = db.open({ sync: "normal" });
    for (let r = 0; r < rooms; r++) {
      await store.joinRoom(101, `room${r}`, "u0");
      await store.roomMembers(101, `room${r}`); // cached with 1 member
    }
    for (let r = 0; r < rooms; r++) {
      await Promise.all(
        Array.from({ length: per - 1 }, (_, u) => store.joinRoom(101, `room${r}`, `u${u + 1}`)),
      );
    }
    const before = listReads;
    let listed = 0;
    for (let r = 0; r < rooms; r++) listed += (await store.roomMembers(101, `room${r}`)).length;
    assert.equal(listed, rooms * per, "every list is complete, cached or read again");
    assert.ok(
      listReads > before,
      `${listed} members served from the cache (bound ${CACHED_MEMBERS}), none let go`,
    );
    await store.close();
  } finally {
    StatementSync.prototype.all = all;
    await db.dispose();
  }
});

Deno.test("sqlite room timelines: like the memory engine after a lowered maxEntries, an aged retry, odd limits; the same across a prune", async () => {
  // (review findings on the timelines read from the file)
  const high = testPolicy({ inbox: { maxEntries: 10, maxAge: 60 } });
  const low = testPolicy({ inbox: { maxEntries: 3, maxAge: 60 } });
  const db = await tempDb(high);
  const t0 = 1_700_000_000_000;
  try {
    const a = db.open({ sync: "normal", clock: new FakeClock(t0) });
    for (let i = 1; i <= 10; i++) await a.appendRoomTimeline(101, "r", `m${i}`, t0);
    await a.close();
    const clock = new FakeClock(t0), memClock = new FakeClock(t0);
    const b = db.open({ sync: "normal", policy: low, clock });
    const mem = new MemoryStore({ policy: low, clock: memClock, pruneIntervalMs: 0 });
    for (let i = 1; i <= 10; i++) await mem.appendRoomTimeline(101, "r", `m${i}`, t0);
    const view = async (st: { roomTimeline: MemoryStore["roomTimeline"] }, before: number, limit: number) =>
      (await st.roomTimeline(101, "r", before, limit)).map((e) => [e.roomSeq, e.msgId]);
    // a retried msgId whose position is past the lowered window gets a new roomSeq, and shows
    assert.equal(
      await b.appendRoomTimeline(101, "r", "m2", t0),
      await mem.appendRoomTimeline(101, "r", "m2", t0),
    );
    assert.deepEqual(await view(b, Infinity, 10), await view(mem, Infinity, 10));
    // odd limits and bounds
    for (
      const [before, limit] of [[Infinity, 2.5], [Infinity, NaN], [NaN, 3], [1e300, 3], [11, 0], [11.5, 2]]
    ) {
      assert.deepEqual(
        await view(b, before, limit),
        await view(mem, before, limit),
        `before ${before}, limit ${limit}`,
      );
    }
    // a retried msgId whose position aged out gets a new roomSeq and shows, as on the memory engine
    for (const [st, c] of [[b, clock], [mem, memClock]] as const) {
      c.advance(61_000);
      await st.appendRoomTimeline(101, "r", "fresh", c.now());
    }
    assert.equal(
      await b.appendRoomTimeline(101, "r", "m9", clock.now()),
      await mem.appendRoomTimeline(101, "r", "m9", memClock.now()),
    );
    assert.deepEqual(await view(b, Infinity, 10), await view(mem, Infinity, 10));
    // a message stamped 30 s back (a clock step): its position ages by its own time, and the background
    // prune deletes by the same rule, so a page reads the same before and after maintenance
    clock.advance(1_000);
    await b.appendRoomTimeline(101, "r", "late", clock.now() - 30_000);
    await b.appendRoomTimeline(101, "r", "now", clock.now());
    clock.advance(45_000);
    const before = await view(b, Infinity, 10);
    assert.deepEqual(before.map(([, id]) => id), ["now", "m9"]); // maxEntries 3: m9, late (aged), now
    await b.maintain();
    assert.deepEqual(await view(b, Infinity, 10), before);
    await b.close();
    await mem.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite maintenance: the room positions' age prune finds aged rows through an index, not a table scan", async () => {
  // (it scanned room_timeline every 10 s: 60 ms per million positions on the event loop)
  const db = await tempDb();
  try {
    const store = db.open();
    await store.close();
    const raw = new DatabaseSync(db.path);
    const sql = prepareImStatements(raw).positionsAged.sourceSQL;
    const plan = raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(0).map((r) => String(r.detail));
    raw.close();
    assert.ok(plan.some((d) => d.includes("room_timeline_by_time")), plan.join(" | "));
    assert.ok(!plan.some((d) => /^SCAN room_timeline$/.test(d)), plan.join(" | "));
  } finally {
    await db.dispose();
  }
});
