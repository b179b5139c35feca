/**
 * The SQLite store's bounded caches give the same answers as the file once they let a room go: the room
 * cache (member lists and counts, tests/process/sqlite_heap_test.ts shows it bounded) and the room timelines
 * (read from the file).
 * @module
 */
import assert from "node:assert/strict";
import { CACHED_ROOMS } from "../../src/store/sqlite/records.ts";
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
