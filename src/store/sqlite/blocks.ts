/**
 * Blocks on the SQLite store (`Store.setBlocked` and the lookups the send path makes on every message):
 * durable rows, all held in memory (loaded at start; a block list is small) so `blockersOf` costs no read.
 * A change is made in memory inside its writer operation and undone if the transaction rolls back.
 *
 * @example
 * ```ts
 * const blocks = new Blocks({ writer, im });
 * blocks.load(db);
 * await blocks.set(101, "bob", "mallory", true); // true: changed
 * blocks.blockersOf(101, "mallory", ["bob", "carol"]); // Set { "bob" }
 * ```
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { ImStatements } from "./im_statements.ts";
import { returnArrays } from "./inboxes.ts";
import type { Writer } from "./writer.ts";

const key = (app: number, user: string) => `${app}\u0000${user}`;

/**
 * Who blocked whom.
 *
 * @example
 * ```ts
 * blocks.blockedUsers(101, "bob"); // ["mallory"]
 * ```
 */
export class Blocks {
  readonly #writer: Writer;
  readonly #im: ImStatements;
  readonly #blocks = new Map<string, Set<string>>();

  constructor(deps: { writer: Writer; im: ImStatements }) {
    this.#writer = deps.writer;
    this.#im = deps.im;
  }

  /** Read every block from the file. */
  load(db: DatabaseSync): void {
    const rows = db.prepare("SELECT app, user, other FROM blocks");
    returnArrays(rows);
    for (const [app, user, other] of rows.iterate() as Iterable<[number, string, string]>) {
      this.#change(app, user, other, true);
    }
  }

  /** The `Store.setBlocked` contract. */
  set(app: number, user: string, other: string, blocked: boolean): Promise<boolean> {
    return this.#writer.submit("setBlocked", 1, (tx) => {
      if (!this.#change(app, user, other, blocked)) return false;
      tx.onRollback(() => this.#change(app, user, other, !blocked));
      (blocked ? this.#im.blockPut : this.#im.blockDelete).run(app, user, other);
      return true;
    });
  }

  /** The `Store.blockedUsers` contract. */
  blockedUsers(app: number, user: string): string[] {
    return [...this.#blocks.get(key(app, user)) ?? []];
  }

  /** The `Store.blockersOf` contract. */
  blockersOf(app: number, sender: string, candidates: string[]): Set<string> {
    const out = new Set<string>();
    for (const c of candidates) if (this.#blocks.get(key(app, c))?.has(sender)) out.add(c);
    return out;
  }

  #change(app: number, user: string, other: string, blocked: boolean): boolean {
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
}
