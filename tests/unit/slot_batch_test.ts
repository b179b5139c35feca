/**
 * SlotBatcher (store/redis/slot_batch.ts): on a cluster each slot batches on its own — a slot whose call
 * hangs holds back its own items only; on one Redis every item shares one batcher (slot 0).
 * @module
 */
import assert from "node:assert/strict";
import { SlotBatcher } from "../../src/store/redis/slot_batch.ts";
import { keySlot } from "../../src/store/redis/slots.ts";

Deno.test("slot batcher: a hung slot does not hold another slot's items", async () => {
  const [a, b] = ["{u1}", "{u2}"];
  assert.notEqual(keySlot(a), keySlot(b));
  let release: (() => void) | undefined;
  const calls: Array<[number, string[]]> = [];
  const batcher = new SlotBatcher<string, string>(true, (k) => k, async (items, slot) => {
    calls.push([slot, items]);
    if (items.includes(a)) await new Promise<void>((r) => release = r);
    return items.map((k) => `done ${k}`);
  });
  const stuck = batcher.push(a);
  const fine = await batcher.push(b);
  assert.equal(fine, "done {u2}");
  assert.deepEqual(calls.map(([slot]) => slot), [keySlot(a), keySlot(b)]);
  release!();
  assert.equal(await stuck, "done {u1}");
});

Deno.test("slot batcher: one Redis batches every item together (slot 0)", async () => {
  const calls: Array<[number, string[]]> = [];
  const batcher = new SlotBatcher<string, number>(false, (k) => k, (items, slot) => {
    calls.push([slot, items]);
    return Promise.resolve(items.map((k) => k.length));
  });
  assert.deepEqual(await Promise.all(["{u1}", "{u2}", "{x}"].map((k) => batcher.push(k))), [4, 4, 3]);
  assert.deepEqual(calls, [[0, ["{u1}", "{u2}", "{x}"]]]);
});
