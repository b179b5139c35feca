/**
 * The shared store contract ({@linkcode storeSuite}) run against {@linkcode MemoryStore}, plus its
 * retention of idle inboxes (never while the user is connected).
 * @module
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../src/util/clock.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { storeImSuite } from "./store_im_suite.ts";
import { storeSuite, SUITE_POLICY } from "./store_suite.ts";

storeSuite("memory store", (policy) => {
  const clock = new FakeClock(1_700_000_000_000);
  const store = new MemoryStore({ policy, clock, pruneIntervalMs: 0 });
  return Promise.resolve({
    store,
    clock,
    expireIdle: () => void store.prune(),
    cleanup: () => store.close(),
  });
});

storeImSuite("memory store", (policy) => {
  const clock = new FakeClock(1_700_000_000_000);
  const store = new MemoryStore({ policy, clock, pruneIntervalMs: 0 });
  return Promise.resolve({
    store,
    clock,
    expireIdle: () => void store.prune(),
    cleanup: () => store.close(),
  });
});

storeSuite("memory store (real clock)", (policy) => {
  const store = new MemoryStore({ policy });
  return Promise.resolve({ store, cleanup: () => store.close() });
});

Deno.test("memory store: 5,000 made-up recipients are freed after maxAge, except connected users", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const online = new Set(["u7"]);
  const store = new MemoryStore({
    policy: SUITE_POLICY,
    clock,
    pruneIntervalMs: 0,
    isActive: (_app, user) => online.has(user),
  });
  try {
    for (let i = 0; i < 5000; i++) {
      await store.append(101, `u${i}`, {
        msgId: `m${i}`,
        from: "x",
        to: `u${i}`,
        target: "",
        type: "t",
        msg: "hi",
        time: clock.now(),
      });
    }
    assert.equal(store.inboxStats.inboxes, 5000);
    clock.advance(SUITE_POLICY.maxAgeMs + 1);
    // each prune step is bounded; a few steps cover everything
    for (let i = 0; i < 10; i++) store.prune();
    assert.equal(store.inboxStats.inboxes, 1);
    assert.equal((await store.head(101, "u7")).lastSeq, 1, "a connected user's inbox keeps its seq");
  } finally {
    await store.close();
  }
});

Deno.test("memory store: a kept message goes when no inbox entry or timeline position refers to it", async () => {
  const policy = { ...SUITE_POLICY, maxEntries: 10 };
  const store = new MemoryStore({ policy, pruneIntervalMs: 0 });
  try {
    const big = "x".repeat(8192);
    for (let i = 0; i < 500; i++) {
      const m = {
        msgId: `m${i}`,
        from: "alice",
        to: "bob",
        target: "",
        type: "t",
        msg: big,
        time: Date.now(),
      };
      await store.saveMessage(101, m);
      await store.appendOnce(101, ["bob", "alice"], m);
    }
    // bob's and alice's inboxes hold the last 10 each (the same 10 messages)
    assert.equal(store.inboxStats.keptMessages, 10);
    assert.equal((await store.messages(101, ["m499", "m489", "m0"])).size, 1);
    // a room message lives while its timeline position does, even after the inboxes let it go
    const r = {
      msgId: "r1",
      from: "alice",
      to: "lobby",
      target: "lobby",
      type: "t",
      msg: "hi",
      time: Date.now(),
    };
    await store.saveMessage(101, r);
    await store.appendRoomTimeline(101, "lobby", "r1", r.time);
    await store.appendOnce(101, ["bob"], r);
    for (let i = 0; i < 10; i++) await store.append(101, "bob", { ...r, msgId: `later${i}`, target: "" });
    assert.equal((await store.messages(101, ["r1"])).size, 1, "kept for the room's timeline");
  } finally {
    await store.close();
  }
});
