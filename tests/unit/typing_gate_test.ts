/**
 * The typing rate limit (src/messaging/typing_gate.ts): a start at most once per 2 s per (app, sender,
 * conversation), a stop only after a forwarded start, and memory bounded by expiry and by `maxEntries`.
 * @module
 */
import assert from "node:assert/strict";
import { TYPING_EXPIRES_MS, TypingGate } from "../../src/messaging/typing_gate.ts";
import { FakeClock } from "../../src/util/clock.ts";

Deno.test("typing gate: spam costs at most a start and a stop per 2 s; keys are separate", () => {
  const clock = new FakeClock(1_000_000);
  const gate = new TypingGate(clock);
  const forwarded: string[] = [];
  for (let ms = 0; ms < 4000; ms += 4) {
    const state = ms % 8 === 0 ? "start" : "stop";
    if (gate.admit(101, "alice", "u:bob", state)) forwarded.push(`${ms}:${state}`);
    clock.advance(4);
  }
  assert.deepEqual(forwarded, ["0:start", "4:stop", "2000:start", "2004:stop"]);
  assert.equal(gate.admit(101, "alice", "u:carol", "start"), true, "another conversation");
  assert.equal(gate.admit(102, "alice", "u:bob", "start"), true, "another app");
  assert.equal(gate.admit(101, "dave", "u:bob", "start"), true, "another sender");
  assert.equal(gate.admit(101, "dave", "u:bob", "start"), false);
});

Deno.test("typing gate: entries expire after 6 s and never exceed maxEntries", () => {
  const clock = new FakeClock(1_000_000);
  const gate = new TypingGate(clock, 1000);
  for (let i = 0; i < 5000; i++) {
    gate.admit(101, `u${i}`, "u:bob", "start");
    assert.ok(gate.size <= 1000);
  }
  assert.equal(gate.size, 1000);
  clock.advance(TYPING_EXPIRES_MS);
  gate.admit(101, "late", "u:bob", "stop"); // any call removes what expired
  assert.equal(gate.size, 0);
  // a steady 500 senders renewing every 2 s hold 500 entries, whatever the run time
  const steady = new TypingGate(clock);
  for (let round = 0; round < 30; round++) {
    for (let i = 0; i < 500; i++) steady.admit(101, `s${i}`, "r:lobby", "start");
    clock.advance(2000);
  }
  assert.equal(steady.size, 500);
});
