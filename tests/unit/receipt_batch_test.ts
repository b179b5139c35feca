/**
 * Receipt coalescing (src/messaging/receipt_batch.ts): receipts of one tick, and those that come while a send
 * is in flight, go out as one per sender and reader; read implies delivered; without coalescing each goes at
 * once; an add resolves only once the send carrying it is done (a `read` reply that awaits it means the
 * receipt is committed), and waits for no window.
 * @module
 */
import assert from "node:assert/strict";
import { type CoalescedReceipts, ReceiptBatch } from "../../src/messaging/receipt_batch.ts";

function batch(coalesce: boolean) {
  const sent: CoalescedReceipts[] = [];
  const errors: unknown[] = [];
  const b = new ReceiptBatch(coalesce, (r) => {
    sent.push(r);
    return Promise.resolve();
  }, (e) => errors.push(e));
  return { b, sent, errors };
}

const item = (kind: "read" | "delivered", msgIds: string[], extra = {}) => ({
  appId: 101,
  sender: "alice",
  by: "bob",
  kind,
  msgIds,
  time: 1,
  ...extra,
});

Deno.test("receipt batch: receipts of one tick go out as one per sender and reader; read implies delivered", async () => {
  const { b, sent } = batch(true);
  const added = [
    b.add(item("delivered", ["m1"])),
    b.add(item("delivered", ["m2"])),
    b.add(item("read", ["m1"], { upTo: 5, time: 2 })),
    b.add(item("read", ["m1", "m3"], { upTo: 7, time: 3 })),
    b.add(item("read", ["x"], { sender: "carol" })),
  ];
  assert.equal(b.size, 2);
  assert.equal(sent.length, 0, "nothing before the current microtask ends");
  await Promise.all(added);
  assert.equal(sent.length, 2, "every add resolves once its send went out");
  assert.deepEqual(sent.find((r) => r.sender === "alice"), {
    appId: 101,
    sender: "alice",
    by: "bob",
    delivered: ["m2"],
    read: ["m1", "m3"],
    upTo: 7,
    time: 3,
  });
  assert.deepEqual(sent.find((r) => r.sender === "carol")?.read, ["x"]);
  assert.equal(b.size, 0);
  await b.close();
});

Deno.test("receipt batch: receipts that come while a send is in flight leave together as the next send", async () => {
  let release!: () => void;
  let hold: Promise<void> | undefined = new Promise<void>((r) => release = r);
  const sent: string[][] = [];
  const b = new ReceiptBatch(true, async (r) => {
    if (hold) await hold;
    sent.push(r.read);
  }, () => {});
  const first = b.add(item("read", ["m1"]));
  await new Promise((r) => setTimeout(r, 5)); // the first send is under way, held by the store
  const later = [b.add(item("read", ["m2"])), b.add(item("read", ["m3"]))];
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(sent, [], "nothing finished while the store holds the first send");
  hold = undefined;
  release();
  await Promise.all([first, ...later]);
  assert.deepEqual(sent, [["m1"], ["m2", "m3"]]);
  await b.close();
});

Deno.test("receipt batch: without coalescing each goes at once; close sends what is pending", async () => {
  const now = batch(false);
  await now.b.add(item("read", ["m1"]));
  await now.b.add(item("read", ["m2"]));
  assert.deepEqual(now.sent.map((r) => r.read), [["m1"], ["m2"]]);
  await now.b.close();
  const later = batch(true);
  const added = later.b.add(item("delivered", ["m9"]));
  await later.b.close();
  await added;
  assert.deepEqual(later.sent.map((r) => r.delivered), [["m9"]]);
});

Deno.test("receipt batch: a send that fails is reported, the others still go", async () => {
  const errors: unknown[] = [];
  const sent: string[] = [];
  const b = new ReceiptBatch(false, (r) => {
    if (r.sender === "alice") return Promise.reject(new Error("store down"));
    sent.push(r.sender);
    return Promise.resolve();
  }, (e) => errors.push(e));
  await b.add(item("read", ["m1"]));
  await b.add(item("read", ["m2"], { sender: "carol" }));
  assert.deepEqual(sent, ["carol"]);
  assert.equal(errors.length, 1);
  await b.close();
});

Deno.test("receipt batch: add resolves after its receipt was sent, not when it was queued, and waits for no window", async () => {
  let release!: () => void;
  const store = new Promise<void>((r) => release = r);
  const sent: string[][] = [];
  const b = new ReceiptBatch(true, async (r) => {
    await store; // the inbox append of an offline sender, still running
    sent.push(r.read);
  }, () => {});
  let settled = false;
  const added = b.add(item("read", ["m1"])).then(() => settled = true);
  await new Promise((r) => setTimeout(r, 20)); // the send is under way
  assert.equal(settled, false, "not before the send finished");
  release();
  await added;
  assert.deepEqual(sent, [["m1"]]);
  // with nothing in flight, the next one goes at once: no timer is involved
  const start = performance.now();
  await b.add(item("read", ["m2"]));
  assert.deepEqual(sent, [["m1"], ["m2"]]);
  assert.ok(performance.now() - start < 1000);
  await b.close();
});

Deno.test("receipt batch: a slow send holds up only its own sender and reader, not the others' adds", async () => {
  let release!: () => void;
  const slow = new Promise<void>((r) => release = r);
  const sent: string[] = [];
  const b = new ReceiptBatch(true, async (r) => {
    if (r.sender === "slow") await slow; // e.g. an offline sender's inbox on a hung shard
    sent.push(r.sender);
  }, () => {});
  const held = b.add(item("read", ["m1"], { sender: "slow" }));
  await new Promise((r) => setTimeout(r, 5));
  await b.add(item("read", ["m2"], { sender: "carol", by: "dan" })); // resolves while "slow" is still held
  assert.deepEqual(sent, ["carol"]);
  release();
  await held;
  assert.deepEqual(sent, ["carol", "slow"]);
  await b.close();
});
