/**
 * RedisBus: the cluster {@linkcode Bus}. A delivery for a user goes to this node's connections
 * directly and, through one Lua script, is PUBLISHed only to the other nodes that hold the
 * user (presence says which: read atomically inside Redis, so no stale cache can misroute).
 * App-wide frames (enter/exit) go to a per-app channel that a node subscribes to only while
 * it has logged-in connections in that app.
 *
 * Wire format of a published message: a JSON header array, "\n", then the frame text as is
 * (no double encoding): `["d",app,user,seq,origin,msgId]` delivery, `["u",app,user,except]` frame,
 * `["k",app,user,keep]` kick, `["a",app,fromNode]` app frame.
 *
 * @example
 * ```ts
 * const bus = new RedisBus({ store, sub, nodeId, manager, metrics, log });
 * await bus.start();
 * ```
 * @module
 */
import type { Bus } from "../bus.ts";
import type { Logger } from "../log.ts";
import type { ClientManager } from "../manager.ts";
import type { Counter, Metrics } from "../metrics.ts";
import type { RedisStore } from "../store/redis.ts";
import type { InboxEntry } from "../store/store.ts";
import { Batcher } from "./batcher.ts";
import { ROUTE } from "./lua.ts";
import { type Redis, runScript } from "./redis_client.ts";

/** Dependencies of {@linkcode RedisBus}. */
export interface RedisBusOptions {
  store: RedisStore;
  /** A dedicated connection for SUBSCRIBE (node-redis resubscribes after reconnects). */
  sub: Redis;
  nodeId: string;
  manager: ClientManager;
  metrics: Metrics;
  log: Logger;
  /** How often app-channel subscriptions follow the local apps (ms). */
  reconcileMs?: number;
  /** Called by {@linkcode RedisBus.close} first (stops the node's timers). */
  onClose?: () => Promise<void>;
}

/** Routes pushes between nodes through Redis pub/sub. */
export class RedisBus implements Bus {
  readonly #o: RedisBusOptions;
  readonly #apps = new Set<number>();
  readonly #received: Counter;
  readonly #unneeded: Counter;
  readonly #published: Counter;
  readonly #failed: Counter;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #routes = new Batcher<[number, string, string], number>((items) => this.#flushRoutes(items), 256);
  #closed = false;

  constructor(options: RedisBusOptions) {
    this.#o = options;
    const m = options.metrics;
    this.#received = m.counter("im_cluster_received_total", "Messages received from Redis by channel kind", [
      "channel",
    ]);
    this.#unneeded = m.counter(
      "im_cluster_unneeded_total",
      "Messages received for users or apps with no local connection (should stay near 0)",
      ["channel"],
    );
    this.#published = m.counter("im_cluster_published_total", "Publishes to other nodes by kind", ["kind"]);
    this.#failed = m.counter("im_cluster_publish_errors_total", "Routing calls that failed", ["kind"]);
  }

  /** Channel of one node. */
  nodeChannel(nodeId: string): string {
    return `${this.#o.store.prefix}node:${nodeId}`;
  }

  /** Channel of one app. */
  appChannel(appId: number): string {
    return `${this.#o.store.prefix}app:${appId}`;
  }

  /** Subscribe to this node's channel and start following local apps. */
  async start(): Promise<void> {
    await this.#o.sub.subscribe(this.nodeChannel(this.#o.nodeId), (m) => this.#onNode(m));
    this.#timer = setInterval(() => this.reconcileApps(), this.#o.reconcileMs ?? 250);
  }

  /** Subscribed app channels (tests, /metrics). */
  get subscribedApps(): number[] {
    return [...this.#apps];
  }

  /** Subscribe to apps that gained local connections, unsubscribe from those that lost all. */
  reconcileApps(): void {
    if (this.#closed || !this.#o.sub.isReady) return;
    const want = new Set(this.#o.manager.appIds());
    for (const app of want) {
      if (this.#apps.has(app)) continue;
      this.#apps.add(app);
      this.#o.sub.subscribe(this.appChannel(app), (m) => this.#onApp(m)).catch(() => this.#apps.delete(app));
    }
    for (const app of this.#apps) {
      if (want.has(app)) continue;
      this.#apps.delete(app);
      this.#o.sub.unsubscribe(this.appChannel(app)).catch(() => {});
    }
  }

  async deliver(
    appId: number,
    userId: string,
    entry: InboxEntry,
    text: string,
    originConnId?: string,
  ): Promise<boolean> {
    const local = this.#o.manager.deliverEntry(appId, userId, entry, text, originConnId);
    const header = JSON.stringify(["d", appId, userId, entry.seq, originConnId ?? "", entry.msgId]);
    const remote = await this.#route("deliver", appId, userId, header + "\n" + text);
    return local > 0 || remote > 0;
  }

  sendToUser(appId: number, userId: string, text: string, exceptConnId?: string): void {
    this.#o.manager.sendToUser(appId, userId, text, exceptConnId);
    const header = JSON.stringify(["u", appId, userId, exceptConnId ?? ""]);
    void this.#route("user", appId, userId, header + "\n" + text);
  }

  sendToApp(appId: number, text: string, exceptConnId?: string): void {
    this.#o.manager.sendToApp(appId, text, exceptConnId);
    this.reconcileApps();
    const payload = JSON.stringify(["a", appId, this.#o.nodeId]) + "\n" + text;
    this.#published.inc({ kind: "app" });
    this.#o.store.client.publish(this.appChannel(appId), payload).catch((error) => {
      this.#failed.inc({ kind: "app" });
      this.#o.log.warning("app publish failed: {error}", { error: String(error) });
    });
  }

  kickElsewhere(appId: number, userId: string, keepConnId: string): void {
    void this.#route("kick", appId, userId, JSON.stringify(["k", appId, userId, keepConnId]));
  }

  /**
   * Publish to the other nodes holding the user; resolves to how many. A failure is logged and
   * counted, never thrown: the entry is already in the inbox and the reconnect replay (or the
   * next gap) brings it to the client.
   */
  async #route(kind: string, appId: number, userId: string, payload: string): Promise<number> {
    try {
      const n = await this.#routes.push([appId, userId, payload]);
      if (n > 0) this.#published.inc({ kind }, n);
      return n;
    } catch (error) {
      this.#failed.inc({ kind });
      this.#o.log.warning("route {kind} failed: {error}", { kind, error: String(error) });
      return 0;
    }
  }

  /** One ROUTE script call for a batch of (app, user, payload). */
  async #flushRoutes(items: Array<[number, string, string]>): Promise<number[]> {
    const { store, nodeId } = this.#o;
    const replies = await runScript<number[]>(store.client, ROUTE, [store.prefix, nodeId, ...items.flat()]);
    return replies.map(Number);
  }

  #onNode(message: string): void {
    this.#received.inc({ channel: "node" });
    try {
      const nl = message.indexOf("\n");
      const header = JSON.parse(nl < 0 ? message : message.slice(0, nl)) as [
        string,
        number,
        string,
        ...unknown[],
      ];
      const text = nl < 0 ? "" : message.slice(nl + 1);
      const [kind, appId, userId] = header;
      const conns = this.#o.manager.connectionsOf(appId, userId);
      if (!conns || conns.size === 0) {
        this.#unneeded.inc({ channel: "node" });
        return;
      }
      if (kind === "d") {
        // The cursor logic reads seq and msgId; the frame text carries the entry itself.
        const entry = { seq: header[3] as number, msgId: header[5] as string } as InboxEntry;
        this.#o.manager.deliverEntry(appId, userId, entry, text, (header[4] as string) || undefined);
      } else if (kind === "u") {
        this.#o.manager.sendToUser(appId, userId, text, (header[3] as string) || undefined);
      } else if (kind === "k") {
        for (const c of [...conns]) if (c.id !== header[3]) this.#o.manager.kick(c, "logged in elsewhere");
      }
    } catch (error) {
      this.#o.log.warning("bad cluster message: {error}", { error: String(error) });
    }
  }

  #onApp(message: string): void {
    this.#received.inc({ channel: "app" });
    try {
      const nl = message.indexOf("\n");
      const [, appId, fromNode] = JSON.parse(message.slice(0, nl)) as [string, number, string];
      if (fromNode === this.#o.nodeId) return; // already sent locally
      if (this.#o.manager.sendToApp(appId, message.slice(nl + 1)) === 0) {
        this.#unneeded.inc({ channel: "app" });
      }
    } catch (error) {
      this.#o.log.warning("bad cluster app message: {error}", { error: String(error) });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#o.onClose?.();
    try {
      await this.#o.sub.close();
    } catch {
      this.#o.sub.destroy();
    }
  }
}
