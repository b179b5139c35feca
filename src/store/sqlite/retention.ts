/**
 * Retention of the SQLite store, the part that touches rows: trimmed entries (by count or age, dropped
 * from memory at once by inboxes.ts) queue here and are deleted from the file in batches, and idle inboxes
 * (no entry younger than `maxAgeMs`, user not connected) are looked at a batch at a time and dropped.
 * maintenance.ts decides when; this module owns the queue and the cursor.
 *
 * Each batch raises the seq floor of the inboxes it deletes from (`inboxes.last_seq`), so an inbox whose
 * every entry is gone still continues its seqs after a restart. A batch lost in a crash is found again
 * by the start-up scan, which trims the same rows.
 *
 * @example
 * ```ts
 * const retention = new Retention({ writer, statements, index, overlay, policy, clock, isActive });
 * retention.trimmed(rowid, inbox.gen, seq); // from the inbox map's trim
 * await retention.dropStep(); // deletes a batch
 * ```
 * @module
 */
import type { Clock } from "../../util/clock.ts";
import type { StorePolicy } from "../store.ts";
import type { Inbox, InboxIndex } from "./inboxes.ts";
import type { Overlay } from "./overlay.ts";
import type { Statements } from "./statements.ts";
import type { Writer } from "./writer.ts";

/** What {@linkcode Retention} needs. */
export interface RetentionDeps {
  writer: Writer;
  statements: Statements;
  index: InboxIndex;
  overlay: Overlay;
  policy: StorePolicy;
  clock: Clock;
  /** True while the user has a live connection: its inbox is never dropped then. */
  isActive: (appId: number, userId: string) => boolean;
  /** An inbox looked at whose user is not connected (its caches may go). */
  idle?: (inbox: Inbox) => void;
}

/** Inboxes looked at per prune step: bounded work per step. */
const PRUNE_BATCH = 1000;

/**
 * The delete queue and the idle-inbox cursor.
 *
 * @example
 * ```ts
 * const dropped = await retention.pruneStep();
 * ```
 */
export class Retention {
  readonly #d: RetentionDeps;
  /** Rowids trimmed from memory and not yet deleted from the file: [id, gen, seq, ...]. */
  readonly #drops: number[] = [];
  #cursor: Iterator<Inbox> | undefined;

  constructor(deps: RetentionDeps) {
    this.#d = deps;
  }

  /** Trimmed rows waiting to be deleted. */
  get pending(): number {
    return this.#drops.length / 3;
  }

  /** Queue the row of a trimmed entry (`seq` of inbox generation `gen`). */
  trimmed(id: number, gen: number, seq: number): void {
    this.#drops.push(id, gen, seq);
  }

  /** Queue a row that belongs to no inbox (found by the start-up scan). */
  orphan(id: number): void {
    this.#drops.push(id, 0, 0);
  }

  /** Delete a batch of queued rows (500–5000, more when more wait); resolves to how many. */
  async dropStep(): Promise<number> {
    const batch = this.#drops.splice(0, 3 * Math.min(5000, Math.max(500, Math.ceil(this.pending / 8))));
    if (batch.length === 0) return 0;
    const s = this.#d.statements;
    try {
      await this.#d.writer.submit("prune", batch.length / 3, () => {
        const ids: number[] = [];
        const floors = new Map<number, number>();
        for (let i = 0; i < batch.length; i += 3) {
          ids.push(batch[i]);
          const gen = batch[i + 1];
          if (gen > 0) floors.set(gen, Math.max(floors.get(gen) ?? 0, batch[i + 2]));
        }
        s.deleteEntries.run(JSON.stringify(ids));
        for (const [gen, seq] of floors) s.raiseFloor.run(seq, gen);
      });
    } catch (error) {
      this.#drops.unshift(...batch); // kept for the next step (the writer reports the failure)
      throw error;
    }
    return batch.length / 3;
  }

  /** Look at up to 1000 inboxes (continuing where the last step stopped) and drop the idle ones. */
  async pruneStep(): Promise<number> {
    const { index, overlay, isActive } = this.#d;
    const oldest = this.#d.clock.now() - this.#d.policy.maxAgeMs;
    const idle = this.#next(PRUNE_BATCH).filter((inbox) => {
      index.trimAge(inbox, oldest);
      index.sweepMsgIds(inbox);
      if (isActive(inbox.app, inbox.user)) return false;
      this.#d.idle?.(inbox);
      return inbox.start === inbox.ids.length;
    });
    if (idle.length === 0) return 0;
    return await this.#d.writer.submit("prune", idle.length, (tx) => {
      let dropped = 0;
      for (const inbox of idle) if (overlay.drop(tx, inbox)) dropped++;
      return dropped;
    });
  }

  /** Up to `n` inboxes; the cursor restarts after the end. */
  #next(n: number): Inbox[] {
    const out: Inbox[] = [];
    const cursor = this.#cursor ??= this.#d.index.values();
    while (out.length < n) {
      const next = cursor.next();
      if (next.done) {
        this.#cursor = undefined;
        break;
      }
      out.push(next.value);
    }
    return out;
  }
}
