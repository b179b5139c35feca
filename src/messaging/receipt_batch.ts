/**
 * Receipts waiting to go out, coalesced per (app, sender, reader) over a short window
 * (`receipts.coalesce`). A reader who reads ten messages in a row sends the sender one `read` receipt, not
 * ten; and a `delivered` receipt still waiting when a `read` for the same messages comes is dropped, since
 * read implies delivered. Nothing is lost by waiting: {@linkcode ReceiptBatch.add} resolves only once the
 * window that carries the receipt has been sent (pushed, or appended to the sender's inbox), so a `read`
 * reply that awaits it means the receipt is committed (PROTOCOL.md C.3); {@linkcode ReceiptBatch.close}
 * sends what is pending (the server's shutdown calls it before the store closes).
 *
 * @example
 * ```ts
 * const batch = new ReceiptBatch(50, (r) => receipts.send(r), onError);
 * await batch.add({ appId: 101, sender: "alice", by: "bob", kind: "read", msgIds: ["m1"], upTo: 7, time: now });
 * // resolved when the window closed and the receipt went out
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
  readonly #windowMs: number;
  readonly #send: (r: CoalescedReceipts) => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #pending = new Map<string, Pending>();
  /** Settles when the flush that takes what is pending now has sent it; undefined while nothing pends. */
  #carried: { promise: Promise<void>; resolve: () => void } | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();

  /** `windowMs` 0 sends every receipt at once (no coalescing). */
  constructor(
    windowMs: number,
    send: (r: CoalescedReceipts) => Promise<void>,
    onError: (error: unknown) => void,
  ) {
    this.#windowMs = windowMs;
    this.#send = send;
    this.#onError = onError;
  }

  /** Receipts waiting (a gauge; bounded by the window: at most one entry per sender and reader). */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Queue a receipt; it goes out when the window closes (at once with a 0 window). Resolves once it went
   * out (a failed send is reported to `onError`, as the other receipts of its window).
   */
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
    if (this.#windowMs === 0) return this.flush();
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch(this.#onError);
    }, this.#windowMs);
    if (!this.#carried) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => resolve = r);
      this.#carried = { promise, resolve };
    }
    return this.#carried.promise;
  }

  /** Send everything pending now; resolves when it went out (or failed, reported to `onError`). */
  flush(): Promise<void> {
    const batch = [...this.#pending.values()];
    const carried = this.#carried;
    this.#pending = new Map();
    this.#carried = undefined;
    if (batch.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(() =>
      Promise.all(batch.map((p) => {
        const delivered = [...p.delivered].filter((id) => !p.read.has(id));
        const r = { appId: p.appId, sender: p.sender, by: p.by, upTo: p.upTo, time: p.time };
        return this.#send({ ...r, delivered, read: [...p.read] }).catch(this.#onError);
      }))
    ).then(() => carried?.resolve());
    return this.#flushing;
  }

  /** Stop the window and send what is pending. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
