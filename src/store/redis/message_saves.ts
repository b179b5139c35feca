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
import { Batcher, ItemFailure } from "./batcher.ts";
import type { RedisLink } from "./link.ts";
import { type Script, SCRIPTS } from "./scripts.ts";
import { bySlot } from "./slots.ts";

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

  async #flush(items: PendingSave[]): Promise<Array<number | ItemFailure>> {
    const groups = this.link.cluster ? [...bySlot(items, (s) => s.key).values()] : [items];
    const saved = new Map<PendingSave, number | ItemFailure>();
    await Promise.all(groups.map(async (group) => {
      try {
        const replies = await this.run<number[]>(
          "saveMessage",
          SCRIPTS.saveMessage,
          group.map((s) => s.key),
          group.flatMap((s) => [JSON.stringify(s.message), s.message.time, s.ttl]),
        );
        group.forEach((s, i) => saved.set(s, Number(replies[i])));
      } catch (error) {
        // a slot's master down fails its messages only
        for (const s of group) saved.set(s, new ItemFailure(error));
      }
    }));
    return items.map((s) => saved.get(s)!);
  }
}
