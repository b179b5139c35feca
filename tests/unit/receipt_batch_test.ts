/**
 * Receipt coalescing (src/messaging/receipt_batch.ts): one receipt per sender and reader per window, read
 * implies delivered, a 0 window sends at once, close sends what is pending, an add resolves only once the
 * window carrying it has been sent (a `read` reply that awaits it means the receipt is committed).
 * @module
 */
import assert from "node:assert/strict";
import { type CoalescedReceipts, ReceiptBatch } from "../../src/messaging/receipt_batch.ts";

function batch(windowMs: number) {
  const sent: CoalescedReceipts[] = [];
  const errors: unknown[] = [];
  const b = new ReceiptBatch(windowMs, (r) => {
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

Deno.test("receipt batch: receipts within the window go out as one; read implies delivered", async () => {
  const { b, sent } = batch(20);
  const added = [
    b.add(item("delivered", ["m1"])),
    b.add(item("delivered", ["m2"])),
    b.add(item("read", ["m1"], { upTo: 5, time: 2 })),
    b.add(item("read", ["m1", "m3"], { upTo: 7, time: 3 })),
    b.add(item("read", ["x"], { sender: "carol" })),
  ];
  assert.equal(b.size, 2);
  assert.equal(sent.length, 0, "nothing before the window closes");
  await Promise.all(added);
  assert.equal(sent.length, 2, "every add resolves once its window went out");
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

Deno.test("receipt batch: a 0 window sends each at once; close sends what is pending", async () => {
  const now = batch(0);
  await now.b.add(item("read", ["m1"]));
  assert.equal(now.sent.length, 1);
  await now.b.close();
  const later = batch(60_000);
  const added = later.b.add(item("delivered", ["m9"]));
  await later.b.close();
  await added;
  assert.deepEqual(later.sent.map((r) => r.delivered), [["m9"]]);
});

Deno.test("receipt batch: a send that fails is reported, the others still go", async () => {
  const errors: unknown[] = [];
  const sent: string[] = [];
  const b = new ReceiptBatch(0, (r) => {
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

Deno.test("receipt batch: add resolves after its receipt was sent, not when it was queued", async () => {
  let release!: () => void;
  const store = new Promise<void>((r) => release = r);
  const sent: string[][] = [];
  const b = new ReceiptBatch(10, async (r) => {
    await store; // the inbox append of an offline sender, still running
    sent.push(r.read);
  }, () => {});
  let settled = false;
  const added = b.add(item("read", ["m1"])).then(() => settled = true);
  await new Promise((r) => setTimeout(r, 40)); // the window closed, the send is under way
  assert.equal(settled, false, "not before the send finished");
  release();
  await added;
  assert.deepEqual(sent, [["m1"]]);
  // a second window gets a promise of its own
  const again = b.add(item("read", ["m2"]));
  await again;
  assert.deepEqual(sent, [["m1"], ["m2"]]);
  await b.close();
});
