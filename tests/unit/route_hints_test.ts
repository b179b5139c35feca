import assert from "node:assert/strict";
import { MAX_HINTS, RouteHints } from "../../src/cluster/route_hints.ts";

Deno.test("route hints: taken once, per (app, user, seq)", () => {
  const hints = new RouteHints();
  hints.remember(101, "bob", 7, ["n2", "n3"]);
  hints.remember(101, "bob", 8, []);
  hints.remember(102, "bob", 7, ["n4"]);
  assert.deepEqual(hints.take(101, "bob", 7), ["n2", "n3"]);
  assert.equal(hints.take(101, "bob", 7), undefined, "a hint is used once");
  assert.deepEqual(hints.take(101, "bob", 8), [], "no other node: nothing to publish, still a hint");
  assert.deepEqual(hints.take(102, "bob", 7), ["n4"]);
  assert.equal(hints.take(101, "ann", 1), undefined);
  assert.equal(hints.size, 0);
});

Deno.test("route hints: one never taken is gone after two sweeps; a generation is capped", () => {
  const hints = new RouteHints();
  hints.remember(101, "bob", 1, ["n2"]);
  hints.sweep();
  assert.deepEqual(hints.take(101, "bob", 1), ["n2"], "still there after one sweep");
  hints.remember(101, "bob", 2, ["n2"]);
  hints.sweep();
  hints.sweep();
  assert.equal(hints.take(101, "bob", 2), undefined);
  for (let i = 0; i < MAX_HINTS * 3; i++) hints.remember(101, "u", i, []);
  assert(hints.size <= 2 * MAX_HINTS, `${hints.size} hints held`);
});
