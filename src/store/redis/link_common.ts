/**
 * The RedisLink interface (re-exported by store/redis/link.ts) and what both variants share: reconnect
 * policy, client options, quiet close.
 *
 * @example
 * ```ts
 * const retries = new Retries();
 * const client = createClient({ url, ...clientOptions(options, retries) });
 * await client.connect();
 * retries.connected();
 * ```
 * @module
 */
/** How to reach Redis (built from `redis.*` by {@linkcode redisOptionsFrom}). */
export interface RedisOptions {
  /** `redis://host:port` of the server, or of the cluster's seed nodes. */
  urls: string[];
  /** A Redis Cluster (`redis.cluster`): `urls` are seeds, the rest is discovered. */
  cluster: boolean;
  password?: string;
  /** Single Redis only (a cluster has database 0 only). */
  database?: number;
  /** Give up the first connect after this long (ms). */
  connectTimeoutMs?: number;
  /**
   * A command without a reply after this long fails when its Redis answered nothing else meanwhile either
   * (a hung or partitioned Redis answers nothing and closes nothing: without it a send would wait
   * forever); close() waits this long too. Default 5000.
   */
  commandTimeoutMs?: number;
}

/** A pub/sub message handler. */
export type Listener = (message: string) => void;

/** The Redis operations the cluster modules use. */
export interface RedisLink {
  /** Cluster mode: multi-key calls must stay in one slot. */
  readonly cluster: boolean;
  /** Where it points (for logs). */
  readonly label: string;
  /** Send one command to the node serving `key` (any node when undefined); resolves to the raw reply. */
  send<T>(key: string | undefined, args: readonly string[]): Promise<T>;
  /** Commands can be sent now (on a cluster: to every master). */
  readonly isReady: boolean;
  /** Some commands can be sent now (one Redis: as `isReady`; a cluster: at least one master is ready). */
  readonly reachable: boolean;
  /** Called when a connection (re)becomes ready: after a Redis restart, a reconnect, a failover. */
  onReady(fn: () => void): void;
  offReady(fn: () => void): void;
  /** PUBLISH (one Redis) or SPUBLISH (cluster); resolves to the receivers' count. */
  publish(channel: string, message: string): Promise<number>;
  /** SUBSCRIBE on a dedicated connection (one Redis) or SSUBSCRIBE (cluster); resubscribed after reconnects. */
  subscribe(channel: string, listener: Listener): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** Look at the cluster topology again when a node seems gone (no-op on one Redis). */
  refreshTopology(): void;
  close(): Promise<void>;
}

/**
 * Reconnects of a link's connections: 50 ms doubling up to 1 s once the first connect succeeded, none
 * before it (fail fast) or after close. node-redis sleeps between retries with a timer it cannot cancel,
 * so a link closes only after the last sleep scheduled has passed: nothing of it outlives `close()`.
 */
export class Retries {
  #until = 0;
  #connected = false;
  #closed = false;

  /** node-redis `reconnectStrategy`. */
  readonly strategy = (retries: number, cause: Error): number | Error => {
    if (!this.#connected || this.#closed) return cause;
    const ms = Math.min(50 * 2 ** Math.min(retries, 5), 1000);
    this.#until = Math.max(this.#until, Date.now() + ms);
    return ms;
  };

  connected(): void {
    this.#connected = true;
  }

  /** Stop reconnecting; resolves once no retry sleep is pending. */
  async close(): Promise<void> {
    this.#closed = true;
    const left = this.#until - Date.now();
    if (left > 0) await new Promise((r) => setTimeout(r, left + 5));
  }
}

export function clientOptions(options: RedisOptions, retries: Retries) {
  return {
    password: options.password,
    disableOfflineQueue: true,
    socket: { connectTimeout: options.connectTimeoutMs ?? 3000, reconnectStrategy: retries.strategy },
  };
}

/** The default of {@linkcode RedisOptions.commandTimeoutMs}. */
export const COMMAND_TIMEOUT_MS = 5000;

/** A command that had no reply within {@linkcode RedisOptions.commandTimeoutMs} (it may still run). */
export class RedisTimeoutError extends Error {
  constructor(ms: number) {
    super(`Redis command timeout: no reply within ${ms} ms`);
    this.name = "RedisTimeoutError";
  }
}

/**
 * Deadlines of the commands sent to one Redis server. One timer ticks every quarter of the timeout while
 * commands are pending; a command pending for more than four ticks (1 to 1.25 × the timeout) fails if that
 * Redis answered nothing at all in the last four ticks — a hung or partitioned Redis — while a busy one
 * that keeps answering (a login storm queues deep) is slow, not hung, and its commands wait their turn.
 * No timer and no clock read per command. node-redis cannot do this itself: its command timeout ends once
 * the command is written, and its socket timeout is an idle timeout (it would close quiet pub/sub
 * connections).
 */
export class Deadlines {
  readonly #ms: number;
  /** Pending commands in the order sent, with the tick they were sent at. */
  readonly #pending = new Set<{ tick: number; fail: (error: Error) => void }>();
  #tick = 0;
  /** The tick of the last reply (or error) from this Redis. */
  #answered = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /** `command`'s outcome, or a {@linkcode RedisTimeoutError} once it is overdue and Redis silent. */
  run<T>(command: Promise<T>): Promise<T> {
    if (this.#closed) return command;
    return new Promise<T>((resolve, reject) => {
      const entry = { tick: this.#tick, fail: reject };
      this.#pending.add(entry);
      this.#timer ??= setInterval(() => this.#sweep(), Math.max(1, this.#ms / 4));
      command.then((value) => {
        this.#answered = this.#tick;
        this.#pending.delete(entry);
        resolve(value);
      }, (error) => {
        this.#answered = this.#tick;
        this.#pending.delete(entry);
        reject(error);
      });
    });
  }

  #sweep(): void {
    this.#tick++;
    if (this.#tick - this.#answered > 4) {
      for (const entry of this.#pending) {
        if (this.#tick - entry.tick <= 4) break;
        this.#pending.delete(entry);
        entry.fail(new RedisTimeoutError(this.#ms));
      }
    }
    if (this.#pending.size === 0) this.#stop();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Time nothing more: the link's clients are closed (or destroyed), so every command has settled. */
  close(): void {
    this.#closed = true;
    this.#stop();
    this.#pending.clear();
  }
}

/**
 * Close a client gracefully (pending replies first), or destroy it when closing fails or takes longer than
 * `graceMs` (a hung Redis never answers).
 */
export async function closeQuietly(
  client: { isOpen: boolean; close(): Promise<unknown>; destroy(): void } | undefined,
  graceMs = COMMAND_TIMEOUT_MS,
) {
  if (!client?.isOpen) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const overdue = new Promise<"overdue">((resolve) => timer = setTimeout(() => resolve("overdue"), graceMs));
  const closing = client.close().then(() => "closed" as const, () => "failed" as const);
  const outcome = await Promise.race([closing, overdue]);
  clearTimeout(timer);
  if (outcome !== "closed") destroyQuietly(client);
}

export function destroyQuietly(client: { destroy(): void }): void {
  try {
    client.destroy();
  } catch {
    // a failed connect already closed it
  }
}
