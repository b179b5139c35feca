/**
 * The SQLite store when writes fail, on a real file: a tiny `PRAGMA max_page_count` is a full disk for
 * real, `PRAGMA query_only` a read-only database. Sends fail with StorageError, nothing is half
 * written, reads keep working, the failure is reported, and writes recover without a restart. Also the
 * online backup: taken while writing, it opens as a store with the data and a new epoch.
 * @module
 */
import assert from "node:assert/strict";
import { StorageError } from "../../src/protocol/errors.ts";
import { SqliteStore } from "../../src/store/sqlite/store.ts";
import { testPolicy } from "../support/helpers.ts";
import { entry, tempDb } from "../support/sqlite_helper.ts";

const pages = (store: SqliteStore) =>
  Number((store.pragma("page_count") as { page_count: number }).page_count);

Deno.test("sqlite faults: a full disk fails sends with StorageError, whole; reads work; recovery without restart", async () => {
  const db = await tempDb();
  const health: (string | undefined)[] = [];
  try {
    const store = db.open({ onHealth: (f) => health.push(f) });
    for (let i = 1; i <= 3; i++) await store.append(101, "bob", entry(`${i}`));
    store.pragma(`max_page_count = ${pages(store)}`);
    const big = { ...entry("big"), msg: "x".repeat(16_000) };
    const users = Array.from({ length: 300 }, (_, i) => `u${i}`);
    await assert.rejects(() => store.appendMany(101, users, big), StorageError);
    await assert.rejects(() => store.append(101, "bob", big), StorageError);
    assert.equal(store.failure, "disk full");
    assert.deepEqual(health, ["disk full"]);
    // nothing of the failed fan-out was kept: no inbox, no seq, no row
    assert.equal((await store.head(101, "bob")).lastSeq, 3);
    assert.deepEqual(await store.range(101, "u1", 0, 10), []);
    assert.deepEqual((await store.range(101, "bob", 0, 10)).map((e) => e.msg), ["1", "2", "3"]);
    // the disk frees up: the next write works and the failure clears by itself
    store.pragma("max_page_count = 1073741823");
    assert.equal((await store.append(101, "bob", big)).seq, 4);
    assert.equal(store.failure, undefined);
    assert.deepEqual(health, ["disk full", undefined]);
    await store.close();
    const again = db.open();
    assert.deepEqual((await again.range(101, "bob", 0, 10)).map((e) => e.seq), [1, 2, 3, 4]);
    assert.equal(again.inboxStats.inboxes, 1, "no inbox of the failed fan-out was created");
    await again.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite faults: a full disk leaves conversations, read positions, kept messages, timelines and blocks as committed", async () => {
  const db = await tempDb();
  try {
    const store = db.open();
    const m1 = entry("1");
    await store.append(101, "bob", m1);
    await store.append(101, "bob", entry("2"));
    await store.saveMessage(101, { ...m1, msgId: m1.msgId });
    assert.equal(await store.appendRoomTimeline(101, "lobby", "m-1", m1.time), 1);
    const before = await store.conversations(101, "bob", 10);
    assert.equal(before.items[0].unread, 2);
    store.pragma(`max_page_count = ${pages(store)}`);
    const big = (id: string) => ({ ...entry(id), msg: "x".repeat(16_000) });
    // each of these fails whole, and memory shows nothing of it
    await assert.rejects(() => store.append(101, "bob", big("3")), StorageError);
    await assert.rejects(
      () => store.append(101, "bob", { ...big("d"), kind: "delete", ref: "m-2", by: "bob" }),
      StorageError,
    );
    await assert.rejects(() => store.saveMessage(101, { ...big("4"), msgId: "m-4" }), StorageError);
    await assert.rejects(
      () => store.appendRoomTimeline(101, "lobby", "m-4".padEnd(16_000, "x"), 1),
      StorageError,
    );
    await assert.rejects(() => store.setBlocked(101, "bob", "x".repeat(16_000), true), StorageError);
    store.pragma("query_only = ON"); // a read position is a row too small for a full disk to refuse
    await assert.rejects(() => store.markRead(101, "bob", "u:alice", 2), StorageError);
    // a block and its undo in one failed transaction: the undos unwind newest first
    const both = [
      store.setBlocked(101, "bob", "mallory", true),
      store.setBlocked(101, "bob", "mallory", false),
    ];
    for (const r of await Promise.allSettled(both)) assert.equal(r.status, "rejected");
    store.pragma("query_only = OFF");
    assert.deepEqual(await store.conversations(101, "bob", 10), before);
    assert.equal(await store.unreadTotal(101, "bob"), 2);
    assert.deepEqual(await store.hiddenAmong(101, "bob", ["m-2"]), new Set());
    assert.deepEqual([...(await store.messages(101, ["m-1", "m-4"])).keys()], ["m-1"]);
    assert.deepEqual((await store.roomTimeline(101, "lobby", Infinity, 10)).map((p) => p.roomSeq), [1]);
    assert.deepEqual(await store.blockedUsers(101, "bob"), []);
    // room again: the same operations work, and survive a restart
    store.pragma("max_page_count = 1073741823");
    await store.append(101, "bob", { ...entry("d"), kind: "delete", ref: "m-2", by: "bob" });
    assert.deepEqual(await store.markRead(101, "bob", "u:alice", 3), [
      { id: "u:alice", previous: 0, readSeq: 3, unread: 0 },
    ]);
    assert.equal(await store.appendRoomTimeline(101, "lobby", "m-5", Date.now()), 2);
    assert.equal(await store.setBlocked(101, "bob", "mallory", true), true);
    const after = await store.conversations(101, "bob", 10);
    assert.equal(after.items[0].last?.msgId, "m-1", "the deleted last message gave way to the one before");
    await store.close();
    const again = db.open();
    assert.deepEqual(await again.conversations(101, "bob", 10), after);
    assert.deepEqual(await again.hiddenAmong(101, "bob", ["m-1", "m-2"]), new Set(["m-2"]));
    assert.deepEqual((await again.roomTimeline(101, "lobby", Infinity, 10)).map((p) => p.roomSeq), [2, 1]);
    assert.deepEqual(await again.blockedUsers(101, "bob"), ["mallory"]);
    await again.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite faults: the probe clears the failure with no traffic once the disk has room", async () => {
  const db = await tempDb();
  try {
    const store = db.open();
    await store.append(101, "bob", entry("1"));
    store.pragma(`max_page_count = ${pages(store)}`);
    await assert.rejects(() =>
      store.appendMany(101, ["a", "b", "c"], { ...entry("x"), msg: "y".repeat(20_000) })
    );
    assert.equal(store.failure, "disk full");
    store.pragma("max_page_count = 1073741823");
    for (let i = 0; i < 40 && store.failure; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(store.failure, undefined, "the probe write succeeded within 4 s");
    await store.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite faults: a read-only database fails every write kind with StorageError and recovers", async () => {
  const db = await tempDb();
  try {
    const store = db.open();
    await store.append(101, "bob", entry("1"));
    await store.joinRoom(101, "r", "bob");
    store.pragma("query_only = 1");
    for (
      const write of [
        () => store.append(101, "bob", entry("2")),
        () => store.appendOnce(101, ["bob"], entry("3")),
        () => store.claim("k", "v"),
        () => store.joinRoom(101, "r", "carol"),
        () => store.leaveRoom(101, "r", "bob"),
        () => store.advanceMark(101, "bob", "ack", 1),
        () => store.head(101, "newcomer"),
      ]
    ) await assert.rejects(write, StorageError);
    assert.equal(store.failure, "database is read-only");
    assert.deepEqual(await store.roomMembers(101, "r"), ["bob"]);
    assert.equal((await store.range(101, "bob", 0, 5)).length, 1);
    store.pragma("query_only = 0");
    assert.equal((await store.append(101, "bob", entry("2"))).seq, 2);
    assert.equal(store.failure, undefined);
    await store.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite backup: taken while writing, it restores every acknowledged entry, with a new epoch", async () => {
  const db = await tempDb();
  try {
    const store = db.open({ backupDir: `${db.dir}/backups` });
    const acked: number[] = [];
    for (let i = 0; i < 200; i++) acked.push((await store.append(101, "bob", entry(`${i}`))).seq);
    await store.joinRoom(101, "r", "bob");
    const epoch = (await store.head(101, "bob")).epoch;
    // writes keep coming while the copy is made
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 10_000; i++) await store.append(101, "carol", entry(`c${i}`));
    })();
    const result = await store.backup();
    writing = false;
    await writer;
    assert.match(result.path, /backups\/imserver-.*\.db$/);
    assert.equal(result.bytes, (await Deno.stat(result.path)).size);
    assert.ok(result.durationMs >= 0);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${db.dir}/backups`), (e) => e.name), [
      result.path.slice(result.path.lastIndexOf("/") + 1),
    ], "one self-contained file, no -wal, no .part");
    await store.close();
    const restored = SqliteStore.open({ path: result.path, policy: testPolicy(), maintenanceMs: 0 });
    const head = await restored.head(101, "bob");
    assert.equal(head.lastSeq, 200);
    assert.notEqual(head.epoch, epoch, "clients of the restored file resync");
    assert.equal(head.epoch.split(".")[1], epoch.split(".")[1], "only the deployment part changed");
    assert.deepEqual((await restored.range(101, "bob", 0, 500)).map((e) => e.seq), acked);
    assert.deepEqual(await restored.roomMembers(101, "r"), ["bob"]);
    await restored.close();
  } finally {
    await db.dispose();
  }
});

Deno.test("sqlite backup: only the newest store.backupKeep copies stay (a backup loop cannot fill the disk)", async () => {
  const db = await tempDb();
  try {
    const dir = `${db.dir}/backups`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/notes.txt`, "an operator's file"); // not a backup: never removed
    const store = db.open({ backupDir: dir, backupKeep: 3 });
    await store.append(101, "bob", entry("1"));
    const made: string[] = [];
    for (let i = 0; i < 6; i++) {
      made.push((await store.backup()).path.slice(dir.length + 1));
      await new Promise((r) => setTimeout(r, 2)); // distinct millisecond names
    }
    const left = (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort();
    assert.deepEqual(left, [...made.slice(-3), "notes.txt"].sort());
    await store.close();
  } finally {
    await db.dispose();
  }
});
