/**
 * Group commit for the SQLite store: every write is an operation queued here; at the end of the
 * event-loop turn (`setImmediate`) the queued operations run in one transaction, at most
 * {@linkcode WriterOptions.maxBatchRows} rows per transaction (the rest go in the next turn, so other I/O
 * runs between). An operation's promise resolves only after its transaction committed — and, with
 * `sync: "full"`, after an fdatasync of the WAL has reached the disk — so a `200` to a send means stored.
 *
 * The fdatasync runs off the event loop (`FsFile.syncData`, on Deno's blocking pool) instead of inside
 * COMMIT (SQLite's `synchronous=FULL` would block the loop ~0.2 ms per commit): while one sync is in
 * flight, later transactions commit and wait for the next one, so one sync covers many commits.
 *
 * A failed transaction (disk full, read-only file, I/O error) is rolled back whole — nothing is half
 * written — and every operation in it rejects with `StorageError`. The writer then reports why in
 * {@linkcode Writer.failure} (for `/readyz`) and probes with a one-page write every second until a
 * commit succeeds again: no restart needed once the disk has room.
 *
 * @example
 * ```ts
 * const writer = new Writer({ db, sync: "full", walPath: "data/imserver.db-wal" });
 * const id = await writer.submit("append", 1, (tx) => Number(insert.run(json).lastInsertRowid));
 * await writer.close();
 * ```
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { clearImmediate, setImmediate } from "node:timers";
import type { Counter, Histogram, Metrics } from "../../ops/metrics.ts";
import { StorageError } from "../../protocol/errors.ts";
import { sqliteCode } from "./open.ts";

/** What an operation sees of its transaction. */
export interface Tx {
  /** Run inside the transaction after every operation, just before COMMIT (buffered row writes). */
  beforeCommit(fn: () => void): void;
  /** Run right after COMMIT, before any later transaction starts (apply the new state to memory). */
  onCommit(fn: () => void): void;
  /** Run once the transaction is durable (as `sync` defines it), just before the operations resolve. */
  onDurable(fn: () => void): void;
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

interface Done {
  ops: Op[];
  results: unknown[];
  durable: (() => void)[];
}

/** Bucket bounds of the commit latency histogram (ms). */
const LATENCY_MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000];
const BATCH_ROWS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];
const PROBE_MS = 1000;
/**
 * fdatasyncs of the WAL in flight at once. One sync covers every commit before it, and concurrent syncs
 * of one file queue in the kernel rather than overlap; in A/B runs of the rtt closed loop on this shared
 * 2-core machine, 2 in flight was not reliably better than 1 (the noise was larger than the difference).
 */
const MAX_SYNCS = 1;

/** The queue, the transactions and the durability of the store's writes. */
export class Writer {
  readonly #db: DatabaseSync;
  readonly #sync: "full" | "normal";
  readonly #maxRows: number;
  readonly #onHealth: ((failure: string | undefined) => void) | undefined;
  readonly #queue: Op[] = [];
  #head = 0;
  #scheduled: ReturnType<typeof setImmediate> | undefined;
  #wal: Deno.FsFile | undefined;
  readonly #walPath: string;
  /** Committed transactions waiting for durability, in commit order, numbered. */
  readonly #unsynced: (Done & { no: number })[] = [];
  #committed = 0;
  /** Number of the last transaction known synced. */
  #synced = 0;
  /** Syncs in flight: one per commit up to the limit, so no commit waits for a sync it missed. */
  readonly #syncing = new Set<Promise<void>>();
  #failure: string | undefined;
  #probe: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #rowsCommitted = 0;
  /** Number of the last transaction a sync was started for. */
  #started = 0;
  #held: Promise<unknown> | undefined;
  readonly #latency: Histogram | undefined;
  readonly #txnMs: Histogram | undefined;
  readonly #rows: Histogram | undefined;
  readonly #syncMs: Histogram | undefined;
  readonly #errors: Counter | undefined;

  constructor(options: WriterOptions) {
    this.#db = options.db;
    this.#sync = options.sync;
    this.#walPath = options.walPath;
    this.#maxRows = options.maxBatchRows ?? 1000;
    this.#onHealth = options.onHealth;
    const m = options.metrics;
    this.#latency = m?.histogram(
      "im_store_commit_ms",
      "Time from a store write being queued to its acknowledgement (committed and, with store.sync full, synced) (ms)",
      LATENCY_MS,
    );
    this.#txnMs = m?.histogram(
      "im_store_transaction_ms",
      "Time one store transaction held the event loop (ms)",
      LATENCY_MS,
    );
    this.#rows = m?.histogram("im_store_batch_rows", "Rows written per store transaction", BATCH_ROWS);
    this.#syncMs = m?.histogram(
      "im_store_sync_ms",
      "fdatasync of the WAL (store.sync full) (ms)",
      LATENCY_MS,
    );
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
   * resolves to its result once durable, rejects with `StorageError` when its transaction failed.
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
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    if (this.#head < this.#queue.length) this.#schedule();
    if (batch.length === 0) return;
    const before: (() => void)[] = [];
    const commits: (() => void)[] = [];
    const durable: (() => void)[] = [];
    const tx: Tx = {
      beforeCommit: (fn) => before.push(fn),
      onCommit: (fn) => commits.push(fn),
      onDurable: (fn) => durable.push(fn),
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
      this.#failed(batch, error);
      return;
    }
    for (const fn of commits) fn();
    this.#rowsCommitted += rows;
    this.#txnMs?.observe(performance.now() - start);
    this.#rows?.observe(rows);
    this.#healthy();
    const done = { ops: batch, results, durable };
    if (this.#sync === "normal") this.#resolve(done);
    else {
      this.#unsynced.push({ ...done, no: ++this.#committed });
      this.#startSync();
    }
  }

  #rollback(): void {
    try {
      // SQLite may have rolled back by itself (SQLITE_FULL, IOERR): only roll back what is still open.
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
    } catch {
      // nothing more can be done: the transaction is gone either way
    }
  }

  #resolve(done: Done): void {
    for (const fn of done.durable) fn();
    const now = performance.now();
    done.ops.forEach((op, i) => {
      this.#latency?.observe(now - op.submitted);
      op.resolve(done.results[i]);
    });
  }

  /**
   * An fdatasync covers every transaction committed before it started. Up to {@linkcode MAX_SYNCS} run
   * at once (a commit does not wait for a sync that started before it, only for its own); whichever
   * finishes resolves, in commit order, every transaction up to where it started.
   */
  #startSync(): void {
    const last = this.#unsynced.at(-1)?.no ?? 0;
    if (last <= this.#started || this.#syncing.size >= MAX_SYNCS) return;
    const upTo = this.#started = last;
    const sync: Promise<void> = this.#syncWal().then(
      () => {
        this.#synced = Math.max(this.#synced, upTo);
        while (this.#unsynced.length > 0 && this.#unsynced[0].no <= this.#synced) {
          this.#resolve(this.#unsynced.shift()!);
        }
      },
      (error) => {
        // Committed, durability unknown: those not covered by another sync fail, callers retry.
        while (this.#unsynced.length > 0 && this.#unsynced[0].no <= upTo) {
          this.#failed(this.#unsynced.shift()!.ops, error);
        }
      },
    ).finally(() => {
      this.#syncing.delete(sync);
      this.#startSync();
    });
    this.#syncing.add(sync);
  }

  async #syncWal(): Promise<void> {
    this.#wal ??= await Deno.open(this.#walPath, { read: true });
    const start = performance.now();
    await this.#wal.syncData();
    this.#syncMs?.observe(performance.now() - start);
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
    while (this.#syncing.size > 0) await Promise.all(this.#syncing);
    this.#wal?.close();
    this.#wal = undefined;
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
