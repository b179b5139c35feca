/**
 * How long the store's synchronous reads take: `range` (a replay page), `rangeBefore` (history) and
 * `head`, on the SQLite store with `--stored` messages (default 1,000,000 over 10,000 inboxes) and on the
 * memory store with the same inboxes. Not part of `deno task bench`: run it by hand,
 * `deno run -A tests/bench/store_reads.ts [--stored=N]`. It prints µs per call.
 * @module
 */
import { MemoryStore } from "../../src/store/memory.ts";
import { SqliteStore } from "../../src/store/sqlite/store.ts";
import type { NewEntry, Store } from "../../src/store/store.ts";

const stored = Number(Deno.args.find((a) => a.startsWith("--stored="))?.slice(9) ?? 1_000_000);
const users = Math.max(100, Math.round(stored / 100));
const policy = {
  maxEntries: 1000,
  maxConversations: 1000,
  maxAgeMs: 7 * 86_400_000,
  dedupTtlMs: 3_600_000,
  maxRoomsPerUser: 100,
  maxRoomMembers: 10_000,
};
const entry = (i: number): NewEntry => ({
  msgId: `m${i}`,
  from: "f",
  to: "",
  target: "",
  type: "text",
  msg: `stored message ${i} ${"x".repeat(64)}`,
  time: Date.now(),
});

async function fill(store: Store, count: number): Promise<void> {
  for (let done = 0; done < count; done += 2000) {
    const n = Math.min(2000, count - done);
    await store.appendMany(101, Array.from({ length: n }, (_, i) => `p${(done + i) % users}`), entry(done));
  }
}

async function time(name: string, store: Store): Promise<void> {
  const calls = 2000;
  for (
    const [op, fn] of [
      ["range (100 entries)", (u: string) => store.range(101, u, 0, 100)],
      ["rangeBefore (20)", (u: string) => store.rangeBefore(101, u, Number.MAX_SAFE_INTEGER, 20)],
      ["head", (u: string) => store.head(101, u)],
    ] as const
  ) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await fn(`p${(i * 7) % users}`);
    console.log(`${name} ${op}: ${((performance.now() - t0) * 1000 / calls).toFixed(1)} µs per call`);
  }
}

const dir = await Deno.makeTempDir({ prefix: "im-store-reads-" });
try {
  const sqlite = SqliteStore.open({ path: `${dir}/im.db`, policy, sync: "normal", maintenanceMs: 0 });
  await fill(sqlite, stored);
  await sqlite.close();
  const reopened = SqliteStore.open({ path: `${dir}/im.db`, policy, maintenanceMs: 0 });
  await time(`sqlite, ${stored} stored:`, reopened);
  await reopened.close();
  const memory = new MemoryStore({ policy, pruneIntervalMs: 0 });
  await fill(memory, Math.min(stored, 200_000));
  await time(`memory, ${Math.min(stored, 200_000)} stored:`, memory);
  await memory.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}
