/**
 * Background upkeep of the SQLite store, off the send path and in small steps so the event loop is
 * never held for long:
 * - WAL checkpoints: automatic ones are off (they would run inside a send's COMMIT); a timer copies the
 *   WAL back into the database once ~4000 rows were written (or 2 s after the last write). The copy is
 *   cheap (~0.1 ms per 1000 rows without syncing); the fsync of the database that must follow is not
 *   (~10 ms, measured), so it runs off the event loop (`FsFile.syncData`) while the writer holds new
 *   transactions: the WAL is reused only once the checkpointed pages are on disk, so a power cut never
 *   leaves the file inconsistent, and the event loop never waits for the disk.
 * - deleting trimmed entries (one transaction of 500–5000 rows per tick while any wait: up to 100k rows/s,
 *   more than a full inbox trims under any load measured), dropping idle inboxes (≤ 1000 looked at every
 *   10 s) and expired claims (≤ 500 every 10 s), each through the writer.
 * - `PRAGMA optimize` at close.
 *
 * @example
 * ```ts
 * const m = new Maintenance({ db, writer, walPath, clock, intervalMs: 50, steps, pending: () => 0 });
 * const resume = m.pause(); // a backup copies the files
 * resume();
 * await m.stop();
 * ```
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { Counter, Histogram, Metrics } from "../../ops/metrics.ts";
import type { Clock } from "../../util/clock.ts";
import type { Writer } from "./writer.ts";

/** The bounded retention steps, provided by the store. */
export interface MaintenanceSteps {
  /** Delete a batch of trimmed rows; resolves to how many. */
  drops(): Promise<number>;
  /** Look at a batch of inboxes and drop the idle ones; resolves to how many were dropped. */
  prune(): Promise<number>;
  /** Delete a batch of expired claims; resolves to how many. */
  claims(): Promise<number>;
  /** Delete a batch of superseded conversation rows and obsolete dead marks; resolves to how many. */
  versions(): Promise<number>;
  /** Delete a batch of kept messages past their age (every tick while there are any); resolves to how many. */
  messages(): Promise<number>;
  /** Delete a batch of room timeline positions past their age; resolves to how many. */
  positions(): Promise<number>;
}

/** Options of {@linkcode Maintenance}. */
export interface MaintenanceOptions {
  db: DatabaseSync;
  writer: Writer;
  /** The database file (synced after each checkpoint). */
  path: string;
  walPath: string;
  clock: Clock;
  metrics?: Metrics;
  /** Timer tick (ms); 0 = no timer (tests call {@linkcode Maintenance.runAll}). */
  intervalMs: number;
  steps: MaintenanceSteps;
  /** Rows waiting to be deleted (trimmed entries, superseded versions, aged messages). */
  pending: () => number;
}

const CHECKPOINT_ROWS = 4000;
const CHECKPOINT_IDLE_MS = 2000;
const PRUNE_EVERY_MS = 10_000;

/**
 * Timers and state of the store's background work.
 *
 * @example
 * ```ts
 * const m = new Maintenance({ db, writer, path, walPath, clock, intervalMs: 50, steps, pending: () => 0 });
 * ```
 */
export class Maintenance {
  readonly #o: MaintenanceOptions;
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  #pauses = 0;
  #rowsAtCheckpoint = 0;
  #checkpointAt = 0;
  #pruneAt = 0;
  #busy: Promise<void> | undefined;
  /** The database file, open for fsync only; closed after the connection (closing it earlier would drop SQLite's lock). */
  #file: Deno.FsFile | undefined;
  readonly #pruned: Counter | undefined;
  readonly #checkpoints: Histogram | undefined;
  readonly #fileSyncs: Histogram | undefined;

  constructor(options: MaintenanceOptions) {
    this.#o = options;
    const now = options.clock.now();
    [this.#checkpointAt, this.#pruneAt] = [now, now];
    this.#rowsAtCheckpoint = options.writer.rowsCommitted;
    const m = options.metrics;
    this.#pruned = m?.counter("im_store_pruned_rows_total", "Rows the store deleted by retention", ["kind"]);
    const ms = [0.5, 1, 2, 5, 10, 25, 50, 100, 250];
    this.#checkpoints = m?.histogram(
      "im_store_checkpoint_ms",
      "WAL checkpoints and how long each held the event loop (ms)",
      ms,
    );
    this.#fileSyncs = m?.histogram(
      "im_store_checkpoint_sync_ms",
      "fdatasync of the database after a checkpoint; new transactions wait for it (ms)",
      ms,
    );
    m?.gauge(
      "im_store_db_bytes",
      "Size of the database (pages in the file and the WAL)",
      () => this.#dbBytes(),
    );
    m?.gauge("im_store_wal_bytes", "Size of the WAL file", () => this.#walBytes());
    m?.gauge("im_store_pending_deletes", "Trimmed entries not yet deleted from the file", options.pending);
    if (options.intervalMs > 0) this.#timer = setInterval(() => this.#tick(), options.intervalMs);
  }

  #dbBytes(): number {
    const pages = this.#o.db.prepare("PRAGMA page_count").get() as { page_count: number };
    const size = this.#o.db.prepare("PRAGMA page_size").get() as { page_size: number };
    return Number(pages.page_count) * Number(size.page_size);
  }

  #walBytes(): number {
    try {
      return Deno.statSync(this.#o.walPath).size;
    } catch {
      return 0;
    }
  }

  #tick(): void {
    const now = this.#o.clock.now();
    const written = this.#o.writer.rowsCommitted - this.#rowsAtCheckpoint;
    if (written >= CHECKPOINT_ROWS || (written > 0 && now - this.#checkpointAt >= CHECKPOINT_IDLE_MS)) {
      this.checkpoint();
    }
    if (this.#busy || this.#o.writer.failure !== undefined) return;
    const prune = now - this.#pruneAt >= PRUNE_EVERY_MS;
    // Trimmed rows go every tick while there are any (full inboxes trim one row per append).
    if (this.#o.pending() === 0 && !prune) return;
    if (prune) this.#pruneAt = now;
    this.#busy = this.#run(prune).finally(() => this.#busy = undefined);
  }

  async #run(prune: boolean): Promise<void> {
    try {
      this.#count("entries", await this.#o.steps.drops());
      this.#count("conversations", await this.#o.steps.versions());
      this.#count("messages", await this.#o.steps.messages());
      if (!prune) return;
      this.#count("inboxes", await this.#o.steps.prune());
      this.#count("claims", await this.#o.steps.claims());
      this.#count("positions", await this.#o.steps.positions());
    } catch {
      // A failed write (disk full) is the writer's to report (readiness); the rows are retried later.
    }
  }

  #count(kind: string, n: number): void {
    if (n > 0) this.#pruned?.inc({ kind }, n);
  }

  /** Copy the WAL into the database now, unless a backup holds checkpoints or the last one is syncing. */
  checkpoint(): void {
    const { db, writer } = this.#o;
    if (this.#pauses > 0 || writer.held) return;
    const start = performance.now();
    try {
      db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
    } catch {
      // SQLITE_FULL and friends: the WAL keeps the data; the next tick tries again.
      return;
    }
    this.#rowsAtCheckpoint = writer.rowsCommitted;
    this.#checkpointAt = this.#o.clock.now();
    this.#checkpoints?.observe(performance.now() - start);
    writer.hold(this.#syncFile());
  }

  async #syncFile(): Promise<void> {
    this.#file ??= await Deno.open(this.#o.path, { read: true });
    const start = performance.now();
    await this.#file.syncData();
    this.#fileSyncs?.observe(performance.now() - start);
  }

  /** Hold checkpoints (the database file then does not change); call the result to resume. */
  pause(): () => void {
    this.#pauses++;
    let resumed = false;
    return () => {
      if (!resumed) this.#pauses--;
      resumed = true;
    };
  }

  /** Every retention step once, trimmed rows until none are left, then a checkpoint. */
  async runAll(): Promise<void> {
    await this.#busy;
    await this.#drain();
    this.#count("inboxes", await this.#o.steps.prune());
    this.#count("claims", await this.#o.steps.claims());
    this.#count("positions", await this.#o.steps.positions());
    await this.#drain();
    this.checkpoint();
  }

  /** Delete trimmed rows and superseded versions until none are left. */
  async #drain(): Promise<void> {
    for (let i = 0; i < 10_000 && this.#o.pending() > 0; i++) {
      this.#count("entries", await this.#o.steps.drops());
      this.#count("conversations", await this.#o.steps.versions());
      this.#count("messages", await this.#o.steps.messages());
    }
  }

  /** Stop the timer and wait for a running step. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#busy;
  }

  /** Last work before the connection closes (after the writer): a synced full checkpoint and `optimize`. */
  finish(): void {
    const { db } = this.#o;
    try {
      db.exec("PRAGMA synchronous = NORMAL");
      db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get();
      db.exec("PRAGMA optimize");
    } catch {
      // the WAL keeps whatever could not be copied; the next open recovers it
    }
  }

  /** After the connection closed: release the file handle. */
  release(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}
