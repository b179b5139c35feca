/**
 * Receipts waiting to go out, coalesced per (app, sender, reader) **adaptively**: a receipt goes out at once
 * (after the current microtask) when no send is in flight; receipts that come while one is in flight wait for
 * it and leave together as the next send. So readers on many connections share sends under load, and a
 * `delivered` receipt still waiting when a `read` for the same messages comes is dropped, since read implies
 * delivered. {@linkcode ReceiptBatch.add} resolves only once the send that carries the receipt is done
 * (pushed, or appended to the sender's inbox): a `read` or `ack` reply that awaits it means the receipt is
 * committed (PROTOCOL.md C.3), and it waits one store write at most behind the send in flight — no fixed
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
  #pending = new Map<string, Pending>();
  /** Resolvers of the adds whose receipts are in `#pending`. */
  #waiters: (() => void)[] = [];
  /** The send in flight (at most one while coalescing). */
  #inFlight: Promise<void> | undefined;
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
    let p = this.#pending.get(key);
    if (!p) {
      p = { ...item, delivered: new Set(), read: new Set(), upTo: 0 };
      this.#pending.set(key, p);
    }
    const into = item.kind === "read" ? p.read : p.delivered;
    for (const id of item.msgIds) into.add(id);
    p.upTo = Math.max(p.upTo, item.upTo ?? 0);
    p.time = Math.max(p.time, item.time);
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (!this.#coalesce) this.flush().catch(this.#onError);
    else this.#schedule();
    return done;
  }

  /** After the current microtask (receipts of one event share a send), unless a send is in flight. */
  #schedule(): void {
    if (this.#scheduled || this.#inFlight) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.flush().catch(this.#onError);
    });
  }

  /** Send everything pending now, after the send in flight; resolves when it went out. */
  flush(): Promise<void> {
    const batch = [...this.#pending.values()], waiters = this.#waiters;
    this.#pending = new Map();
    this.#waiters = [];
    if (batch.length === 0) return this.#inFlight ?? Promise.resolve();
    const run = (this.#inFlight ?? Promise.resolve()).then(() =>
      Promise.all(batch.map((p) => {
        const delivered = [...p.delivered].filter((id) => !p.read.has(id));
        const r = { appId: p.appId, sender: p.sender, by: p.by, upTo: p.upTo, time: p.time };
        return this.#send({ ...r, delivered, read: [...p.read] }).catch(this.#onError);
      }))
    ).then(() => {
      for (const resolve of waiters) resolve();
      if (this.#inFlight !== run) return;
      this.#inFlight = undefined;
      if (this.#pending.size > 0) this.#schedule();
    });
    this.#inFlight = run;
    return run;
  }

  /** Send what is pending and wait for it. */
  async close(): Promise<void> {
    await this.flush();
  }
}
