/**
 * Conversation summaries on the SQLite store (PROTOCOL.md C.2–C.4). The rules are store/conversations.ts,
 * run unchanged; this module owns where their state lives:
 * - the conversations of every inbox, in memory and durable: each transaction that changes one writes
 *   its new version as a row (schema.ts), in the same transaction as the entries that changed it, so a
 *   crash never leaves a summary behind or ahead of its inbox. Superseded rows are deleted in background
 *   batches; at start-up the newest row of each conversation wins.
 * - the working state (msgId index, dead marks, kept entries: summary_index.ts), rebuilt from the file
 *   the first time an inbox is used after a start.
 *
 * Appends are followed in the overlay's `beforeCommit` (overlay.ts), after the transaction's entry rows
 * are written and before COMMIT; a read position moves inside its own writer operation. Both change the
 * conversations in memory ahead of COMMIT — the whole transaction runs synchronously, so nothing else
 * sees them before — and keep each conversation's prior state; a rollback puts those back and drops the
 * working state of the inboxes touched (it is rebuilt from the file on next use).
 *
 * Trims follow the memory engine's order: an entry is forgotten before the next entry is applied when
 * the count bound or the age bound (at the first append of the transaction) removed it.
 *
 * @example
 * ```ts
 * const summaries = new ConversationSummaries({ statements, im, index, policy, clock });
 * overlay.follow(summaries);
 * summaries.load(db);
 * summaries.conversations(inbox, 20); // { items, more }
 * ```
 * @size One owner of the summaries' state and of its transaction protocol (follow, write, commit, roll
 * back): split, the undo record would be written in one file and read in another.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { conversationOf } from "../../protocol/pushes.ts";
import { StorageError } from "../../protocol/errors.ts";
import type { Clock } from "../../util/clock.ts";
import { applyEntry, markRead, overCap, pageOf, type Summaries } from "../conversations.ts";
import type { Conversation, InboxEntry, NewEntry, ReadChange, StorePolicy } from "../store.ts";
import { CONV_COLUMNS, type ImStatements } from "./im_statements.ts";
import { type Inbox, type InboxIndex, returnArrays } from "./inboxes.ts";
import type { OverlayHooks, Pending } from "./overlay.ts";
import { ROWS_PER_INSERT, type Statements } from "./statements.ts";
import { type DeadRow, SummaryIndex } from "./summary_index.ts";
import type { Tx, Writer } from "./writer.ts";

/** What {@linkcode ConversationSummaries} needs. */
export interface SummariesDeps {
  writer: Writer;
  statements: Statements;
  im: ImStatements;
  index: InboxIndex;
  policy: StorePolicy;
  clock: Clock;
}

/** The summaries of one inbox. */
interface InboxSummary {
  convs: Map<string, Conversation>;
  /** Conversation id → rowid of its current row. */
  rows: Map<string, number>;
  work?: SummaryIndex;
}

/** What one transaction changed, to write before COMMIT and to undo on rollback. */
interface TxChanges {
  /** gen → conversation id → the conversation before this transaction (undefined: it is new). */
  before: Map<number, Map<string, Conversation | undefined>>;
  /** Dead marks the transaction's trims made obsolete: [gen, msgId, markSeq]. */
  obsolete: [number, string, number][];
  /** Conversation rows written: [gen, conv, rowid, true for the tombstone of a conversation dropped]. */
  written: [number, string, number, boolean][];
  /** Inboxes deleted. */
  dropped: Set<number>;
  /** Inboxes whose working state this transaction changed (dropped on rollback). */
  worked: Set<number>;
  /** The entries this transaction appended, by rowid (their rows are written just before COMMIT). */
  bodies: Map<number, InboxEntry>;
}

/** Whether a conversation is unchanged from its prior copy (`last` is replaced, never changed in place). */
const same = (a: Conversation, b: Conversation): boolean =>
  a.last === b.last && a.time === b.time && a.seq === b.seq && a.readSeq === b.readSeq &&
  a.unread === b.unread;

/**
 * The conversation summaries of every inbox.
 *
 * @example
 * ```ts
 * const changes = summaries.markRead(tx, inbox, "u:alice", 42); // inside a writer operation
 * ```
 */
export class ConversationSummaries implements OverlayHooks {
  readonly #d: SummariesDeps;
  readonly #byGen = new Map<number, InboxSummary>();
  #nextRow = 1;
  /** Superseded conversation rows waiting for deletion. */
  #convDrops: number[] = [];
  /** Obsolete dead marks waiting for deletion: [gen, msgId, markSeq]. */
  #deadDrops: [number, string, number][] = [];
  #tx: Tx | undefined;
  #changes: TxChanges | undefined;

  constructor(deps: SummariesDeps) {
    this.#d = deps;
  }

  /** Inboxes whose working state is held (rebuilt from the file on first use, released when idle). */
  get working(): number {
    let n = 0;
    for (const sum of this.#byGen.values()) if (sum.work) n++;
    return n;
  }

  /**
   * Let go of an inbox's working state (its user is not connected; retention looks at every inbox in
   * turn): it is rebuilt from the file on next use. Never inside a transaction.
   */
  release(gen: number): void {
    const sum = this.#byGen.get(gen);
    if (sum) sum.work = undefined;
  }

  /** Rows waiting for background deletion. */
  get pending(): number {
    return this.#convDrops.length + this.#deadDrops.length;
  }

  /** Load every conversation's newest row (after the inbox map is loaded); older rows are queued. */
  load(db: DatabaseSync): void {
    const known = new Set<number>();
    for (const inbox of this.#d.index.values()) known.add(inbox.gen);
    const rows = db.prepare("SELECT id, gen, conv, body FROM conversations ORDER BY id");
    returnArrays(rows);
    let max = 0;
    for (const row of rows.iterate() as Iterable<[number, number, string, string]>) {
      const [id, gen, conv, body] = row;
      max = Math.max(max, id);
      if (!known.has(gen)) {
        this.#convDrops.push(id);
        continue;
      }
      const sum = this.#summary(gen);
      const old = sum.rows.get(conv);
      if (old !== undefined) this.#convDrops.push(old);
      const c = JSON.parse(body) as Conversation | null;
      if (c === null) {
        // the tombstone of a dropped conversation: it and what it hides go
        sum.rows.delete(conv);
        sum.convs.delete(conv);
        this.#convDrops.push(id);
        continue;
      }
      sum.rows.set(conv, id);
      sum.convs.set(conv, c);
    }
    this.#nextRow = max + 1;
  }

  /** The `Store.conversations` contract on a committed inbox. */
  conversations(
    inbox: Inbox | undefined,
    limit: number,
    before?: number,
  ): { items: Conversation[]; more: boolean } {
    const convs = inbox && this.#byGen.get(inbox.gen)?.convs;
    if (!convs) return { items: [], more: false };
    return pageOf({ convs, index: new Map(), dead: new Set() }, limit, before);
  }

  /** The `Store.unreadTotal` contract. */
  unreadTotal(inbox: Inbox | undefined): number {
    let n = 0;
    for (const c of (inbox && this.#byGen.get(inbox.gen)?.convs.values()) ?? []) n += c.unread;
    return n;
  }

  /** The `Store.hiddenAmong` contract. Throws `StorageError`. */
  hiddenAmong(inbox: Inbox | undefined, msgIds: string[]): Set<string> {
    if (!inbox || msgIds.length === 0) return new Set();
    const work = this.#work(this.#summary(inbox.gen), inbox, inbox.user, this.#deadDrops);
    return work.hidden(new Set(msgIds));
  }

  /** Whether a `markRead` of `conv` (all when undefined) to `seq` would change anything. */
  wouldRead(inbox: Inbox | undefined, conv: string | undefined, seq: number): boolean {
    const convs = inbox && this.#byGen.get(inbox.gen)?.convs;
    if (!convs) return false;
    const target = Math.min(Math.floor(seq), inbox.lastSeq);
    if (conv !== undefined) return (convs.get(conv)?.readSeq ?? Infinity) < target;
    for (const c of convs.values()) if (c.readSeq < target) return true;
    return false;
  }

  /**
   * The `Store.markRead` contract, inside a writer operation, on the inbox as this transaction sees it: the
   * transaction's earlier appends to it are followed first, as the memory engine would have applied them.
   */
  markRead(tx: Tx, p: Pending, conv: string | undefined, seq: number): ReadChange[] {
    const changes = this.#for(tx);
    if (p.entries.length > p.followed) this.#follow(changes, p);
    const sum = this.#byGen.get(p.gen);
    if (!sum) return [];
    changes.worked.add(p.gen);
    const work = this.#ensure(changes, sum, p, p.followed);
    // The memory engine trimmed by count after the last of those appends, too.
    work.forgetBefore(
      p.lastSeq - this.#d.policy.maxEntries + 1,
      (msgId, markSeq) => changes.obsolete.push([p.gen, msgId, markSeq]),
    );
    for (const id of conv === undefined ? sum.convs.keys() : [conv]) this.#keep(changes, p.gen, sum, id);
    return markRead(work.s, conv, seq, p.lastSeq, p.user, (s) => work.after(s));
  }

  /** {@linkcode OverlayHooks.dropped}: delete the inbox's conversations and marks with it. */
  dropped(tx: Tx, inbox: Inbox): void {
    const changes = this.#for(tx);
    const sum = this.#byGen.get(inbox.gen);
    if (sum && sum.rows.size > 0) this.#d.im.convDelete.run(JSON.stringify([...sum.rows.values()]));
    this.#d.im.deadDrop.run(inbox.gen);
    changes.dropped.add(inbox.gen);
  }

  /** {@linkcode OverlayHooks.beforeCommit}: follow the appends, then write every conversation changed. */
  beforeCommit(tx: Tx, pending: Map<string, Pending>): void {
    const changes = this.#for(tx);
    for (const p of pending.values()) {
      if (p.gen > 0 && p.entries.length > p.followed) this.#follow(changes, p);
    }
    const rows: (number | string)[] = [];
    for (const [gen, before] of changes.before) {
      const sum = this.#byGen.get(gen);
      if (!sum || changes.dropped.has(gen)) continue;
      for (const [id, prior] of before) {
        const c = sum.convs.get(id);
        if (!c && !(prior && sum.rows.has(id))) continue; // never written: nothing to drop
        if (c && prior && same(prior, c)) continue;
        // a dropped conversation (inbox.maxConversations) gets a tombstone version: the newest row wins
        // at load, so the older rows cannot bring it back before the background deletes them
        const row = this.#nextRow++;
        rows.push(row, gen, id, c ? JSON.stringify(c) : "null");
        changes.written.push([gen, id, row, !c]);
      }
    }
    const im = this.#d.im;
    const many = CONV_COLUMNS * ROWS_PER_INSERT;
    let i = 0;
    for (; i + many <= rows.length; i += many) im.convInsertMany.run(...rows.slice(i, i + many));
    for (; i < rows.length; i += CONV_COLUMNS) im.convInsert.run(...rows.slice(i, i + CONV_COLUMNS));
  }

  /** Apply the appends of this transaction to one inbox not followed yet, in seq order. */
  #follow(changes: TxChanges, p: Pending): void {
    const { index, policy, clock } = this.#d;
    const sum = this.#summary(p.gen);
    changes.worked.add(p.gen);
    if (!p.inbox) sum.work ??= new SummaryIndex(sum.convs);
    else if (sum.work) this.#work(sum, p.inbox, p.user, changes.obsolete);
    const base = p.lastSeq - p.entries.length + 1;
    // Messages, edits and receipts change only conversations: an inbox without its working state (not used
    // since the start, or released) is not rebuilt for them — a room message to thousands of members would
    // otherwise read every member's kept entries in one transaction.
    // Made once per call, not per entry (this runs for every entry appended): the loose summaries only
    // when needed, and the two callbacks, which read `sum.work` when called — it is the entry's `work`
    // then, since neither the rules nor the callbacks replace it.
    let loose: Summaries | undefined;
    const obsolete = (msgId: string, markSeq: number) => changes.obsolete.push([p.gen, msgId, markSeq]);
    const previousLive = (c: string, before: number) =>
      sum.work && this.#previousLive(changes, sum.work, p.user, c, before);
    for (let j = p.followed; j < p.entries.length; j++) {
      const e: InboxEntry = { ...p.entries[j], seq: base + j };
      if (!sum.work && (e.kind === "recall" || e.kind === "delete")) this.#ensure(changes, sum, p, j);
      const work = sum.work;
      const kept = p.inbox ? index.firstKept(p.inbox) : 1;
      work?.forgetBefore(Math.max(kept, e.seq - policy.maxEntries), obsolete);
      const conv = conversationOf(e, p.user);
      if (conv !== "") this.#keep(changes, p.gen, sum, conv);
      const ref = e.ref;
      const wasDead = ref !== undefined && work !== undefined && work.s.dead.has(ref);
      const held = sum.convs.size;
      applyEntry(
        work?.s ?? (loose ??= { convs: sum.convs, index: new Map(), dead: new Set<string>() }),
        e,
        p.user,
        previousLive,
      );
      // a new conversation past inbox.maxConversations pushes the least recent out of the list
      if (sum.convs.size > held) {
        for (const c of overCap(sum.convs, policy.maxConversations)) {
          this.#keep(changes, p.gen, sum, c);
          sum.convs.delete(c);
        }
      }
      changes.bodies.set(p.ids[j], e);
      if (work) {
        work.track(p.ids[j], e);
        if (ref !== undefined && !wasDead && work.s.dead.has(ref)) {
          work.markSeq.set(ref, e.seq);
          this.#d.im.deadPut.run(p.gen, ref, work.s.index.get(ref)?.seq ?? 0, e.seq);
        }
      }
      // The memory engine trims by age after each append (the same clock for the whole transaction).
      if (j === 0 && p.inbox) index.trimAge(p.inbox, clock.now() - policy.maxAgeMs);
    }
    p.followed = p.entries.length;
  }

  /**
   * Give a committed inbox its working state inside a transaction: rebuilt from the file (the committed
   * entries), then told of this transaction's appends before `upTo`, which were followed without it.
   */
  #ensure(changes: TxChanges, sum: InboxSummary, p: Pending, upTo: number): SummaryIndex {
    if (!p.inbox) return sum.work ??= new SummaryIndex(sum.convs);
    if (sum.work) return this.#work(sum, p.inbox, p.user, changes.obsolete);
    const work = this.#work(sum, p.inbox, p.user, changes.obsolete);
    const base = p.lastSeq - p.entries.length + 1;
    const first = this.#d.index.firstKept(p.inbox);
    for (let i = 0; i < upTo; i++) {
      const e: InboxEntry = { ...p.entries[i], seq: base + i };
      work.forgetBefore(
        Math.max(first, e.seq - this.#d.policy.maxEntries),
        (msgId, markSeq) => changes.obsolete.push([p.gen, msgId, markSeq]),
      );
      const conv = conversationOf(e, p.user);
      if ((e.kind ?? "msg") === "msg" && conv !== "") {
        work.s.index.set(e.msgId, { seq: e.seq, from: e.from, conv });
      }
      work.track(p.ids[i], e);
    }
    return work;
  }

  #previousLive(
    changes: TxChanges,
    work: SummaryIndex,
    owner: string,
    conv: string,
    before: number,
  ): InboxEntry | undefined {
    const at = work.previous(conv, before, owner);
    if (!at) return undefined;
    // An entry of this transaction: its row may not be written yet.
    const pending = changes.bodies.get(at.id);
    if (pending) return pending;
    const row = this.#d.statements.entryBodies.get(JSON.stringify([at.id])) as { body: string } | undefined;
    return row ? { ...JSON.parse(row.body) as NewEntry, seq: at.seq } : undefined;
  }

  /** The summaries of an inbox generation, created empty. */
  #summary(gen: number): InboxSummary {
    let sum = this.#byGen.get(gen);
    if (!sum) this.#byGen.set(gen, sum = { convs: new Map(), rows: new Map() });
    return sum;
  }

  /** The working state of a committed inbox, rebuilt from the file if needed, forgotten up to its trims. */
  #work(sum: InboxSummary, inbox: Inbox, owner: string, obsolete: [number, string, number][]): SummaryIndex {
    const { index, statements, im } = this.#d;
    const first = index.firstKept(inbox);
    if (!sum.work) {
      const ids = index.ids(inbox, first, inbox.lastSeq);
      let kept: { id: number; e: InboxEntry }[];
      let dead: DeadRow[];
      try {
        const bodies = ids.length === 0
          ? []
          : statements.entryBodies.all(JSON.stringify(ids)) as { i: number; body: string }[];
        kept = bodies.map((r) => ({
          id: ids[Number(r.i)],
          e: { ...JSON.parse(r.body), seq: first + Number(r.i) },
        }));
        dead = im.deadOf.all(inbox.gen) as unknown as DeadRow[];
      } catch (error) {
        throw new StorageError("conversations", error);
      }
      sum.work = SummaryIndex.hydrate(
        sum.convs,
        owner,
        kept,
        dead,
        first,
        (row) => obsolete.push([inbox.gen, row.msgId, row.markSeq]),
      );
    }
    sum.work.forgetBefore(first, (msgId, markSeq) => obsolete.push([inbox.gen, msgId, markSeq]));
    return sum.work;
  }

  /** Remember a conversation's state before this transaction first changes it. */
  #keep(changes: TxChanges, gen: number, sum: InboxSummary, conv: string): void {
    let before = changes.before.get(gen);
    if (!before) changes.before.set(gen, before = new Map());
    if (before.has(conv)) return;
    const c = sum.convs.get(conv);
    // Shallow: the rules replace `last` as a whole, never change it in place.
    before.set(conv, c && { ...c });
  }

  /** This transaction's changes, with its commit and rollback hooks. */
  #for(tx: Tx): TxChanges {
    if (this.#tx === tx && this.#changes) return this.#changes;
    const changes: TxChanges = {
      before: new Map(),
      obsolete: [],
      written: [],
      dropped: new Set(),
      worked: new Set(),
      bodies: new Map(),
    };
    this.#tx = tx;
    this.#changes = changes;
    tx.onCommit(() => this.#committed(changes));
    tx.onRollback(() => this.#rolledBack(changes));
    return changes;
  }

  #committed(changes: TxChanges): void {
    for (const [gen, conv, row, tombstone] of changes.written) {
      const sum = this.#byGen.get(gen);
      if (!sum) continue;
      const old = sum.rows.get(conv);
      if (old !== undefined) this.#convDrops.push(old);
      if (!tombstone) sum.rows.set(conv, row);
      else {
        // deleted after the rows it hides (the queue is deleted in order)
        sum.rows.delete(conv);
        this.#convDrops.push(row);
      }
    }
    for (const gen of changes.dropped) this.#byGen.delete(gen);
    this.#deadDrops.push(...changes.obsolete);
  }

  #rolledBack(changes: TxChanges): void {
    for (const [gen, before] of changes.before) {
      const sum = this.#byGen.get(gen);
      if (!sum) continue;
      for (const [conv, prior] of before) prior ? sum.convs.set(conv, prior) : sum.convs.delete(conv);
    }
    for (const gen of changes.worked) {
      const sum = this.#byGen.get(gen);
      if (!sum) continue;
      sum.work = undefined;
      if (sum.convs.size === 0 && sum.rows.size === 0) this.#byGen.delete(gen);
    }
  }

  /** Delete a batch of superseded conversation rows and obsolete marks; resolves to how many. */
  async deleteStep(): Promise<number> {
    const convs = this.#convDrops.splice(0, 5000);
    const marks = this.#deadDrops.splice(0, 2000);
    const n = convs.length + marks.length;
    if (n === 0) return 0;
    const im = this.#d.im;
    try {
      await this.#d.writer.submit("prune", n, () => {
        if (convs.length > 0) im.convDelete.run(JSON.stringify(convs));
        for (const [gen, msgId, markSeq] of marks) im.deadDelete.run(gen, msgId, markSeq);
      });
    } catch (error) {
      this.#convDrops.unshift(...convs); // kept for the next step (the writer reports the failure)
      this.#deadDrops.unshift(...marks);
      throw error;
    }
    return n;
  }
}
