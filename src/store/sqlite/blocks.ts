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
import { BlockSets } from "../block_sets.ts";
import type { ImStatements } from "./im_statements.ts";
import { returnArrays } from "./inboxes.ts";
import type { Writer } from "./writer.ts";

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
  readonly #sets = new BlockSets();

  constructor(deps: { writer: Writer; im: ImStatements }) {
    this.#writer = deps.writer;
    this.#im = deps.im;
  }

  /** Read every block from the file. */
  load(db: DatabaseSync): void {
    const rows = db.prepare("SELECT app, user, other FROM blocks");
    returnArrays(rows);
    for (const [app, user, other] of rows.iterate() as Iterable<[number, string, string]>) {
      this.#sets.set(app, user, other, true);
    }
  }

  /** The `Store.setBlocked` contract. */
  set(app: number, user: string, other: string, blocked: boolean): Promise<boolean> {
    return this.#writer.submit("setBlocked", 1, (tx) => {
      if (!this.#sets.set(app, user, other, blocked)) return false;
      tx.onRollback(() => this.#sets.set(app, user, other, !blocked));
      (blocked ? this.#im.blockPut : this.#im.blockDelete).run(app, user, other);
      return true;
    });
  }

  /** The `Store.blockedUsers` contract. */
  blockedUsers(app: number, user: string): string[] {
    return this.#sets.blocked(app, user);
  }

  /** The `Store.blockersOf` contract. */
  blockersOf(app: number, sender: string, candidates: string[]): Set<string> {
    return this.#sets.blockersOf(app, sender, candidates);
  }
}
