/**
 * A bounded async channel: producers `await send()`, one consumer iterates with `for await`.
 *
 * @example
 * ```ts
 * const ch = new Channel<number>(16);
 * (async () => { for await (const n of ch) console.log(n); })();
 * await ch.send(1);
 * ch.close();
 * ```
 * @module
 */

/** Thrown by {@linkcode Channel.send} after {@linkcode Channel.close}. */
export class ChannelClosedError extends Error {
  constructor() {
    super("channel closed");
    this.name = "ChannelClosedError";
  }
}

/** Bounded FIFO channel built on async iterators. */
export class Channel<T> implements AsyncIterable<T> {
  readonly #capacity: number;
  readonly #buffer: T[] = [];
  #head = 0;
  #closed = false;
  /** Resolves the consumer waiting for an item (or for close). */
  #takers: Array<() => void> = [];
  /** Producers waiting for room. */
  #senders: Array<{ wake: () => void; fail: (e: Error) => void }> = [];

  /** A channel that holds at most `capacity` unconsumed items (≥ 1). */
  constructor(capacity = 1024) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be an integer ≥ 1");
    this.#capacity = capacity;
  }

  /** Items waiting to be consumed. */
  get size(): number {
    return this.#buffer.length - this.#head;
  }

  /** True after {@linkcode close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Enqueue `item`; waits while the channel is full. Rejects once the channel is closed. */
  async send(item: T): Promise<void> {
    while (this.size >= this.#capacity) {
      if (this.#closed) throw new ChannelClosedError();
      await new Promise<void>((wake, fail) => this.#senders.push({ wake, fail }));
    }
    if (this.#closed) throw new ChannelClosedError();
    this.#buffer.push(item);
    this.#takers.shift()?.();
  }

  /** Stop accepting items; the iteration ends once the buffered items are consumed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const take of this.#takers.splice(0)) take();
    for (const sender of this.#senders.splice(0)) sender.fail(new ChannelClosedError());
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      if (this.size > 0) {
        const item = this.#buffer[this.#head];
        this.#buffer[this.#head++] = undefined as T;
        if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
          this.#buffer.splice(0, this.#head);
          this.#head = 0;
        }
        this.#senders.shift()?.wake();
        yield item;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((take) => this.#takers.push(take));
    }
  }
}
