/**
 * Receipts (PROTOCOL.md C.3). `read` moves a conversation's read position (or every conversation's, in the
 * old form), tells the reader's other devices (`readState`, live), and sends each sender of a direct
 * message now read a `read` receipt; `ack` moves the delivered mark and sends `delivered` receipts. A
 * receipt is pushed live when its sender has a connection, else kept as an inbox entry so that the sender's
 * devices get it on resume. Receipts are never receipted; a sender who blocked the reader gets none.
 *
 * @example
 * ```ts
 * const receipts = new Receipts({ store, bus, presence, pushes, ids, clock, delivered: true, scanLimit: 1000 });
 * await receipts.read(101, "bob", "u:alice", 7, conn.id);
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
}

/** Read positions and receipts of one server. */
export class Receipts {
  readonly #d: ReceiptDeps;

  constructor(deps: ReceiptDeps) {
    this.#d = deps;
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
    const time = this.#d.clock.now();
    await this.#notify(appId, reader, read, (sender, msgIds) => ({
      live: this.#d.pushes.read({
        from: reader,
        to: sender,
        conversation: `u:${reader}`,
        msgIds,
        upTo: to,
        time,
      }),
      stored: this.#receipt("read", reader, sender, msgIds, time, to),
    }));
    return changes;
  }

  /** `ack {seq}`: the delivered mark; resolves to its value now. */
  async ack(appId: number, user: string, seq: number): Promise<number> {
    const { previous, current } = await this.#d.store.advanceMark(appId, user, "ack", seq);
    if (!this.#d.delivered || current <= previous) return current;
    const acked = await this.#between(appId, user, previous, current);
    const time = this.#d.clock.now();
    await this.#notify(appId, user, acked, (sender, msgIds) => ({
      live: this.#d.pushes.delivered({ by: user, conversation: `u:${user}`, msgIds, time }),
      stored: this.#receipt("delivered", user, sender, msgIds, time),
    }));
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

  #receipt(
    kind: "read" | "delivered",
    by: string,
    sender: string,
    msgIds: string[],
    time: number,
    upTo?: number,
  ): EntryFields {
    return {
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
  }

  /** One receipt per sender: live when the sender has a connection, else an inbox entry. */
  async #notify(
    appId: number,
    by: string,
    entries: InboxEntry[],
    make: (sender: string, msgIds: string[]) => { live: string; stored: EntryFields },
  ): Promise<void> {
    const bySender = new Map<string, string[]>();
    for (const e of entries) {
      let ids = bySender.get(e.from);
      if (!ids) bySender.set(e.from, ids = []);
      ids.push(e.msgId);
    }
    if (bySender.size === 0) return;
    const blockers = await this.#d.store.blockersOf(appId, by, [...bySender.keys()]);
    await Promise.all([...bySender].map(async ([sender, msgIds]) => {
      if (blockers.has(sender)) return; // receipts from a user the sender blocked are dropped
      const { live, stored } = make(sender, msgIds);
      const online = (await this.#d.presence.connections(appId, sender)).length > 0;
      if (online) this.#d.bus.sendToUser(appId, sender, live);
      else await appendEvent(this.#d.store, this.#d.bus, appId, [sender], stored);
    }));
  }
}
