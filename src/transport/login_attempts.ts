/**
 * Login attempts per client address per minute (`limits.loginsPerIpPerMinute`) and per connection
 * (`limits.loginsPerConnectionPerMinute`): counted before any parsing, so malformed logins cannot be used
 * to guess tokens for free, and a connection looping login/logout cannot churn presence for everyone.
 * Over the address limit (every attempt counts): 1023 and close 4007 (retry hint: end of the window plus
 * jitter); over the connection limit (applied logins count): 1023 with a retry hint, the connection stays.
 *
 * @example
 * ```ts
 * const attempts = new LoginAttempts(100, 10, clock);
 * attempts.check(conn.ip, counter); // throws Disconnect or ReplyError when over
 * ```
 * @module
 */
import type { Clock } from "../util/clock.ts";
import { CloseCode, Code } from "../protocol/codes.ts";
import { Disconnect, ReplyError } from "../protocol/errors.ts";

const WINDOW_MS = 60_000;
const JITTER_MS = 1000;

/** A fixed one-minute window of attempts. */
export interface AttemptWindow {
  start: number;
  count: number;
}

/** Login attempt windows of one node. */
export class LoginAttempts {
  readonly #perIp: number;
  readonly #perConnection: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #byIp = new Map<string, AttemptWindow>();
  #sweptAt = 0;

  constructor(perIp: number, perConnection: number, clock: Clock, random: () => number = Math.random) {
    this.#perIp = perIp;
    this.#perConnection = perConnection;
    this.#clock = clock;
    this.#random = random;
  }

  /** A fresh window for a new connection. */
  window(): AttemptWindow {
    return { start: this.#clock.now(), count: 0 };
  }

  /**
   * Count one attempt from `ip` and check the logins already applied on the connection whose window is
   * `conn` ({@linkcode applied} counts them); throws when over a limit.
   */
  check(ip: string, conn: AttemptWindow): void {
    const now = this.#clock.now();
    this.#sweep(now);
    let slot = this.#byIp.get(ip);
    if (!slot) this.#byIp.set(ip, slot = { start: now, count: 0 });
    if (count(slot, now) > this.#perIp) {
      const retryMs = slot.start + WINDOW_MS - now + Math.floor(this.#random() * JITTER_MS);
      throw new Disconnect(CloseCode.LoginRateLimited, "too many login attempts from this address", {
        reply: { code: Code.LoginRateLimited },
        retryMs,
      });
    }
    if (current(conn, now) >= this.#perConnection) {
      const retryMs = conn.start + WINDOW_MS - now + Math.floor(this.#random() * JITTER_MS);
      throw new ReplyError(Code.LoginRateLimited, "too many logins on this connection", { retryMs });
    }
  }

  /** Drop expired windows at most once per window, so the map stays bounded by active addresses. */
  #sweep(now: number): void {
    if (now - this.#sweptAt < WINDOW_MS) return;
    this.#sweptAt = now;
    for (const [ip, slot] of this.#byIp) if (now - slot.start >= WINDOW_MS) this.#byIp.delete(ip);
  }

  /** A login was applied on the connection whose window is `conn`. */
  applied(conn: AttemptWindow): void {
    current(conn, this.#clock.now());
    conn.count++;
  }
}

/** The count of `w` now (restarting the window when it is over). */
function current(w: AttemptWindow, now: number): number {
  if (now - w.start >= WINDOW_MS) {
    w.start = now;
    w.count = 0;
  }
  return w.count;
}

/** Count an attempt in `w`; returns the count. */
function count(w: AttemptWindow, now: number): number {
  current(w, now);
  return ++w.count;
}
