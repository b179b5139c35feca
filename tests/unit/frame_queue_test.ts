/**
 * FrameQueue (transport/frame_queue.ts): a connection's frames run one at a time in arrival order, never
 * inside the push, within both bounds, for the connection they were queued for; a handler that throws does not stop the frames behind it.
 * @module
 */
import assert from "node:assert/strict";
import { FrameQueue } from "../../src/transport/frame_queue.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("frame queue: one at a time, in order, bounded by frames and bytes", async () => {
  const ran: string[] = [];
  let release: (() => void) | undefined;
  const q = new FrameQueue({ maxFrames: 3, maxBytes: 10 }, {
    dispatch: async (conn: string, text: string) => {
      ran.push(`start ${text}`);
      if (text === "a") await new Promise<void>((r) => release = r);
      ran.push(`end ${conn} ${text}`);
    },
  }, "c1");
  assert.equal(q.push("a"), true);
  assert.deepEqual(ran, [], "the handler does not run inside push");
  assert.equal(q.push("bb"), true);
  assert.equal(q.push("ccc"), true);
  assert.equal(q.push("d"), false, "a fourth frame is over maxFrames");
  assert.equal(q.length, 3);
  await tick();
  assert.deepEqual(ran, ["start a"], "b waits for a");
  release!();
  await tick();
  assert.deepEqual(ran, ["start a", "end c1 a", "start bb", "end c1 bb", "start ccc", "end c1 ccc"]);
  assert.equal(q.length, 0);
  assert.equal(q.push("x".repeat(11)), false, "over maxBytes");
  assert.equal(q.push("x".repeat(10)), true);
  await tick();
  assert.equal(q.length, 0);
});

Deno.test("frame queue: a handler that throws does not stop the next frames", async () => {
  const ran: string[] = [];
  const q = new FrameQueue({ maxFrames: 10, maxBytes: 100 }, {
    dispatch: (_conn: null, text: string) => {
      ran.push(text);
      return text === "boom" ? Promise.reject(new Error("boom")) : Promise.resolve();
    },
  }, null);
  q.push("one");
  q.push("boom");
  q.push("two");
  await tick();
  assert.deepEqual(ran, ["one", "boom", "two"]);
  assert.equal(q.length, 0);
  assert.equal(q.push("three"), true);
  await tick();
  assert.deepEqual(ran, ["one", "boom", "two", "three"]);
});

Deno.test("frame queue: frames answered at once (no promise) and pending ones keep arrival order", async () => {
  const ran: string[] = [];
  let release: (() => void) | undefined;
  const q = new FrameQueue({ maxFrames: 10, maxBytes: 100 }, {
    dispatch: (_conn: null, text: string) => {
      ran.push(text);
      if (text === "throws") throw new Error("boom");
      if (text === "slow") return new Promise<void>((r) => release = r);
    },
  }, null);
  for (const text of ["a", "throws", "slow", "b", "c"]) assert.equal(q.push(text), true);
  assert.deepEqual(ran, [], "nothing runs inside push");
  await tick();
  assert.deepEqual(ran, ["a", "throws", "slow"], "b waits for the pending frame");
  assert.equal(q.length, 3);
  release!();
  await tick();
  assert.deepEqual(ran, ["a", "throws", "slow", "b", "c"]);
  assert.equal(q.length, 0);
  q.push("d");
  await tick();
  assert.deepEqual(ran.at(-1), "d");
});
