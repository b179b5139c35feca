/**
 * Messages kept once per app (`{app:msgId}:msg`, scripts/save_message.lua), saved in batches: the saves of
 * concurrent sends leave together, one script call per slot instead of one per message (a slot's batch
 * waits for nobody else's: slot_batch.ts).
 *
 * @example
 * ```ts
 * const saves = new MessageSaves(link, run);
 * await saves.save(keys.message(101, "m1"), message, ttlMs);
 * ```
 * @module
 */
import type { StoredMessage } from "../store.ts";
import type { RedisLink } from "./link.ts";
import { type Script, SCRIPTS } from "./scripts.ts";
import { SlotBatcher } from "./slot_batch.ts";

interface PendingSave {
  key: string;
  message: StoredMessage;
  ttl: number;
}

/** Runs a script as the store does (counted, failures mapped to `StorageError`). */
type RunScript = <T>(op: string, script: Script, keys: string[], args: (string | number)[]) => Promise<T>;

/** Batched saves of kept messages. */
export class MessageSaves {
  readonly #batcher: SlotBatcher<PendingSave, number>;

  constructor(readonly link: RedisLink, readonly run: RunScript) {
    this.#batcher = new SlotBatcher(link.cluster, (s) => s.key, (items) => this.#flush(items));
  }

  /** Keep `message` under `key` for `ttl` ms unless already kept; resolves once Redis has it. */
  async save(key: string, message: StoredMessage, ttl: number): Promise<void> {
    await this.#batcher.push({ key, message, ttl });
  }

  /** One script call for one slot's saves. */
  async #flush(group: PendingSave[]): Promise<number[]> {
    const replies = await this.run<number[]>(
      "saveMessage",
      SCRIPTS.saveMessage,
      group.map((s) => s.key),
      group.flatMap((s) => [JSON.stringify(s.message), s.message.time, s.ttl]),
    );
    return replies.map(Number);
  }
}
