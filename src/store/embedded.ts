/**
 * The store of an embedded (single-node) server, chosen by `store.engine`: SQLite at `store.path` (the
 * default, durable) or memory (explicitly ephemeral). Cluster mode never comes here: its store is Redis
 * (cluster/node.ts). Returns the store with what the composition root wires around it — the readiness
 * hook, the inbox gauges, the backup action.
 *
 * @example
 * ```ts
 * const embedded = openEmbeddedStore(config, { clock, isActive, metrics, log });
 * embedded.readiness(); // "store: disk full" while writes fail
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { Clock } from "../util/clock.ts";
import { MemoryStore } from "./memory.ts";
import type { BackupResult } from "./sqlite/backup.ts";
import { SqliteStore } from "./sqlite/store.ts";
import { type Store, storePolicy } from "./store.ts";

/** What the composition root needs around an embedded store. */
export interface EmbeddedStore {
  store: Store;
  /** Why the store is not ready (writes failing), or undefined. */
  readiness(): string | undefined;
  /** Inbox counts for `/metrics`. */
  inboxStats(): { inboxes: number; entries: number };
  /** An online backup, when the engine can make one (SQLite). */
  backup?: () => Promise<BackupResult>;
}

/** What opening an embedded store needs. */
export interface EmbeddedDeps {
  clock: Clock;
  /** True while the user has a live connection on this node (its inbox is never dropped then). */
  isActive: (appId: number, userId: string) => boolean;
  metrics: Metrics;
  log: Logger;
}

/**
 * Open the configured embedded store; a SQLite file that cannot be used throws `StoreOpenError`.
 *
 * @example
 * ```ts
 * const { store, readiness } = openEmbeddedStore(config, { clock, isActive, metrics, log });
 * ```
 */
export function openEmbeddedStore(config: Config, d: EmbeddedDeps): EmbeddedStore {
  const policy = storePolicy(config);
  if (config.store.engine === "memory") {
    const memory = new MemoryStore({ policy, clock: d.clock, isActive: d.isActive });
    d.log.info("store: memory (ephemeral: inboxes are lost on restart)");
    return { store: memory, readiness: () => undefined, inboxStats: () => memory.inboxStats };
  }
  const started = performance.now();
  const sqlite = SqliteStore.open({
    path: config.store.path,
    policy,
    sync: config.store.sync,
    backupDir: config.store.backupDir,
    backupKeep: config.store.backupKeep,
    clock: d.clock,
    isActive: d.isActive,
    metrics: d.metrics,
    onHealth: (failure) =>
      failure === undefined
        ? d.log.warning("store {path}: writes work again", { path: config.store.path })
        : d.log.error("store {path}: writes fail ({failure}); sends answer 1024 until they work", {
          path: config.store.path,
          failure,
        }),
  });
  if (sqlite.rebooted) {
    d.log.warning(
      "store {path}: the last run ended without a clean stop and the machine has rebooted since; commits " +
        "not yet on disk may be gone, so the inbox epoch changed: clients resync",
      { path: config.store.path },
    );
  }
  const { inboxes, entries } = sqlite.inboxStats;
  d.log.info("store: sqlite {path} (sync {sync}): {inboxes} inboxes, {entries} entries, opened in {ms} ms", {
    path: config.store.path,
    sync: config.store.sync,
    inboxes,
    entries,
    ms: Math.round(performance.now() - started),
  });
  return {
    store: sqlite,
    readiness: () => sqlite.failure && `store: ${sqlite.failure}`,
    inboxStats: () => sqlite.inboxStats,
    backup: () => sqlite.backup(),
  };
}
