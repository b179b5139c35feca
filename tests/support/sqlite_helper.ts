/**
 * Test helpers for the SQLite store: a store on a file in a fresh temporary directory, reopened on the
 * same file as often as a test needs, and an entry builder.
 * @module
 */
import { SqliteStore, type SqliteStoreOptions } from "../../src/store/sqlite/store.ts";
import type { NewEntry, StorePolicy } from "../../src/store/store.ts";
import { testPolicy } from "./helpers.ts";

/** A temporary directory with a database path in it. */
export interface TempDb {
  dir: string;
  path: string;
  /** Open a store on `path` (maintenance timer off unless given). */
  open(options?: Partial<SqliteStoreOptions>): SqliteStore;
  /** Remove the directory. */
  dispose(): Promise<void>;
}

/** A fresh temporary directory for one test's database. */
export async function tempDb(policy: StorePolicy = testPolicy()): Promise<TempDb> {
  const dir = await Deno.makeTempDir({ prefix: "im-sqlite-" });
  const path = `${dir}/imserver.db`;
  return {
    dir,
    path,
    open: (options = {}) => SqliteStore.open({ path, policy, maintenanceMs: 0, ...options }),
    dispose: () => Deno.remove(dir, { recursive: true }),
  };
}

/** An entry with msgId `m-<msg>`. */
export function entry(msg: string, time = Date.now(), from = "alice"): NewEntry {
  return { msgId: `m-${msg}`, from, to: "bob", target: "", type: "text", msg, time };
}
