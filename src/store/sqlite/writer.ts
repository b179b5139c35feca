/**
 * Group commit for the SQLite store: every write is an operation queued here; at the end of the
 * event-loop turn (`setImmediate`) the queued operations run in one transaction, at most
 * {@linkcode WriterOptions.maxBatchRows} rows per transaction (the rest go in the next turn, so other I/O
 * runs between). An operation's promise resolves once its transaction committed; {@linkcode Writer.synced}
 * resolves once everything committed before the call is durable — with `sync: "full"` after an
 * fdatasync of the WAL has reached the disk. A send is acknowledged after both (messaging/send.ts), so a
 * `200` means stored; the live push to the recipient needs only the commit and does not wait for the disk
 * (a power cut that takes a pushed but unsynced entry back is detected at the next start, which then
 * changes the epoch: open.ts).
 *
 * The fdatasync runs off the event loop, one for many commits (wal_sync.ts).
 *
 * @size One owner of the store's single connection for writes: queue, transaction, failure probe and sync
 * hand-off share the same state, so they stay together.
 *
 * A failed transaction (disk full, read-only file, I/O error) is rolled back whole — nothing is half
 * written — and every operation in it rejects with `StorageError`. The writer then reports why in
 * {@linkcode Writer.failure} (for `/readyz`) and probes with a one-page write every second until a
 * commit succeeds again: no restart needed once the disk has room.
 *
 * @example
 * ```ts
 * const writer = new Writer({ db, sync: "full", walPath: "data/imserver.db-wal" });
 * const n = await writer.submit("append", 1, (tx) => insert.run(json).changes); // committed
 * await writer.synced(); // and on disk
 * await writer.close();
 * ```
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { clearImmediate, setImmediate } from "node:timers";
import type { Counter, Histogram, Metrics } from "../../ops/metrics.ts";
import { StorageError } from "../../protocol/errors.ts";
import { sqliteCode } from "./open.ts";
import { WalSync } from "./wal_sync.ts";

/** What an operation sees of its transaction. */
export interface Tx {
  /** Run inside the transaction after every operation, just before COMMIT (buffered row writes). */
  beforeCommit(fn: () => void): void;
  /** Run right after COMMIT, before any later transaction starts (apply the new state to memory). */
  onCommit(fn: () => void): void;
  /**
   * Run after a ROLLBACK of this transaction (undo what an operation changed in memory ahead of COMMIT);
   * the newest first, so undos registered by successive operations unwind like a stack.
   */
  onRollback(fn: () => void): void;
}

/** Options of {@linkcode Writer}. */
export interface WriterOptions {
  db: DatabaseSync;
  /** full: resolve after fdatasync of the WAL; normal: after COMMIT (the OS has the data). */
  sync: "full" | "normal";
  /** The database's WAL file (synced in `full` mode). */
  walPath: string;
  /** Most rows one transaction writes (bounds how long a commit holds the event loop). */
  maxBatchRows?: number;
  metrics?: Metrics;
  /** Told when writes start failing (the reason) and when they work again (undefined). */
  onHealth?: (failure: string | undefined) => void;
}

interface Op {
  name: string;
  weight: number;
  run: (tx: Tx) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  submitted: number;
}

/** Bucket bounds of the commit latency histogram (ms). */
const LATENCY_MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000];
const BATCH_ROWS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];
const PROBE_MS = 1000;
/**
 * The queue, the transactions and the durability of the store's writes.
 *
 * @example
 * ```ts
 * const writer = new Writer({ db, sync: "full", walPath: "data/imserver.db-wal" });
 * ```
 */
export class Writer {
  readonly #db: DatabaseSync;
  readonly #maxRows: number;
  readonly #onHealth: ((failure: string | undefined) => void) | undefined;
  readonly #queue: Op[] = [];
  #head = 0;
  #scheduled: ReturnType<typeof setImmediate> | undefined;
  /** Durability of commits (sync full only). */
  readonly #wal: WalSync | undefined;
  #failure: string | undefined;
  #probe: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #rowsCommitted = 0;
  #held: Promise<unknown> | undefined;
  readonly #latency: Histogram | undefined;
  readonly #txnMs: Histogram | undefined;
  readonly #rows: Histogram | undefined;
  readonly #errors: Counter | undefined;

  constructor(options: WriterOptions) {
    this.#db = options.db;
    this.#wal = options.sync === "full"
      ? new WalSync({
        walPath: options.walPath,
        metrics: options.metrics,
        onError: (e) => this.#failed([], e),
      })
      : undefined;
    this.#maxRows = options.maxBatchRows ?? 1000;
    this.#onHealth = options.onHealth;
    const m = options.metrics;
    this.#latency = m?.histogram(
      "im_store_commit_ms",
      "Time from a store write being queued to its commit (ms)",
      LATENCY_MS,
    );
    this.#txnMs = m?.histogram(
      "im_store_transaction_ms",
      "Time one store transaction held the event loop (ms)",
      LATENCY_MS,
    );
    this.#rows = m?.histogram("im_store_batch_rows", "Rows written per store transaction", BATCH_ROWS);
    this.#errors = m?.counter(
      "im_store_write_errors_total",
      "Store transactions that failed and were rolled back",
    );
  }

  /** Why writes fail right now (for `/readyz`), or undefined while they work. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** Rows committed since the writer started (maintenance checkpoints by it). */
  get rowsCommitted(): number {
    return this.#rowsCommitted;
  }

  /** Operations queued and not yet in a transaction. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Queue `run` (which executes synchronously inside the transaction and writes about `weight` rows);
   * resolves to its result once committed, rejects with `StorageError` when its transaction failed.
   */
  submit<T>(name: string, weight: number, run: (tx: Tx) => T): Promise<T> {
    if (this.#closed) return Promise.reject(new StorageError(name, new Error("store closed")));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        name,
        weight,
        run,
        resolve: resolve as (v: unknown) => void,
        reject,
        submitted: performance.now(),
      });
      this.#schedule();
    });
  }

  /**
   * Start no transaction until `until` settles (maintenance: a checkpoint's fsync of the database must
   * finish before a new transaction may reuse the WAL). Queued operations wait; the event loop does not.
   */
  hold(until: Promise<unknown>): void {
    const held = this.#held = until.catch(() => {}).finally(() => {
      if (this.#held !== held) return;
      this.#held = undefined;
      if (this.#head < this.#queue.length) this.#schedule();
    });
  }

  /** True while a {@linkcode Writer.hold} is in force. */
  get held(): boolean {
    return this.#held !== undefined;
  }

  #schedule(): void {
    if (this.#held) return;
    this.#scheduled ??= setImmediate(() => {
      this.#scheduled = undefined;
      if (!this.#held) this.#flush();
    });
  }

  /** One transaction of queued operations, up to the row bound. */
  #flush(): void {
    const batch: Op[] = [];
    let rows = 0;
    while (
      this.#head < this.#queue.length &&
      (batch.length === 0 || rows + this.#queue[this.#head].weight <= this.#maxRows)
    ) {
      const op = this.#queue[this.#head++];
      batch.push(op);
      rows += op.weight;
    }
    // Taken operations leave the queue now: their closures hold what they write (message text included).
    if (this.#head === this.#queue.length) this.#queue.length = this.#head = 0;
    else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    } else this.#queue.fill(undefined as unknown as Op, this.#head - batch.length, this.#head);
    if (this.#head < this.#queue.length) this.#schedule();
    if (batch.length === 0) return;
    const before: (() => void)[] = [];
    const commits: (() => void)[] = [];
    const rollbacks: (() => void)[] = [];
    const tx: Tx = {
      beforeCommit: (fn) => before.push(fn),
      onCommit: (fn) => commits.push(fn),
      onRollback: (fn) => rollbacks.push(fn),
    };
    const start = performance.now();
    const results: unknown[] = [];
    try {
      this.#db.exec("BEGIN");
      for (const op of batch) results.push(op.run(tx));
      for (const fn of before) fn();
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#rollback();
      for (let i = rollbacks.length - 1; i >= 0; i--) rollbacks[i]();
      this.#failed(batch, error);
      return;
    }
    for (const fn of commits) fn();
    this.#rowsCommitted += rows;
    this.#txnMs?.observe(performance.now() - start);
    this.#rows?.observe(rows);
    this.#healthy();
    const now = performance.now();
    batch.forEach((op, i) => {
      this.#latency?.observe(now - op.submitted);
      op.resolve(results[i]);
    });
    this.#wal?.committed();
  }

  /**
   * Resolves once every transaction committed before this call is durable (`full`: its WAL frames
   * fdatasync'd; `normal`: at once, the OS has them). Rejects with `StorageError` when that sync failed.
   */
  synced(): Promise<void> {
    return this.#wal?.synced() ?? Promise.resolve();
  }

  #rollback(): void {
    try {
      // SQLite may have rolled back by itself (SQLITE_FULL, IOERR): only roll back what is still open.
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
    } catch {
      // nothing more can be done: the transaction is gone either way
    }
  }

  #failed(ops: Op[], error: unknown): void {
    this.#errors?.inc();
    const reason = describe(error);
    if (this.#failure !== reason) {
      this.#failure = reason;
      this.#onHealth?.(reason);
    }
    for (const op of ops) op.reject(new StorageError(op.name, error));
    this.#armProbe();
  }

  #healthy(): void {
    if (this.#failure === undefined) return;
    this.#failure = undefined;
    clearTimeout(this.#probe);
    this.#probe = undefined;
    this.#onHealth?.(undefined);
  }

  /** While writes fail, try a one-page write every second, so health returns without traffic. */
  #armProbe(): void {
    if (this.#probe !== undefined || this.#closed) return;
    this.#probe = setTimeout(() => {
      this.#probe = undefined;
      if (this.#failure === undefined || this.#closed) return;
      this.submit("probe", 1, () => {
        this.#db.exec("INSERT INTO probe (b) VALUES (zeroblob(4096)); DELETE FROM probe");
      }).catch(() => {});
    }, PROBE_MS);
  }

  /** Flush what is queued, wait for its durability, release the WAL handle; later submits reject. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#probe);
    this.#probe = undefined;
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    while (this.#held) await this.#held;
    while (this.#head < this.#queue.length) this.#flush();
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    await this.#wal?.close();
  }
}

/** A short reason for `/readyz`: what an operator can act on. */
function describe(error: unknown): string {
  switch (sqliteCode(error)) {
    case 13:
      return "disk full";
    case 8:
      return "database is read-only";
    case 10:
      return "I/O error";
    case 11:
      return "database is corrupt";
  }
  return `write failed: ${(error as Error)?.message ?? error}`;
}
