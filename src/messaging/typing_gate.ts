/**
 * The typing rate limit of one node (PROTOCOL.md C.5): per (app, sender, conversation) — whatever device of
 * the sender the frame comes from — a `start` is forwarded at most once per {@linkcode TYPING_EVERY_MS}, and a
 * `stop` only when the last state forwarded for that key was `start`. So a peer never keeps an indicator a
 * forwarded `stop` should have ended, and a sender spamming start/stop costs its peers at most two pushes
 * per 2 s per conversation. Everything else is dropped silently.
 *
 * Memory is bounded: an entry lives {@linkcode TYPING_EXPIRES_MS} after its last forwarded `start` (the
 * peers' indicator has expired by then, so a later `stop` has nothing to end), entries are kept in that
 * order and the expired ones are removed from the front on every call (amortized O(1)); at most `maxEntries`
 * are held (the oldest go first — its peers' indicator then ends by its own expiry).
 *
 * @example
 * ```ts
 * const gate = new TypingGate(clock);
 * gate.admit(101, "alice", "u:bob", "start"); // true: forward
 * gate.admit(101, "alice", "u:bob", "start"); // false within 2 s
 * gate.admit(101, "alice", "u:bob", "stop");  // true once
 * ```
 * @module
 */
import type { Clock } from "../util/clock.ts";

/** A typing `start` counts this long unless renewed (ms). */
export const TYPING_EXPIRES_MS = 6000;
/** At most one `start` per conversation and sender in this long (ms). */
export const TYPING_EVERY_MS = 2000;

interface Entry {
  /** When the last `start` was forwarded. */
  startedAt: number;
  /** The last state forwarded. */
  state: "start" | "stop";
}

/** Which typing frames of a node's senders are forwarded. */
export class TypingGate {
  readonly #clock: Clock;
  readonly #max: number;
  /** key → entry, oldest `startedAt` first (an entry is re-inserted when a start is forwarded). */
  readonly #entries = new Map<string, Entry>();

  constructor(clock: Clock, maxEntries = 100_000) {
    this.#clock = clock;
    this.#max = maxEntries;
  }

  /** Entries held (a gauge; bounded by the starts forwarded in the last 6 s and by `maxEntries`). */
  get size(): number {
    return this.#entries.size;
  }

  /** True when this frame is to be forwarded (and it is then counted). */
  admit(appId: number, sender: string, conversation: string, state: "start" | "stop"): boolean {
    const now = this.#clock.now();
    this.#expire(now);
    const key = `${appId}\u0000${sender}\u0000${conversation}`;
    const entry = this.#entries.get(key);
    if (state === "stop") {
      if (entry?.state !== "start") return false;
      entry.state = "stop";
      return true;
    }
    if (entry && now - entry.startedAt < TYPING_EVERY_MS) return false;
    this.#entries.delete(key);
    this.#entries.set(key, { startedAt: now, state: "start" });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    return true;
  }

  #expire(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (now - entry.startedAt < TYPING_EXPIRES_MS) return;
      this.#entries.delete(key);
    }
  }
}
