/**
 * Redis connections: option mapping from config and a fail-fast connect (scripts are in scripts.ts).
 *
 * @example
 * ```ts
 * const client = await connectRedis({ url: "redis://127.0.0.1:6379" });
 * ```
 * @module
 */
import { createClient } from "redis";
import { RedisUnreachableError } from "./errors.ts";

/** The command client type used across the cluster modules. */
export type Redis = ReturnType<typeof createClient>;

/** How to reach Redis. */
export interface RedisOptions {
  /** `redis://host:port`; built from `redis.addr` by {@linkcode redisOptionsFrom}. */
  url: string;
  password?: string;
  database?: number;
  /** Give up the first connect after this long (ms). */
  connectTimeoutMs?: number;
}

/** Map the seed's `redis.*` keys (poolSize/minIdleConns have no node-redis knob: one multiplexed socket). */
export function redisOptionsFrom(
  redis: { addr: string; password: string; DB: number },
): RedisOptions {
  const addr = redis.addr.includes("://") ? redis.addr : `redis://${redis.addr}`;
  return { url: addr, password: redis.password || undefined, database: redis.DB };
}

/**
 * Connect a client. The first connect fails fast (no retry loop) with
 * {@linkcode RedisUnreachableError}; afterwards the client reconnects forever with backoff
 * and rejects commands while offline (so sends fail with 1024 instead of hanging).
 */
export async function connectRedis(
  options: RedisOptions,
  onError: (error: unknown) => void = () => {},
): Promise<Redis> {
  let connected = false;
  const client = createClient({
    url: options.url,
    password: options.password,
    database: options.database,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: options.connectTimeoutMs ?? 3000,
      reconnectStrategy: (retries: number, cause: Error) =>
        connected ? Math.min(50 * 2 ** Math.min(retries, 5), 1000) : cause,
    },
  });
  client.on("error", onError);
  try {
    await client.connect();
  } catch (error) {
    try {
      client.destroy();
    } catch {
      // the failed connect already closed it
    }
    throw new RedisUnreachableError(options.url, error);
  }
  connected = true;
  return client as Redis;
}

/** A second connection with the same options (pub/sub needs its own). */
export async function duplicateRedis(client: Redis, onError: (error: unknown) => void): Promise<Redis> {
  const dup = client.duplicate();
  dup.on("error", onError);
  await dup.connect();
  return dup as Redis;
}

export { RedisUnreachableError };
