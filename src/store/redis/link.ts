/**
 * RedisLink: what the store, presence and bus need from Redis, on one Redis or a Redis Cluster, behind
 * one small interface (commands routed by key, publish/subscribe, readiness). The cluster variant routes
 * every command to the master of its first key's slot, uses sharded pub/sub (SPUBLISH/SSUBSCRIBE: a
 * message goes to the one shard that owns the channel instead of every shard), and follows topology
 * changes by itself: node-redis rediscovers slots only on a MOVED/ASK reply, which a dead master never
 * sends, so a failed command or a node error here starts a rediscovery (at most one per 250 ms).
 *
 * @example
 * ```ts
 * const link = await connectLink({ urls: ["redis://127.0.0.1:6379"], cluster: false });
 * await link.send("im:{101:bob}:m", ["HGET", "im:{101:bob}:m", "last"]);
 * await link.close();
 * ```
 * @module
 */
import { RedisUnreachableError } from "./errors.ts";
import { ClusterLink } from "./link_cluster.ts";
import { SingleLink } from "./link_single.ts";

export type { Listener, RedisLink, RedisOptions } from "./link_common.ts";
export { RedisTimeoutError } from "./link_common.ts";
import { COMMAND_TIMEOUT_MS } from "./link_common.ts";
import type { Listener, RedisLink, RedisOptions } from "./link_common.ts";

/**
 * Map the seed's `redis.*` keys (poolSize/minIdleConns have no node-redis knob: one multiplexed socket).
 * The command timeout is kept above an append's WAIT (`waitTimeout` + 1 s) so a WAIT is never cut short.
 */
export function redisOptionsFrom(
  redis: {
    addr: string;
    password: string;
    DB: number;
    cluster?: boolean;
    commandTimeout?: number;
    waitReplicas?: number;
    waitTimeout?: number;
  },
): RedisOptions {
  const urls = redis.addr.split(",").map((a) => a.trim()).filter((a) => a !== "")
    .map((a) => a.includes("://") ? a : `redis://${a}`);
  const waits = (redis.waitReplicas ?? 0) > 0 ? (redis.waitTimeout ?? 0) + 1000 : 0;
  return {
    urls,
    cluster: redis.cluster ?? false,
    password: redis.password || undefined,
    database: redis.DB,
    commandTimeoutMs: Math.max(redis.commandTimeout ?? COMMAND_TIMEOUT_MS, waits),
  };
}

/**
 * Connect. The first connect fails fast with {@linkcode RedisUnreachableError}; afterwards connections
 * come back by themselves (backoff up to 1 s) and commands fail at once while offline, so a send fails
 * with 1024 instead of hanging.
 */
export function connectLink(options: RedisOptions, onError: Listener = () => {}): Promise<RedisLink> {
  return options.cluster ? ClusterLink.connect(options, onError) : SingleLink.connect(options, onError);
}

export { RedisUnreachableError };
