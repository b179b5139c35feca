/**
 * The reads a login (and a replay) makes of an inbox — its head, marks and unread total, entries after a seq —
 * batched: reads issued while one is in flight leave together, one script call per slot (per-slot batchers:
 * slot_batch.ts; scripts/login_state.lua, head.lua, range.lua and unread_total.lua take many inboxes), so a
 * login storm costs Redis a few calls per batch instead of two per login. An idle read still leaves at once
 * (store/redis/batcher.ts).
 *
 * @example
 * ```ts
 * const reads = new InboxReads(link, keys, run);
 * const [first, last, gen] = await reads.head(101, "bob", { oldest, now, keep });
 * ```
 * @module
 */
import type { RedisKeys } from "./keys.ts";
import type { RedisLink } from "./link.ts";
import { type Script, SCRIPTS } from "./scripts.ts";
import { SlotBatcher } from "./slot_batch.ts";

/** Runs a script as the store does (counted, failures mapped to `StorageError`). */
type RunScript = <T>(op: string, script: Script, keys: string[], args: (string | number)[]) => Promise<T>;

/** A stream entry as XRANGE returns it: id and flat fields (`t`, time, `e`, json). */
export type StreamEntry = [string, string[]];

/** Head of an inbox as head.lua returns it: first live seq, last seq, generation. */
export type RawHead = [number, number, string];

/** What login_state.lua returns per inbox: the head as above, then the delivered and ack marks, unread total. */
export type RawLoginState = [number, number, string, number, number, number];

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
  readonly #heads: SlotBatcher<HeadRead, RawHead>;
  readonly #logins: SlotBatcher<HeadRead, RawLoginState>;
  readonly #ranges: SlotBatcher<RangeRead, StreamEntry[]>;
  readonly #unread: SlotBatcher<{ key: string }, number>;

  constructor(readonly link: RedisLink, readonly keys: RedisKeys, readonly run: RunScript) {
    const marks = (r: { appId: number; userId: string }) => keys.marks(r.appId, r.userId);
    this.#heads = new SlotBatcher<HeadRead, RawHead>(link.cluster, marks, (items) => this.#flushHeads(items));
    this.#logins = new SlotBatcher<HeadRead, RawLoginState>(
      link.cluster,
      marks,
      (items) => this.#flushLogins(items),
    );
    this.#ranges = new SlotBatcher<RangeRead, StreamEntry[]>(
      link.cluster,
      marks,
      (items) => this.#flushRanges(items),
    );
    this.#unread = new SlotBatcher(link.cluster, (r) => r.key, (items) => this.#flushUnread(items));
  }

  /** head.lua for one inbox. */
  head(appId: number, userId: string, ages: HeadRead["ages"]): Promise<RawHead> {
    return this.#heads.push({ appId, userId, ages });
  }

  /** login_state.lua for one inbox. */
  loginState(appId: number, userId: string, ages: HeadRead["ages"]): Promise<RawLoginState> {
    return this.#logins.push({ appId, userId, ages });
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

  /** One script call for one slot's reads (below: likewise). */
  #flushHeads(group: HeadRead[]): Promise<RawHead[]> {
    return this.run<RawHead[]>(
      "head",
      SCRIPTS.head,
      group.flatMap((r) => [this.keys.marks(r.appId, r.userId), this.keys.inbox(r.appId, r.userId)]),
      group.flatMap(({ ages }) => [ages.oldest, ages.now, ages.keep]),
    );
  }

  #flushLogins(group: HeadRead[]): Promise<RawLoginState[]> {
    const k = this.keys;
    return this.run<RawLoginState[]>(
      "loginState",
      SCRIPTS.loginState,
      group.flatMap((
        r,
      ) => [k.marks(r.appId, r.userId), k.inbox(r.appId, r.userId), k.conversations(r.appId, r.userId)]),
      group.flatMap(({ ages }) => [ages.oldest, ages.now, ages.keep]),
    );
  }

  #flushRanges(group: RangeRead[]): Promise<StreamEntry[][]> {
    return this.run<StreamEntry[][]>(
      "range",
      SCRIPTS.range,
      group.flatMap((r) => [this.keys.marks(r.appId, r.userId), this.keys.inbox(r.appId, r.userId)]),
      group.flatMap((r) => [r.oldest, r.afterSeq, r.limit]),
    );
  }

  async #flushUnread(group: { key: string }[]): Promise<number[]> {
    return (await this.run<number[]>("unreadTotal", SCRIPTS.unreadTotal, group.map((r) => r.key), [])).map(
      Number,
    );
  }
}
