/**
 * Probe for `tests/process/sqlite_heap_test.ts` (run it with `--v8-flags=--expose-gc`): how much V8 heap
 * the SQLite store holds, after full collections, for what it keeps on disk. One scenario per run, one JSON
 * line of figures:
 *
 * - `kept`: per kept message, while saving and after reopening the file;
 * - `burst`: after a burst of 16 KiB messages has been written (the writer must not keep their payloads);
 * - `rooms`: per room joined once the room cache is full (member lists and counts cached, bounded);
 * - `timelines`: per room message in rooms' timelines (positions are read from the file).
 *
 * @example
 * ```sh
 * deno run --allow-read --allow-write --v8-flags=--expose-gc tests/support/sqlite_heap_probe.ts /tmp/x.db kept 40000
 * ```
 * @module
 */
import { CACHED_ROOMS } from "../../src/store/sqlite/records.ts";
import { SqliteStore } from "../../src/store/sqlite/store.ts";
import type { StoredMessage, StorePolicy } from "../../src/store/store.ts";

const [path, scenario, countArg] = Deno.args;
const count = Number(countArg ?? 20_000);
const policy: StorePolicy = {
  maxEntries: 1000,
  maxConversations: 1000,
  maxAgeMs: 7 * 24 * 3600_000,
  dedupTtlMs: 60_000,
  maxRoomsPerUser: 100,
  maxRoomMembers: 1000,
};
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

/** Heap used after two full collections (the second one frees what finalizers of the first let go). */
function heap(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

const message = (i: number, msg = "hello"): StoredMessage => ({
  msgId: `m${i.toString(36).padStart(8, "0")}`,
  from: `u${i % 500}`,
  to: `u${(i + 1) % 500}`,
  target: "",
  type: "text",
  msg,
  time: Date.now(),
});

/** Run `fn(i)` for i in [from, to), 1000 at a time. */
async function each(from: number, to: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = from; i < to; i += 1000) {
    const batch: Promise<unknown>[] = [];
    for (let k = i; k < Math.min(to, i + 1000); k++) batch.push(fn(k));
    await Promise.all(batch);
  }
}

const options = { path, policy, sync: "normal" as const, maintenanceMs: 0 };
let store = SqliteStore.open(options);
const out: Record<string, number> = { count };
if (scenario === "kept") {
  const save = (i: number) => store.saveMessage(101, message(i));
  await each(0, 2000, save); // statements prepared, caches warm
  const before = heap();
  await each(2000, 2000 + count, save);
  out.savedBytesPerMessage = (heap() - before) / count;
  await store.close();
  const closed = heap();
  store = SqliteStore.open(options);
  out.openedBytesPerMessage = (heap() - closed) / (count + 2000);
  out.found = (await store.messages(101, [message(5).msgId, message(count).msgId])).size;
} else if (scenario === "burst") {
  // a distinct flat 16 KiB string per message, as texts from clients are
  const bytes = new Uint8Array(16 * 1024).fill(120);
  const text = (i: number) => new TextDecoder().decode(bytes.fill(48 + (i % 10), 0, 8));
  await each(0, 100, (i) => store.saveMessage(101, message(i, text(i))));
  const before = heap();
  await each(100, 100 + count, (i) => store.saveMessage(101, message(i, text(i))));
  await new Promise((r) => setTimeout(r, 50));
  out.heldBytes = heap() - before;
} else if (scenario === "rooms") {
  const join = async (i: number) => {
    await store.joinRoom(101, `room-${i}`, `u${i}`);
    await store.roomMembers(101, `room-${i}`);
  };
  const warm = CACHED_ROOMS + 2000; // the cache full: what it holds is bounded, the rest must not grow
  await each(0, warm, join);
  const before = heap();
  await each(warm, warm + count, join);
  out.bytesPerRoom = (heap() - before) / count;
  out.members = (await store.roomMembers(101, "room-7")).length;
} else if (scenario === "timelines") {
  const append = (i: number) =>
    store.appendRoomTimeline(101, `room-${i % 200}`, message(i).msgId, Date.now());
  await each(0, 2000, append);
  const before = heap();
  await each(2000, 2000 + count, append);
  out.bytesPerPosition = (heap() - before) / count;
  out.newest = (await store.roomTimeline(101, "room-7", Infinity, 1))[0]?.roomSeq ?? 0;
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
await store.close();
console.log(JSON.stringify(out));
