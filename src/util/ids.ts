/**
 * Identifiers: sortable unique message ids and connection ids.
 *
 * A msgId is 9 base-36 chars of milliseconds, 4 of a per-process counter and 4 random
 * chars chosen at start-up (so two nodes never collide): it sorts by creation time.
 *
 * @example
 * ```ts
 * const ids = new IdGenerator();
 * ids.msgId() < ids.msgId(); // true
 * ```
 * @module
 */
import { type Clock, systemClock } from "./clock.ts";

const COUNTER_SPAN = 36 ** 4;

/** Generates msgIds and connIds for one process. */
export class IdGenerator {
  readonly #clock: Clock;
  readonly #suffix: string;
  #lastMs = 0;
  #counter = 0;
  #conn = 0;

  /** `clock` supplies milliseconds. */
  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
    this.#suffix = crypto.getRandomValues(new Uint32Array(1))[0].toString(36).padStart(7, "0").slice(-4);
  }

  /** A new sortable, unique message id. */
  msgId(): string {
    let ms = this.#clock.now();
    if (ms <= this.#lastMs) {
      ms = this.#lastMs;
      if (++this.#counter >= COUNTER_SPAN) {
        ms = ++this.#lastMs;
        this.#counter = 0;
      }
    } else {
      this.#lastMs = ms;
      this.#counter = 0;
    }
    return ms.toString(36).padStart(9, "0") + this.#counter.toString(36).padStart(4, "0") + this.#suffix;
  }

  /** A new connection id, unique within the process (prefixed with the node id by callers). */
  connId(): string {
    return (++this.#conn).toString(36) + this.#suffix;
  }
}
