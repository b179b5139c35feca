/**
 * Room activity (src/admin/room_activity.ts): the apps view's "top rooms" — room messages over the last
 * one or two windows, bounded in rooms per app and in apps.
 * @module
 */
import assert from "node:assert/strict";
import { RoomActivity } from "../../src/admin/room_activity.ts";

Deno.test("RoomActivity: top rooms by messages in the current and the previous window", () => {
  let now = 0;
  const activity = new RoomActivity({ windowMs: 1000, now: () => now });
  for (let i = 0; i < 5; i++) activity.record(101, "busy");
  activity.record(101, "quiet");
  activity.record(102, "elsewhere", 3);
  assert.deepEqual(activity.top(101, 10), [{ room: "busy", messages: 5 }, { room: "quiet", messages: 1 }]);
  assert.deepEqual(activity.top(101, 1), [{ room: "busy", messages: 5 }]);
  assert.deepEqual(activity.apps().sort(), [101, 102]);
  now = 1500; // one window later: the previous window still counts
  activity.record(101, "quiet", 10);
  assert.deepEqual(activity.top(101, 10), [{ room: "quiet", messages: 11 }, { room: "busy", messages: 5 }]);
  now = 3500; // two windows later: nothing recent
  assert.deepEqual(activity.top(101, 10), []);
});

Deno.test("RoomActivity: bounded — rooms per app (the least active is replaced) and apps", () => {
  const activity = new RoomActivity({ maxRooms: 4, maxApps: 2, windowMs: 60_000, now: () => 0 });
  activity.record(101, "a", 10);
  activity.record(101, "b", 9);
  activity.record(101, "c", 8);
  activity.record(101, "d", 1);
  activity.record(101, "e", 2); // replaces d (the least active), inheriting its count: an upper bound
  const top = activity.top(101, 10);
  assert.equal(top.length, 4);
  assert.deepEqual(top.map((r) => r.room), ["a", "b", "c", "e"]);
  assert.equal(top[3].messages, 3);
  for (let i = 0; i < 1000; i++) activity.record(101, `room${i}`);
  assert.equal(activity.top(101, 100).length, 4);
  activity.record(102, "x");
  activity.record(103, "y"); // a third app is not tracked
  assert.deepEqual(activity.apps().sort(), [101, 102]);
  assert.deepEqual(activity.top(103, 10), []);
});
