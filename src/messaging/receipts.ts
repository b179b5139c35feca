/**
 * Receipts (PROTOCOL.md C.3). `read` moves a conversation's read position (or every conversation's, in the
 * old form), tells the reader's other devices (`readState`, live), and sends each sender of a direct
 * message now read a `read` receipt; `ack` moves the delivered mark and sends `delivered` receipts. A
 * receipt is pushed live when its sender has a connection, else kept as an inbox entry so that the sender's
 * devices get it on resume. Receipts are never receipted; a sender who blocked the reader gets none.
 * Receipts to one sender from one reader are coalesced while a send is in flight (messaging/receipt_batch.ts):
 * one `read` for what came meanwhile, and no `delivered` for messages already read.
 * `read` and `ack` resolve once the send carrying their receipts went out, so their 200 means committed.
 *
 * @example
 * ```ts
 * const receipts = new Receipts({ store, bus, presence, pushes, ids, clock, delivered: true, scanLimit: 1000,
 *   coalesceMs: 50, onError: console.error });
 * await receipts.read(101, "bob", "u:alice", 7, conn.id);
 * await receipts.close(); // sends what is still coalescing
 * ```
 * @module
 */
import { conversationOf, type EntryFields, type Pushes } from "../protocol/pushes.ts";
import type { Bus } from "../session/bus.ts";
import type { Presence } from "../session/presence.ts";
import type { InboxEntry, ReadChange, Store } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import type { IdGenerator } from "../util/ids.ts";
import { appendEvent } from "./events.ts";
import { type CoalescedReceipts, ReceiptBatch } from "./receipt_batch.ts";

/** What receipts need. */
export interface ReceiptDeps {
  store: Store;
  bus: Bus;
  presence: Presence;
  pushes: Pushes;
  ids: IdGenerator;
  clock: Clock;
  /** Send `delivered` receipts on `ack` (`receipts.delivered`). */
  delivered: boolean;
  /** Most entries read back to find the messages concerned (`inbox.maxEntries`). */
  scanLimit: number;
  /** `receipts.coalesce` (ms): > 0 coalesces receipts while a send is in flight, 0 sends each on its own. */
  coalesceMs: number;
  /** A receipt that could not be sent (the store failed): logged, the read or ack itself stands. */
  onError: (error: unknown) => void;
}

/** Read positions and receipts of one server. */
export class Receipts {
  readonly #d: ReceiptDeps;
  readonly #batch: ReceiptBatch;

  constructor(deps: ReceiptDeps) {
    this.#d = deps;
    this.#batch = new ReceiptBatch(deps.coalesceMs > 0, (r) => this.#send(r), deps.onError);
  }

  /** Receipts still coalescing (a gauge). */
  get pending(): number {
    return this.#batch.size;
  }

  /** Send the receipts still coalescing (shutdown: before the store closes). */
  close(): Promise<void> {
    return this.#batch.close();
  }

  /** `read {conversation?, seq}`: resolves to the conversations whose read position moved. */
  async read(
    appId: number,
    reader: string,
    conversation: string | undefined,
    seq: number,
    originConnId?: string,
  ): Promise<ReadChange[]> {
    const changes = await this.#d.store.markRead(appId, reader, conversation, seq);
    if (changes.length === 0) return changes;
    for (const c of changes) {
      const push = this.#d.pushes.readState({ conversation: c.id, readSeq: c.readSeq, unread: c.unread });
      this.#d.bus.sendToUser(appId, reader, push, originConnId);
    }
    const moved = new Map(changes.map((c) => [c.id, c]));
    const from = Math.min(...changes.map((c) => c.previous));
    const to = Math.max(...changes.map((c) => c.readSeq));
    const read = (await this.#between(appId, reader, from, to)).filter((e) => {
      const c = moved.get(conversationOf(e, reader));
      return c !== undefined && e.seq > c.previous && e.seq <= c.readSeq;
    });
    await this.#queue(appId, reader, read, "read", to);
    return changes;
  }

  /** `ack {seq}`: the delivered mark; resolves to its value now. */
  async ack(appId: number, user: string, seq: number): Promise<number> {
    const { previous, current } = await this.#d.store.advanceMark(appId, user, "ack", seq);
    if (!this.#d.delivered || current <= previous) return current;
    const acked = await this.#between(appId, user, previous, current);
    await this.#queue(appId, user, acked, "delivered");
    return current;
  }

  /** Direct messages from others with previous < seq ≤ current, oldest first. */
  async #between(appId: number, user: string, previous: number, current: number): Promise<InboxEntry[]> {
    const n = Math.min(current - previous, this.#d.scanLimit);
    if (n <= 0) return [];
    const entries = await this.#d.store.rangeBefore(appId, user, current + 1, n);
    return entries.reverse().filter((e) =>
      e.seq > previous && (e.kind ?? "msg") === "msg" && e.target === "" && e.from !== "" && e.from !== user
    );
  }

  /** One receipt per sender of `entries`, into the coalescing window. */
  async #queue(
    appId: number,
    by: string,
    entries: InboxEntry[],
    kind: "read" | "delivered",
    upTo?: number,
  ): Promise<void> {
    const bySender = new Map<string, string[]>();
    for (const e of entries) {
      let ids = bySender.get(e.from);
      if (!ids) bySender.set(e.from, ids = []);
      ids.push(e.msgId);
    }
    const time = this.#d.clock.now();
    await Promise.all(
      [...bySender].map(([sender, msgIds]) =>
        this.#batch.add({ appId, sender, by, kind, msgIds, upTo, time })
      ),
    );
  }

  /** Send what the window gathered for one sender: live when connected, else as inbox entries. */
  async #send(r: CoalescedReceipts): Promise<void> {
    const { appId, sender, by, time } = r;
    // receipts from a user the sender blocked are dropped
    if ((await this.#d.store.blockersOf(appId, by, [sender])).has(sender)) return;
    const online = (await this.#d.presence.connections(appId, sender)).length > 0;
    const conversation = `u:${by}`;
    if (r.delivered.length > 0) {
      if (online) {
        this.#d.bus.sendToUser(
          appId,
          sender,
          this.#d.pushes.delivered({ by, conversation, msgIds: r.delivered, time }),
        );
      } else await this.#store(appId, "delivered", by, sender, r.delivered, time);
    }
    if (r.read.length > 0) {
      if (online) {
        const push = this.#d.pushes.read({
          from: by,
          to: sender,
          conversation,
          msgIds: r.read,
          upTo: r.upTo,
          time,
        });
        this.#d.bus.sendToUser(appId, sender, push);
      } else await this.#store(appId, "read", by, sender, r.read, time, r.upTo);
    }
  }

  /** A receipt kept as an inbox entry of its (offline) sender. */
  #store(
    appId: number,
    kind: "read" | "delivered",
    by: string,
    sender: string,
    msgIds: string[],
    time: number,
    upTo?: number,
  ): Promise<void> {
    const fields: EntryFields = {
      msgId: this.#d.ids.msgId(),
      from: by,
      to: sender,
      target: "",
      type: kind,
      msg: "",
      time,
      kind,
      by,
      msgIds,
      ...(upTo !== undefined ? { upTo } : {}),
    };
    return appendEvent(this.#d.store, this.#d.bus, appId, [sender], fields);
  }
}
