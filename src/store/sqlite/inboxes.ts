/**
 * The SQLite store's in-memory map of inboxes: per (appId, userId) the generation, the head, the marks
 * and the rowids and times of the entries kept, oldest first. It is what lets `entries` be an append-only
 * table without a per-inbox index (schema.ts explains why), and what answers `head`, `mark` and the
 * bounds of `range` without touching the file. About 16 bytes per stored entry plus ~200 per inbox.
 *
 * State changes only after the writer committed them (the store calls {@linkcode InboxIndex.add} and
 * {@linkcode InboxIndex.push} from commit hooks), so memory never holds what the file lost. Trimming
 * (by count and age, like the memory store) drops entries from memory at once and hands their rowids to
 * `onDrop`, which deletes them from the file in background batches; if that is lost in a crash, the
 * start-up scan ({@linkcode InboxIndex.load}) trims them again.
 *
 * @example
 * ```ts
 * const index = new InboxIndex(policy, (id, inbox) => deletes.push(id));
 * index.load(db, Date.now());
 * index.get(101, "bob")?.lastSeq;
 * ```
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Mark, StorePolicy } from "../store.ts";

/** One inbox as held in memory. */
export interface Inbox {
  readonly app: number;
  readonly user: string;
  /** Generation (inboxes.gen): part of the epoch, new each time the inbox is created. */
  readonly gen: number;
  /** Highest seq committed; the next append gets lastSeq + 1. */
  lastSeq: number;
  /** Rowids of kept entries, oldest first; [start, length) are live (trimmed ones are dropped lazily). */
  ids: number[];
  times: number[];
  start: number;
  marks: Record<Mark, number>;
  /** msgId → seq of idempotent appends (validated against the kept range on use). */
  byMsgId?: Map<string, number>;
}

/** The map key of an inbox. */
export const inboxKey = (app: number, user: string): string => `${app}\u0000${user}`;

/**
 * Every inbox of the store, in memory.
 *
 * @example
 * ```ts
 * const index = new InboxIndex(policy, (id, inbox, seq) => retention.trimmed(id, inbox.gen, seq));
 * ```
 */
export class InboxIndex {
  readonly #policy: StorePolicy;
  readonly #onDrop: (id: number, inbox: Inbox, seq: number) => void;
  readonly #inboxes = new Map<string, Inbox>();
  #entries = 0;

  constructor(policy: StorePolicy, onDrop: (id: number, inbox: Inbox, seq: number) => void) {
    this.#policy = policy;
    this.#onDrop = onDrop;
  }

  /** Inboxes held. */
  get size(): number {
    return this.#inboxes.size;
  }

  /** Entries kept in all inboxes. */
  get entries(): number {
    return this.#entries;
  }

  get(app: number, user: string): Inbox | undefined {
    return this.#inboxes.get(inboxKey(app, user));
  }

  /** Iterate the inboxes (for the bounded prune steps). */
  values(): IterableIterator<Inbox> {
    return this.#inboxes.values();
  }

  /** Register a committed new inbox. */
  add(app: number, user: string, gen: number, lastSeq = 0): Inbox {
    const inbox: Inbox = {
      app,
      user,
      gen,
      lastSeq,
      ids: [],
      times: [],
      start: 0,
      marks: { ack: 0, read: 0, delivered: 0 },
    };
    this.#inboxes.set(inboxKey(app, user), inbox);
    return inbox;
  }

  /** Forget a dropped inbox (its rows are deleted by the caller). */
  remove(inbox: Inbox): void {
    if (this.#inboxes.get(inboxKey(inbox.app, inbox.user)) !== inbox) return;
    this.#inboxes.delete(inboxKey(inbox.app, inbox.user));
    this.#entries -= inbox.ids.length - inbox.start;
  }

  /** Record a committed entry (seq = lastSeq + 1) and trim to maxEntries. */
  push(inbox: Inbox, id: number, time: number, mid: string | undefined): number {
    const seq = ++inbox.lastSeq;
    inbox.ids.push(id);
    inbox.times.push(time);
    this.#entries++;
    if (mid !== undefined) (inbox.byMsgId ??= new Map()).set(mid, seq);
    this.#trim(inbox, this.#policy.maxEntries, -Infinity);
    return seq;
  }

  /** Seq of the first kept entry (lastSeq + 1 when none). */
  firstKept(inbox: Inbox): number {
    return inbox.lastSeq - (inbox.ids.length - inbox.start) + 1;
  }

  /** Drop entries older than `oldest` (ms) from the front. */
  trimAge(inbox: Inbox, oldest: number): void {
    this.#trim(inbox, Infinity, oldest);
  }

  #trim(inbox: Inbox, maxEntries: number, oldest: number): void {
    const { ids, times } = inbox;
    while (
      ids.length - inbox.start > maxEntries || (inbox.start < ids.length && times[inbox.start] < oldest)
    ) {
      const seq = this.firstKept(inbox);
      this.#onDrop(ids[inbox.start], inbox, seq);
      inbox.start++;
      this.#entries--;
    }
    if (inbox.start > 64 && inbox.start * 2 > ids.length) {
      ids.splice(0, inbox.start);
      times.splice(0, inbox.start);
      inbox.start = 0;
    }
  }

  /** The seq an idempotent append of `msgId` got, if that entry is still kept. */
  repeated(inbox: Inbox, msgId: string): number | undefined {
    const seq = inbox.byMsgId?.get(msgId);
    if (seq === undefined) return undefined;
    if (seq >= this.firstKept(inbox)) return seq;
    inbox.byMsgId!.delete(msgId);
    return undefined;
  }

  /** Forget msgIds of entries trimmed since (bounded memory for long-lived inboxes). */
  sweepMsgIds(inbox: Inbox): void {
    if (!inbox.byMsgId) return;
    const first = this.firstKept(inbox);
    for (const [mid, seq] of inbox.byMsgId) if (seq < first) inbox.byMsgId.delete(mid);
    if (inbox.byMsgId.size === 0) inbox.byMsgId = undefined;
  }

  /** Rowids of the kept entries with seq in [from, to], oldest first. */
  ids(inbox: Inbox, from: number, to: number): number[] {
    const first = this.firstKept(inbox);
    const lo = Math.max(from, first), hi = Math.min(to, inbox.lastSeq);
    if (hi < lo) return [];
    const base = inbox.start - first;
    return inbox.ids.slice(base + lo, base + hi + 1);
  }

  /**
   * Rebuild from the file: every inbox row, then every entry in commit order. Entries over the policy
   * (a crash lost their background deletion) go to `onDrop` like any trimmed entry; rows of unknown
   * inboxes or out of sequence go to `orphan`; the caller deletes both.
   */
  load(db: DatabaseSync, now: number, orphan: (id: number) => void): void {
    const inboxes = db.prepare(
      "SELECT gen, app, user, last_seq, ack_seq, read_seq, delivered_seq FROM inboxes",
    );
    returnArrays(inboxes);
    for (
      const row of inboxes.iterate() as Iterable<[number, number, string, number, number, number, number]>
    ) {
      const inbox = this.add(row[1], row[2], row[0], row[3]);
      inbox.marks = { ack: row[4], read: row[5], delivered: row[6] };
    }
    const byGen = new Map<number, Inbox>();
    for (const inbox of this.#inboxes.values()) byGen.set(inbox.gen, inbox);
    const entries = db.prepare("SELECT id, gen, seq, time, mid FROM entries ORDER BY id");
    returnArrays(entries);
    for (const row of entries.iterate() as Iterable<[number, number, number, number, string | null]>) {
      const [id, gen, seq, time, mid] = row;
      const inbox = byGen.get(gen);
      if (!inbox || seq <= inbox.lastSeq) {
        orphan(id);
        continue;
      }
      // A hole (rows lost out of order): what came before it is no longer a live prefix.
      if (seq !== inbox.lastSeq + 1) {
        while (inbox.start < inbox.ids.length) {
          orphan(inbox.ids[inbox.start++]);
          this.#entries--;
        }
        inbox.lastSeq = seq - 1;
      }
      this.push(inbox, id, time, mid ?? undefined);
    }
    const oldest = now - this.#policy.maxAgeMs;
    for (const inbox of this.#inboxes.values()) this.trimAge(inbox, oldest);
  }
}

/**
 * Rows as arrays instead of objects (no property names per row: the start-up scan reads millions).
 * Deno 2.9's node:sqlite has `setReturnArrays`, its type declarations do not yet.
 */
export function returnArrays(statement: StatementSync): void {
  (statement as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
}
