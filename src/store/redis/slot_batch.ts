/**
 * Batching per slot: on a Redis Cluster every slot has its own {@linkcode Batcher} (made on first use), so
 * a slot whose master is down or hung holds back its own items only — never another shard's, which a batch
 * shared by all slots would (it resolves when its slowest slot does, and only two are in flight). On one
 * Redis there is one batcher. Each batch is one script call for one slot; it succeeds or fails as a whole.
 *
 * @example
 * ```ts
 * const saves = new SlotBatcher(link.cluster, (s: Save) => s.key, (group, slot) => runScript(group));
 * await saves.push({ key: "im:{101:m1}:msg", json });
 * ```
 * @module
 */
import { Batcher } from "./batcher.ts";
import { keySlot } from "./slots.ts";

/** Items batched per slot; `flush` gets one slot's batch and resolves to one result per item, in order. */
export class SlotBatcher<I, O> {
  readonly #batchers = new Map<number, Batcher<I, O>>();

  constructor(
    readonly cluster: boolean,
    readonly keyOf: (item: I) => string,
    readonly flush: (items: I[], slot: number) => Promise<O[]>,
    readonly maxBatch = 256,
  ) {}

  /** Queue one item in its slot's batcher; resolves with its result. */
  push(item: I): Promise<O> {
    const slot = this.cluster ? keySlot(this.keyOf(item)) : 0;
    let batcher = this.#batchers.get(slot);
    if (!batcher) {
      batcher = new Batcher<I, O>((items) => this.flush(items, slot), this.maxBatch);
      this.#batchers.set(slot, batcher);
    }
    return batcher.push(item);
  }
}
