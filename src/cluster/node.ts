/**
 * Cluster mode of one node: connects Redis (failing fast when unreachable), then keeps the
 * node registered (heartbeat + TTL), refreshes the presence of its connections in one batch
 * every presenceTtl/3, reaps the presence of crashed nodes, and recovers after a Redis
 * restart (re-register presence, resubscribe, replay every connection from its cursor; if
 * Redis lost its data, the epoch changes and connections are closed with 1012 to resync).
 *
 * Offline bound for a crashed node's users: its registration expires ≤ ttl after its last
 * heartbeat and a live node reaps it within ttl/3 more, so ≤ 4/3 × ttl (< 2 × ttl).
 *
 * @example
 * ```ts
 * const cluster = await createClusterBackend(config, { clock });
 * const store = cluster.store;          // before the context exists
 * ctx.bus = await cluster.attach(ctx);  // once the manager exists
 * ```
 * @module
 */
import type { Bus } from "../bus.ts";
import type { Clock } from "../clock.ts";
import type { Config } from "../config.ts";
import type { ServerContext } from "../context.ts";
import { CloseCode, encodePush } from "../protocol.ts";
import { RedisStore } from "../store/redis.ts";
import type { PresenceEntry } from "../store/store.ts";
import { RedisBus } from "./bus.ts";
import { NODE_HEARTBEAT } from "./lua.ts";
import { duplicateRedis, type Redis, redisOptionsFrom, runScript } from "./redis_client.ts";

export { RedisUnreachableError } from "./redis_client.ts";

/** Options of {@linkcode createClusterBackend}. */
export interface ClusterOptions {
  clock?: Clock;
  /** Key prefix (tests isolate deployments on one Redis). */
  prefix?: string;
}

/** Callbacks of {@linkcode ClusterBackend.attach}. */
export interface ClusterHooks {
  /** A user went offline because its node died and this node reaped it (e.g. offline webhook). */
  onOffline?: (appId: number, userId: string) => void;
}

/** The Redis side of one node. */
export interface ClusterBackend {
  readonly store: RedisStore;
  /** Start routing, registry and refresh timers for a built context; resolves to its Bus. */
  attach(ctx: ServerContext, hooks?: ClusterHooks): Promise<Bus>;
}

/** Connect to Redis for `config` (cluster.enabled); throws RedisUnreachableError when it cannot. */
export async function createClusterBackend(
  config: Config,
  options: ClusterOptions = {},
): Promise<ClusterBackend> {
  const ttlMs = config.cluster.presenceTtl * 1000;
  const store = await RedisStore.connect(redisOptionsFrom(config.redis), {
    clock: options.clock,
    prefix: options.prefix ?? "im:",
    presenceTtlMs: ttlMs,
  });
  return { store, attach: (ctx, hooks = {}) => attach(ctx, store, ttlMs, hooks) };
}

async function attach(
  ctx: ServerContext,
  store: RedisStore,
  ttlMs: number,
  hooks: ClusterHooks,
): Promise<Bus> {
  const { manager, nodeId, log, metrics } = ctx;
  store.useMetrics(metrics);
  const redisErrors = metrics.counter("im_redis_connection_errors_total", "Redis connection errors", [
    "conn",
  ]);
  const reaped = metrics.counter(
    "im_cluster_reaped_users_total",
    "Users made offline by reaping a dead node",
  );
  const onError = (conn: string) => (error: unknown) => {
    redisErrors.inc({ conn });
    log.warning("redis {conn} connection: {error}", { conn, error: String(error) });
  };
  store.client.on("error", onError("command"));
  const sub: Redis = await duplicateRedis(store.client, onError("subscribe"));

  const livePresence = (): PresenceEntry[] => {
    const out: PresenceEntry[] = [];
    for (const c of manager.clients.values()) {
      const id = c.identity;
      if (!id) continue;
      out.push({
        appId: id.appId,
        userId: id.userId,
        connId: c.id,
        nodeId,
        since: id.loginTime,
        heartbeatAt: c.heartbeatAt,
        deviceId: id.deviceId,
        platform: id.platform,
      });
    }
    return out;
  };

  /** Heartbeat the registry and reap nodes whose registration expired (one reaper wins a lock). */
  const heartbeat = async () => {
    const dead = await runScript<string[]>(store.client, NODE_HEARTBEAT, [store.prefix, nodeId, ttlMs]);
    for (const node of dead) {
      if (node === nodeId) continue;
      const lock = await store.client.set(`${store.prefix}reap:${node}`, nodeId, { NX: true, PX: ttlMs });
      if (lock === null) continue;
      const gone = await store.reapNode(node);
      reaped.inc({}, gone.length);
      log.warning("reaped dead node {node}: {n} users offline", { node, n: gone.length });
      for (const { appId, userId } of gone) hooks.onOffline?.(appId, userId);
      if (!ctx.config.im.enterExitPushes) continue;
      for (const { appId, userId } of gone) {
        bus.sendToApp(appId, encodePush("exit", { target: "", type: "exit", msg: "", from: userId }));
      }
    }
  };
  const tick = async () => {
    try {
      await Promise.all([heartbeat(), store.refreshPresence(nodeId, livePresence())]);
    } catch (error) {
      log.warning("cluster refresh failed: {error}", { error: String(error) });
    }
  };

  /** After a reconnect: detect data loss, drop stale presence, re-register, replay. */
  const recover = async () => {
    try {
      if (await store.refreshEpoch()) {
        log.warning("redis data was lost (epoch changed): closing connections so clients resync");
        for (const c of manager.clients.values()) {
          c.close(CloseCode.ServiceRestart, "storage reset; reconnect");
        }
        return;
      }
      const live = new Set(livePresence().map((p) => p.connId));
      for (const [appId, connId, userId] of await store.nodeConnections(nodeId)) {
        if (!live.has(connId)) await store.removePresence(appId, userId, connId);
      }
      await tick();
      replayAll();
    } catch (error) {
      log.warning("cluster recovery failed: {error}", { error: String(error) });
    }
  };
  // Pushes published while a connection was down are in the inboxes: replay from each cursor.
  const replayAll = () => {
    for (const c of manager.clients.values()) if (c.identity && c.open) ctx.replay(c);
  };

  const timers: { tick?: ReturnType<typeof setInterval> } = {};
  let pending: ReturnType<typeof setTimeout> | undefined;
  const onReady = () => {
    clearTimeout(pending);
    // let node-redis finish resubscribing before replaying
    pending = setTimeout(() => void recover(), 100);
  };
  const bus = new RedisBus({
    store,
    sub,
    nodeId,
    manager,
    metrics,
    log,
    onClose: async () => {
      clearInterval(timers.tick);
      clearTimeout(pending);
      store.client.off("ready", onReady);
      sub.off("ready", onReady);
      // graceful stop: forget this node at once instead of waiting for the TTL
      await store.reapNode(nodeId).catch(() => {});
    },
  });
  // A node restarted under the same id starts clean.
  await store.reapNode(nodeId);
  await bus.start();
  await heartbeat();
  timers.tick = setInterval(() => void tick(), Math.max(100, ttlMs / 3));
  store.client.on("ready", onReady);
  sub.on("ready", onReady);
  metrics.gauge(
    "im_cluster_app_subscriptions",
    "App channels this node subscribes to",
    () => bus.subscribedApps.length,
  );
  log.info("cluster node {nodeId} on redis (presence ttl {ttl} ms)", { nodeId, ttl: ttlMs });
  return bus;
}
