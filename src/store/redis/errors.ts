/**
 * The error of a Redis that cannot be reached at start-up, apart from the client module so that naming it
 * (src/main.ts maps it to an exit code) does not load the Redis client: embedded mode never does.
 *
 * @example
 * ```ts
 * if (error instanceof RedisUnreachableError) Deno.exit(3);
 * ```
 * @module
 */

/** Thrown when the first connection to Redis fails. */
export class RedisUnreachableError extends Error {
  constructor(url: string, cause: unknown) {
    super(`cannot reach Redis at ${url}: ${(cause as Error)?.message ?? cause}`);
    this.name = "RedisUnreachableError";
  }
}
