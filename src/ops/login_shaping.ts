/**
 * Login rate shaping per node (`drain.loginsPerSecond`), for reconnect storms after a drain or a
 * crash: a token bucket of one second's worth of logins. A login over the rate is answered with
 * code 1023 and a jittered `retryMs`; the connection stays open so the client retries on the same
 * socket (no new handshake). The retry spread grows with the backlog, so a storm of N clients is
 * smeared over about N / rate seconds instead of all retrying in the next second.
 *
 * Unlike `limits.loginsPerIpPerMinute` (abuse from one address, closes 4007) this protects the node
 * as a whole and never closes the connection.
 *
 * @example
 * ```ts
 * const shaper = new LoginShaper(200, systemClock);
 * shaper.admit(); // throws ReplyError(1023, { retryMs }) when over 200 logins/s
 * ```
 * @module
 */
import type { Clock } from "../util/clock.ts";
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";

/** Longest retry hint given to a refused login (ms). */
const MAX_LOGIN_RETRY_MS = 60_000;

/** A per-node token bucket on logins. */
export class LoginShaper {
  readonly #rate: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  #tokens: number;
  #at: number;
  /** Refusals not yet worked off: each one is expected back, so it delays the next hints. */
  #backlog = 0;
  /** Logins refused so far (a metric). */
  refused = 0;

  /** `rate` logins per second (> 0); `random` is injectable for tests. */
  constructor(rate: number, clock: Clock, random: () => number = Math.random) {
    if (!(rate > 0)) throw new RangeError("loginsPerSecond must be > 0");
    this.#rate = rate;
    this.#clock = clock;
    this.#random = random;
    this.#tokens = rate;
    this.#at = clock.now();
  }

  /** Take one login token, or throw ReplyError 1023 with a jittered retry hint. */
  admit(): void {
    const now = this.#clock.now();
    const elapsed = Math.max(0, now - this.#at);
    this.#at = now;
    const refill = (elapsed * this.#rate) / 1000;
    this.#tokens = Math.min(this.#rate, this.#tokens + refill);
    // The backlog drains at the same rate as tokens refill.
    this.#backlog = Math.max(0, this.#backlog - refill);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return;
    }
    this.refused++;
    this.#backlog++;
    throw new ReplyError(Code.LoginRateLimited, "server busy: too many logins, retry later", {
      retryMs: this.retryHint(),
    });
  }

  /** A retry hint spread over the time the current backlog needs (at least one second). */
  retryHint(): number {
    const wait = ((1 - Math.min(1, this.#tokens)) * 1000) / this.#rate;
    const spread = Math.max(1000, (this.#backlog * 1000) / this.#rate);
    return Math.min(MAX_LOGIN_RETRY_MS, Math.ceil(wait + this.#random() * spread));
  }
}
