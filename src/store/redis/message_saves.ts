/**
 * Messages kept once per app (`{app:msgId}:msg`, scripts/save_message.lua), saved in batches: the saves of
 * concurrent sends leave together, one script call per slot instead of one per message.
 *
 * @example
 * ```ts
 * const saves = new MessageSaves(link, run);
 * await saves.save(keys.message(101, "m1"), message, ttlMs);
 * ```
 * @module
 */
import type { StoredMessage } from "../store.ts";
import { Batcher, type ItemFailure } from "./batcher.ts";
import type { RedisLink } from "./link.ts";
import { type Script, SCRIPTS } from "./scripts.ts";
import { perSlot } from "./slot_batch.ts";

interface PendingSave {
  key: string;
  message: StoredMessage;
  ttl: number;
}

/** Runs a script as the store does (counted, failures mapped to `StorageError`). */
type RunScript = <T>(op: string, script: Script, keys: string[], args: (string | number)[]) => Promise<T>;

/** Batched saves of kept messages. */
export class MessageSaves {
  readonly #batcher = new Batcher<PendingSave, number>((items) => this.#flush(items), 256);

  constructor(readonly link: RedisLink, readonly run: RunScript) {}

  /** Keep `message` under `key` for `ttl` ms unless already kept; resolves once Redis has it. */
  async save(key: string, message: StoredMessage, ttl: number): Promise<void> {
    await this.#batcher.push({ key, message, ttl });
  }

  #flush(items: PendingSave[]): Promise<Array<number | ItemFailure>> {
    // one call per slot; a slot's master down fails its messages only
    return perSlot(this.link.cluster, items, (s) => s.key, async (group) =>
      (await this.run<number[]>(
        "saveMessage",
        SCRIPTS.saveMessage,
        group.map((s) => s.key),
        group.flatMap((s) => [JSON.stringify(s.message), s.message.time, s.ttl]),
      )).map(Number));
  }
}
