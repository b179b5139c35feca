/**
 * RedisBus: the cluster {@linkcode Bus}. A delivery for a user goes to this node's connections directly
 * and is published only to the other nodes that hold the user (presence is read inside Redis, so no
 * stale cache can misroute): on one Redis one script call reads and PUBLISHes; on a Redis Cluster a
 * script per slot reads (route_nodes.lua) and the payload is SPUBLISHed to each node's channel, which
 * lives on one shard only. Presence changes go to a per-app channel that a node subscribes to only while
 * it has connections in that app (sharded too on a cluster). Wire format: cluster/wire.ts.
 *
 * @example
 * ```ts
 * const bus = new RedisBus({ link, keys, nodeId, hub, metrics, log });
 * await bus.start({ kick, presence });
 * ```
 * @module
 */
import type { Logger } from "../ops/log.ts";
import type { Counter, Metrics } from "../ops/metrics.ts";
import type { Bus } from "../session/bus.ts";
import type { Hub } from "../session/hub.ts";
import type { PresenceKind } from "../session/presence_pushes.ts";
import type { RedisKeys } from "../store/redis/keys.ts";
import type { RedisLink } from "../store/redis/link.ts";
import { SCRIPTS } from "../store/redis/scripts.ts";
import { SlotBatcher } from "../store/redis/slot_batch.ts";
import type { InboxEntry } from "../store/store.ts";
import type { RouteHints } from "./route_hints.ts";
import { decodeWire, encodeWire } from "./wire.ts";

/** Dependencies of {@linkcode RedisBus}. */
export interface RedisBusOptions {
  /** Commands and pub/sub (node-redis resubscribes after reconnects). */
  link: RedisLink;
  keys: RedisKeys;
  nodeId: string;
  hub: Hub;
  metrics: Metrics;
  log: Logger;
  /** How often app-channel subscriptions follow the local apps (ms). */
  reconcileMs?: number;
  /** The nodes the append script read for each entry (a delivery with a hint needs no route call). */
  hints?: RouteHints;
}

/** What other nodes ask of this one. */
export interface RemoteHandlers {
  /** Kick the local connections of a user except `keepConnId` (multiDevice: single). */
  kick(appId: number, userId: string, keepConnId: string): void;
  /** An operator on another node closes the user's connection `connId` here ("" = every one; admin console). */
  disconnect?(appId: number, userId: string, connId: string): void;
  /** Presence changes of an app made on another node. */
  presence(appId: number, changes: Record<string, PresenceKind>): void;
}

/** Routes pushes between nodes through Redis pub/sub. */
export class RedisBus implements Bus {
  readonly #o: RedisBusOptions;
  readonly #apps = new Set<number>();
  readonly #received: Counter;
  readonly #unneeded: Counter;
  readonly #published: Counter;
  readonly #failed: Counter;
  readonly #routes: SlotBatcher<[number, string, string], number>;
  #handlers: RemoteHandlers | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: RedisBusOptions) {
    this.#o = options;
    this.#routes = new SlotBatcher(
      options.link.cluster,
      ([app, user]) => options.keys.presence(app, user),
      (items) => this.#flushRoutes(items),
    );
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
    m.gauge("im_cluster_app_subscriptions", "App channels this node subscribes to", () => this.#apps.size);
  }

  /** Subscribe to this node's channel and start following local apps. */
  async start(handlers: RemoteHandlers): Promise<void> {
    this.#handlers = handlers;
    await this.#o.link.subscribe(this.#o.keys.nodeChannel(this.#o.nodeId), (m) => this.#onNode(m));
    this.#timer = setInterval(() => this.reconcileApps(), this.#o.reconcileMs ?? 250);
  }

  /** Subscribed app channels (tests, metrics). */
  get subscribedApps(): number[] {
    return [...this.#apps];
  }

  /** Subscribe to apps that gained local connections, unsubscribe from those that lost all. */
  reconcileApps(): void {
    if (this.#closed || !this.#o.link.isReady) return;
    const want = new Set(this.#o.hub.appIds());
    for (const app of want) {
      if (this.#apps.has(app)) continue;
      this.#apps.add(app);
      this.#o.link.subscribe(this.#o.keys.appChannel(app), (m) => this.#onApp(m)).catch(() =>
        this.#apps.delete(app)
      );
    }
    for (const app of this.#apps) {
      if (want.has(app)) continue;
      this.#apps.delete(app);
      this.#o.link.unsubscribe(this.#o.keys.appChannel(app)).catch(() => {});
    }
  }

  async deliver(
    appId: number,
    userId: string,
    entry: InboxEntry,
    text: string,
    originConnId?: string,
  ): Promise<boolean> {
    const local = this.#o.hub.deliver(appId, userId, entry, text, originConnId);
    const payload = encodeWire(["d", appId, userId, entry.seq, originConnId ?? "", entry.msgId], text);
    const nodes = this.#o.hints?.take(appId, userId, entry.seq);
    const remote = nodes === undefined
      ? await this.#route("deliver", appId, userId, payload)
      : await this.#publish("deliver", nodes, payload);
    return local > 0 || remote > 0;
  }

  sendToUser(appId: number, userId: string, text: string, exceptConnId?: string): void {
    this.#o.hub.sendToUser(appId, userId, text, exceptConnId);
    void this.#route("user", appId, userId, encodeWire(["u", appId, userId, exceptConnId ?? ""], text));
  }

  kickElsewhere(appId: number, userId: string, keepConnId: string): void {
    void this.#route("kick", appId, userId, encodeWire(["k", appId, userId, keepConnId]));
  }

  disconnectElsewhere(appId: number, userId: string, connId: string): Promise<number> {
    return this.#route("disconnect", appId, userId, encodeWire(["x", appId, userId, connId]));
  }

  publishPresence(appId: number, changes: Record<string, PresenceKind>): void {
    this.reconcileApps();
    this.#published.inc({ kind: "presence" });
    const payload = encodeWire(["p", appId, this.#o.nodeId], JSON.stringify(changes));
    this.#o.link.publish(this.#o.keys.appChannel(appId), payload).catch((error) => {
      this.#failed.inc({ kind: "presence" });
      this.#o.log.warning("presence publish failed: {error}", { error: String(error) });
    });
  }

  /**
   * Publish to the other nodes holding the user; resolves to how many. A failure is logged and counted,
   * never thrown: the entry is already in the inbox and the reconnect replay (or the next gap) brings it.
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

  /** Publish to nodes already known (a route hint); resolves to how many. Failures as in #route. */
  async #publish(kind: string, nodes: readonly string[], payload: string): Promise<number> {
    if (nodes.length === 0) return 0;
    try {
      await Promise.all(nodes.map((node) => this.#o.link.publish(this.#o.keys.nodeChannel(node), payload)));
      this.#published.inc({ kind }, nodes.length);
      return nodes.length;
    } catch (error) {
      this.#failed.inc({ kind });
      this.#o.log.warning("publish {kind} failed: {error}", { kind, error: String(error) });
      return 0;
    }
  }

  /**
   * One route script call for a batch of (app, user, payload); on a cluster the batch is one slot's (each
   * slot batches on its own, so a shard that is down or hung fails or delays its own routes only).
   */
  async #flushRoutes(items: Array<[number, string, string]>): Promise<number[]> {
    const { keys, nodeId, link } = this.#o;
    const presence = items.map(([app, user]) => keys.presence(app, user));
    if (!link.cluster) {
      const replies = await SCRIPTS.route.run<number[]>(
        link,
        presence,
        [nodeId, keys.nodeChannelPrefix, ...items.map((i) => i[2])],
      );
      return replies.map(Number);
    }
    const nodes = await SCRIPTS.routeNodes.run<string[][]>(link, presence, [nodeId]);
    await Promise.all(
      items.flatMap((item, i) => nodes[i].map((node) => link.publish(keys.nodeChannel(node), item[2]))),
    );
    return nodes.map((n) => n.length);
  }

  #onNode(message: string): void {
    this.#received.inc({ channel: "node" });
    try {
      const { header, body } = decodeWire(message);
      const [kind, appId, userId] = header as [string, number, string];
      const conns = this.#o.hub.connectionsOf(appId, userId);
      if (!conns || conns.size === 0) {
        this.#unneeded.inc({ channel: "node" });
        return;
      }
      if (header[0] === "d") {
        // The cursor reads seq and msgId; the frame text carries the entry itself.
        this.#o.hub.deliver(
          appId,
          userId,
          { seq: header[3], msgId: header[5] },
          body,
          header[4] || undefined,
        );
      } else if (header[0] === "u") {
        this.#o.hub.sendToUser(appId, userId, body, header[3] || undefined);
      } else if (header[0] === "k") {
        this.#handlers?.kick(appId, userId, header[3]);
      } else if (header[0] === "x") {
        this.#handlers?.disconnect?.(appId, userId, header[3]);
      } else this.#o.log.warning("unknown cluster message kind {kind}", { kind });
    } catch (error) {
      this.#o.log.warning("bad cluster message: {error}", { error: String(error) });
    }
  }

  #onApp(message: string): void {
    this.#received.inc({ channel: "app" });
    try {
      const { header, body } = decodeWire(message);
      if (header[0] !== "p" || header[2] === this.#o.nodeId) return; // our own changes were pushed locally
      if ((this.#o.hub.appConnections(header[1])?.size ?? 0) === 0) {
        this.#unneeded.inc({ channel: "app" });
        return;
      }
      this.#handlers?.presence(header[1], JSON.parse(body));
    } catch (error) {
      this.#o.log.warning("bad cluster app message: {error}", { error: String(error) });
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    return Promise.resolve();
  }
}
