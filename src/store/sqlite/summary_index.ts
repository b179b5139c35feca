/**
 * The working state of one inbox's conversation summaries on the SQLite store: what the rules of
 * store/conversations.ts look up besides the conversations themselves — the msgId index of the message
 * entries still kept, the dead marks (recalled or deleted for the owner) and, for forgetting in order, the
 * kept entries those rules care about (messages, recalls, deletions) without their text.
 *
 * It is rebuilt from the file the first time an inbox's summaries are used after a start
 * ({@linkcode SummaryIndex.hydrate}: the kept rows plus the `dead` rows), so start-up does not read
 * entry bodies. The conversations are not here: they are durable rows loaded at start (summaries.ts).
 *
 * A dead mark outlives the trims only as the memory engine's `forget` lets it: while its message is kept,
 * or — when its message was not in the inbox when the mark was set (`msgSeq` 0) — while the event that set
 * it is kept. A mark the trims made obsolete while the inbox was not loaded is dropped at hydrate and
 * reported, so its row goes too.
 *
 * @example
 * ```ts
 * const work = SummaryIndex.hydrate(convs, "bob", kept, deadRows, firstKept, (d) => stale.push(d));
 * work.forgetBefore(firstKept, (msgId, markSeq) => rows.push([msgId, markSeq]));
 * work.previous("u:alice", 42, "bob"); // { id, seq } of the newest live message of u:alice before 42
 * ```
 * @module
 */
import { conversationOf } from "../../protocol/pushes.ts";
import { forget, isLiveMessage, type Summaries } from "../conversations.ts";
import type { Conversation, InboxEntry } from "../store.ts";

/** One `dead` row. */
export interface DeadRow {
  msgId: string;
  /** Seq of the message when it was marked; 0 when it was not in the inbox. */
  msgSeq: number;
  /** Seq of the recall or deletion that set the mark. */
  markSeq: number;
}

/** A kept entry of a kind the rules care about, without its text. */
interface Tracked {
  /** Rowid of the entry (read back for a preview). */
  id: number;
  e: InboxEntry;
}

const tracked = (e: InboxEntry): boolean => {
  const kind = e.kind ?? "msg";
  return kind === "msg" || ((kind === "recall" || kind === "delete") && e.ref !== undefined);
};

/**
 * What the rules need of an entry: everything but the text. The optional keys are added in place (same
 * key order), not spread from temporary objects: this runs for every entry appended.
 */
const slim = (e: InboxEntry): InboxEntry => {
  const out: InboxEntry = {
    msgId: e.msgId,
    from: e.from,
    to: e.to,
    target: e.target,
    type: "",
    msg: "",
    time: e.time,
    seq: e.seq,
  };
  if (e.kind !== undefined) out.kind = e.kind;
  if (e.ref !== undefined) out.ref = e.ref;
  if (e.by !== undefined) out.by = e.by;
  return out;
};

/**
 * Index, dead marks and tracked entries of one inbox.
 *
 * @example
 * ```ts
 * const work = new SummaryIndex(convs);
 * work.track(rowid, entry); // after applyEntry(work.s, entry, owner, …)
 * ```
 */
export class SummaryIndex {
  /** The `Summaries` the shared rules run on (`convs` is the inbox's durable map). */
  readonly s: Summaries;
  /** Dead msgId → seq of the event that marked it (the row's `mark_seq`). */
  readonly markSeq = new Map<string, number>();
  readonly #kept: Tracked[] = [];
  #head = 0;

  constructor(convs: Map<string, Conversation>) {
    this.s = { convs, index: new Map(), dead: new Set() };
  }

  /**
   * Rebuild from the kept entries (oldest first, with their rowids) and the `dead` rows; marks made
   * obsolete by trims go to `stale`.
   */
  static hydrate(
    convs: Map<string, Conversation>,
    owner: string,
    kept: { id: number; e: InboxEntry }[],
    deadRows: DeadRow[],
    firstKept: number,
    stale: (row: DeadRow) => void,
  ): SummaryIndex {
    const work = new SummaryIndex(convs);
    for (const { id, e } of kept) {
      const conv = conversationOf(e, owner);
      if ((e.kind ?? "msg") === "msg" && conv !== "") {
        work.s.index.set(e.msgId, { seq: e.seq, from: e.from, conv });
      }
      work.track(id, e);
    }
    for (const row of deadRows) {
      if (work.s.index.has(row.msgId) || (row.msgSeq === 0 && row.markSeq >= firstKept)) {
        work.s.dead.add(row.msgId);
        work.markSeq.set(row.msgId, row.markSeq);
      } else stale(row);
    }
    return work;
  }

  /** Follow a kept entry (applied to `s` already, or loaded). */
  track(id: number, e: InboxEntry): void {
    if (tracked(e)) this.#kept.push({ id, e: slim(e) });
  }

  /**
   * Forget the tracked entries with seq below `bound` (trimmed from the inbox), oldest first, as the
   * memory engine forgets each trimmed entry; `dropped` hears each dead mark that goes.
   */
  forgetBefore(bound: number, dropped: (msgId: string, markSeq: number) => void): void {
    const kept = this.#kept;
    while (this.#head < kept.length && kept[this.#head].e.seq < bound) {
      const { e } = kept[this.#head++];
      const about = (e.kind ?? "msg") === "msg" ? e.msgId : e.ref!;
      const was = this.s.dead.has(about);
      forget(this.s, e);
      if (was && !this.s.dead.has(about)) {
        dropped(about, this.markSeq.get(about) ?? 0);
        this.markSeq.delete(about);
      }
    }
    if (this.#head > 64 && this.#head * 2 > kept.length) {
      kept.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** Rowid and seq of the newest live message of `conv` before `before` (for a deleted last message). */
  previous(conv: string, before: number, owner: string): { id: number; seq: number } | undefined {
    for (let i = this.#kept.length - 1; i >= this.#head; i--) {
      const { id, e } = this.#kept[i];
      if (e.seq < before && isLiveMessage(this.s, e, conv, owner)) return { id, seq: e.seq };
    }
    return undefined;
  }

  /** The tracked entries after `seq`, oldest first (the unread recount of `markRead`). */
  *after(seq: number): Generator<InboxEntry> {
    // Seq order: binary search for the first one after `seq` (a read is usually near the end).
    let lo = this.#head, hi = this.#kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#kept[mid].e.seq > seq) hi = mid;
      else lo = mid + 1;
    }
    for (let i = lo; i < this.#kept.length; i++) yield this.#kept[i].e;
  }

  /** The msgIds among `wanted` that a kept deletion hides for the owner. */
  hidden(wanted: Set<string>): Set<string> {
    const out = new Set<string>();
    for (let i = this.#head; i < this.#kept.length; i++) {
      const e = this.#kept[i].e;
      if (e.kind === "delete" && e.ref && wanted.has(e.ref)) out.add(e.ref);
    }
    return out;
  }
}
