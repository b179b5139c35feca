/**
 * The SQLite engine's conversation summaries against the memory engine's (im_histories.ts): across
 * restarts (every few steps the store is closed and opened again, or opened on a crash image — the
 * database and WAL copied while it runs, what a kill -9 leaves) and with runs of appends submitted at
 * once (one transaction). With aging the restarts are left out: a start trims aged entries that the
 * memory engine holds until its next append.
 * @module
 */
import { SqliteStore } from "../../src/store/sqlite/store.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { replayAgainstMemory } from "./im_histories.ts";
import { SUITE_POLICY } from "./store_suite.ts";

const VARIANTS = [[6, false, 1000], [1000, false, 1000], [6, true, 1000], [1000, true, 1000], [
  6,
  false,
  2,
]] as const;
for (const [maxEntries, aging, maxConversations] of VARIANTS) {
  Deno.test(
    `sqlite store: im summaries equal the memory engine's (random histories, maxEntries ${maxEntries}${
      maxConversations < 1000 ? `, maxConversations ${maxConversations}` : ""
    }${aging ? ", aging" : ", restarts and crash images"}, runs of appends in one transaction)`,
    async () => {
      const policy = { ...SUITE_POLICY, maxEntries, maxConversations };
      const dir = await Deno.makeTempDir({ prefix: "im-sqlite-diff-" });
      try {
        for (let seed = 1; seed <= 12; seed++) {
          const clock = new FakeClock(1_700_000_000_000);
          let path = `${dir}/s${seed}-0.db`;
          const open = () => SqliteStore.open({ path, policy, clock, maintenanceMs: 0 });
          let store = open();
          let images = 0;
          const between = aging ? undefined : async (step: number) => {
            if (step % 13 === 0) await store.maintain(); // background deletions run between steps too
            if (step % 17 !== 0) return;
            if (step % 34 === 0) {
              const image = `${dir}/s${seed}-${++images}.db`;
              await Deno.copyFile(path, image);
              await Deno.copyFile(`${path}-wal`, `${image}-wal`);
              await store.close();
              path = image;
            } else await store.close();
            store = open();
          };
          try {
            await replayAgainstMemory(() => store, { seed, steps: 160, clock, policy, aging, between });
          } finally {
            await store.close();
          }
          path = `${dir}/burst${seed}.db`;
          store = open();
          try {
            // Maintenance between runs lets the working state go (no user is connected): the next run
            // rebuilds it in the middle of a transaction, after appends followed without it.
            const release = async (step: number) => void (step % 7 === 0 && await store.maintain());
            await replayAgainstMemory(() => store, {
              seed,
              steps: 160,
              clock,
              policy,
              aging,
              burst: 5,
              between: aging ? undefined : release,
            });
          } finally {
            await store.close();
          }
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}
