/**
 * WriteCounters: the rollback check of the Redis store, and the only owner of the highest write counter
 * values this node has seen. Every append script INCRBYs a counter; a value lower than one seen before
 * means Redis lost writes (a restart from an older snapshot, a failover to a lagging replica).
 *
 * On one Redis there is one counter (`Pwc`). On a Redis Cluster each slot has its own (`P{<tag>}:wc`, the
 * tag chosen so the key lands in that slot): an append batch touches one slot, its counter replicates
 * with its data, and a failover that loses a shard's tail shows in that shard's counters without the other
 * shards being involved. {@linkcode WriteCounters.check} reads the counters of every slot seen.
 *
 * @example
 * ```ts
 * const counters = new WriteCounters(link, keys, (reason) => log.error(reason));
 * const floor = counters.floor(slot); // before the call
 * counters.saw(floor, Number(reply[0]), entries.length); // with its reply and what the call added
 * await counters.check(); // after a reconnect, and periodically
 * ```
 * @module
 */
import type { RedisKeys } from "./keys.ts";
import type { RedisLink } from "./link.ts";
import { slotTags } from "./slots.ts";

/** Slots whose counters one {@linkcode WriteCounters.check} reads at once. */
const CHECK_CHUNK = 512;

/** What a call saw before it was sent: the slot's highest value, and the measure it belongs to. */
export interface Floor {
  slot: number;
  value: number;
  /** {@linkcode WriteCounters.reset} starts a new measure; a reply to a call from before is not compared. */
  generation: number;
}

/** Highest write counters seen, per slot (one pseudo-slot 0 on one Redis). */
export class WriteCounters {
  readonly #max = new Map<number, number>();
  #generation = 0;
  readonly #tags: string[] | undefined;

  constructor(
    readonly link: RedisLink,
    readonly keys: RedisKeys,
    readonly onRollback: (reason: string) => void,
  ) {
    this.#tags = link.cluster ? slotTags() : undefined;
  }

  /** The counter key of `slot` (the one key on one Redis). */
  key(slot: number): string {
    return this.#tags ? `${this.keys.prefix}{${this.#tags[slot]}}:wc` : this.keys.writeCounter;
  }

  /** The highest value seen for `slot`; pass it to {@linkcode saw} with the reply of a call sent now. */
  floor(slot: number): Floor {
    return { slot, value: this.#max.get(slot) ?? 0, generation: this.#generation };
  }

  /**
   * A counter value returned by a call sent when `floor` was the highest value seen, after the call itself
   * added `added` to it (an append's entries; 0 for a read). The counter stood at `value - added` when the
   * call ran, and only a value there below `floor` is a rollback: every write counted in `floor` was done
   * before the call was sent. Comparing before the call's own increment matters: a failover that lost the
   * last write would otherwise be hidden by the next append, which brings the counter back to the value
   * seen. Replies handled out of order (an append's after a later check's) are not compared with each other.
   */
  saw(floor: Floor, value: number, added = 0): void {
    const { slot } = floor;
    if (floor.generation !== this.#generation) {
      // sent before a reset: its floor belongs to the old measure
      if (value > (this.#max.get(slot) ?? 0)) this.#max.set(slot, value);
      return;
    }
    const before = value - added;
    if (before < floor.value) {
      this.#max.set(slot, value);
      const where = this.#tags ? ` of slot ${slot}` : "";
      this.onRollback(`write counter${where} went back from ${floor.value} to ${before}`);
      return;
    }
    if (value > (this.#max.get(slot) ?? 0)) this.#max.set(slot, value);
  }

  /**
   * Forget every value seen and start a new measure: after an epoch change (this node's rotation or
   * another's), writes from before it are gone and must not be reported again.
   */
  reset(): void {
    this.#max.clear();
    this.#generation++;
  }

  /** Compare the counters in Redis with the values seen (one Redis: one GET; a cluster: each slot seen). */
  async check(): Promise<void> {
    const slots = this.#tags ? [...this.#max.keys()] : [0];
    for (let i = 0; i < slots.length; i += CHECK_CHUNK) {
      const chunk = slots.slice(i, i + CHECK_CHUNK);
      const floors = chunk.map((s) => this.floor(s));
      // concurrent GETs leave in one pipeline per master
      const values = await Promise.all(
        chunk.map((s) => this.link.send<string | null>(this.key(s), ["GET", this.key(s)])),
      );
      chunk.forEach((_, j) => this.saw(floors[j], Number(values[j] ?? 0)));
    }
  }
}
