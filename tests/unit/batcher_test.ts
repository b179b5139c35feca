import assert from "node:assert/strict";
import { Batcher } from "../../src/store/redis/batcher.ts";

Deno.test("batcher: results by position, batches grow while one is in flight, errors reach every caller", async () => {
  const calls: number[][] = [];
  let release!: () => void;
  let gate = new Promise<void>((r) => release = r);
  const b = new Batcher<number, number>(
    async (xs) => {
      calls.push(xs);
      await gate;
      return xs.map((x) => x * 10);
    },
    3,
    1,
  );
  const first = [b.push(1), b.push(2)]; // same tick: one call
  await Promise.resolve();
  const later = [b.push(3), b.push(4), b.push(5), b.push(6)]; // wait for the in-flight call
  release();
  gate = Promise.resolve();
  assert.deepEqual(await Promise.all([...first, ...later]), [10, 20, 30, 40, 50, 60]);
  assert.deepEqual(calls, [[1, 2], [3, 4, 5], [6]]);

  const failing = new Batcher<number, number>(() => Promise.reject(new Error("down")));
  const results = await Promise.allSettled([failing.push(1), failing.push(2)]);
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
  const thrower = new Batcher<number, number>(() => {
    throw new Error("sync");
  });
  await assert.rejects(() => thrower.push(1), /sync/);
});
