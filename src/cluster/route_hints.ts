/**
 * RouteHints: which other nodes held a user when an entry was appended to its inbox. The append script
 * reads the user's connections hash in the same call (same slot, same atomic step), so the delivery that
 * follows can publish at once instead of a second script call to look the nodes up — one round trip per
 * message. A hint is as good as the lookup it replaces: a connection that logs in after the append reads
 * the entry when it replays its inbox (its presence is written before that read, and the append either saw
 * the presence or came before the read).
 *
 * Hints are taken by the delivery right after the append resolves; one never taken (an append whose
 * delivery did not follow) is dropped after two {@linkcode RouteHints.sweep}s, and each generation holds
 * at most {@linkcode MAX_HINTS}, so the map is bounded whatever callers do.
 *
 * @example
 * ```ts
 * const hints = new RouteHints();
 * hints.remember(101, "bob", 7, ["node-2"]);
 * hints.take(101, "bob", 7); // ["node-2"]; the bus publishes to node-2 only
 * ```
 * @module
 */

/** Most hints kept per generation. */
export const MAX_HINTS = 20_000;

/** Other nodes holding a user at append time, by (app, user, seq). */
export class RouteHints {
  #current = new Map<string, readonly string[]>();
  #previous = new Map<string, readonly string[]>();

  /** Record the nodes read with the append of `seq`. */
  remember(appId: number, userId: string, seq: number, nodes: readonly string[]): void {
    if (this.#current.size >= MAX_HINTS) this.sweep();
    this.#current.set(`${appId}\n${userId}\n${seq}`, nodes);
  }

  /** The nodes for the delivery of `seq`, once; undefined when no append recorded them. */
  take(appId: number, userId: string, seq: number): readonly string[] | undefined {
    const key = `${appId}\n${userId}\n${seq}`;
    const nodes = this.#current.get(key) ?? this.#previous.get(key);
    if (nodes !== undefined && !this.#current.delete(key)) this.#previous.delete(key);
    return nodes;
  }

  /** Start a new generation; hints older than the previous one are dropped. */
  sweep(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }

  /** Hints held (metrics, tests). */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }
}
