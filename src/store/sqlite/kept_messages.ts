/**
 * Messages kept once per app on the SQLite store (`Store.saveMessage`, edits and recalls): one row per
 * message, appended in send order, found through a map held in memory (app + msgId → rowid and time,
 * rebuilt by one scan at start-up) so a save is one appended row and a lookup one primary-key read.
 *
 * A message is kept for `maxAgeMs` from its time, then deleted in background batches from the oldest
 * row on (rowid order is send order). Unlike the memory engine, which also lets a message go once no
 * inbox entry or timeline position refers to it, a message whose entries were all trimmed by count is
 * kept until it ages out: on disk that costs bytes, not memory, and history reads stay complete.
 *
 * @example
 * ```ts
 * const kept = new KeptMessages({ writer, im, policy, clock });
 * kept.load(db);
 * await kept.save(101, message);
 * (await kept.change(101, "m1", { msg: "fixed", editedAt: Date.now() }))?.editedAt;
 * ```
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { StorageError } from "../../protocol/errors.ts";
import type { Clock } from "../../util/clock.ts";
import { applyChange } from "../memory_tables.ts";
import type { MessageChange, StoredMessage, StorePolicy } from "../store.ts";
import type { ImStatements } from "./im_statements.ts";
import { returnArrays } from "./inboxes.ts";
import type { Writer } from "./writer.ts";

/** What {@linkcode KeptMessages} needs. */
export interface KeptMessagesDeps {
  writer: Writer;
  im: ImStatements;
  policy: StorePolicy;
  clock: Clock;
}

interface Row {
  id: number;
  time: number;
}

const key = (app: number, msgId: string) => `${app}\u0000${msgId}`;

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
  readonly #rows = new Map<string, Row>();

  constructor(deps: KeptMessagesDeps) {
    this.#d = deps;
  }

  /** Messages kept (metrics). */
  get size(): number {
    return this.#rows.size;
  }

  /** Rebuild the map from the file. */
  load(db: DatabaseSync): void {
    const rows = db.prepare("SELECT id, app, msg_id, time FROM messages ORDER BY id");
    returnArrays(rows);
    for (const [id, app, msgId, time] of rows.iterate() as Iterable<[number, number, string, number]>) {
      this.#rows.set(key(app, msgId), { id, time });
    }
  }

  /** The `Store.saveMessage` contract: the first save of a msgId wins. */
  save(app: number, m: StoredMessage): Promise<void> {
    const k = key(app, m.msgId);
    if (this.#rows.has(k)) return Promise.resolve();
    return this.#d.writer.submit("saveMessage", 1, (tx) => {
      if (this.#rows.has(k)) return;
      const id = Number(
        this.#d.im.messageInsert.run(app, m.msgId, m.time, JSON.stringify(m)).lastInsertRowid,
      );
      const row = { id, time: m.time };
      this.#rows.set(k, row);
      tx.onRollback(() => this.#rows.get(k) === row && this.#rows.delete(k));
    });
  }

  /** The `Store.messages` contract. Throws `StorageError`. */
  messages(app: number, msgIds: string[]): Map<string, StoredMessage> {
    const oldest = this.#d.clock.now() - this.#d.policy.maxAgeMs;
    const ids: number[] = [];
    for (const msgId of msgIds) {
      const row = this.#rows.get(key(app, msgId));
      if (row && row.time >= oldest) ids.push(row.id);
    }
    const out = new Map<string, StoredMessage>();
    if (ids.length === 0) return out;
    try {
      for (const r of this.#d.im.messageBodies.all(JSON.stringify(ids)) as { body: string }[]) {
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
      const row = this.#rows.get(key(app, msgId));
      if (!row || row.time < this.#d.clock.now() - this.#d.policy.maxAgeMs) return undefined;
      const body = this.#d.im.messageBody.get(row.id) as { body: string } | undefined;
      if (!body) return undefined;
      const m = JSON.parse(body.body) as StoredMessage;
      if (applyChange(m, change)) this.#d.im.messageUpdate.run(JSON.stringify(m), row.id);
      return m;
    });
  }

  /** Whether the oldest kept message is past `maxAgeMs` (the map is in send order): a prune step has work. */
  get aged(): boolean {
    const first = this.#rows.values().next();
    return !first.done && first.value.time < this.#d.clock.now() - this.#d.policy.maxAgeMs;
  }

  /** Delete up to 2000 of the oldest messages past `maxAgeMs`; resolves to how many. */
  async pruneStep(): Promise<number> {
    if (!this.aged) return 0;
    const oldest = this.#d.clock.now() - this.#d.policy.maxAgeMs;
    return await this.#d.writer.submit("prune", BATCH, (tx) => {
      const rows = this.#d.im.messageOldest.all(BATCH) as {
        id: number;
        app: number;
        msgId: string;
        time: number;
      }[];
      const gone: typeof rows = [];
      for (const r of rows) {
        if (r.time >= oldest) break; // send order: the rest are younger (a clock step back aside)
        gone.push(r);
      }
      if (gone.length === 0) return 0;
      this.#d.im.messageDelete.run(JSON.stringify(gone.map((r) => r.id)));
      tx.onCommit(() => {
        for (const r of gone) {
          const k = key(r.app, r.msgId);
          if (this.#rows.get(k)?.id === r.id) this.#rows.delete(k);
        }
      });
      return gone.length;
    });
  }
}
