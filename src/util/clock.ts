/**
 * Injectable time source so timeouts can be tested without sleeping.
 *
 * @example
 * ```ts
 * const clock = new FakeClock(1000);
 * clock.advance(500);
 * clock.now(); // 1500
 * ```
 * @module
 */

/** Milliseconds since the epoch. */
export interface Clock {
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to (for tests). */
export class FakeClock implements Clock {
  #now: number;
  /** Start at `start` ms. */
  constructor(start = 0) {
    this.#now = start;
  }
  /** Current fake time. */
  now(): number {
    return this.#now;
  }
  /** Move time forward by `ms`. */
  advance(ms: number): void {
    this.#now += ms;
  }
}
