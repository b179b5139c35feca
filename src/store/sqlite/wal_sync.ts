/**
 * Durability of committed transactions with `store.sync: full`: an fdatasync of the WAL off the event
 * loop (`FsFile.syncData` runs on Deno's blocking pool), started after a commit and covering every
 * transaction committed before it started; while it runs, later commits wait for the next one, so one
 * sync serves many commits. {@linkcode WalSync.synced} resolves once the commits before the call are on
 * disk. SQLite's own `synchronous=FULL` would block the event loop inside every COMMIT instead.
 *
 * @example
 * ```ts
 * const sync = new WalSync({ walPath: "data/imserver.db-wal", onError });
 * sync.committed(); // after each COMMIT
 * await sync.synced(); // the commits so far are on disk
 * ```
 * @module
 */
import type { Histogram, Metrics } from "../../ops/metrics.ts";
import { StorageError } from "../../protocol/errors.ts";

/** Options of {@linkcode WalSync}. */
export interface WalSyncOptions {
  walPath: string;
  metrics?: Metrics;
  /** A sync failed: the commits it covered are of unknown durability. */
  onError: (error: unknown) => void;
}

/** A {@linkcode WalSync.synced} call waiting for the sync that covers commit `no`. */
interface Waiter {
  no: number;
  since: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Bucket bounds of the sync histograms (ms). */
const MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000];

/**
 * fdatasyncs of the WAL in flight at once. One sync covers every commit before it, and concurrent syncs
 * of one file queue in the kernel rather than overlap; in A/B runs of the rtt closed loop on this shared
 * 2-core machine, 2 in flight was not reliably better than 1 (the noise was larger than the difference).
 */
const MAX_SYNCS = 1;

/**
 * Commit numbers, syncs in flight and who waits for them.
 *
 * @example
 * ```ts
 * const sync = new WalSync({ walPath: "data/imserver.db-wal", onError: (e) => log(e) });
 * ```
 */
export class WalSync {
  readonly #o: WalSyncOptions;
  #wal: Deno.FsFile | undefined;
  /** Waiting {@linkcode WalSync.synced} calls, in commit order. */
  readonly #waiters: Waiter[] = [];
  /** Number of the last transaction committed. */
  #committed = 0;
  /** Number of the last transaction a sync was started for. */
  #started = 0;
  /** Number of the last transaction known synced. */
  #synced = 0;
  readonly #syncing = new Set<Promise<void>>();
  readonly #syncMs: Histogram | undefined;
  readonly #waitMs: Histogram | undefined;

  constructor(options: WalSyncOptions) {
    this.#o = options;
    this.#syncMs = options.metrics?.histogram(
      "im_store_sync_ms",
      "fdatasync of the WAL (store.sync full) (ms)",
      MS,
    );
    this.#waitMs = options.metrics?.histogram(
      "im_store_durable_wait_ms",
      "Time an acknowledgement waited after the commit until it was on disk (store.sync full) (ms)",
      MS,
    );
  }

  /** A transaction committed: start a sync for it (or it joins the next one). */
  committed(): void {
    this.#committed++;
    this.#start();
  }

  /** Resolves once every transaction committed before the call is on disk; rejects if that sync failed. */
  synced(): Promise<void> {
    if (this.#synced >= this.#committed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ no: this.#committed, since: performance.now(), resolve, reject });
      this.#start();
    });
  }

  #start(): void {
    const last = this.#committed;
    if (last <= this.#started || this.#syncing.size >= MAX_SYNCS) return;
    const upTo = this.#started = last;
    const sync: Promise<void> = this.#syncWal().then(
      () => {
        this.#synced = Math.max(this.#synced, upTo);
        const now = performance.now();
        while (this.#waiters.length > 0 && this.#waiters[0].no <= this.#synced) {
          const w = this.#waiters.shift()!;
          this.#waitMs?.observe(now - w.since);
          w.resolve();
        }
      },
      (error) => {
        // Committed, durability unknown: whoever waits on it fails (callers retry), health says why.
        this.#o.onError(error);
        while (this.#waiters.length > 0 && this.#waiters[0].no <= upTo) {
          this.#waiters.shift()!.reject(new StorageError("sync", error));
        }
      },
    ).finally(() => {
      this.#syncing.delete(sync);
      this.#start();
    });
    this.#syncing.add(sync);
  }

  async #syncWal(): Promise<void> {
    this.#wal ??= await Deno.open(this.#o.walPath, { read: true });
    const start = performance.now();
    await this.#wal.syncData();
    this.#syncMs?.observe(performance.now() - start);
  }

  /** Wait for the syncs in flight (and those they start), then release the WAL handle. */
  async close(): Promise<void> {
    while (this.#syncing.size > 0) await Promise.all(this.#syncing);
    this.#wal?.close();
    this.#wal = undefined;
  }
}
