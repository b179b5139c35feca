/**
 * BlockSets: block, unblock, repeat, and who blocked a sender, per app.
 * @module
 */
import assert from "node:assert/strict";
import { BlockSets } from "../../src/store/block_sets.ts";

Deno.test("block sets: a change reports whether it changed; lookups are per app", () => {
  const b = new BlockSets();
  assert.equal(b.set(101, "bob", "mallory", true), true);
  assert.equal(b.set(101, "bob", "mallory", true), false, "blocking twice changes nothing");
  assert.equal(b.set(101, "carol", "mallory", true), true);
  assert.deepEqual(b.blocked(101, "bob"), ["mallory"]);
  assert.deepEqual(b.blockersOf(101, "mallory", ["bob", "carol", "dave"]), new Set(["bob", "carol"]));
  assert.deepEqual(b.blockersOf(102, "mallory", ["bob"]), new Set(), "another app");
  assert.equal(b.set(101, "bob", "mallory", false), true);
  assert.equal(b.set(101, "bob", "mallory", false), false, "unblocking twice changes nothing");
  assert.deepEqual(b.blocked(101, "bob"), []);
});
