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
 * const store = new RedisStore(link, { keys: new RedisKeys("im:"), policy });
 * await store.loadEpoch();
 * const e = await store.append(101, "bob", entry);
 * ```
 * @size One method per Store operation (each a script call with its keys) plus the epoch and write-counter
 * checks that make a rollback visible; the IM and room operations are one-line delegations to im.ts and rooms.ts.
 * @module
 */
import { StorageError } from "../../protocol/errors.ts";
import type { Counter, Histogram, Metrics } from "../../ops/metrics.ts";
import { type Clock, systemClock } from "../../util/clock.ts";
import type {
  Appended,
  InboxEntry,
  InboxHead,
  LoginState,
  Mark,
  NewEntry,
  Store,
  StorePolicy,
} from "../store.ts";
import { InboxReads, type StreamEntry } from "./inbox_reads.ts";
import { SlotBatcher } from "./slot_batch.ts";
import { RedisIm } from "./im.ts";
import { RedisRooms } from "./rooms.ts";
import type { RedisKeys } from "./keys.ts";
import { connectLink, type RedisLink, type RedisOptions } from "./link.ts";
import { type Script, SCRIPTS } from "./scripts.ts";
import { WriteCounters } from "./write_counters.ts";

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
  /** Close the link on {@linkcode RedisStore.close} (true for {@linkcode RedisStore.open}). */
  ownsClient?: boolean;
  /**
   * `redis.waitReplicas`: after each append call, WAIT until this many replicas have it (0 = don't);
   * fewer within {@linkcode RedisStoreOptions.waitTimeoutMs} fails the send with 1024.
   */
  waitReplicas?: number;
  /** `redis.waitTimeout` (ms). */
  waitTimeoutMs?: number;
  /** This node (its own connections are not counted in route hints). */
  nodeId?: string;
  /** Redis Cluster only: told, per appended entry, which other nodes held its owner (the bus publishes with them). */
  hints?: { remember(appId: number, userId: string, seq: number, nodes: readonly string[]): void };
}

interface PendingAppend {
  appId: number;
  userId: string;
  entry: NewEntry;
  json: string;
  idempotent: boolean;
}

/** Inbox keys outlive their newest entry by this much, so a late read still finds the counter. */
const KEEP_EXTRA_MS = 24 * 3600_000;

/** Store on Redis; one shared command connection per Redis node (node-redis pipelines concurrent commands). */
export class RedisStore implements Store {
  readonly kind = "redis";
  readonly link: RedisLink;
  readonly keys: RedisKeys;
  readonly #policy: StorePolicy;
  readonly #clock: Clock;
  readonly #owns: boolean;
  readonly #waitReplicas: number;
  readonly #waitTimeoutMs: number;
  readonly #writes: WriteCounters;
  readonly #nodeId: string;
  readonly #hints: RedisStoreOptions["hints"];
  #epoch = "";
  #events: RedisStoreEvents | undefined;
  readonly #ops: Counter | undefined;
  readonly #errors: Counter | undefined;
  readonly #latency: Counter | undefined;
  /** `im_store_latency_ms`: what the admin console charts as store p50/p99 (admin/sampler.ts). */
  readonly #histogram: Histogram | undefined;
  /**
   * Appends issued while a batch is in flight leave together: one append script call per slot and batch
   * (one slot on one Redis); on a cluster each slot has its own batcher, so a shard that is down, hung or
   * short of replicas for WAIT fails or delays its own appends only, never the other users' (slot_batch.ts).
   */
  readonly #appends: SlotBatcher<PendingAppend, number>;
  readonly #im: RedisIm;
  readonly #rooms: RedisRooms;
  readonly #reads: InboxReads;

  constructor(link: RedisLink, options: RedisStoreOptions) {
    this.link = link;
    this.keys = options.keys;
    this.#policy = options.policy;
    this.#clock = options.clock ?? systemClock;
    this.#owns = options.ownsClient ?? false;
    this.#waitReplicas = options.waitReplicas ?? 0;
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 1000;
    this.#writes = new WriteCounters(link, this.keys, (reason) => this.#events?.rollback(reason));
    // Route hints pay on a Redis Cluster, where routing is a script call per slot (about one per
    // delivery); on one Redis the batched route script is cheaper than a PUBLISH per delivery (measured:
    // node CPU +12–23 µs/msg with hints there), so the append does not read presence for them.
    // (An empty node id would make the script skip the read: no hints then, the bus routes by script.)
    this.#hints = link.cluster && options.nodeId ? options.hints : undefined;
    this.#nodeId = this.#hints ? options.nodeId! : "";
    const m = options.metrics;
    this.#ops = m?.counter("im_redis_calls_total", "Redis store calls by operation", ["op"]);
    this.#errors = m?.counter("im_redis_errors_total", "Failed Redis store calls by operation", ["op"]);
    this.#latency = m?.counter(
      "im_redis_latency_ms_sum",
      "Summed latency of Redis store calls (ms); divide by im_redis_calls_total",
      ["op"],
    );
    this.#appends = new SlotBatcher(
      link.cluster,
      (a) => this.keys.marks(a.appId, a.userId),
      (items, slot) => this.#appendToSlot(slot, items),
    );
    this.#reads = new InboxReads(
      link,
      this.keys,
      (op, script, keys, args) => this.#run(op, script, keys, args),
    );
    this.#im = new RedisIm({
      link,
      keys: this.keys,
      policy: this.#policy,
      clock: this.#clock,
      keepMs: this.#policy.maxAgeMs + KEEP_EXTRA_MS,
      call: (op, fn) => this.#call(op, fn),
      run: (op, script, keys, args) => this.#run(op, script, keys, args),
    });
    this.#rooms = new RedisRooms({
      link,
      keys: this.keys,
      policy: this.#policy,
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
    const store = new RedisStore(await connectLink(redis), { ...options, ownsClient: true });
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
      () => this.link.send<string | null>(this.keys.epoch, ["SET", this.keys.epoch, fresh, "NX", "GET"]),
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
    // Writes from before the rollback are gone: measure from what Redis holds now.
    if (!this.#adoptEpoch(now)) this.#writes.reset();
    await this.checkWrites();
    return now;
  }

  #adoptEpoch(epoch: string): boolean {
    const changed = this.#epoch !== "" && this.#epoch !== epoch;
    this.#epoch = epoch;
    if (!changed) return false;
    // whoever rotated it saw the loss: measure from what Redis holds now, or this node would report
    // the same lost writes again and rotate a second time (every connection closed twice)
    this.#writes.reset();
    this.#events?.epochChanged(epoch);
    return true;
  }

  /** Compare the write counters with the highest values seen (after a reconnect, and periodically). */
  checkWrites(): Promise<void> {
    return this.#call("writes", () => this.#writes.check());
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
    return this.#call(op, () => script.run<T>(this.link, keys, args));
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

  async #appendToSlot(slot: number, items: PendingAppend[]): Promise<number[]> {
    const k = this.keys;
    const keys = this.link.cluster ? [this.#writes.key(slot)] : [k.writeCounter, k.epoch];
    const now = this.#clock.now();
    const { maxEntries, maxAgeMs, dedupTtlMs, maxConversations } = this.#policy;
    const args: (string | number)[] = [
      now,
      maxEntries,
      maxAgeMs,
      maxAgeMs + KEEP_EXTRA_MS,
      dedupTtlMs,
      this.#nodeId,
      maxConversations,
    ];
    // Each distinct entry json once, after the entries (a room message's members, a 1:1 message's receiver
    // and sender copy share one): the call's size no longer grows with the json times the recipients.
    const jsons = new Map<string, number>();
    for (const a of items) {
      keys.push(
        k.marks(a.appId, a.userId),
        k.inbox(a.appId, a.userId),
        k.appended(a.appId, a.userId, a.entry.msgId),
        k.conversations(a.appId, a.userId),
        k.conversationTimes(a.appId, a.userId),
        k.positions(a.appId, a.userId),
        k.presence(a.appId, a.userId),
      );
      let ref = jsons.get(a.json);
      if (ref === undefined) jsons.set(a.json, ref = jsons.size + 1);
      args.push(a.entry.time, ref, a.idempotent ? "1" : "0", a.userId);
    }
    args.push(...jsons.keys());
    const floor = this.#writes.floor(slot);
    const [writes, epoch, seqs, routes] = await this.#run<[number, string | null, number[], string[][]]>(
      "append",
      SCRIPTS.append,
      keys,
      args,
    );
    this.#writes.saw(floor, Number(writes), items.length);
    if (epoch !== null && epoch !== this.#epoch) this.#adoptEpoch(epoch);
    if (this.#waitReplicas > 0) await this.#waitForReplicas(keys[0]);
    const out = seqs.map(Number);
    if (this.#hints) {
      items.forEach((a, i) => this.#hints!.remember(a.appId, a.userId, Math.abs(out[i]), routes[i]));
    }
    return out;
  }

  /** WAIT on the connection that wrote (the master of `key`'s slot) until enough replicas have it. */
  async #waitForReplicas(key: string): Promise<void> {
    const n = this.#waitReplicas;
    const acked = Number(
      await this.#call("wait", () => this.link.send(key, ["WAIT", String(n), String(this.#waitTimeoutMs)])),
    );
    if (acked < n) {
      throw new StorageError(
        "wait",
        new Error(`${acked} of ${n} replicas acknowledged within ${this.#waitTimeoutMs} ms`),
      );
    }
  }

  #oldest(): number {
    return this.#clock.now() - this.#policy.maxAgeMs;
  }

  async range(appId: number, userId: string, afterSeq: number, limit: number): Promise<InboxEntry[]> {
    if (limit <= 0) return [];
    const entries = await this.#reads.range(
      appId,
      userId,
      this.#oldest(),
      Math.max(0, Math.floor(afterSeq)),
      limit,
    );
    return entries.map(decode);
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
    const [firstSeq, lastSeq, gen] = await this.#reads.head(appId, userId, this.#ages());
    return this.#head(firstSeq, lastSeq, gen);
  }

  async loginState(appId: number, userId: string): Promise<LoginState> {
    const [firstSeq, lastSeq, gen, delivered, acked, unread] = await this.#reads.loginState(
      appId,
      userId,
      this.#ages(),
    );
    const head = await this.#head(firstSeq, lastSeq, gen);
    return { head, delivered: Number(delivered), acked: Number(acked), unreadTotal: Number(unread) };
  }

  /** What head reads need to know of the policy: entries before `oldest` are gone, keys live `keep`. */
  #ages(): { oldest: number; now: number; keep: number } {
    const now = this.#clock.now();
    return { oldest: now - this.#policy.maxAgeMs, now, keep: this.#policy.maxAgeMs + KEEP_EXTRA_MS };
  }

  async #head(firstSeq: number, lastSeq: number, gen: string): Promise<InboxHead> {
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
      await this.#call("mark", () => {
        const key = this.keys.marks(appId, userId);
        return this.link.send<string | null>(key, ["HGET", key, mark]);
      }) ?? 0,
    );
  }

  claim(key: string, value: string): Promise<string | null> {
    const px = String(Math.max(1, Math.ceil(this.#policy.dedupTtlMs)));
    return this.#call(
      "claim",
      () =>
        this.link.send<string | null>(this.keys.claim(key), [
          "SET",
          this.keys.claim(key),
          value,
          "NX",
          "GET",
          "PX",
          px,
        ]),
    );
  }

  // --- rooms (rooms.ts)
  readonly joinRoom: Store["joinRoom"] = (...a) => this.#rooms.join(...a);
  readonly leaveRoom: Store["leaveRoom"] = (...a) => this.#rooms.leave(...a);
  readonly roomMembers: Store["roomMembers"] = (...a) => this.#rooms.members(...a);
  readonly userRooms: Store["userRooms"] = (...a) => this.#rooms.userRooms(...a);

  // --- IM semantics (im.ts)
  readonly conversations: Store["conversations"] = (...a) => this.#im.conversations(...a);
  readonly markRead: Store["markRead"] = (...a) => this.#im.markRead(...a);
  /** The sum over the summaries, inside Redis; concurrent logins' totals share a call (inbox_reads.ts). */
  unreadTotal(appId: number, userId: string): Promise<number> {
    return this.#reads.unreadTotal(appId, userId);
  }
  readonly hiddenAmong: Store["hiddenAmong"] = (...a) => this.#im.hiddenAmong(...a);
  readonly saveMessage: Store["saveMessage"] = (...a) => this.#im.saveMessage(...a);
  readonly messages: Store["messages"] = (...a) => this.#im.messages(...a);
  readonly changeMessage: Store["changeMessage"] = (...a) => this.#im.changeMessage(...a);
  readonly appendRoomTimeline: Store["appendRoomTimeline"] = (...a) => this.#im.appendRoomTimeline(...a);
  readonly roomTimeline: Store["roomTimeline"] = (...a) => this.#im.roomTimeline(...a);
  readonly setBlocked: Store["setBlocked"] = (...a) => this.#im.setBlocked(...a);
  readonly blockedUsers: Store["blockedUsers"] = (...a) => this.#im.blockedUsers(...a);
  readonly blockersOf: Store["blockersOf"] = (...a) => this.#im.blockersOf(...a);

  /** Closes the link only when the store owns it ({@linkcode RedisStore.open}); a node closes its own. */
  async close(): Promise<void> {
    if (this.#owns) await this.link.close();
  }
}

/** Stream entry `[id "<seq>-0", ["t", time, "e", json]]` → InboxEntry. */
function decode([id, fields]: StreamEntry): InboxEntry {
  const seq = Number(id.slice(0, id.indexOf("-")));
  return { ...JSON.parse(fields[3]) as NewEntry, seq };
}
