/**
 * The shared store contracts ({@linkcode storeSuite}, {@linkcode storeImSuite}) run against {@linkcode SqliteStore} on a real file in
 * a temporary directory, with both sync modes; `expireIdle` is the engine's own maintenance step.
 * @module
 */
import { FakeClock } from "../../src/util/clock.ts";
import { SqliteStore } from "../../src/store/sqlite/store.ts";
import type { StorePolicy } from "../../src/store/store.ts";
import { storeImSuite } from "./store_im_suite.ts";
import { storeSuite } from "./store_suite.ts";

async function make(policy: StorePolicy, sync: "full" | "normal", fake: boolean) {
  const dir = await Deno.makeTempDir({ prefix: "im-sqlite-contract-" });
  const clock = fake ? new FakeClock(1_700_000_000_000) : undefined;
  const store = SqliteStore.open({ path: `${dir}/im.db`, policy, clock, sync, maintenanceMs: 0 });
  return {
    store,
    clock,
    expireIdle: () => store.maintain(),
    cleanup: async () => {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

storeSuite("sqlite store", (policy) => make(policy, "full", true));
storeSuite("sqlite store (sync normal, real clock)", (policy) => make(policy, "normal", false));
storeImSuite("sqlite store", (policy) => make(policy, "full", true));
