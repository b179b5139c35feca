/**
 * What one writer transaction sees of the inboxes: the committed state (inboxes.ts) plus what earlier
 * operations of the same transaction appended, created, marked or dropped. Operations write rows and
 * record them here; memory is updated from the overlay only after COMMIT, so a rolled-back
 * transaction leaves nothing behind in memory either.
 *
 * @example
 * ```ts
 * const overlay = new Overlay(index, statements);
 * writer.submit("append", 1, (tx) => overlay.insert(tx, 101, "bob", entry, JSON.stringify(entry), false));
 * ```
 * @module
 */
import type { Mark, NewEntry } from "../store.ts";
import { type Inbox, type InboxIndex, inboxKey } from "./inboxes.ts";
import { ENTRY_COLUMNS, ROWS_PER_INSERT, type Statements } from "./statements.ts";
import type { Tx } from "./writer.ts";

/** An inbox as one transaction sees it. */
export interface Pending {
  /** The committed inbox; undefined when this transaction creates (or dropped) it. */
  inbox: Inbox | undefined;
  /** A committed inbox this transaction deletes (before any re-creation). */
  drop?: Inbox;
  app: number;
  user: string;
  /** The generation; 0 while the inbox is dropped and not created again. */
  gen: number;
  lastSeq: number;
  ids: number[];
  times: number[];
  mids: (string | undefined)[];
  /** The entries this transaction appends, in seq order (the conversation summaries follow them). */
  entries: NewEntry[];
  /** How many of `entries` the summaries followed already (a read position moved between appends). */
  followed: number;
  marks?: Partial<Record<Mark, number>>;
}

/** What the conversation summaries (summaries.ts) do in a transaction's steps. */
export interface OverlayHooks {
  /** Inside the transaction, after the entry rows are written: follow the appends, write their rows. */
  beforeCommit(tx: Tx, pending: Map<string, Pending>): void;
  /** `inbox` is deleted in this transaction. */
  dropped(tx: Tx, inbox: Inbox): void;
}

/**
 * The per-transaction view of the inboxes, and the entry rowids: chosen here (max + 1 at start, never
 * reused; a rolled-back transaction leaves a harmless gap) so rows can be buffered and written several
 * per INSERT just before COMMIT.
 *
 * @example
 * ```ts
 * const seq = overlay.insert(tx, 101, "bob", entry, json, false); // inside a writer operation
 * ```
 */
export class Overlay {
  readonly #index: InboxIndex;
  readonly #s: Statements;
  #tx: Tx | undefined;
  #pending = new Map<string, Pending>();
  /** Entry rows of the current transaction, flat, {@linkcode ENTRY_COLUMNS} values each. */
  #rows: (number | string | null)[] = [];
  #nextId: number;
  #hooks: OverlayHooks | undefined;

  constructor(index: InboxIndex, statements: Statements) {
    this.#index = index;
    this.#s = statements;
    this.#nextId = Number((statements.maxEntryId.get() as { id: number }).id) + 1;
  }

  /** Who follows the transactions' appends (set once, at open). */
  follow(hooks: OverlayHooks): void {
    this.#hooks = hooks;
  }

  /** The transaction's view of an inbox; `create` inserts the inbox row when there is none. */
  slot(tx: Tx, app: number, user: string, create: boolean): Pending | undefined {
    const pending = this.#for(tx);
    const k = inboxKey(app, user);
    const p = pending.get(k);
    if (p && p.gen > 0) return p;
    const inbox = p ? undefined : this.#index.get(app, user);
    if (inbox) {
      const seen: Pending = {
        inbox,
        app,
        user,
        gen: inbox.gen,
        lastSeq: inbox.lastSeq,
        ids: [],
        times: [],
        mids: [],
        entries: [],
        followed: 0,
      };
      pending.set(k, seen);
      return seen;
    }
    // No inbox now: never created, or dropped earlier in this transaction.
    if (!create) return undefined;
    const gen = Number(this.#s.insertInbox.run(app, user).lastInsertRowid);
    const made: Pending = {
      inbox: undefined,
      drop: p?.drop,
      app,
      user,
      gen,
      lastSeq: 0,
      ids: [],
      times: [],
      mids: [],
      entries: [],
      followed: 0,
    };
    pending.set(k, made);
    return made;
  }

  /** Append one entry row; returns its seq. */
  insert(tx: Tx, app: number, user: string, entry: NewEntry, json: string, idempotent: boolean): number {
    const p = this.slot(tx, app, user, true)!;
    const seq = ++p.lastSeq;
    const mid = idempotent ? entry.msgId : undefined;
    const id = this.#nextId++;
    this.#rows.push(id, p.gen, seq, entry.time, mid ?? null, json);
    p.ids.push(id);
    p.times.push(entry.time);
    p.mids.push(mid);
    p.entries.push(entry);
    return seq;
  }

  /** The seq `msgId` got from an idempotent append still kept (committed or earlier in this transaction). */
  repeated(tx: Tx, app: number, user: string, msgId: string): number | undefined {
    const p = this.slot(tx, app, user, false);
    if (!p) return undefined;
    const at = p.mids.indexOf(msgId);
    if (at >= 0) return p.lastSeq - (p.ids.length - 1 - at);
    return p.inbox && this.#index.repeated(p.inbox, msgId);
  }

  /** Delete `inbox` (idle) unless this transaction touched it; true when dropped. */
  drop(tx: Tx, inbox: Inbox): boolean {
    const p = this.slot(tx, inbox.app, inbox.user, false);
    if (p?.inbox !== inbox || inbox.start !== inbox.ids.length || p.ids.length > 0 || p.marks) return false;
    this.#s.deleteInbox.run(inbox.gen);
    this.#hooks?.dropped(tx, inbox);
    this.#pending.set(inboxKey(inbox.app, inbox.user), { ...p, inbox: undefined, drop: inbox, gen: 0 });
    return true;
  }

  /** A fresh view for each transaction, applied to memory by the transaction's hooks. */
  #for(tx: Tx): Map<string, Pending> {
    if (this.#tx === tx) return this.#pending;
    this.#tx = tx;
    const pending = this.#pending = new Map<string, Pending>();
    const rows = this.#rows = [];
    tx.beforeCommit(() => {
      this.#write(rows);
      this.#hooks?.beforeCommit(tx, pending);
    });
    tx.onCommit(() => this.#commit(pending));
    return pending;
  }

  /** The transaction's entry rows, {@linkcode ROWS_PER_INSERT} per statement, the rest one by one. */
  #write(rows: (number | string | null)[]): void {
    const many = ENTRY_COLUMNS * ROWS_PER_INSERT;
    let i = 0;
    for (; i + many <= rows.length; i += many) this.#s.insertEntries.run(...rows.slice(i, i + many));
    for (; i < rows.length; i += ENTRY_COLUMNS) this.#s.insertEntry.run(...rows.slice(i, i + ENTRY_COLUMNS));
  }

  #commit(pending: Map<string, Pending>): void {
    for (const p of pending.values()) {
      if (p.drop) this.#index.remove(p.drop);
      if (p.gen === 0) continue;
      const inbox = p.inbox ?? this.#index.add(p.app, p.user, p.gen);
      p.inbox = inbox;
      for (let i = 0; i < p.ids.length; i++) this.#index.push(inbox, p.ids[i], p.times[i], p.mids[i]);
      for (const [mark, v] of Object.entries(p.marks ?? {}) as [Mark, number][]) {
        inbox.marks[mark] = Math.max(inbox.marks[mark], v);
      }
    }
  }
}
