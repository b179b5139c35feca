/**
 * The reads a login (and a replay) makes of an inbox — its head, entries after a seq, the unread total —
 * batched: reads issued while one is in flight leave together, one script call per slot (scripts/head.lua,
 * range.lua, unread_total.lua take many inboxes), so a login storm costs Redis a few calls per batch
 * instead of three per login. An idle read still leaves at once (store/redis/batcher.ts).
 *
 * @example
 * ```ts
 * const reads = new InboxReads(link, keys, run);
 * const [first, last, gen] = await reads.head(101, "bob", { oldest, now, keep });
 * ```
 * @module
 */
import { Batcher } from "./batcher.ts";
import type { RedisKeys } from "./keys.ts";
import type { RedisLink } from "./link.ts";
import { type Script, SCRIPTS } from "./scripts.ts";
import { perSlot } from "./slot_batch.ts";

/** Runs a script as the store does (counted, failures mapped to `StorageError`). */
type RunScript = <T>(op: string, script: Script, keys: string[], args: (string | number)[]) => Promise<T>;

/** A stream entry as XRANGE returns it: id and flat fields (`t`, time, `e`, json). */
export type StreamEntry = [string, string[]];

/** Head of an inbox as head.lua returns it: first live seq, last seq, generation. */
export type RawHead = [number, number, string];

interface HeadRead {
  appId: number;
  userId: string;
  ages: { oldest: number; now: number; keep: number };
}

interface RangeRead {
  appId: number;
  userId: string;
  oldest: number;
  afterSeq: number;
  limit: number;
}

/** Batched inbox reads over one link. */
export class InboxReads {
  readonly #heads = new Batcher<HeadRead, RawHead>((items) => this.#flushHeads(items), 256);
  readonly #ranges = new Batcher<RangeRead, StreamEntry[]>((items) => this.#flushRanges(items), 256);
  readonly #unread = new Batcher<{ key: string }, number>((items) => this.#flushUnread(items), 256);

  constructor(readonly link: RedisLink, readonly keys: RedisKeys, readonly run: RunScript) {}

  /** head.lua for one inbox. */
  head(appId: number, userId: string, ages: HeadRead["ages"]): Promise<RawHead> {
    return this.#heads.push({ appId, userId, ages });
  }

  /** range.lua for one inbox: up to `limit` entries after `afterSeq`, none older than `oldest`. */
  range(
    appId: number,
    userId: string,
    oldest: number,
    afterSeq: number,
    limit: number,
  ): Promise<StreamEntry[]> {
    return this.#ranges.push({ appId, userId, oldest, afterSeq, limit });
  }

  /** unread_total.lua for one inbox. */
  unreadTotal(appId: number, userId: string): Promise<number> {
    return this.#unread.push({ key: this.keys.conversations(appId, userId) });
  }

  #flushHeads(items: HeadRead[]) {
    return perSlot(
      this.link.cluster,
      items,
      (r) => this.keys.marks(r.appId, r.userId),
      (group) =>
        this.run<RawHead[]>(
          "head",
          SCRIPTS.head,
          group.flatMap((r) => [this.keys.marks(r.appId, r.userId), this.keys.inbox(r.appId, r.userId)]),
          group.flatMap(({ ages }) => [ages.oldest, ages.now, ages.keep]),
        ),
    );
  }

  #flushRanges(items: RangeRead[]) {
    return perSlot(
      this.link.cluster,
      items,
      (r) => this.keys.marks(r.appId, r.userId),
      (group) =>
        this.run<StreamEntry[][]>(
          "range",
          SCRIPTS.range,
          group.flatMap((r) => [this.keys.marks(r.appId, r.userId), this.keys.inbox(r.appId, r.userId)]),
          group.flatMap((r) => [r.oldest, r.afterSeq, r.limit]),
        ),
    );
  }

  #flushUnread(items: { key: string }[]) {
    return perSlot(
      this.link.cluster,
      items,
      (r) => r.key,
      async (group) =>
        (await this.run<number[]>("unreadTotal", SCRIPTS.unreadTotal, group.map((r) => r.key), [])).map(
          Number,
        ),
    );
  }
}
