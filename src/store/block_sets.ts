/**
 * Who blocked whom, in memory: the sets the memory engine keeps and the SQLite engine holds over its
 * `blocks` rows (PROTOCOL.md C.7). The send path asks `blockersOf` on every direct message, so it is one
 * map lookup per candidate.
 *
 * @example
 * ```ts
 * const blocks = new BlockSets();
 * blocks.set(101, "bob", "mallory", true); // true: changed
 * blocks.blockersOf(101, "mallory", ["bob", "carol"]); // Set { "bob" }
 * ```
 * @module
 */

const key = (app: number, user: string) => `${app}\u0000${user}`;

/**
 * Block sets per (app, user).
 *
 * @example
 * ```ts
 * new BlockSets().blocked(101, "bob"); // []
 * ```
 */
export class BlockSets {
  readonly #blocks = new Map<string, Set<string>>();

  /** Block or unblock `other` for `user`; true when it changed. */
  set(app: number, user: string, other: string, blocked: boolean): boolean {
    const k = key(app, user);
    let set = this.#blocks.get(k);
    if (!blocked) {
      const changed = set?.delete(other) ?? false;
      if (set?.size === 0) this.#blocks.delete(k);
      return changed;
    }
    if (!set) this.#blocks.set(k, set = new Set());
    if (set.has(other)) return false;
    set.add(other);
    return true;
  }

  /** The users `user` blocked. */
  blocked(app: number, user: string): string[] {
    return [...this.#blocks.get(key(app, user)) ?? []];
  }

  /** The candidates who blocked `sender`. */
  blockersOf(app: number, sender: string, candidates: string[]): Set<string> {
    const out = new Set<string>();
    for (const c of candidates) if (this.#blocks.get(key(app, c))?.has(sender)) out.add(c);
    return out;
  }
}
