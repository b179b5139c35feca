/**
 * Receipts waiting to go out, coalesced per (app, sender, reader) **adaptively**: a receipt goes out at once
 * (after the current microtask) when no send for the same sender and reader is in flight; receipts that come
 * while one is in flight wait for it and leave together as the next send — a slow send (an offline sender's
 * inbox append on a slow shard) holds up only its own pair, never other readers' replies. And a
 * `delivered` receipt still waiting when a `read` for the same messages comes is dropped, since read implies
 * delivered. {@linkcode ReceiptBatch.add} resolves only once the send that carries the receipt is done
 * (pushed, or appended to the sender's inbox): a `read` or `ack` reply that awaits it means the receipt is
 * committed (PROTOCOL.md C.3), and it waits at most for the send in flight for its pair — no fixed
 * window (a window held every `read` reply, and the connection's next requests, for its whole length).
 * {@linkcode ReceiptBatch.close} sends what is pending (the server's shutdown calls it before the store closes).
 *
 * @example
 * ```ts
 * const batch = new ReceiptBatch(true, (r) => receipts.send(r), onError);
 * await batch.add({ appId: 101, sender: "alice", by: "bob", kind: "read", msgIds: ["m1"], upTo: 7, time: now });
 * // resolved once the receipt went out
 * await batch.close();
 * ```
 * @module
 */

/** One receipt to add: `by` read (or got) `msgIds` that `sender` sent. */
export interface ReceiptItem {
  appId: number;
  sender: string;
  by: string;
  kind: "read" | "delivered";
  msgIds: string[];
  /** `read`: the reader's inbox seq read up to. */
  upTo?: number;
  time: number;
}

/** What goes out for one (app, sender, reader) when the window closes. */
export interface CoalescedReceipts {
  appId: number;
  sender: string;
  by: string;
  /** Delivered but not (yet) read: without the ones the `read` below covers. */
  delivered: string[];
  read: string[];
  upTo: number;
  time: number;
}

interface Pending {
  appId: number;
  sender: string;
  by: string;
  delivered: Set<string>;
  read: Set<string>;
  upTo: number;
  time: number;
}

/** Pending receipts of one server. */
export class ReceiptBatch {
  readonly #coalesce: boolean;
  readonly #send: (r: CoalescedReceipts) => Promise<void>;
  readonly #onError: (error: unknown) => void;
  /** Per (app, sender, reader): the receipts waiting and the adds to resolve when they went out. */
  #pending = new Map<string, { p: Pending; waiters: (() => void)[] }>();
  /** Per (app, sender, reader): the send in flight (at most one per key while coalescing). */
  readonly #inFlight = new Map<string, Promise<void>>();
  /** Keys whose send is due after the current microtask. */
  #due = new Set<string>();
  #scheduled = false;

  /** `coalesce` false sends every receipt on its own, at once (`receipts.coalesce: 0`). */
  constructor(
    coalesce: boolean,
    send: (r: CoalescedReceipts) => Promise<void>,
    onError: (error: unknown) => void,
  ) {
    this.#coalesce = coalesce;
    this.#send = send;
    this.#onError = onError;
  }

  /** Receipts waiting (a gauge: at most one entry per sender and reader, for one send's time). */
  get size(): number {
    return this.#pending.size;
  }

  /** Queue a receipt; resolves once it went out (a failed send is reported to `onError`). */
  add(item: ReceiptItem): Promise<void> {
    const key = `${item.appId}\u0000${item.sender}\u0000${item.by}`;
    let slot = this.#pending.get(key);
    if (!slot) {
      slot = { p: { ...item, delivered: new Set(), read: new Set(), upTo: 0 }, waiters: [] };
      this.#pending.set(key, slot);
    }
    const p = slot.p;
    const into = item.kind === "read" ? p.read : p.delivered;
    for (const id of item.msgIds) into.add(id);
    p.upTo = Math.max(p.upTo, item.upTo ?? 0);
    p.time = Math.max(p.time, item.time);
    const done = new Promise<void>((resolve) => slot.waiters.push(resolve));
    if (!this.#coalesce) this.#sendKey(key);
    else if (!this.#inFlight.has(key)) this.#schedule(key);
    return done;
  }

  /** After the current microtask (receipts of one event share a send). */
  #schedule(key: string): void {
    this.#due.add(key);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      const due = this.#due;
      this.#due = new Set();
      for (const k of due) if (!this.#inFlight.has(k)) this.#sendKey(k);
    });
  }

  /** Send what is pending for `key` now, after its send in flight; resolves when it went out. */
  #sendKey(key: string): Promise<void> {
    const slot = this.#pending.get(key);
    if (!slot) return this.#inFlight.get(key) ?? Promise.resolve();
    this.#pending.delete(key);
    const { p, waiters } = slot;
    const delivered = [...p.delivered].filter((id) => !p.read.has(id));
    const r = { appId: p.appId, sender: p.sender, by: p.by, upTo: p.upTo, time: p.time };
    const run: Promise<void> = (this.#inFlight.get(key) ?? Promise.resolve())
      .then(() => this.#send({ ...r, delivered, read: [...p.read] }))
      .catch(this.#onError)
      .then(() => {
        for (const resolve of waiters) resolve();
        if (this.#inFlight.get(key) !== run) return;
        this.#inFlight.delete(key);
        if (this.#pending.has(key)) this.#schedule(key);
      });
    this.#inFlight.set(key, run);
    return run;
  }

  /** Send everything pending now; resolves when all of it (and what was in flight) went out. */
  async flush(): Promise<void> {
    for (const key of [...this.#pending.keys()]) this.#sendKey(key);
    await Promise.all([...this.#inFlight.values()]);
  }

  /** Send what is pending and wait for it. */
  async close(): Promise<void> {
    await this.flush();
  }
}
