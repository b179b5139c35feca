/**
 * Messages kept once per app on the SQLite store (`Store.saveMessage`, edits and recalls): one row per
 * message, appended in send order, found by the unique index (app, msg_id) — nothing per message is held in
 * memory, so the heap does not grow with traffic (until 2026-12-02 a map of every message of the last
 * `inbox.maxAge` did: ~190 B each). A save is one `INSERT OR IGNORE` (the first save of a msgId wins), a
 * lookup one index read.
 *
 * A message is kept for `maxAgeMs` from its time, then deleted in background batches from the oldest
 * row on (rowid order is send order). Unlike the memory engine, which also lets a message go once no
 * inbox entry or timeline position refers to it, a message whose entries were all trimmed by count is
 * kept until it ages out: on disk that costs bytes, not memory, and history reads stay complete.
 *
 * @example
 * ```ts
 * const kept = new KeptMessages({ writer, im, policy, clock });
 * kept.load();
 * await kept.save(101, message);
 * (await kept.change(101, "m1", { msg: "fixed", editedAt: Date.now() }))?.editedAt;
 * ```
 * @module
 */
import { StorageError } from "../../protocol/errors.ts";
import type { Clock } from "../../util/clock.ts";
import { applyChange } from "../memory_tables.ts";
import type { MessageChange, StoredMessage, StorePolicy } from "../store.ts";
import type { ImStatements } from "./im_statements.ts";
import type { Writer } from "./writer.ts";

/** What {@linkcode KeptMessages} needs. */
export interface KeptMessagesDeps {
  writer: Writer;
  im: ImStatements;
  policy: StorePolicy;
  clock: Clock;
}

/** Messages deleted per prune step (one transaction). */
const BATCH = 2000;

/**
 * The kept messages.
 *
 * @example
 * ```ts
 * const found = kept.messages(101, ["m1", "m2"]); // Map msgId → StoredMessage
 * ```
 */
export class KeptMessages {
  readonly #d: KeptMessagesDeps;
  /** Rows in the file (committed). */
  #count = 0;
  /** Time of the oldest row, null when there is none; undefined when it must be read again. */
  #oldest: number | null | undefined;

  constructor(deps: KeptMessagesDeps) {
    this.#d = deps;
  }

  /** Messages kept (metrics). */
  get size(): number {
    return this.#count;
  }

  /** Read the count from the file (start-up: one index scan, no message bodies). */
  load(): void {
    this.#count = Number((this.#d.im.messageCount.get() as { n: number }).n);
    this.#oldest = undefined;
  }

  /** The `Store.saveMessage` contract: the first save of a msgId wins. */
  save(app: number, m: StoredMessage): Promise<void> {
    return this.#d.writer.submit("saveMessage", 1, (tx) => {
      const { changes } = this.#d.im.messageInsert.run(app, m.msgId, m.time, JSON.stringify(m));
      if (Number(changes) === 0) return;
      tx.onCommit(() => {
        this.#count++;
        if (this.#oldest === null) this.#oldest = undefined;
      });
    });
  }

  /** The `Store.messages` contract. Throws `StorageError`. */
  messages(app: number, msgIds: string[]): Map<string, StoredMessage> {
    const out = new Map<string, StoredMessage>();
    if (msgIds.length === 0) return out;
    try {
      const rows = this.#d.im.messageBodies.all(app, JSON.stringify(msgIds), this.#cutoff()) as {
        body: string;
      }[];
      for (const r of rows) {
        const m = JSON.parse(r.body) as StoredMessage;
        out.set(m.msgId, m);
      }
    } catch (error) {
      throw new StorageError("messages", error);
    }
    return out;
  }

  /** The `Store.changeMessage` contract: one read and one update in a writer operation. */
  change(app: number, msgId: string, change: MessageChange): Promise<StoredMessage | undefined> {
    return this.#d.writer.submit("changeMessage", 1, () => {
      const row = this.#d.im.messageBody.get(app, msgId, this.#cutoff()) as
        | { id: number; body: string }
        | undefined;
      if (!row) return undefined;
      const m = JSON.parse(row.body) as StoredMessage;
      if (applyChange(m, change)) this.#d.im.messageUpdate.run(JSON.stringify(m), row.id);
      return m;
    });
  }

  /** Whether the oldest kept message is past `maxAgeMs` (rowid order is send order): a prune step has work. */
  get aged(): boolean {
    if (this.#oldest === undefined) {
      const row = this.#d.im.messageOldestTime.get() as { time: number } | undefined;
      this.#oldest = row ? row.time : null;
    }
    return this.#oldest !== null && this.#oldest < this.#cutoff();
  }

  /** Delete up to 2000 of the oldest messages past `maxAgeMs`; resolves to how many. */
  async pruneStep(): Promise<number> {
    if (!this.aged) return 0;
    const oldest = this.#cutoff();
    return await this.#d.writer.submit("prune", BATCH, (tx) => {
      const rows = this.#d.im.messageOldest.all(BATCH) as { id: number; time: number }[];
      const gone: number[] = [];
      for (const r of rows) {
        if (r.time >= oldest) break; // send order: the rest are younger (a clock step back aside)
        gone.push(r.id);
      }
      if (gone.length === 0) {
        // a younger row first (the clock stepped back): wait until it ages too
        tx.onCommit(() => this.#oldest = rows[0]?.time ?? null);
        return 0;
      }
      this.#d.im.messageDelete.run(JSON.stringify(gone));
      tx.onCommit(() => {
        this.#count -= gone.length;
        this.#oldest = undefined;
      });
      return gone.length;
    });
  }

  /** Messages older than this (ms) are gone for every reader, deleted or not yet. */
  #cutoff(): number {
    return this.#d.clock.now() - this.#d.policy.maxAgeMs;
  }
}
