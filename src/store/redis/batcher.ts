/**
 * Adaptive batching for the Redis hot path: the first item goes out at once (after the current
 * microtask, so a recipient and a sender copy issued together share one call); while a batch
 * is in flight, new items wait and leave together as the next batch. Idle latency stays one
 * round trip; under load, many messages share one script call.
 *
 * @example
 * ```ts
 * const b = new Batcher<number, number>((xs) => Promise.resolve(xs.map((x) => x * 2)));
 * await b.push(21); // 42
 * ```
 * @module
 */

/** A result slot of one item that failed on its own (its neighbours in the batch did not). */
export class ItemFailure {
  constructor(readonly error: unknown) {}
}

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/** Groups items into batched calls; results are matched back by position. */
export class Batcher<I, O> {
  readonly #flush: (items: I[]) => Promise<Array<O | ItemFailure>>;
  readonly #max: number;
  #queue: Pending<I, O>[] = [];
  #inFlight = 0;
  #scheduled = false;

  /**
   * `flush` must resolve to one result per item, in order; an {@linkcode ItemFailure} rejects that item
   * only (a Redis Cluster batch spans slots that succeed or fail apart).
   */
  constructor(
    flush: (items: I[]) => Promise<Array<O | ItemFailure>>,
    maxBatch = 256,
    readonly maxInFlight = 2,
  ) {
    this.#flush = flush;
    this.#max = maxBatch;
  }

  /** Queue one item; resolves with its result. */
  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.maxInFlight) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#send();
    });
  }

  #send(): void {
    if (this.#queue.length === 0 || this.#inFlight >= this.maxInFlight) return;
    const batch = this.#queue.splice(0, this.#max);
    this.#inFlight++;
    new Promise<Array<O | ItemFailure>>((r) => r(this.#flush(batch.map((p) => p.item)))).then(
      (results) =>
        batch.forEach((p, i) => {
          const result = results[i];
          if (result instanceof ItemFailure) p.reject(result.error);
          else p.resolve(result);
        }),
      (error) => batch.forEach((p) => p.reject(error)),
    ).finally(() => {
      this.#inFlight--;
      if (this.#queue.length > 0) this.#schedule();
    });
  }
}
