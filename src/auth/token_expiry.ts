/**
 * Token expiry while connected (`auth.mode: jwt`, PROTOCOL.md B.1): one timer for all connections closes
 * those whose token expired without a `refresh` — a `tokenExpired` push, then close 4002.
 *
 * @example
 * ```ts
 * const expiry = new TokenExpiry(pushes, (conn) => lifecycle.close(conn, 4002, "token expired"));
 * expiry.set(conn, principal.expiresAt);
 * expiry.tick(Date.now()); // from a 1 s timer
 * ```
 * @module
 */
import type { Pushes } from "../protocol/pushes.ts";
import type { Connection } from "../session/connection.ts";

/** Expiry times of the connections whose token expires. */
export class TokenExpiry {
  readonly #expiries = new Map<Connection, number>();

  /** `expire` closes a connection whose token expired (after the push was sent). */
  constructor(readonly pushes: Pushes, readonly expire: (conn: Connection) => void) {}

  /** Connections with a finite expiry being watched. */
  get size(): number {
    return this.#expiries.size;
  }

  /** When `conn`'s credentials stop being valid (ms); Infinity = never. */
  set(conn: Connection, expiresAt: number): void {
    if (Number.isFinite(expiresAt)) this.#expiries.set(conn, expiresAt);
    else this.#expiries.delete(conn);
  }

  /** Stop watching (logout). */
  clear(conn: Connection): void {
    this.#expiries.delete(conn);
  }

  /** Close every connection whose token expired at `now`; returns how many. Closed ones are forgotten. */
  tick(now: number): number {
    let n = 0;
    for (const [conn, expiresAt] of this.#expiries) {
      if (!conn.open) {
        this.#expiries.delete(conn);
        continue;
      }
      if (expiresAt > now) continue;
      this.#expiries.delete(conn);
      conn.send(this.pushes.tokenExpired(expiresAt));
      this.expire(conn);
      n++;
    }
    return n;
  }
}
