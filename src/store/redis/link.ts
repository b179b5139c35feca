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
import { createClient, createCluster } from "redis";
import { RedisUnreachableError } from "./errors.ts";

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
  /** Commands can be sent now. */
  readonly isReady: boolean;
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

/** Map the seed's `redis.*` keys (poolSize/minIdleConns have no node-redis knob: one multiplexed socket). */
export function redisOptionsFrom(
  redis: { addr: string; password: string; DB: number; cluster?: boolean },
): RedisOptions {
  const urls = redis.addr.split(",").map((a) => a.trim()).filter((a) => a !== "")
    .map((a) => a.includes("://") ? a : `redis://${a}`);
  return {
    urls,
    cluster: redis.cluster ?? false,
    password: redis.password || undefined,
    database: redis.DB,
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

/**
 * Reconnects of a link's connections: 50 ms doubling up to 1 s once the first connect succeeded, none
 * before it (fail fast) or after close. node-redis sleeps between retries with a timer it cannot cancel,
 * so a link closes only after the last sleep scheduled has passed: nothing of it outlives `close()`.
 */
class Retries {
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

function clientOptions(options: RedisOptions, retries: Retries) {
  return {
    password: options.password,
    disableOfflineQueue: true,
    socket: { connectTimeout: options.connectTimeoutMs ?? 3000, reconnectStrategy: retries.strategy },
  };
}

type Client = ReturnType<typeof createClient>;

/** One Redis: a command connection, and a second one for SUBSCRIBE made on first use. */
class SingleLink implements RedisLink {
  readonly cluster = false;
  #sub: Promise<Client> | undefined;

  private constructor(
    readonly client: Client,
    readonly label: string,
    readonly onError: Listener,
    readonly retries: Retries,
  ) {}

  static async connect(options: RedisOptions, onError: Listener): Promise<SingleLink> {
    const url = options.urls[0] ?? "redis://localhost:6379";
    const retries = new Retries();
    const client = createClient({ url, database: options.database, ...clientOptions(options, retries) });
    client.on("error", (e) => onError(String(e)));
    try {
      await client.connect();
    } catch (error) {
      destroyQuietly(client);
      throw new RedisUnreachableError(url, error);
    }
    retries.connected();
    return new SingleLink(client as Client, url, onError, retries);
  }

  send<T>(_key: string | undefined, args: readonly string[]): Promise<T> {
    return this.client.sendCommand([...args]) as Promise<T>;
  }
  get isReady(): boolean {
    return this.client.isReady;
  }
  onReady(fn: () => void): void {
    this.client.on("ready", fn);
    void this.#subscriber().then((s) => s.on("ready", fn), () => {});
  }
  offReady(fn: () => void): void {
    this.client.off("ready", fn);
    void this.#sub?.then((s) => s.off("ready", fn), () => {});
  }
  publish(channel: string, message: string): Promise<number> {
    return this.client.publish(channel, message);
  }
  async subscribe(channel: string, listener: Listener): Promise<void> {
    await (await this.#subscriber()).subscribe(channel, listener);
  }
  async unsubscribe(channel: string): Promise<void> {
    await (await this.#subscriber()).unsubscribe(channel);
  }
  refreshTopology(): void {}

  #subscriber(): Promise<Client> {
    this.#sub ??= (async () => {
      const dup = this.client.duplicate();
      dup.on("error", (e) => this.onError(String(e)));
      await dup.connect();
      return dup as Client;
    })();
    return this.#sub;
  }

  async close(): Promise<void> {
    const sub = await this.#sub?.catch(() => undefined);
    await closeQuietly(sub);
    await closeQuietly(this.client);
    await this.retries.close();
  }
}

type Cluster = ReturnType<typeof createCluster>;

/** Retries of a call answered TRYAGAIN (a slot migrating), ~310 ms in all. */
const TRYAGAIN_RETRIES = 5;

/** Signs of a node that is gone (as opposed to a Redis error reply, which says nothing about topology). */
const CONNECTION_TROUBLE = /closed|offline|ECONNREFUSED|ECONNRESET|EPIPE|socket|CLUSTERDOWN|timeout/i;

/** A Redis Cluster: node-redis routes by slot; this adds rediscovery when a master is gone. */
class ClusterLink implements RedisLink {
  readonly cluster = true;
  readonly #ready = new Set<() => void>();
  /**
   * Our sharded subscriptions: node-redis drops those of a master that left the topology (a failover)
   * without moving them, so they are subscribed again after every rediscovery (a no-op when still there).
   */
  readonly #channels = new Map<string, Listener>();
  #lastRefresh = 0;
  #closed = false;

  /** Node clients (commands and sharded pub/sub) whose reconnects we hear about. */
  readonly #watched = new WeakSet<object>();
  /** The masters' addresses when the ready callbacks last ran: a change is a new topology. */
  #masters: string;

  private constructor(readonly client: Cluster, readonly label: string, readonly retries: Retries) {
    this.#masters = this.#masterAddresses();
    this.#watch();
    // node-redis says "node-ready" once per new client: a master after a failover (a new topology:
    // recover), or a sharded pub/sub client made for a first channel on a master (nothing to recover)
    client.on("node-ready", () => {
      this.#watch();
      this.#resubscribe();
      const masters = this.#masterAddresses();
      if (masters === this.#masters) return;
      this.#masters = masters;
      this.#readyAgain();
    });
    client.on("node-error", () => this.refreshTopology());
  }

  #masterAddresses(): string {
    return this.client.masters.map((m) => m.address).sort().join(",");
  }

  /**
   * A client that reconnects in place (a master restarted, a network blip) is not "node-ready" again,
   * yet publishes made while it was away reached nobody: its "ready" must replay like a failover.
   */
  #watch(): void {
    for (const node of this.client.nodeByAddress.values()) {
      const pubSub = (node as { pubSub?: { client?: object } }).pubSub?.client;
      for (const c of [node.client, pubSub]) {
        // a client still on its first connect is watched at its own "node-ready"
        if (!c || this.#watched.has(c) || (c as { isReady?: boolean }).isReady !== true) continue;
        this.#watched.add(c);
        (c as { on(event: "ready", fn: () => void): void }).on("ready", () => this.#readyAgain());
      }
    }
  }

  #readyAgain(): void {
    if (this.#closed) return;
    for (const fn of this.#ready) fn();
  }

  static async connect(options: RedisOptions, onError: Listener): Promise<ClusterLink> {
    const label = options.urls.join(",");
    const retries = new Retries();
    const cluster = createCluster({
      rootNodes: options.urls.map((url) => ({ url })),
      defaults: clientOptions(options, retries),
      // one connection per master; replicas only take over after a failover
      useReplicas: false,
    });
    cluster.on("error", (e) => onError(String(e)));
    try {
      await cluster.connect();
    } catch (error) {
      destroyQuietly(cluster);
      throw new RedisUnreachableError(label, error);
    }
    retries.connected();
    return new ClusterLink(cluster as Cluster, label, retries);
  }

  async send<T>(key: string | undefined, args: readonly string[]): Promise<T> {
    for (let attempt = 0;; attempt++) {
      try {
        return await this.client.sendCommand(key, false, [...args]) as T;
      } catch (error) {
        const message = String((error as Error)?.message);
        // TRYAGAIN: the slot is being moved and this call's keys are split between the two masters;
        // nothing ran. Redis asks clients to retry shortly: 10, 20, 40, 80, 160 ms, then give up (1024).
        if (message.startsWith("TRYAGAIN") && attempt < TRYAGAIN_RETRIES) {
          await new Promise((r) => setTimeout(r, 10 * 2 ** attempt));
          continue;
        }
        if (CONNECTION_TROUBLE.test(message)) this.refreshTopology();
        throw error;
      }
    }
  }
  get isReady(): boolean {
    const masters = this.client.masters;
    return this.client.isOpen && masters.length > 0 && masters.every((m) => m.client?.isReady === true);
  }
  onReady(fn: () => void): void {
    this.#ready.add(fn);
  }
  offReady(fn: () => void): void {
    this.#ready.delete(fn);
  }
  publish(channel: string, message: string): Promise<number> {
    return this.send<number>(channel, ["SPUBLISH", channel, message]);
  }
  subscribe(channel: string, listener: Listener): Promise<void> {
    this.#channels.set(channel, listener);
    return this.client.sSubscribe(channel, listener);
  }
  unsubscribe(channel: string): Promise<void> {
    this.#channels.delete(channel);
    return this.client.sUnsubscribe(channel);
  }

  #resubscribe(): void {
    if (this.#closed) return;
    for (const [channel, listener] of this.#channels) {
      this.client.sSubscribe(channel, listener).catch(() => this.refreshTopology());
    }
  }

  refreshTopology(): void {
    const now = Date.now();
    if (this.#closed || now - this.#lastRefresh < 250) return;
    this.#lastRefresh = now;
    const start = this.client.masters.find((m) => m.client?.isReady)?.client ??
      this.client.masters[0]?.client;
    if (!start) return;
    this.client._slots.rediscover(start).then(() => this.#resubscribe(), () => {});
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#ready.clear();
    await closeQuietly(this.client);
    await this.retries.close();
  }
}

async function closeQuietly(
  client: { isOpen: boolean; close(): Promise<unknown>; destroy(): void } | undefined,
) {
  if (!client?.isOpen) return;
  try {
    await client.close();
  } catch {
    destroyQuietly(client);
  }
}

function destroyQuietly(client: { destroy(): void }): void {
  try {
    client.destroy();
  } catch {
    // a failed connect already closed it
  }
}

export { RedisUnreachableError };
