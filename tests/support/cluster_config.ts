/**
 * The config of an in-process cluster node on a test's redis-server or Redis Cluster.
 *
 * @example
 * ```ts
 * const node = await startServer(clusterConfig(redis, "n1", { redis: { commandTimeout: 500 } }));
 * ```
 * @module
 */
import { type ConfigOverrides, testConfig } from "./helpers.ts";
import { RedisClusterServer } from "./redis_cluster.ts";
import type { RedisServer } from "./redis_helper.ts";

/** One redis-server, or a Redis Cluster. */
export type RedisTarget = RedisServer | RedisClusterServer;

/** Config of one cluster node `nodeId` on `redis` (presence.ttl 2 s unless `overrides` say otherwise). */
export function clusterConfig(redis: RedisTarget, nodeId: string, overrides: ConfigOverrides = {}) {
  return testConfig({
    ...overrides,
    cluster: { enabled: true, nodeId, ...overrides.cluster },
    presence: { ttl: 2, ...overrides.presence },
    redis: {
      ...overrides.redis,
      ...(redis instanceof RedisClusterServer
        ? { addr: redis.seeds, cluster: true }
        : { addr: `127.0.0.1:${redis.port}` }),
    },
  });
}
