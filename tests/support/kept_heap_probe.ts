/**
 * Probe for `tests/process/sqlite_heap_test.ts` (run it with `--v8-flags=--expose-gc`): how much V8 heap
 * the SQLite store holds per kept message, after a full GC, while it saves messages and after it opens a
 * file that holds them. Prints one JSON line `{ savedBytesPerMessage, openedBytesPerMessage, messages }`.
 *
 * @example
 * ```sh
 * deno run --allow-read --allow-write --v8-flags=--expose-gc tests/support/kept_heap_probe.ts /tmp/x.db 40000
 * ```
 * @module
 */
import { SqliteStore } from "../../src/store/sqlite/store.ts";
import type { StoredMessage, StorePolicy } from "../../src/store/store.ts";

const [path, count] = [Deno.args[0], Number(Deno.args[1] ?? 40_000)];
const policy: StorePolicy = {
  maxEntries: 1000,
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

const message = (i: number): StoredMessage => ({
  msgId: `m${i.toString(36).padStart(8, "0")}`,
  from: `u${i % 500}`,
  to: `u${(i + 1) % 500}`,
  target: "",
  type: "text",
  msg: "hello",
  time: Date.now(),
});

async function save(store: SqliteStore, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 1000) {
    const batch: Promise<void>[] = [];
    for (let k = i; k < Math.min(to, i + 1000); k++) batch.push(store.saveMessage(101, message(k)));
    await Promise.all(batch);
  }
}

const options = { path, policy, sync: "normal" as const, maintenanceMs: 0 };
let store = SqliteStore.open(options);
await save(store, 0, 2000); // statements prepared, caches warm
const before = heap();
await save(store, 2000, 2000 + count);
const saved = heap();
await store.close();
const closed = heap();
store = SqliteStore.open(options);
const opened = heap();
// still readable after the reopen (the probe measures a working store, not an empty one)
const found = store.messages(101, [message(5).msgId, message(count).msgId]);
await store.close();
console.log(JSON.stringify({
  messages: count,
  found: (await found).size,
  savedBytesPerMessage: (saved - before) / count,
  openedBytesPerMessage: (opened - closed) / (count + 2000),
}));
