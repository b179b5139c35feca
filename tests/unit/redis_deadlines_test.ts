/**
 * Deadlines (store/redis/link_common.ts): a command without a reply fails after its timeout (between 1 and
 * 1.25 ×), one that answers keeps its outcome, and no timer is left once nothing is pending.
 * @module
 */
import assert from "node:assert/strict";
import { Deadlines, RedisTimeoutError } from "../../src/store/redis/link_common.ts";

Deno.test("redis deadlines: an unanswered command fails after the timeout, answered ones keep their outcome", async () => {
  const deadlines = new Deadlines(200);
  const never = new Promise<string>(() => {});
  const t0 = Date.now();
  const [hung, answered, failed] = await Promise.allSettled([
    deadlines.run(never),
    deadlines.run(Promise.resolve("OK")),
    deadlines.run(Promise.reject(new Error("WRONGTYPE"))),
  ]);
  const ms = Date.now() - t0;
  assert.equal(hung.status, "rejected");
  assert.ok((hung as PromiseRejectedResult).reason instanceof RedisTimeoutError);
  assert.ok(ms >= 190 && ms < 600, `timed out after ${ms} ms (timeout 200)`);
  assert.deepEqual(answered, { status: "fulfilled", value: "OK" });
  assert.equal((failed as PromiseRejectedResult).reason.message, "WRONGTYPE");
  // the ticker stopped by itself (the test's op sanitizer fails on a leftover interval)
});

Deno.test("redis deadlines: a slow reply within the timeout is not cut short", async () => {
  const deadlines = new Deadlines(300);
  const slow = new Promise<number>((resolve) => setTimeout(() => resolve(7), 150));
  assert.equal(await deadlines.run(slow), 7);
  await new Promise((r) => setTimeout(r, 350)); // the ticker runs out and stops
  deadlines.close();
});

Deno.test("redis deadlines: a slow Redis that keeps answering is not hung; silence fails what is overdue", async () => {
  const deadlines = new Deadlines(100);
  let release: (v: string) => void = () => {};
  const slow = deadlines.run(new Promise<string>((r) => release = r));
  // other commands keep being answered for 300 ms (3 × the timeout): the slow one waits its turn
  for (let i = 0; i < 15; i++) {
    await deadlines.run(new Promise((r) => setTimeout(r, 20)));
  }
  release("late");
  assert.equal(await slow, "late");
  // then silence: a pending command fails after the timeout
  const t0 = Date.now();
  await assert.rejects(deadlines.run(new Promise(() => {})), RedisTimeoutError);
  assert.ok(Date.now() - t0 < 400);
});
