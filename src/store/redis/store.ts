/**
 * The {@linkcode Store} on Redis (cluster mode). Every multi-step operation is one Lua script
 * (scripts/*.lua), so seqs are unique across nodes; appends are batched adaptively (batcher.ts). Failures
 * are `StorageError`s: a send during an outage fails visibly (1024) instead of being dropped.
 *
 * Redis can come back with older data (restart from an RDB snapshot, an AOF missing its tail, a lagging
 * replica promoted). Then seqs the clients already saw would be handed out again. Two checks catch it:
 * a write counter that only grows (returned by every append, read on reconnect and periodically — a
 * lower value than seen means writes were lost), and a delivery that sees a seq with another msgId than
 * delivered before (session/delivery.ts). Either reports {@linkcode RedisStoreEvents.rollback}; the
 * cluster node then rotates the epoch, so every client resyncs instead of silently missing messages.
 *
 * @example
 * ```ts
 * const store = new RedisStore(client, { keys: new RedisKeys("im:"), policy });
 * await store.loadEpoch();
 * const e = await store.append(101, "bob", entry);
 * ```
 * @size One method per Store operation (each a script call with its keys) plus the epoch and write-counter
 * checks that make a rollback visible; the IM operations are one-line delegations to im.ts.
 * @module
 */
import { StorageError } from "../../protocol/errors.ts";
import type { Counter, Histogram, Metrics } from "../../ops/metrics.ts";
import { type Clock, systemClock } from "../../util/clock.ts";
import type {
  Appended,
  InboxEntry,
  InboxHead,
  JoinResult,
  Mark,
  NewEntry,
  Store,
  StorePolicy,
} from "../store.ts";
import { Batcher } from "./batcher.ts";
import { connectRedis, type Redis, type RedisOptions } from "./client.ts";
import { RedisIm } from "./im.ts";
import type { RedisKeys } from "./keys.ts";
import { type Script, SCRIPTS } from "./scripts.ts";

/** What the store tells its owner (the cluster node). */
export interface RedisStoreEvents {
  /** Redis holds older data than this node has seen. */
  rollback(reason: string): void;
  /** The deployment epoch changed under this node (another node rotated it, or the key was lost). */
  epochChanged(epoch: string): void;
}

/** Options of {@linkcode RedisStore}. */
export interface RedisStoreOptions {
  keys: RedisKeys;
  policy: StorePolicy;
  clock?: Clock;
  metrics?: Metrics;
  /** Close the client on {@linkcode RedisStore.close} (true for {@linkcode RedisStore.open}). */
  ownsClient?: boolean;
}

type StreamEntry = [string, string[]];

interface PendingAppend {
  appId: number;
  userId: string;
  entry: NewEntry;
  json: string;
  idempotent: boolean;
}

/** Inbox keys outlive their newest entry by this much, so a late read still finds the counter. */
const KEEP_EXTRA_MS = 24 * 3600_000;

/** Store on Redis; one shared command connection (node-redis pipelines concurrent commands). */
export class RedisStore implements Store {
  readonly kind = "redis";
  readonly client: Redis;
  readonly keys: RedisKeys;
  readonly #policy: StorePolicy;
  readonly #clock: Clock;
  readonly #owns: boolean;
  #epoch = "";
  #maxWrites = 0;
  #events: RedisStoreEvents | undefined;
  readonly #ops: Counter | undefined;
  readonly #errors: Counter | undefined;
  readonly #latency: Counter | undefined;
  /** `im_store_latency_ms`: what the admin console charts as store p50/p99 (admin/sampler.ts). */
  readonly #histogram: Histogram | undefined;
  /** Appends issued while a batch is in flight leave together. */
  readonly #appends = new Batcher<PendingAppend, number>((items) => this.#flushAppends(items), 256);
  readonly #im: RedisIm;

  constructor(client: Redis, options: RedisStoreOptions) {
    this.client = client;
    this.keys = options.keys;
    this.#policy = options.policy;
    this.#clock = options.clock ?? systemClock;
    this.#owns = options.ownsClient ?? false;
    const m = options.metrics;
    this.#ops = m?.counter("im_redis_calls_total", "Redis store calls by operation", ["op"]);
    this.#errors = m?.counter("im_redis_errors_total", "Failed Redis store calls by operation", ["op"]);
    this.#latency = m?.counter(
      "im_redis_latency_ms_sum",
      "Summed latency of Redis store calls (ms); divide by im_redis_calls_total",
      ["op"],
    );
    this.#im = new RedisIm({
      client,
      keys: this.keys,
      policy: this.#policy,
      clock: this.#clock,
      keepMs: this.#policy.maxAgeMs + KEEP_EXTRA_MS,
      call: (op, fn) => this.#call(op, fn),
      run: (op, script, keys, args) => this.#run(op, script, keys, args),
    });
    this.#histogram = m?.histogram("im_store_latency_ms", "Latency of store calls (ms)");
  }

  /** A store with its own connection (tools and tests; cluster nodes share theirs via the node). */
  static async open(
    redis: RedisOptions,
    options: Omit<RedisStoreOptions, "ownsClient">,
  ): Promise<RedisStore> {
    const store = new RedisStore(await connectRedis(redis), { ...options, ownsClient: true });
    try {
      await store.loadEpoch();
      await store.checkWrites();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** Who hears about rollbacks and epoch changes (the cluster node). */
  listen(events: RedisStoreEvents): void {
    this.#events = events;
  }

  /** The deployment epoch last read. */
  get epoch(): string {
    return this.#epoch;
  }

  /**
   * Read (or create, with SET NX) the deployment epoch. True when it differs from the one held: Redis
   * lost its data (the key is gone) or a node rotated it.
   */
  async loadEpoch(): Promise<boolean> {
    const fresh = crypto.randomUUID().slice(0, 8);
    const held = await this.#call(
      "epoch",
      () => this.client.sendCommand(["SET", this.keys.epoch, fresh, "NX", "GET"]) as Promise<string | null>,
    );
    return this.#adoptEpoch(held ?? fresh);
  }

  /** Replace the epoch (compare-and-set against the one held); resolves to the epoch now in force. */
  async rotateEpoch(): Promise<string> {
    const next = crypto.randomUUID().slice(0, 8);
    const now = await this.#run<string>("rotateEpoch", SCRIPTS.rotateEpoch, [this.keys.epoch], [
      this.#epoch,
      next,
    ]);
    this.#adoptEpoch(now);
    // Writes from before the rollback are gone: measure from what Redis holds now.
    this.#maxWrites = 0;
    await this.checkWrites();
    return now;
  }

  #adoptEpoch(epoch: string): boolean {
    const changed = this.#epoch !== "" && this.#epoch !== epoch;
    this.#epoch = epoch;
    if (changed) this.#events?.epochChanged(epoch);
    return changed;
  }

  /** Compare the write counter with the highest value seen (after a reconnect, and periodically). */
  async checkWrites(): Promise<void> {
    const floor = this.#maxWrites;
    const value = Number(await this.#call("writes", () => this.client.get(this.keys.writeCounter)) ?? 0);
    this.#sawWrites(value, floor);
  }

  /**
   * A counter value read by a call issued when `floor` was the highest value seen. Only a value below
   * `floor` is a rollback: every write counted in `floor` was done before that call was sent. Replies
   * handled out of order (an append's after a later check's, or the other way round) are not compared
   * with each other.
   */
  #sawWrites(value: number, floor: number): void {
    if (value < floor) {
      this.#maxWrites = value;
      this.#events?.rollback(`write counter went back from ${floor} to ${value}`);
      return;
    }
    if (value > this.#maxWrites) this.#maxWrites = value;
  }

  /** Run one Redis operation, counting it and mapping failures to StorageError. */
  async #call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    this.#ops?.inc({ op });
    try {
      return await fn();
    } catch (error) {
      this.#errors?.inc({ op });
      throw new StorageError(op, error);
    } finally {
      const ms = performance.now() - start;
      this.#latency?.inc({ op }, ms);
      this.#histogram?.observe(ms);
    }
  }

  #run<T>(op: string, script: Script, keys: string[], args: (string | number)[]): Promise<T> {
    return this.#call(op, () => script.run<T>(this.client, keys, args));
  }

  append(appId: number, userId: string, entry: NewEntry): Promise<InboxEntry> {
    return this.#appends.push({ appId, userId, entry, json: JSON.stringify(entry), idempotent: false })
      .then((seq) => ({ ...entry, seq }));
  }

  appendMany(appId: number, userIds: string[], entry: NewEntry): Promise<number[]> {
    const json = JSON.stringify(entry);
    return Promise.all(
      userIds.map((userId) => this.#appends.push({ appId, userId, entry, json, idempotent: false })),
    );
  }

  /** Repeats come back from the script as negative seqs (the seq the msgId got the first time). */
  async appendOnce(appId: number, userIds: string[], entry: NewEntry): Promise<Appended[]> {
    const json = JSON.stringify(entry);
    const seqs = await Promise.all(
      userIds.map((userId) => this.#appends.push({ appId, userId, entry, json, idempotent: true })),
    );
    return seqs.map((s) => ({ seq: Math.abs(s), repeated: s < 0 }));
  }

  /** One append script call for a whole batch of (user, entry) pairs. */
  async #flushAppends(items: PendingAppend[]): Promise<number[]> {
    const k = this.keys;
    const keys = [k.writeCounter, k.epoch];
    const now = this.#clock.now();
    const { maxEntries, maxAgeMs, dedupTtlMs } = this.#policy;
    const args: (string | number)[] = [now, maxEntries, maxAgeMs, maxAgeMs + KEEP_EXTRA_MS, dedupTtlMs];
    for (const a of items) {
      keys.push(
        k.marks(a.appId, a.userId),
        k.inbox(a.appId, a.userId),
        k.appended(a.appId, a.userId, a.entry.msgId),
        k.conversations(a.appId, a.userId),
        k.conversationTimes(a.appId, a.userId),
        k.positions(a.appId, a.userId),
      );
      args.push(a.entry.time, a.json, a.idempotent ? "1" : "0", a.userId);
    }
    const floor = this.#maxWrites;
    const [writes, epoch, ...seqs] = await this.#run<[number, string | null, ...number[]]>(
      "append",
      SCRIPTS.append,
      keys,
      args,
    );
    this.#sawWrites(Number(writes), floor);
    if (epoch !== null && epoch !== this.#epoch) this.#adoptEpoch(epoch);
    return seqs.map(Number);
  }

  #oldest(): number {
    return this.#clock.now() - this.#policy.maxAgeMs;
  }

  async range(appId: number, userId: string, afterSeq: number, limit: number): Promise<InboxEntry[]> {
    if (limit <= 0) return [];
    const keys = [this.keys.marks(appId, userId), this.keys.inbox(appId, userId)];
    const args = [this.#oldest(), Math.max(0, Math.floor(afterSeq)), limit];
    return (await this.#run<StreamEntry[]>("range", SCRIPTS.range, keys, args)).map(decode);
  }

  async rangeBefore(appId: number, userId: string, beforeSeq: number, limit: number): Promise<InboxEntry[]> {
    if (limit <= 0) return [];
    const keys = [this.keys.marks(appId, userId), this.keys.inbox(appId, userId)];
    const before = Math.max(0, Math.min(Math.floor(beforeSeq), Number.MAX_SAFE_INTEGER));
    return (await this.#run<StreamEntry[]>("rangeBefore", SCRIPTS.rangeBefore, keys, [
      this.#oldest(),
      before,
      limit,
    ]))
      .map(decode);
  }

  async head(appId: number, userId: string): Promise<InboxHead> {
    const keys = [this.keys.marks(appId, userId), this.keys.inbox(appId, userId)];
    const now = this.#clock.now();
    const keep = this.#policy.maxAgeMs + KEEP_EXTRA_MS;
    const [firstSeq, lastSeq, gen] = await this.#run<[number, number, string]>("head", SCRIPTS.head, keys, [
      now - this.#policy.maxAgeMs,
      now,
      keep,
    ]);
    if (!this.#epoch) await this.loadEpoch();
    return {
      firstSeq: Number(firstSeq),
      lastSeq: Number(lastSeq),
      epoch: gen ? `${this.#epoch}.${gen}` : this.#epoch,
    };
  }

  async advanceMark(
    appId: number,
    userId: string,
    mark: Mark,
    seq: number,
  ): Promise<{ previous: number; current: number }> {
    const [previous, current] = await this.#run<number[]>(
      "advanceMark",
      SCRIPTS.advanceMark,
      [this.keys.marks(appId, userId)],
      [mark, Math.floor(seq)],
    );
    return { previous: Number(previous), current: Number(current) };
  }

  async mark(appId: number, userId: string, mark: Mark): Promise<number> {
    return Number(
      await this.#call("mark", () => this.client.hGet(this.keys.marks(appId, userId), mark)) ?? 0,
    );
  }

  claim(key: string, value: string): Promise<string | null> {
    const px = String(Math.max(1, Math.ceil(this.#policy.dedupTtlMs)));
    return this.#call(
      "claim",
      () =>
        this.client.sendCommand(["SET", this.keys.claim(key), value, "NX", "GET", "PX", px]) as Promise<
          string | null
        >,
    );
  }

  joinRoom(appId: number, room: string, userId: string): Promise<JoinResult> {
    const keys = [this.keys.room(appId, room), this.keys.userRooms(appId, userId)];
    const { maxRoomsPerUser, maxRoomMembers } = this.#policy;
    return this.#run("joinRoom", SCRIPTS.joinRoom, keys, [userId, room, maxRoomsPerUser, maxRoomMembers]);
  }

  async leaveRoom(appId: number, room: string, userId: string): Promise<boolean> {
    const keys = [this.keys.room(appId, room), this.keys.userRooms(appId, userId)];
    return Number(await this.#run("leaveRoom", SCRIPTS.leaveRoom, keys, [userId, room])) === 1;
  }

  roomMembers(appId: number, room: string): Promise<string[]> {
    return this.#call("roomMembers", () => this.client.sMembers(this.keys.room(appId, room)));
  }

  userRooms(appId: number, userId: string): Promise<string[]> {
    return this.#call("userRooms", () => this.client.sMembers(this.keys.userRooms(appId, userId)));
  }

  // --- IM semantics (im.ts)
  readonly conversations: Store["conversations"] = (...a) => this.#im.conversations(...a);
  readonly markRead: Store["markRead"] = (...a) => this.#im.markRead(...a);
  readonly unreadTotal: Store["unreadTotal"] = (...a) => this.#im.unreadTotal(...a);
  readonly hiddenAmong: Store["hiddenAmong"] = (...a) => this.#im.hiddenAmong(...a);
  readonly saveMessage: Store["saveMessage"] = (...a) => this.#im.saveMessage(...a);
  readonly messages: Store["messages"] = (...a) => this.#im.messages(...a);
  readonly changeMessage: Store["changeMessage"] = (...a) => this.#im.changeMessage(...a);
  readonly appendRoomTimeline: Store["appendRoomTimeline"] = (...a) => this.#im.appendRoomTimeline(...a);
  readonly roomTimeline: Store["roomTimeline"] = (...a) => this.#im.roomTimeline(...a);
  readonly setBlocked: Store["setBlocked"] = (...a) => this.#im.setBlocked(...a);
  readonly blockedUsers: Store["blockedUsers"] = (...a) => this.#im.blockedUsers(...a);
  readonly blockersOf: Store["blockersOf"] = (...a) => this.#im.blockersOf(...a);

  /** Closes the connection only when the store owns it ({@linkcode RedisStore.open}); a node closes its own. */
  async close(): Promise<void> {
    if (!this.#owns || !this.client.isOpen) return;
    try {
      await this.client.close();
    } catch {
      this.client.destroy();
    }
  }
}

/** Stream entry `[id "<seq>-0", ["t", time, "e", json]]` → InboxEntry. */
function decode([id, fields]: StreamEntry): InboxEntry {
  const seq = Number(id.slice(0, id.indexOf("-")));
  return { ...JSON.parse(fields[3]) as NewEntry, seq };
}
