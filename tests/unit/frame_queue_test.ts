/**
 * FrameQueue (transport/frame_queue.ts): a connection's frames run one at a time in arrival order, never
 * inside the push, within both bounds; a handler that throws does not stop the frames behind it.
 * @module
 */
import assert from "node:assert/strict";
import { FrameQueue } from "../../src/transport/frame_queue.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("frame queue: one at a time, in order, bounded by frames and bytes", async () => {
  const ran: string[] = [];
  let release: (() => void) | undefined;
  const q = new FrameQueue(3, 10, async (text) => {
    ran.push(`start ${text}`);
    if (text === "a") await new Promise<void>((r) => release = r);
    ran.push(`end ${text}`);
  });
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
  assert.deepEqual(ran, ["start a", "end a", "start bb", "end bb", "start ccc", "end ccc"]);
  assert.equal(q.length, 0);
  assert.equal(q.push("x".repeat(11)), false, "over maxBytes");
  assert.equal(q.push("x".repeat(10)), true);
  await tick();
  assert.equal(q.length, 0);
});

Deno.test("frame queue: a handler that throws does not stop the next frames", async () => {
  const ran: string[] = [];
  const q = new FrameQueue(10, 100, (text) => {
    ran.push(text);
    return text === "boom" ? Promise.reject(new Error("boom")) : Promise.resolve();
  });
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
