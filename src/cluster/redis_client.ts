/**
 * Redis connections of a cluster node: option mapping from config, a fail-fast connect, and
 * EVALSHA with a transparent EVAL fallback (the script cache is empty after a Redis restart).
 *
 * @example
 * ```ts
 * const client = await connectRedis({ url: "redis://127.0.0.1:6379" });
 * const seqs = await runScript(client, APPEND, ["im:", "101", ...]);
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { createClient } from "redis";

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

/** Thrown when the first connection to Redis fails. */
export class RedisUnreachableError extends Error {
  constructor(url: string, cause: unknown) {
    super(`cannot reach Redis at ${url}: ${(cause as Error)?.message ?? cause}`);
    this.name = "RedisUnreachableError";
  }
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

const shas = new Map<string, string>();

function sha1(script: string): string {
  let sha = shas.get(script);
  if (!sha) shas.set(script, sha = createHash("sha1").update(script).digest("hex"));
  return sha;
}

/** Run a keyless script (keys are built from ARGV[1], the prefix) by SHA, loading it if needed. */
export async function runScript<T>(client: Redis, script: string, args: (string | number)[]): Promise<T> {
  const argv = args.map(String);
  try {
    return await client.sendCommand(["EVALSHA", sha1(script), "0", ...argv]) as T;
  } catch (error) {
    if (!String((error as Error)?.message).startsWith("NOSCRIPT")) throw error;
    return await client.sendCommand(["EVAL", script, "0", ...argv]) as T;
  }
}
