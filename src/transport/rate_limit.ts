/**
 * The per-connection token bucket on frames (`limits.messagesPerSecond`, `limits.messageBurst`). A
 * refused frame gets code 1012 with a retry hint; more than `messageBurst` refusals in a row is abuse and
 * closes the connection (4003). The same strikes count frames refused by the inbound queue bound.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter(2000, 4000, clock);
 * const bucket = limiter.bucket();
 * const verdict = limiter.take(bucket); // { ok: true } or { ok: false, retryMs, close }
 * ```
 * @module
 */
import type { Clock } from "../util/clock.ts";

/** Token-bucket state of one connection. */
export interface Bucket {
  tokens: number;
  at: number;
  /** Refusals in a row. */
  strikes: number;
}

/** Verdict on one frame. */
export type FrameVerdict = { ok: true } | { ok: false; retryMs: number; close: boolean };

/** The verdict on a frame within the rate (one object, not one per frame). */
const ALLOWED: FrameVerdict = Object.freeze({ ok: true });

/** Token buckets of one node. */
export class RateLimiter {
  constructor(readonly rate: number, readonly burst: number, readonly clock: Clock) {}

  /** A full bucket for a new connection. */
  bucket(): Bucket {
    return { tokens: this.burst, at: this.clock.now(), strikes: 0 };
  }

  /** Take one token for a frame. */
  take(b: Bucket): FrameVerdict {
    const now = this.clock.now();
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.rate) / 1000);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      b.strikes = 0;
      return ALLOWED;
    }
    return this.strike(b, Math.ceil(((1 - b.tokens) * 1000) / this.rate));
  }

  /** Count a refused frame (bucket empty or inbound queue full); abuse after `burst` in a row. */
  strike(b: Bucket, retryMs: number): FrameVerdict {
    b.strikes++;
    return { ok: false, retryMs, close: b.strikes > this.burst };
  }
}
