/**
 * The SQLite store across restarts on a real file: seqs continue, the epoch holds, claims still
 * de-duplicate, rooms and marks stay, trimmed entries stay trimmed; a file the store cannot use is
 * refused with a reason; only what is durable is visible.
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Metrics } from "../../src/ops/metrics.ts";
import { StoreOpenError } from "../../src/store/sqlite/open.ts";
import { migrate, MIGRATIONS, SCHEMA_VERSION } from "../../src/store/sqlite/schema.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { SqliteStore } from "../../src/store/sqlite/store.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { testPolicy } from "../support/helpers.ts";
import { entry, tempDb } from "../support/sqlite_helper.ts";

Deno.test("sqlite restart: seqs, epoch, claims, rooms, marks and trims survive a close and reopen", async () => {
  const db = await tempDb(testPolicy({ inbox: { maxEntries: 5, maxAge: 3600, syncPageSize: 200 } }));
  try {
    const a = db.open();
    for (let i = 1; i <= 7; i++) await a.append(101, "bob", entry(`${i}`));
    await a.appendOnce(101, ["bob", "carol"], entry("keyed"));
    const before = await a.head(101, "bob");
    assert.deepEqual([before.firstSeq, before.lastSeq], [4, 8]);
    assert.equal(await a.claim("k1", "first"), null);
    assert.equal(await a.joinRoom(101, "r1", "bob"), "joined");
    await a.advanceMark(101, "bob", "ack", 6);
    await a.advanceMark(101, "bob", "read", 5);
    await a.maintain();
    await a.close();

    const b = db.open();
    const after = await b.head(101, "bob");
    assert.deepEqual(after, before, "same bounds and epoch after a restart");
    assert.deepEqual((await b.range(101, "bob", 0, 10)).map((e) => e.msg), ["4", "5", "6", "7", "keyed"]);
    assert.equal((await b.append(101, "bob", entry("9"))).seq, 9, "seqs continue");
    assert.deepEqual(await b.appendOnce(101, ["bob", "carol"], entry("keyed")), [
      { seq: 8, repeated: true },
      { seq: 1, repeated: true },
    ]);
    assert.equal(await b.claim("k1", "second"), "first", "the claim still de-duplicates");
    assert.deepEqual(await b.roomMembers(101, "r1"), ["bob"]);
    assert.deepEqual(await b.userRooms(101, "bob"), ["r1"]);
    assert.equal(await b.mark(101, "bob", "ack"), 6);
    assert.equal(await b.mark(101, "bob", "read"), 5);
    await b.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite restart: an inbox whose entries all aged out keeps its seq (the floor)", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const db = await tempDb(testPolicy({ inbox: { maxEntries: 100, maxAge: 10, syncPageSize: 200 } }));
  try {
    const a = db.open({ clock, isActive: () => true });
    for (let i = 1; i <= 3; i++) await a.append(101, "bob", entry(`${i}`, clock.now()));
    const epoch = (await a.head(101, "bob")).epoch;
    clock.advance(60_000);
    await a.maintain(); // rows deleted from the file; the connected user's inbox stays
    assert.deepEqual(a.inboxStats, { inboxes: 1, entries: 0, keptMessages: 0, working: 1 });
    await a.close();
    const b = db.open({ clock });
    const head = await b.head(101, "bob");
    assert.deepEqual(head, { firstSeq: 4, lastSeq: 3, epoch });
    assert.equal((await b.append(101, "bob", entry("4", clock.now()))).seq, 4);
    await b.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite restart: rows over the bound that a crash left behind are trimmed at load", async () => {
  const db = await tempDb(testPolicy());
  try {
    const a = db.open();
    await a.appendMany(101, Array.from({ length: 20 }, () => "bob"), entry("x"));
    await a.close();
    const b = db.open({ policy: testPolicy({ inbox: { maxEntries: 5, maxAge: 3600, syncPageSize: 200 } }) });
    assert.deepEqual(await b.head(101, "bob").then((h) => [h.firstSeq, h.lastSeq]), [16, 20]);
    await b.maintain();
    await b.close();
    const raw = new DatabaseSync(db.path);
    assert.equal((raw.prepare("SELECT count(*) AS n FROM entries").get() as { n: number }).n, 5);
    raw.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite open: a second store on the same file is refused (locked), the first keeps working", async () => {
  const db = await tempDb();
  try {
    const a = db.open();
    assert.throws(
      () => db.open(),
      (e) => e instanceof StoreOpenError && e.reason === "locked" && /cluster mode/.test(e.message),
    );
    assert.equal((await a.append(101, "bob", entry("1"))).seq, 1);
    await a.close();
    const b = db.open();
    assert.equal((await b.head(101, "bob")).lastSeq, 1);
    await b.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite open: a version-1 file is migrated forward in place: its entries stay, the IM tables work", async () => {
  const db = await tempDb();
  try {
    // A file as the first schema left it: an inbox of bob with two entries from alice.
    const v1 = new DatabaseSync(db.path);
    assert.deepEqual(migrate(v1, Date.now(), MIGRATIONS.slice(0, 1)), [1]);
    v1.exec("INSERT INTO inboxes (app, user) VALUES (101, 'bob')");
    const insert = v1.prepare("INSERT INTO entries (gen, seq, time, mid, body) VALUES (1, ?, ?, NULL, ?)");
    for (const seq of [1, 2]) insert.run(seq, Date.now(), JSON.stringify(entry(`${seq}`)));
    v1.close();
    const store = db.open();
    assert.deepEqual((await store.range(101, "bob", 0, 10)).map((e) => [e.seq, e.msg]), [[1, "1"], [2, "2"]]);
    await store.append(101, "bob", entry("3"));
    await store.setBlocked(101, "bob", "mallory", true);
    const convs = await store.conversations(101, "bob", 10);
    assert.equal(convs.items[0].last?.msgId, "m-3");
    await store.close();
    const file = new DatabaseSync(db.path);
    const versions = file.prepare("SELECT version FROM schema_version ORDER BY version").all().map((r) =>
      r.version
    );
    file.close();
    assert.deepEqual(versions, [1, 2, 3]);
    assert.equal(SCHEMA_VERSION, 3);
    const again = db.open();
    assert.deepEqual(await again.conversations(101, "bob", 10), convs);
    assert.deepEqual(await again.blockedUsers(101, "bob"), ["mallory"]);
    await again.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite open: a version-2 file's kept messages are found by the new index; a duplicate keeps its newest row", async () => {
  const db = await tempDb();
  try {
    const v2 = new DatabaseSync(db.path);
    assert.deepEqual(migrate(v2, Date.now(), MIGRATIONS.slice(0, 2)), [1, 2]);
    const insert = v2.prepare("INSERT INTO messages (app, msg_id, time, body) VALUES (?, ?, ?, ?)");
    const body = (msgId: string, msg: string) =>
      JSON.stringify({ msgId, from: "alice", to: "bob", target: "", type: "text", msg, time: Date.now() });
    insert.run(101, "m1", Date.now(), body("m1", "old copy"));
    insert.run(101, "m2", Date.now(), body("m2", "two"));
    insert.run(101, "m1", Date.now(), body("m1", "newest copy")); // version 2's map answered this row
    insert.run(202, "m1", Date.now(), body("m1", "other app"));
    v2.close();
    const store = db.open();
    const found = await store.messages(101, ["m1", "m2", "m3"]);
    assert.deepEqual([...found].map(([id, m]) => [id, m.msg]), [["m1", "newest copy"], ["m2", "two"]]);
    assert.equal((await store.messages(202, ["m1"])).get("m1")?.msg, "other app");
    await store.saveMessage(101, { ...found.get("m2")!, msg: "a retry" });
    assert.equal((await store.messages(101, ["m2"])).get("m2")?.msg, "two", "the first save wins");
    assert.equal(store.inboxStats.keptMessages, 3);
    await store.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite kept messages: aged ones are pruned in batches from the oldest; the count holds across a reopen", async () => {
  const db = await tempDb(testPolicy({ inbox: { maxEntries: 100, maxAge: 60, syncPageSize: 200 } }));
  const clock = new FakeClock(1_700_000_000_000);
  try {
    const a = db.open({ clock });
    const save = (i: number) =>
      a.saveMessage(101, {
        msgId: `m${i}`,
        from: "alice",
        to: "bob",
        target: "",
        type: "text",
        msg: `${i}`,
        time: clock.now(),
      });
    await Promise.all(Array.from({ length: 2500 }, (_, i) => save(i)));
    clock.advance(30_000);
    await Promise.all(Array.from({ length: 10 }, (_, i) => save(2500 + i)));
    assert.equal(a.inboxStats.keptMessages, 2510);
    clock.advance(31_000); // the first 2,500 are past maxAge (60 s), the last 10 are not
    assert.equal(
      (await a.messages(101, ["m0", "m2509"])).size,
      1,
      "an aged message is gone before the prune",
    );
    await a.maintain();
    await a.maintain();
    assert.equal(a.inboxStats.keptMessages, 10);
    await a.close();
    const b = db.open({ clock });
    assert.equal(b.inboxStats.keptMessages, 10);
    assert.equal((await b.messages(101, ["m2509"])).get("m2509")?.msg, "2509");
    await b.close();
    const raw = new DatabaseSync(db.path);
    assert.equal(Number((raw.prepare("SELECT count(*) AS n FROM messages").get() as { n: number }).n), 10);
    raw.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite open: a damaged IM row is refused like a damaged file (StoreOpenError corrupt)", async () => {
  const db = await tempDb();
  try {
    const store = db.open();
    await store.append(101, "bob", entry("1"));
    await store.close();
    const raw = new DatabaseSync(db.path);
    raw.exec("UPDATE conversations SET body = '{not json'");
    raw.close();
    assert.throws(() => db.open(), (e) => e instanceof StoreOpenError && e.reason === "corrupt");
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite open: garbage, another application's database and a newer schema are refused", async () => {
  const db = await tempDb();
  try {
    await Deno.writeFile(db.path, crypto.getRandomValues(new Uint8Array(8192)));
    assert.throws(() => db.open(), (e) => e instanceof StoreOpenError && e.reason === "corrupt");
    await Deno.remove(db.path);
    const other = new DatabaseSync(db.path);
    other.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
    other.close();
    assert.throws(() => db.open(), (e) => e instanceof StoreOpenError && e.reason === "foreign");
    await Deno.remove(db.path);
    await db.open().close();
    const newer = new DatabaseSync(db.path);
    newer.exec("INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', 0)");
    newer.close();
    assert.throws(() => db.open(), (e) => e instanceof StoreOpenError && e.reason === "newer");
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite sync full: an append resolves at commit (readable at once); synced() once on disk", async () => {
  const db = await tempDb();
  try {
    const store = db.open({ sync: "full" });
    assert.equal((await store.append(101, "bob", entry("1"))).seq, 1);
    // committed: every reader sees it, while its fdatasync is still in flight
    let synced = false;
    const durable = store.synced().then(() => synced = true);
    assert.equal((await store.head(101, "bob")).lastSeq, 1);
    assert.equal((await store.range(101, "bob", 0, 10)).length, 1);
    assert.equal(synced, false, "the sync started at the commit needs a turn of the event loop");
    await durable;
    assert.equal(synced, true);
    await store.synced(); // nothing new: resolves at once
    await store.close();
    const normal = db.open({ sync: "normal" });
    await normal.append(101, "bob", entry("2"));
    let immediate = false;
    const done = normal.synced().then(() => immediate = true);
    await Promise.resolve();
    assert.equal(immediate, true, "sync normal: nothing to wait for");
    await done;
    await normal.close();
  } finally {
    await db.dispose();
  }
});

/** A crash image of the open store: the database and WAL copied as they are (what a kill -9 leaves). */
async function crashImage(path: string, to: string): Promise<void> {
  await Deno.copyFile(path, to);
  await Deno.copyFile(`${path}-wal`, `${to}-wal`);
}

Deno.test("sqlite open: a crash across a reboot changes the epoch; a crash without one, or a clean stop, does not", async () => {
  const db = await tempDb();
  const boot = 1_790_000_000_000;
  try {
    const live = db.open({ bootTime: boot });
    await live.append(101, "bob", entry("1"));
    const epoch = (await live.head(101, "bob")).epoch;
    await crashImage(db.path, `${db.dir}/crash-a.db`);
    await crashImage(db.path, `${db.dir}/crash-b.db`);
    await live.close();
    const open = (path: string, bootTime: number) =>
      SqliteStore.open({ path, policy: testPolicy(), maintenanceMs: 0, bootTime });
    const sameBoot = open(`${db.dir}/crash-a.db`, boot + 2000);
    assert.equal(sameBoot.rebooted, false);
    assert.equal((await sameBoot.head(101, "bob")).epoch, epoch, "kill -9: the OS had every commit");
    await sameBoot.close();
    const afterReboot = open(`${db.dir}/crash-b.db`, boot + 600_000);
    assert.equal(afterReboot.rebooted, true);
    const head = await afterReboot.head(101, "bob");
    assert.notEqual(head.epoch, epoch, "commits not on disk may be gone: clients resync");
    assert.equal(head.lastSeq, 1, "what is on disk is kept");
    await afterReboot.close();
    const clean = open(db.path, boot + 600_000);
    assert.equal(clean.rebooted, false, "a clean stop lost nothing, whatever happened since");
    assert.equal((await clean.head(101, "bob")).epoch, epoch);
    await clean.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite open: SqliteStore.open creates the directory", async () => {
  const db = await tempDb();
  try {
    const store = SqliteStore.open({ path: `${db.dir}/a/b/im.db`, policy: testPolicy(), maintenanceMs: 0 });
    await store.close();
    assert.ok((await Deno.stat(`${db.dir}/a/b/im.db`)).isFile);
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite retention: the background deletes keep up with full inboxes trimming on every append", async () => {
  const db = await tempDb(testPolicy({ inbox: { maxEntries: 10, maxAge: 3600, syncPageSize: 200 } }));
  const metrics = new Metrics();
  try {
    const store = db.open({ maintenanceMs: 10, metrics, sync: "normal" });
    const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
    for (let i = 0; i < 2000; i++) await store.appendMany(101, users, entry(`${i}`));
    const pruned = () =>
      Number(metrics.render().match(/^im_store_pruned_rows_total\{kind="entries"\} (\d+)/m)?.[1]);
    for (let i = 0; i < 200 && pruned() < 19_900; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(pruned(), 19_900, "19,900 trimmed rows deleted within 4 s");
    assert.match(metrics.render(), /^im_store_pending_deletes 0$/m);
    await store.close();
    const raw = new DatabaseSync(db.path);
    assert.equal((raw.prepare("SELECT count(*) AS n FROM entries").get() as { n: number }).n, 100);
    raw.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite retention: superseded conversation versions, aged kept messages and room positions leave the file", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const db = await tempDb(testPolicy({ inbox: { maxEntries: 10, maxAge: 60, syncPageSize: 200 } }));
  const counts = () => {
    const raw = new DatabaseSync(db.path);
    const n = (table: string) =>
      Number((raw.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);
    const out = {
      conversations: n("conversations"),
      messages: n("messages"),
      positions: n("room_timeline"),
      heads: n("room_heads"),
    };
    raw.close();
    return out;
  };
  try {
    const store = db.open({ clock, sync: "normal" });
    // 3,000 messages alice → bob (one conversation: 2,999 superseded versions), each kept and in a room
    for (let i = 0; i < 3000; i++) {
      const e = entry(`${i}`, clock.now());
      await Promise.all([
        store.append(101, "bob", e),
        store.saveMessage(101, { ...e, msgId: e.msgId }),
        store.appendRoomTimeline(101, "lobby", e.msgId, e.time),
      ]);
    }
    await store.maintain();
    assert.equal(store.inboxStats.keptMessages, 3000);
    assert.equal((await store.roomTimeline(101, "lobby", Infinity, 100)).length, 10, "trimmed by count");
    const convs = await store.conversations(101, "bob", 10);
    await store.close();
    assert.deepEqual(counts(), { conversations: 1, messages: 3000, positions: 10, heads: 1 });
    const again = db.open({ clock });
    assert.deepEqual(await again.conversations(101, "bob", 10), convs);
    clock.advance(61_000);
    await again.maintain(); // one call drains the message backlog (not a batch per 10 s)
    assert.equal(again.inboxStats.keptMessages, 0);
    assert.deepEqual(await again.messages(101, ["m-2999"]), new Map());
    assert.deepEqual(await again.roomTimeline(101, "unknown-room", Infinity, 10), []);
    assert.equal(await again.appendRoomTimeline(101, "lobby", "m-new", clock.now()), 3001, "roomSeqs go on");
    await again.close();
    // bob's inbox aged out whole (not connected): its conversations went with it, as on the memory engine
    assert.deepEqual(counts(), { conversations: 0, messages: 0, positions: 1, heads: 1 });
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite retention: the summaries' working state of users not connected is let go and rebuilt on use", async () => {
  const db = await tempDb();
  try {
    const store = db.open({ isActive: (_app, user) => user === "u0" });
    for (let u = 0; u < 5; u++) {
      for (let i = 0; i < 3; i++) await store.append(101, `u${u}`, entry(`${u}-${i}`));
    }
    assert.equal(store.inboxStats.working, 5, "appends follow the summaries with a working state");
    const before = await store.conversations(101, "u3", 10);
    await store.maintain();
    assert.equal(store.inboxStats.working, 1, "only the connected user's is kept");
    // rebuilt from the file on use, with the same answers
    assert.deepEqual(await store.hiddenAmong(101, "u3", ["m-3-1"]), new Set());
    assert.deepEqual(await store.markRead(101, "u3", "u:alice", 2), [
      { id: "u:alice", previous: 0, readSeq: 2, unread: 1 },
    ]);
    assert.equal(store.inboxStats.working, 2);
    assert.equal(
      (await store.conversations(101, "u3", 10)).items[0].last?.msgId,
      before.items[0].last?.msgId,
    );
    await store.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite summaries: a message and its recall in one transaction after the working state was let go", async () => {
  const db = await tempDb();
  const memory = new MemoryStore({ policy: testPolicy(), pruneIntervalMs: 0 });
  try {
    const store = db.open();
    const both = [memory, store] as const;
    const first = [0, 1, 2].map((i) => entry(`${i}`));
    for (const s of both) for (const e of first) await s.append(101, "bob", e);
    await store.maintain(); // bob is not connected: his working state goes
    assert.equal(store.inboxStats.working, 0);
    // The same entries (and times) for both engines.
    const m9 = entry("9");
    const recall = { ...entry("r"), kind: "recall" as const, ref: "m-9", by: "alice" };
    const answers = await Promise.all(both.map(async (s) => {
      // submitted together: one transaction on SQLite
      const [, , read] = await Promise.all([
        s.append(101, "bob", m9),
        s.append(101, "bob", recall),
        s.markRead(101, "bob", "u:alice", 2),
      ]);
      return {
        read,
        convs: await s.conversations(101, "bob", 10),
        hidden: await s.hiddenAmong(101, "bob", ["m-9"]),
      };
    }));
    assert.deepEqual(answers[1], answers[0]);
    assert.equal(answers[0].convs.items[0].unread, 1, "m-2 unread; m-9 recalled does not count");
    await store.close();
  } finally {
    await memory.close();
    await db.dispose();
  }
});
