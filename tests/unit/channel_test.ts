import assert from "node:assert/strict";
import { Channel, ChannelClosedError } from "../../src/session/channel.ts";

/** Collect everything the channel yields until it ends. */
async function collect<T>(ch: Channel<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of ch) out.push(item);
  return out;
}

Deno.test("channel: items come out in FIFO order", async () => {
  const ch = new Channel<number>(100);
  for (let i = 0; i < 50; i++) await ch.send(i);
  ch.close();
  assert.deepEqual(await collect(ch), Array.from({ length: 50 }, (_, i) => i));
});

Deno.test("channel: FIFO holds across buffer compaction (> 1024 consumed)", async () => {
  const ch = new Channel<number>(3000);
  const consumer = collect(ch);
  for (let i = 0; i < 5000; i++) await ch.send(i);
  ch.close();
  const got = await consumer;
  assert.equal(got.length, 5000);
  assert.ok(got.every((v, i) => v === i));
});

Deno.test("channel: a consumer waiting on an empty channel wakes on send", async () => {
  const ch = new Channel<string>(1);
  const it = ch[Symbol.asyncIterator]();
  const next = it.next();
  await ch.send("a");
  assert.deepEqual(await next, { value: "a", done: false });
  ch.close();
  assert.deepEqual(await it.next(), { value: undefined, done: true });
});

Deno.test("channel: send awaits while full and resumes when an item is consumed", async () => {
  const ch = new Channel<number>(2);
  await ch.send(1);
  await ch.send(2);
  assert.equal(ch.size, 2);
  let third = false;
  const pending = ch.send(3).then(() => third = true);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(third, false, "send must wait while the channel is full");
  assert.equal(ch.size, 2);
  const it = ch[Symbol.asyncIterator]();
  assert.deepEqual(await it.next(), { value: 1, done: false });
  await pending;
  assert.equal(third, true);
  assert.equal(ch.size, 2);
  ch.close();
  assert.deepEqual((await it.next()).value, 2);
  assert.deepEqual((await it.next()).value, 3);
  assert.equal((await it.next()).done, true);
});

Deno.test("channel: several blocked senders resume in order", async () => {
  const ch = new Channel<number>(1);
  await ch.send(0);
  const sends = [1, 2, 3].map((n) => ch.send(n));
  const consumer = collect(ch);
  await Promise.all(sends);
  ch.close();
  assert.deepEqual(await consumer, [0, 1, 2, 3]);
});

Deno.test("channel: close ends iteration after the buffered items are drained", async () => {
  const ch = new Channel<number>(10);
  await ch.send(1);
  await ch.send(2);
  ch.close();
  assert.equal(ch.closed, true);
  assert.deepEqual(await collect(ch), [1, 2]);
});

Deno.test("channel: close wakes a consumer waiting on an empty channel", async () => {
  const ch = new Channel<number>(1);
  const consumer = collect(ch);
  await new Promise((r) => setTimeout(r, 5));
  ch.close();
  assert.deepEqual(await consumer, []);
});

Deno.test("channel: send after close rejects; blocked senders reject on close", async () => {
  const ch = new Channel<number>(1);
  await ch.send(1);
  const blocked = ch.send(2);
  ch.close();
  await assert.rejects(blocked, ChannelClosedError);
  await assert.rejects(ch.send(3), ChannelClosedError);
  ch.close(); // idempotent
  assert.deepEqual(await collect(ch), [1]);
});

Deno.test("channel: capacity must be an integer ≥ 1", () => {
  assert.throws(() => new Channel(0), RangeError);
  assert.throws(() => new Channel(1.5), RangeError);
  assert.equal(new Channel().size, 0);
});
