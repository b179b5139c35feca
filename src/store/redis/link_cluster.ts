/**
 * RedisLink on a Redis Cluster (store/redis/link.ts): node-redis routes every command to the master of
 * its first key's slot; this adds what it lacks — rediscovery when a master is gone (node-redis only
 * rediscovers on MOVED/ASK, which a dead master never sends), sharded subscriptions made again after a
 * topology change, recovery callbacks when a client reconnects in place, and TRYAGAIN retries while a
 * slot moves.
 *
 * @example
 * ```ts
 * const link = await ClusterLink.connect({ urls: ["redis://10.0.0.5:6379"], cluster: true }, console.warn);
 * ```
 * @module
 */
import { createCluster } from "redis";
import { RedisUnreachableError } from "./errors.ts";
import { keySlot } from "./slots.ts";
import {
  clientOptions,
  closeQuietly,
  COMMAND_TIMEOUT_MS,
  Deadlines,
  destroyQuietly,
  type Listener,
  type RedisLink,
  type RedisOptions,
  Retries,
} from "./link_common.ts";

type Cluster = ReturnType<typeof createCluster>;

/**
 * Retries of a call answered TRYAGAIN, ~1.3 s in all (10 ms doubling). While a slot migrates, every call
 * naming a key that is not on the master asked — an append's new idempotency key always is — gets
 * TRYAGAIN until the slot has moved (redis-cli moves 10 keys per MIGRATE).
 */
const TRYAGAIN_RETRIES = 7;

/** Signs of a node that is gone (as opposed to a Redis error reply, which says nothing about topology). */
const CONNECTION_TROUBLE = /closed|offline|ECONNREFUSED|ECONNRESET|EPIPE|socket|CLUSTERDOWN|timeout/i;

/** A Redis Cluster: node-redis routes by slot; this adds rediscovery when a master is gone. */
export class ClusterLink implements RedisLink {
  readonly cluster = true;
  readonly #ready = new Set<() => void>();
  /**
   * Our sharded subscriptions: node-redis drops those of a master that left the topology (a failover)
   * without moving them, so they are subscribed again after every rediscovery (a no-op when still there).
   */
  readonly #channels = new Map<string, Listener>();
  readonly #pauses = new Set<() => void>();
  #lastRefresh = 0;
  #closed = false;

  /** Node clients (commands and sharded pub/sub) whose reconnects we hear about. */
  readonly #watched = new WeakSet<object>();
  /** The masters' addresses when the ready callbacks last ran: a change is a new topology. */
  #masters: string;

  /** Per master address: a hung master fails its own commands, whatever the others answer. */
  readonly #deadlines = new Map<string, Deadlines>();

  private constructor(
    readonly client: Cluster,
    readonly label: string,
    readonly retries: Retries,
    readonly timeoutMs: number,
  ) {
    this.#masters = this.#masterAddresses();
    this.#watch();
    // node-redis says "node-ready" once per new client: a master after a failover (a new topology:
    // recover), or a sharded pub/sub client made for a first channel on a master (nothing to recover)
    client.on("node-ready", () => {
      this.#watch();
      this.#followTopology();
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
    return new ClusterLink(
      cluster as Cluster,
      label,
      retries,
      options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS,
    );
  }

  async send<T>(key: string | undefined, args: readonly string[]): Promise<T> {
    for (let attempt = 0;; attempt++) {
      try {
        const command = this.client.sendCommand(key, false, [...args]) as Promise<T>;
        return await this.#deadlinesOf(key).run(command);
      } catch (error) {
        const message = String((error as Error)?.message);
        // TRYAGAIN: the slot is being moved and this call's keys are split between the two masters;
        // nothing ran. Redis asks clients to retry shortly: 10 ms doubling, then give up (1024).
        if (message.startsWith("TRYAGAIN") && attempt < TRYAGAIN_RETRIES && !this.#closed) {
          await this.#pause(10 * 2 ** attempt);
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
  get reachable(): boolean {
    return this.client.isOpen && this.client.masters.some((m) => m.client?.isReady === true);
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
    return this.#deadlinesOf(channel).run(this.client.sSubscribe(channel, listener));
  }
  unsubscribe(channel: string): Promise<void> {
    this.#channels.delete(channel);
    return this.#deadlinesOf(channel).run(this.client.sUnsubscribe(channel));
  }

  /**
   * Subscribe our channels again (a no-op where still subscribed); when the masters changed, report ready
   * once those subscriptions are in place — a replay before them would miss what is published until then.
   */
  #followTopology(): void {
    const masters = this.#masterAddresses();
    const changed = masters !== this.#masters;
    this.#masters = masters;
    const subscribed = this.#resubscribe();
    if (changed) void subscribed.then(() => this.#readyAgain());
  }

  #resubscribe(): Promise<unknown> {
    if (this.#closed) return Promise.resolve();
    return Promise.all(
      [...this.#channels].map(([channel, listener]) =>
        this.client.sSubscribe(channel, listener).catch(() => this.refreshTopology())
      ),
    );
  }

  refreshTopology(): void {
    const now = Date.now();
    if (this.#closed || now - this.#lastRefresh < 250) return;
    this.#lastRefresh = now;
    const start = this.client.masters.find((m) => m.client?.isReady)?.client ??
      this.client.masters[0]?.client;
    if (!start) return;
    this.client._slots.rediscover(start).then(() => this.#followTopology(), () => {});
  }

  /** The deadlines of the master serving `key`'s slot (as the topology says now). */
  #deadlinesOf(key: string | undefined): Deadlines {
    const address = key === undefined ? "*" : this.client.slots[keySlot(key)]?.master?.address ?? "?";
    let deadlines = this.#deadlines.get(address);
    if (!deadlines) this.#deadlines.set(address, deadlines = new Deadlines(this.timeoutMs));
    return deadlines;
  }

  /** A retry pause that `close()` cuts short (no timer outlives the link). */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#pauses.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#pauses.add(done);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const done of [...this.#pauses]) done();
    this.#ready.clear();
    await closeQuietly(this.client, this.timeoutMs);
    for (const d of this.#deadlines.values()) d.close();
    await this.retries.close();
  }
}
