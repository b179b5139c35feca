/**
 * Redis {@linkcode Store} for cluster mode. Every multi-step operation is one Lua script
 * (see `src/cluster/lua.ts`), so seqs are unique across nodes and presence bookkeeping never
 * races; appends are batched adaptively (many messages, one script call). Redis errors become `ImError(1024 Unavailable)`: a send during an outage fails
 * visibly instead of being dropped.
 *
 * @example
 * ```ts
 * const store = await RedisStore.connect({ url: "redis://127.0.0.1:6379" });
 * const e = await store.append(101, "bob", entry, { maxEntries: 1000, maxAgeMs: 864e5 });
 * await store.close();
 * ```
 * @module
 */
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";
import { ImError } from "../errors.ts";
import type { Counter, Metrics } from "../metrics.ts";
import { Code } from "../protocol.ts";
import * as lua from "../cluster/lua.ts";
import { Batcher } from "../cluster/batcher.ts";
import { connectRedis, type Redis, type RedisOptions, runScript } from "../cluster/redis_client.ts";
import type {
  InboxEntry,
  InboxHead,
  InboxLimits,
  JoinResult,
  Mark,
  NewEntry,
  PresenceEntry,
  Store,
} from "./store.ts";

/** Options of {@linkcode RedisStore}. */
export interface RedisStoreOptions {
  /** Key prefix; lets several deployments (or tests) share one Redis. Default "im:". */
  prefix?: string;
  /** Clock for message ages and heartbeat windows (presence expiry uses Redis TIME). */
  clock?: Clock;
  /** Presence TTL (ms): a connection not refreshed for this long is gone. Default 30 s. */
  presenceTtlMs?: number;
  /** Close the Redis client on {@linkcode RedisStore.close} (true when the store connected it). */
  ownsClient?: boolean;
}

type StreamEntry = [string, string[]];

interface PendingAppend {
  appId: number;
  userId: string;
  json: string;
  time: number;
  limits: InboxLimits;
}

/** Store on Redis; one shared command connection (node-redis pipelines concurrent commands). */
export class RedisStore implements Store {
  readonly kind = "redis";
  readonly client: Redis;
  readonly prefix: string;
  readonly presenceTtlMs: number;
  readonly #clock: Clock;
  readonly #owns: boolean;
  #epoch = "";
  #ops: Counter | undefined;
  #errors: Counter | undefined;
  #latency: Counter | undefined;
  /** Appends issued while a batch is in flight leave together (see batcher.ts). */
  readonly #appends = new Batcher<PendingAppend, number>((items) => this.#flushAppends(items), 256);

  constructor(client: Redis, options: RedisStoreOptions = {}) {
    this.client = client;
    this.prefix = options.prefix ?? "im:";
    this.presenceTtlMs = options.presenceTtlMs ?? 30_000;
    this.#clock = options.clock ?? systemClock;
    this.#owns = options.ownsClient ?? false;
  }

  /** Connect (failing fast when Redis is unreachable) and load the deployment epoch. */
  static async connect(redis: RedisOptions, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const client = await connectRedis(redis);
    const store = new RedisStore(client, { ownsClient: true, ...options });
    try {
      await store.refreshEpoch();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** Count Redis calls, errors and latency in `metrics`. */
  useMetrics(metrics: Metrics): void {
    this.#ops = metrics.counter("im_redis_calls_total", "Redis store calls by operation", ["op"]);
    this.#errors = metrics.counter("im_redis_errors_total", "Failed Redis store calls by operation", ["op"]);
    this.#latency = metrics.counter(
      "im_redis_latency_ms_sum",
      "Summed latency of Redis store calls (ms); divide by im_redis_calls_total",
      ["op"],
    );
  }

  /**
   * Read (or create) the deployment epoch: a random id stored with SET NX. When Redis loses
   * its data the key is gone, a new epoch is created and clients resync. True when it changed.
   */
  async refreshEpoch(): Promise<boolean> {
    const key = this.prefix + "epoch";
    const fresh = crypto.randomUUID().slice(0, 8);
    const held = await this.client.sendCommand(["SET", key, fresh, "NX", "GET"]) as string | null;
    const epoch = held ?? fresh;
    const changed = this.#epoch !== "" && this.#epoch !== epoch;
    this.#epoch = epoch;
    return changed;
  }

  /** The epoch last read from Redis. */
  get epoch(): string {
    return this.#epoch;
  }

  /** Run one Redis operation, mapping failures to ImError(1024). */
  async #call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    this.#ops?.inc({ op });
    try {
      return await fn();
    } catch (error) {
      this.#errors?.inc({ op });
      throw new ImError(Code.Unavailable, `storage unavailable: ${(error as Error)?.message ?? error}`, {
        retryMs: 1000,
      });
    } finally {
      this.#latency?.inc({ op }, performance.now() - start);
    }
  }

  #run<T>(op: string, script: string, args: (string | number)[]): Promise<T> {
    return this.#call(op, () => runScript<T>(this.client, script, [this.prefix, ...args]));
  }

  addPresence(entry: PresenceEntry): Promise<void> {
    return this.refreshPresence(entry.nodeId, [entry]);
  }

  async removePresence(appId: number, userId: string, connId: string): Promise<void> {
    await this.#run("removePresence", lua.REMOVE_PRESENCE, [appId, userId, connId]);
  }

  /** Write (or rewrite, after a Redis restart) presence of many connections, 500 per script call. */
  async refreshPresence(_nodeId: string, entries: PresenceEntry[]): Promise<void> {
    const chunks: Promise<unknown>[] = [];
    for (let i = 0; i < entries.length; i += 500) {
      const args: (string | number)[] = [this.presenceTtlMs];
      for (const e of entries.slice(i, i + 500)) {
        args.push(e.appId, e.userId, e.nodeId, e.connId, e.heartbeatAt, JSON.stringify(e));
      }
      chunks.push(this.#run("refreshPresence", lua.UPSERT_PRESENCE, args));
    }
    await Promise.all(chunks);
  }

  async presence(appId: number, userId: string, windowMs: number): Promise<PresenceEntry[]> {
    const values = await this.#run<string[]>("presence", lua.PRESENCE, [appId, userId]);
    const since = this.#clock.now() - windowMs;
    return values.map((v) => JSON.parse(v) as PresenceEntry).filter((p) => p.heartbeatAt >= since);
  }

  onlineUsers(appId: number, windowMs: number): Promise<string[]> {
    return this.#run("onlineUsers", lua.ONLINE_USERS, [appId, this.#minHeartbeat(windowMs)]);
  }

  async userApps(userId: string, windowMs: number): Promise<number[]> {
    const apps = await this.#run<string[]>("userApps", lua.USER_APPS, [userId, this.#minHeartbeat(windowMs)]);
    return apps.map(Number).sort((a, b) => a - b);
  }

  #minHeartbeat(windowMs: number): string {
    return Number.isFinite(windowMs) ? String(this.#clock.now() - windowMs) : "-inf";
  }

  /** Remove every presence entry of a node (crashed or restarted); resolves to users now offline. */
  async reapNode(nodeId: string): Promise<Array<{ appId: number; userId: string }>> {
    const flat = await this.#run<string[]>("reapNode", lua.REAP_NODE, [nodeId]);
    const out: Array<{ appId: number; userId: string }> = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ appId: Number(flat[i]), userId: flat[i + 1] });
    return out;
  }

  /** Connections Redis believes `nodeId` holds, as [appId, connId, userId]. */
  async nodeConnections(nodeId: string): Promise<Array<[number, string, string]>> {
    const all = await this.#call(
      "nodeConnections",
      () => this.client.hGetAll(this.prefix + "nc:" + nodeId),
    ) as Record<string, string>;
    return Object.entries(all).map(([f, user]) => {
      const bar = f.indexOf("|");
      return [Number(f.slice(0, bar)), f.slice(bar + 1), user];
    });
  }

  append(appId: number, userId: string, entry: NewEntry, limits: InboxLimits): Promise<InboxEntry> {
    return this.#appends.push({ appId, userId, json: JSON.stringify(entry), time: entry.time, limits })
      .then((seq) => ({ ...entry, seq }));
  }

  /** Same entry into many inboxes; goes through the same batches as single appends. */
  appendMany(appId: number, userIds: string[], entry: NewEntry, limits: InboxLimits): Promise<number[]> {
    const json = JSON.stringify(entry);
    return Promise.all(
      userIds.map((userId) => this.#appends.push({ appId, userId, json, time: entry.time, limits })),
    );
  }

  /** One APPEND script call for a whole batch of (user, entry) pairs. */
  async #flushAppends(items: PendingAppend[]): Promise<number[]> {
    const args: (string | number)[] = [this.#clock.now()];
    for (const a of items) {
      args.push(a.appId, a.userId, a.limits.maxEntries, a.limits.maxAgeMs, a.time, a.json);
    }
    return (await this.#run<number[]>("append", lua.APPEND, args)).map(Number);
  }

  async range(
    appId: number,
    userId: string,
    afterSeq: number,
    limit: number,
    maxAgeMs: number,
  ): Promise<InboxEntry[]> {
    if (limit <= 0) return [];
    const args = [appId, userId, this.#clock.now() - maxAgeMs, Math.max(0, afterSeq), limit];
    return (await this.#run<StreamEntry[]>("range", lua.RANGE, args)).map(decode);
  }

  async rangeBefore(
    appId: number,
    userId: string,
    beforeSeq: number,
    limit: number,
    maxAgeMs: number,
  ): Promise<InboxEntry[]> {
    if (limit <= 0) return [];
    const args = [appId, userId, this.#clock.now() - maxAgeMs, beforeSeq, limit];
    return (await this.#run<StreamEntry[]>("rangeBefore", lua.RANGE_BEFORE, args)).map(decode);
  }

  async head(appId: number, userId: string, maxAgeMs: number): Promise<InboxHead> {
    const [firstSeq, lastSeq] = await this.#run<number[]>("head", lua.HEAD, [
      appId,
      userId,
      this.#clock.now() - maxAgeMs,
    ]);
    if (!this.#epoch) await this.#call("epoch", () => this.refreshEpoch());
    return { firstSeq: Number(firstSeq), lastSeq: Number(lastSeq), epoch: this.#epoch };
  }

  async advanceMark(
    appId: number,
    userId: string,
    mark: Mark,
    seq: number,
  ): Promise<{ previous: number; current: number }> {
    const [previous, current] = await this.#run<number[]>("advanceMark", lua.ADVANCE_MARK, [
      appId,
      userId,
      mark,
      Math.floor(seq),
    ]);
    return { previous: Number(previous), current: Number(current) };
  }

  async mark(appId: number, userId: string, mark: Mark): Promise<number> {
    const v = await this.#call("mark", () => this.client.hGet(`${this.prefix}m:${appId}:${userId}`, mark));
    return Number(v ?? 0);
  }

  claim(key: string, value: string, ttlMs: number): Promise<string | null> {
    const px = String(Math.max(1, Math.ceil(ttlMs)));
    return this.#call(
      "claim",
      () =>
        this.client.sendCommand(["SET", this.prefix + "d:" + key, value, "NX", "GET", "PX", px]) as Promise<
          string | null
        >,
    );
  }

  async putClaim(key: string, value: string, ttlMs: number): Promise<void> {
    const px = String(Math.max(1, Math.ceil(ttlMs)));
    await this.#call(
      "putClaim",
      () => this.client.sendCommand(["SET", this.prefix + "d:" + key, value, "PX", px]),
    );
  }

  async dropClaim(key: string): Promise<void> {
    await this.#call("dropClaim", () => this.client.del(this.prefix + "d:" + key));
  }

  joinRoom(
    appId: number,
    room: string,
    userId: string,
    maxRooms: number,
    maxMembers: number,
  ): Promise<JoinResult> {
    return this.#run("joinRoom", lua.JOIN_ROOM, [appId, room, userId, maxRooms, maxMembers]);
  }

  async leaveRoom(appId: number, room: string, userId: string): Promise<boolean> {
    return Number(await this.#run("leaveRoom", lua.LEAVE_ROOM, [appId, room, userId])) === 1;
  }

  roomMembers(appId: number, room: string): Promise<string[]> {
    return this.#call("roomMembers", () => this.client.sMembers(`${this.prefix}r:${appId}:${room}`));
  }

  userRooms(appId: number, userId: string): Promise<string[]> {
    return this.#call("userRooms", () => this.client.sMembers(`${this.prefix}ur:${appId}:${userId}`));
  }

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
