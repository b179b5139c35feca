/**
 * ClusterNode: the Redis side of one node, with start/stop. It owns the Redis connections (commands and
 * pub/sub) and is the single place that keeps the node registered, refreshes its presence (one batch
 * every `presence.ttl / 3`), reaps crashed nodes, and recovers after Redis restarts:
 *
 * - data lost (the epoch key is gone) or rotated by another node → every local connection is closed with
 *   1012 and resyncs (`inboxReset`);
 * - data rolled back (the write counter went back, or a delivery saw a seq repeated with another msgId)
 *   → the epoch is rotated, then the same;
 * - otherwise → stale presence of this node is dropped, presence rewritten, and every connection replays
 *   from its cursor (pushes published while Redis was away are in the inboxes).
 *
 * It also publishes the node's stats snapshot for the admin console (`handlers.stats`, one SET with the
 * registration's TTL per refresh) and reads every node's ({@linkcode ClusterNode.nodeStats}).
 *
 * Offline bound for a crashed node's users: its registration expires ≤ ttl after its last refresh and a
 * live node reaps it within ttl/3 more, so ≤ 4/3 × ttl — once the reaper has reached the registry for a
 * whole ttl (cluster/registry.ts: after a Redis outage, live nodes get that long to renew first).
 *
 * @example
 * ```ts
 * const node = await ClusterNode.connect(config, { nodeId, hub, clock, log, metrics });
 * await node.start(handlers);
 * await node.stop();
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { Hub } from "../session/hub.ts";
import { presenceOf } from "../session/presence.ts";
import { RedisKeys } from "../store/redis/keys.ts";
import { connectLink, type RedisLink, redisOptionsFrom } from "../store/redis/link.ts";
import { RedisStore } from "../store/redis/store.ts";
import { storePolicy } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import { RedisBus, type RemoteHandlers } from "./bus.ts";
import { deleteNodeStats, type NodeStatsEntry, pingMs, readNodeStats, writeNodeStats } from "./node_stats.ts";
import { RedisPresence } from "./presence.ts";
import { NodeRegistry } from "./registry.ts";
import { RouteHints } from "./route_hints.ts";

export { RedisUnreachableError } from "../store/redis/link.ts";
export type { NodeStatsEntry };

/** What the node needs from the layers above it, given at {@linkcode ClusterNode.start}. */
export interface NodeHandlers extends RemoteHandlers {
  /** A user went offline because its node died and this node reaped it. */
  reaped(appId: number, userId: string): void;
  /** The store's sequence restarted: close every local connection so clients resync. */
  storageReset(): void;
  /** Redis came back: replay every local connection from its cursor. */
  replayAll(): void;
  /** This node's stats snapshot for the admin console, published each refresh (undefined = none). */
  stats?(): unknown;
}

/** Options of {@linkcode ClusterNode.connect}. */
export interface ClusterNodeOptions {
  nodeId: string;
  hub: Hub;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  /** Key prefix (tests isolate deployments on one Redis). Default "im:". */
  prefix?: string;
}

/** The Redis side of one node. */
export class ClusterNode {
  readonly store: RedisStore;
  readonly presence: RedisPresence;
  readonly bus: RedisBus;
  readonly #registry: NodeRegistry;
  readonly #link: RedisLink;
  readonly #hints = new RouteHints();
  readonly #o: ClusterNodeOptions;
  readonly #ttlMs: number;
  #handlers: NodeHandlers | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  /** The tick's refresh still running, if any (see {@linkcode #onTick}). */
  #ticking: Promise<void> | undefined;
  #recovering: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly #onReady = () => {
    clearTimeout(this.#recovering);
    // let node-redis finish resubscribing before replaying
    this.#recovering = setTimeout(() => void this.#recover(), 100);
  };

  private constructor(link: RedisLink, config: Config, o: ClusterNodeOptions) {
    this.#link = link;
    this.#o = o;
    this.#ttlMs = config.presence.ttl * 1000;
    const keys = new RedisKeys(o.prefix ?? "im:");
    const policy = storePolicy(config);
    this.store = new RedisStore(link, {
      keys,
      policy,
      clock: o.clock,
      metrics: o.metrics,
      waitReplicas: config.redis.waitReplicas,
      waitTimeoutMs: config.redis.waitTimeout,
      nodeId: o.nodeId,
      hints: this.#hints,
    });
    this.presence = new RedisPresence({
      link,
      keys,
      clock: o.clock,
      nodeId: o.nodeId,
      onlineWindowMs: config.heartbeat.onlineWindow * 1000,
      ttlMs: this.#ttlMs,
      keepInboxMs: policy.maxAgeMs + 24 * 3600_000,
    });
    this.bus = new RedisBus({
      link,
      hints: this.#hints,
      keys,
      nodeId: o.nodeId,
      hub: o.hub,
      metrics: o.metrics,
      log: o.log,
    });
    this.#registry = new NodeRegistry({
      link,
      keys,
      nodeId: o.nodeId,
      ttlMs: this.#ttlMs,
      clock: o.clock,
      presence: this.presence,
      log: o.log,
      metrics: o.metrics,
      reaped: (appId, userId) => this.#handlers?.reaped(appId, userId),
    });
    this.store.listen({
      rollback: (reason) => void this.#rollback(reason),
      epochChanged: (epoch) => this.#epochChanged(epoch),
    });
  }

  /** Connect to Redis for `config`; throws RedisUnreachableError when it cannot (no fallback to memory). */
  static async connect(config: Config, o: ClusterNodeOptions): Promise<ClusterNode> {
    const errors = o.metrics.counter("im_redis_connection_errors_total", "Redis connection errors", ["conn"]);
    const onError = (conn: string) => (error: unknown) => {
      errors.inc({ conn });
      o.log.warning("redis {conn} connection: {error}", { conn, error: String(error) });
    };
    const link = await connectLink(redisOptionsFrom(config.redis), onError("redis"));
    try {
      const node = new ClusterNode(link, config, o);
      await node.store.loadEpoch();
      await node.store.checkWrites();
      return node;
    } catch (error) {
      await link.close();
      throw error;
    }
  }

  /**
   * Why this node should get no traffic (no Redis answers it), or undefined. On a Redis Cluster with a
   * master down, only that shard's users get 1024 and every node is as affected as this one: telling a load
   * balancer "unready" then would take every node out and turn a partial outage into a full one.
   */
  readiness(): string | undefined {
    return this.#link.reachable ? undefined : "redis unreachable";
  }

  /** Every Redis (on a cluster: every master) answers — the admin console's store health. */
  get healthy(): boolean {
    return this.#link.isReady;
  }

  /** Every registered node with its last stats snapshot (cluster/node_stats.ts). */
  nodeStats(): Promise<NodeStatsEntry[]> {
    return readNodeStats(this.#link, this.store.keys);
  }

  /** One PING round trip to Redis (ms). */
  ping(): Promise<number> {
    return pingMs(this.#link);
  }

  /** Start routing, the registry, presence refresh and recovery. */
  async start(handlers: NodeHandlers): Promise<void> {
    this.#handlers = handlers;
    // A node restarted under the same id starts clean.
    await this.presence.reap(this.#o.nodeId);
    await this.bus.start(handlers);
    await this.#registry.beat();
    this.#tick = setInterval(() => this.#onTick(), Math.max(100, this.#ttlMs / 3));
    this.#link.onReady(this.#onReady);
    this.#o.log.info("cluster node {nodeId} on {mode} {at} (presence ttl {ttl} ms)", {
      nodeId: this.#o.nodeId,
      mode: this.#link.cluster ? "Redis Cluster" : "redis",
      at: this.#link.label,
      ttl: this.#ttlMs,
    });
  }

  /** A delivery saw the store contradict what it delivered: treat it as a rollback. */
  reportConflict(appId: number, userId: string, seq: number): void {
    void this.#rollback(`inbox ${appId}/${userId} repeated seq ${seq} with another message`);
  }

  /** Stop timers, forget this node's presence at once (graceful stop) and close the connections. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#tick);
    clearTimeout(this.#recovering);
    this.#link.offReady(this.#onReady);
    await this.bus.close();
    await this.presence.reap(this.#o.nodeId).catch(() => {});
    await deleteNodeStats(this.#link, this.store.keys, this.#o.nodeId).catch(() => {});
    await this.#link.close();
  }

  /**
   * A tick while the last one's refresh still runs is skipped: that refresh renews every TTL when it lands,
   * and another one queued behind it would pile whole-node batches (every local connection's presence) on a
   * Redis that is already behind — each slower tick adding more, without bound (the 250k capacity run).
   */
  #onTick(): void {
    // The registration is renewed on its own: a refresh held up by a slow shard must not get a live node
    // reaped by its peers.
    this.#registry.beat().catch((error) =>
      this.#o.log.warning("node registration failed: {error}", { error: String(error) })
    );
    if (this.#ticking) return;
    this.#ticking = this.#refresh().finally(() => this.#ticking = undefined);
  }

  /** The periodic refresh: presence of every local connection, stats and the rollback checks. */
  async #refresh(): Promise<void> {
    // a master that died is only noticed by node-redis on a MOVED reply: look at the topology every tick
    if (!this.#link.isReady) this.#link.refreshTopology();
    this.#hints.sweep();
    try {
      await Promise.all([
        this.#refreshPresence(),
        this.#publishStats(),
        this.store.checkWrites(),
        this.store.loadEpoch(),
      ]);
    } catch (error) {
      this.#o.log.warning("cluster refresh failed: {error}", { error: String(error) });
    }
  }

  async #publishStats(): Promise<void> {
    const stats = this.#handlers?.stats?.();
    if (stats !== undefined) {
      await writeNodeStats(this.#link, this.store.keys, this.#o.nodeId, stats, this.#ttlMs);
    }
  }

  #refreshPresence(): Promise<number[]> {
    const entries = [];
    for (const conn of this.#o.hub.connections()) {
      if (conn.identity) entries.push(presenceOf(conn, conn.identity, this.#o.nodeId));
    }
    return this.presence.refresh(entries);
  }

  /** After a reconnect: detect data loss or rollback, drop stale presence, re-register, replay. */
  async #recover(): Promise<void> {
    if (this.#stopped) return;
    try {
      if (await this.store.loadEpoch()) return; // epochChanged closed the connections
      await this.store.checkWrites();
      const live = new Set<string>();
      for (const conn of this.#o.hub.connections()) if (conn.identity) live.add(conn.id);
      for (const [appId, connId, userId] of await this.presence.nodeConnections(this.#o.nodeId)) {
        if (!live.has(connId)) await this.presence.remove(appId, userId, connId);
      }
      await this.#refresh();
      this.#handlers?.replayAll();
    } catch (error) {
      this.#o.log.warning("cluster recovery failed: {error}", { error: String(error) });
    }
  }

  async #rollback(reason: string): Promise<void> {
    if (this.#stopped) return;
    this.#o.log.error("redis went back in time ({reason}): rotating the epoch so clients resync", { reason });
    try {
      await this.store.rotateEpoch();
    } catch (error) {
      this.#o.log.warning("epoch rotation failed: {error}", { error: String(error) });
    }
  }

  #epochChanged(epoch: string): void {
    this.#o.log.warning("inbox epoch is now {epoch}: closing connections so clients resync", { epoch });
    this.#handlers?.storageReset();
  }
}
