/**
 * The delivery state of one connection (src/session/delivery.ts) against a real memory store and a fake
 * socket: own sends, gaps at the end of a replay, holes the store cannot fill, rewinds, the byte budget
 * and stalled peers.
 * @module
 */
import assert from "node:assert/strict";
import { Pushes } from "../../src/protocol/pushes.ts";
import {
  Delivery,
  type DeliveryPolicy,
  type DeliverySink,
  type InboxSource,
} from "../../src/session/delivery.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import type { InboxEntry, NewEntry } from "../../src/store/store.ts";
import { systemClock } from "../../src/util/clock.ts";
import { testPolicy } from "../support/helpers.ts";

/** A socket that records what it was sent; `buffered` can be set to fake a peer that does not read. */
class FakeSink implements DeliverySink {
  open = true;
  buffered = 0;
  readonly sent: string[] = [];
  /** When the delivery called `stalled()`. */
  readonly stalls: number[] = [];
  /** Refuse frames, as Connection.send does over the send buffer cap (it then closes with 4004). */
  refuse = false;
  send(text: string): boolean {
    if (this.refuse) return false;
    this.sent.push(text);
    return true;
  }
  stalled(): void {
    this.stalls.push(Date.now());
  }
  /** msgIds of the msg pushes sent, in order. */
  get msgIds(): string[] {
    return this.sent.map((t) => JSON.parse(t)).filter((f) => f.cmd === "msg").map((f) =>
      f.response.data.msgId
    );
  }
}

const entry = (msgId: string): NewEntry => ({
  msgId,
  from: "alice",
  to: "bob",
  target: "",
  type: "text",
  msg: msgId,
  time: Date.now(),
});

/**
 * An inbox source from a reader of (afterSeq, limit), whatever the user asked for; no message was edited,
 * recalled or blocked.
 */
const source = (read: (after: number, n: number) => Promise<InboxEntry[]>): InboxSource => ({
  range: (_appId, _userId, after, n) => read(after, n),
  messages: () => Promise.resolve(new Map()),
  blockedUsers: () => Promise.resolve([]),
});

function setup(options: Partial<DeliveryPolicy<FakeSink>> = {}) {
  const store = new MemoryStore({ policy: testPolicy(), pruneIntervalMs: 0 });
  const sink = new FakeSink();
  const delivery = new Delivery(sink, {
    pageSize: 200,
    maxBytes: 1 << 20,
    stallTimeoutMs: 60_000,
    clock: systemClock,
    pushes: new Pushes(),
    ...options,
  });
  const frame = (e: InboxEntry) =>
    JSON.stringify({ cmd: "msg", response: { data: { msgId: e.msgId, seq: e.seq } } });
  return { store, sink, delivery, frame, stalls: sink.stalls };
}

Deno.test("delivery: a replay passes the connection's own in-flight send (it gets the reply, not a push)", async () => {
  const { store, sink, delivery, frame } = setup();
  // bob's own send is appended to his inbox (seq 2) before its live delivery reaches this connection;
  // a replay running meanwhile reads it from the store and must not push it
  delivery.open(store, 101, "bob", 0);
  delivery.expectOwn("own-1");
  for (const id of ["other-1", "own-1", "other-2"]) await store.append(101, "bob", entry(id));
  const replay = delivery.replay();
  await new Promise((r) => setTimeout(r, 20));
  // the own entry is passed; what follows waits for the reply carrying its seq
  assert.equal(delivery.position, 2);
  assert.deepEqual(sink.msgIds, ["other-1"]);
  delivery.replied("own-1");
  const result = await replay;
  assert.equal(delivery.position, 3);
  assert.equal(result.lost, 0);
  assert.deepEqual(sink.msgIds, ["other-1", "other-2"]);
  // the late live delivery of the own copy is then a no-op; a later entry is pushed as usual
  assert.equal(delivery.deliver({ seq: 2, msgId: "own-1" }, undefined), "duplicate");
  const next = await store.append(101, "bob", entry("other-3"));
  assert.equal(delivery.deliver(next, frame(next)), "sent");
  assert.deepEqual(sink.msgIds, ["other-1", "other-2", "other-3"]);
  delivery.stop();
});

Deno.test("delivery: passed(seq) waits until every earlier entry was pushed (a reply's safe resume point)", async () => {
  const { store, sink, delivery, frame } = setup();
  delivery.open(store, 101, "bob", 0);
  await delivery.replay();
  // others' entries 1 and 2 are appended, then bob's own send (3); its live copy arrives first: a gap
  const e1 = await store.append(101, "bob", entry("other-1"));
  const e2 = await store.append(101, "bob", entry("other-2"));
  delivery.expectOwn("own-3");
  const own = await store.append(101, "bob", entry("own-3"));
  let replied: string | false = false;
  const reply = delivery.passed(own.seq).then(() => replied = sink.msgIds.join(","));
  assert.equal(delivery.deliver(own, undefined), "gap");
  assert.equal(replied, false, "not before 1 and 2 were pushed");
  delivery.deliver(e1, frame(e1));
  delivery.deliver(e2, frame(e2));
  await reply;
  assert.equal(replied, "other-1,other-2");
  assert.equal(delivery.position, 3);
  await delivery.passed(2); // already passed: immediate
  // a wait that cannot be met ends with the delivery
  const never = delivery.passed(99);
  delivery.stop();
  await never;
});

Deno.test("delivery: no entry after the connection's own is sent before its reply (or failure) is reported", async () => {
  const { store, sink, delivery, frame } = setup();
  delivery.open(store, 101, "bob", 0);
  await delivery.replay();
  // bob's send (own-1, seq 1) is passed; its reply waits for the disk while others' entries 2, 3 arrive
  delivery.expectOwn("own-1");
  const own = await store.append(101, "bob", entry("own-1"));
  assert.equal(delivery.deliver(own, undefined), "sent");
  const e2 = await store.append(101, "bob", entry("other-2"));
  const e3 = await store.append(101, "bob", entry("other-3"));
  assert.equal(delivery.deliver(e2, frame(e2)), "queued");
  assert.equal(delivery.deliver(e3, frame(e3)), "queued");
  assert.deepEqual(sink.msgIds, []);
  assert.equal(delivery.position, 1);
  delivery.replied("own-1"); // the reply with senderSeq 1 was written: released in order, no store read
  assert.deepEqual(sink.msgIds, ["other-2", "other-3"]);
  assert.equal(delivery.position, 3);
  assert.equal(delivery.replaying, false);

  // two sends in flight: each own entry holds back what follows it until its own reply
  delivery.expectOwn("own-4");
  delivery.expectOwn("own-5");
  const o4 = await store.append(101, "bob", entry("own-4"));
  const o5 = await store.append(101, "bob", entry("own-5"));
  const e6 = await store.append(101, "bob", entry("other-6"));
  delivery.deliver(o4, undefined);
  delivery.deliver(o5, undefined);
  delivery.deliver(e6, frame(e6));
  assert.equal(delivery.position, 4);
  delivery.replied("own-4");
  assert.equal(delivery.position, 5, "own-5 is passed once own-4's reply is out");
  assert.deepEqual(sink.msgIds, ["other-2", "other-3"]);
  delivery.replied("own-5"); // e.g. the send failed after its copy was passed
  assert.deepEqual(sink.msgIds, ["other-2", "other-3", "other-6"]);

  // a hole behind the held entry is read from the store once released; a send that failed before its
  // append (never passed) holds nothing
  delivery.expectOwn("own-7");
  const o7 = await store.append(101, "bob", entry("own-7"));
  delivery.deliver(o7, undefined);
  await store.append(101, "bob", entry("other-8")); // its live delivery is lost
  const e9 = await store.append(101, "bob", entry("other-9"));
  delivery.deliver(e9, frame(e9));
  delivery.expectOwn("failed");
  delivery.replied("failed");
  assert.equal(delivery.position, 7);
  delivery.replied("own-7");
  await delivery.replay();
  assert.deepEqual(sink.msgIds.slice(-2), ["other-8", "other-9"]);
  assert.equal(delivery.position, 9);
  delivery.stop();
});

Deno.test("delivery: a reply never reported releases the held entries after stallTimeoutMs", async () => {
  const { store, sink, delivery, frame } = setup({ stallTimeoutMs: 50 });
  delivery.open(store, 101, "bob", 0);
  await delivery.replay();
  delivery.expectOwn("own-1");
  const own = await store.append(101, "bob", entry("own-1"));
  delivery.deliver(own, undefined);
  const e2 = await store.append(101, "bob", entry("other-2"));
  delivery.deliver(e2, frame(e2));
  assert.deepEqual(sink.msgIds, []);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(sink.msgIds, ["other-2"]);
  delivery.stop();
});

Deno.test("delivery: the released barrier leaves no timer behind (no stop needed for the sanitizer)", async () => {
  const { store, sink, delivery, frame } = setup({ stallTimeoutMs: 60_000 });
  delivery.open(store, 101, "bob", 0);
  await delivery.replay();
  delivery.expectOwn("own-1");
  delivery.deliver(await store.append(101, "bob", entry("own-1")), undefined);
  const e2 = await store.append(101, "bob", entry("other-2"));
  delivery.deliver(e2, frame(e2)); // waits behind own-1: the safety timer is armed
  delivery.replied("own-1");
  assert.deepEqual(sink.msgIds, ["other-2"]);
  // no delivery.stop(): a timer still pending here fails the test (sanitizeOps)
});

Deno.test("delivery: a frame the socket refused does not count as delivered (the user's mark stays before it)", async () => {
  const { store, sink, delivery, frame } = setup();
  delivery.open(store, 101, "bob", 0);
  await delivery.replay();
  const e1 = await store.append(101, "bob", entry("m1"));
  delivery.deliver(e1, frame(e1));
  sink.refuse = true; // over the send buffer cap: the connection closes as a slow consumer
  const e2 = await store.append(101, "bob", entry("m2"));
  delivery.deliver(e2, frame(e2));
  sink.refuse = false;
  const e3 = await store.append(101, "bob", entry("m3"));
  delivery.deliver(e3, frame(e3));
  assert.deepEqual(sink.msgIds, ["m1", "m3"]);
  assert.equal(delivery.takeAdvance(), 1, "a plain login resumes after m1, so m2 is not skipped");
  delivery.stop();
});

Deno.test("delivery: a gap found just as a replay finishes starts a new replay (no deaf connection)", async () => {
  const { store, sink, delivery, frame } = setup();
  await store.append(101, "dave", entry("1"));
  delivery.open(store, 101, "dave", 0);
  const first = delivery.replay();
  // Runs after the replay's last store read has been handled but before its promise settles: two more
  // entries land and the later one's live delivery arrives first (a gap).
  queueMicrotask(() => {
    void store.append(101, "dave", entry("2"));
    void store.append(101, "dave", entry("3")).then((third) => delivery.deliver(third, frame(third)));
  });
  await first;
  for (let i = 0; i < 100 && sink.msgIds.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(sink.msgIds, ["1", "2", "3"]);
  assert.equal(delivery.replaying, false);
  delivery.stop();
});

/** Failure injection: a store that lost every inbox entry after seq 1 (published live before the loss). */
Deno.test("delivery: a hole the store cannot fill becomes a 1016 gap after a few reads, not an endless loop", async () => {
  const { store, sink, delivery, frame } = setup();
  const stored: InboxEntry[] = [];
  for (const id of ["m1", "m2", "m3"]) stored.push(await store.append(101, "bob", entry(id)));
  const forgetful = async (after: number, n: number) =>
    (await store.range(101, "bob", after, n)).filter((e) => e.seq <= 1);
  delivery.open(source(forgetful), 101, "bob", 1);
  await delivery.replay();
  sink.sent.length = 0;
  // seq 3 arrives live past the hole at seq 2, which the store no longer returns
  assert.equal(delivery.deliver(stored[2], frame(stored[2])), "gap");
  const result = await delivery.replay();
  assert.deepEqual([result.lost, result.firstSeq, delivery.position, delivery.replaying], [1, 3, 3, false]);
  const gap = JSON.parse(sink.sent[0]);
  assert.deepEqual([gap.cmd, gap.response.code, gap.response.data.lost, gap.response.data.firstSeq], [
    "sync",
    1016,
    1,
    3,
  ]);
  assert.deepEqual(sink.msgIds, ["m3"]);
  delivery.stop();
});

Deno.test("delivery: queued live entries never exceed the byte budget; they are read back from the store", async () => {
  const maxBytes = 64 * 1024;
  const { store, sink, delivery, frame } = setup({ maxBytes });
  const big = "x".repeat(1000);
  // A replay that cannot run yet (its reader waits) while 500 KiB of live traffic arrives.
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  delivery.open(
    source(async (after, n) => {
      await gate;
      return store.range(101, "bob", after, n);
    }),
    101,
    "bob",
    0,
  );
  const replay = delivery.replay();
  for (let i = 0; i < 500; i++) {
    const e = await store.append(101, "bob", { ...entry(`e${i}`), msg: big });
    delivery.deliver(e, frame(e));
    assert.ok(delivery.queuedBytes <= maxBytes, `queued ${delivery.queuedBytes} bytes`);
  }
  release();
  await replay;
  // nothing lost, nothing twice, in order
  assert.deepEqual(sink.msgIds, Array.from({ length: 500 }, (_, i) => `e${i}`));
  assert.equal(delivery.replaying, false);
  delivery.stop();
});

Deno.test("delivery: a replay paced by a peer that never reads is a stalled consumer after the timeout", async () => {
  const { store, sink, delivery, stalls } = setup({ maxBytes: 4096, stallTimeoutMs: 200 });
  for (let i = 0; i < 10; i++) await store.append(101, "bob", entry(`e${i}`));
  sink.buffered = 10_000; // the peer stopped reading
  delivery.open(store, 101, "bob", 0);
  const started = Date.now();
  await delivery.replay();
  assert.equal(stalls.length, 1);
  assert.ok(stalls[0] - started >= 190, `stalled after ${stalls[0] - started} ms`);
  delivery.stop();
});

Deno.test("delivery: sync rewinds; a seq repeated with another msgId is reported as a conflict", async () => {
  const conflicts: number[] = [];
  const { store, sink, delivery, frame } = setup({ onConflict: (_sink, e) => conflicts.push(e.seq) });
  for (let i = 1; i <= 3; i++) await store.append(101, "bob", entry(`m${i}`));
  delivery.open(store, 101, "bob", 0);
  await delivery.replay();
  assert.deepEqual(sink.msgIds, ["m1", "m2", "m3"]);
  await delivery.rewind(1);
  assert.deepEqual(sink.msgIds, ["m1", "m2", "m3", "m2", "m3"]);
  // the same entry again is a plain duplicate; the same seq with another message is not
  assert.equal(delivery.deliver({ seq: 3, msgId: "m3" }, frame({ ...entry("m3"), seq: 3 })), "duplicate");
  assert.deepEqual(conflicts, []);
  assert.equal(delivery.deliver({ seq: 3, msgId: "other" }, "x"), "duplicate");
  assert.deepEqual(conflicts, [3]);
  // the delivered mark follows the cursor
  assert.equal(delivery.takeAdvance(), 3);
  assert.equal(delivery.takeAdvance(), undefined);
  delivery.stop();
  assert.equal(delivery.deliver({ seq: 4, msgId: "m4" }, "y"), "closed");
});
