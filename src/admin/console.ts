/**
 * The admin console of one node, assembled: the key guard, the per-second sampler, the views, the
 * actions, the `/api/v1/admin` routes and the `/admin` page. The composition root (server.ts) builds
 * one, adds its routes and page to the HTTP app, lets the cluster node publish {@linkcode
 * AdminConsole.snapshot} and hands it remote disconnect requests. With no `admin.keys` the console is off:
 * no sampler timer, no snapshot, and every admin route answers 404 with how to enable it.
 *
 * @example
 * ```ts
 * const admin = new AdminConsole(deps);
 * admin.start();
 * createHttpApp({ routes: [...routes, ...admin.routes], authorizeAdmin: (r) => admin.authorize(r), ... });
 * admin.stop();
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import type { HttpRoute, RouteCaller } from "../http/routes.ts";
import type { StaticFiles } from "../http/static.ts";
import type { Messenger } from "../messaging/send.ts";
import type { ServerCounters } from "../ops/counters.ts";
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { Pushes } from "../protocol/pushes.ts";
import type { Bus } from "../session/bus.ts";
import type { Hub } from "../session/hub.ts";
import type { Lifecycle } from "../session/lifecycle.ts";
import type { Presence } from "../session/presence.ts";
import type { Store } from "../store/store.ts";
import { AdminActions } from "./actions.ts";
import { adminRoutes } from "./api.ts";
import { AdminGuard } from "./keys.ts";
import { AdminPage } from "./page.ts";
import type { RoomActivity } from "./room_activity.ts";
import { Sampler } from "./sampler.ts";
import { type NodeStats, nodeStats } from "./stats.ts";
import { AdminViews, type ClusterView } from "./views.ts";

/** Everything the console reads or acts through. */
export interface AdminConsoleDeps {
  config: Pick<Config, "admin" | "api" | "im">;
  nodeId: string;
  mode: "embedded" | "cluster";
  startedAt: number;
  now: () => number;
  hub: Hub;
  lifecycle: Pick<Lifecycle, "close" | "queueLength">;
  presence: Presence;
  store: Store;
  bus: Bus;
  messenger: Messenger;
  pushes: Pushes;
  metrics: Metrics;
  counters: Pick<ServerCounters, "messages" | "deliveries" | "drops" | "slowConsumers">;
  rooms: RoomActivity;
  files: Pick<StaticFiles, "file">;
  draining: () => boolean;
  /** Store reachable (cluster: Redis ready). */
  storeHealthy: () => boolean;
  cluster?: ClusterView;
  /** The server's logger (start-up warnings) and the audit logger (`["imserver", "audit"]`). */
  log: Logger;
  audit: Logger;
}

/** One node's admin console. */
export class AdminConsole {
  readonly #d: AdminConsoleDeps;
  readonly #guard: AdminGuard;
  readonly #sampler: Sampler;
  readonly #actions: AdminActions;
  readonly #page: AdminPage;
  /** The `/api/v1/admin` routes (they answer 404 while the console is off). */
  readonly routes: HttpRoute[];

  constructor(d: AdminConsoleDeps) {
    this.#d = d;
    this.#guard = new AdminGuard(d.config.admin.keys, d.config.api.keys);
    const { counters, hub } = d;
    this.#sampler = new Sampler({
      connections: () => hub.size,
      loggedIn: () => hub.loggedIn,
      users: () => hub.users,
      messagesIn: () => counters.messages.sum(),
      messagesOut: () => hub.pushed,
      deliveries: () => counters.deliveries.sum(),
      slowCloses: () => counters.slowConsumers.sum(),
      drops: () => counters.drops.byLabel(),
      // Redis reports its call latency, SQLite its commit latency (queued → committed)
      storeLatency: () =>
        d.metrics.findHistogram("im_store_latency_ms") ?? d.metrics.findHistogram("im_store_commit_ms"),
    }, { capacity: d.config.admin.history, now: d.now });
    this.#actions = new AdminActions(d);
    const views = new AdminViews({ ...d, snapshot: () => this.#snapshot() });
    this.routes = adminRoutes({
      config: d.config,
      nodeId: d.nodeId,
      views,
      actions: this.#actions,
      sampler: this.#sampler,
    });
    this.#page = new AdminPage(this.#guard.enabled, d.files);
  }

  /** True when admin keys are configured. */
  get enabled(): boolean {
    return this.#guard.enabled;
  }

  /** Start sampling (only when enabled) and warn about short keys. */
  start(): void {
    if (!this.enabled) return;
    this.#sampler.start();
    for (const fingerprint of this.#guard.weakKeys) {
      this.#d.log.warning("admin key {fingerprint} is shorter than 16 characters: use a long random key", {
        fingerprint,
      });
    }
  }

  /** Stop sampling. */
  stop(): void {
    this.#sampler.stop();
  }

  /** The admin caller of a request, or throws the refusal (http/app.ts `authorizeAdmin`). */
  authorize(req: Request): RouteCaller {
    return this.#guard.check(req);
  }

  /** `/admin` and its assets, or undefined for other paths. */
  page(path: string): Promise<Response | undefined> {
    return this.#page.serve(path);
  }

  /** This node's snapshot for the cluster overview; undefined while the console is off. */
  snapshot(): NodeStats | undefined {
    return this.enabled ? this.#snapshot() : undefined;
  }

  /** Another node's operator closes connections of a user here (cluster/wire.ts `x`). */
  closeLocal(appId: number, userId: string, connId: string): number {
    return this.#actions.closeLocal(appId, userId, connId);
  }

  #snapshot(): NodeStats {
    const d = this.#d;
    return nodeStats({
      nodeId: d.nodeId,
      mode: d.mode,
      startedAt: d.startedAt,
      now: d.now,
      hub: d.hub,
      sampler: this.#sampler,
      rooms: d.rooms,
      storeKind: d.store.kind,
      storeHealthy: d.storeHealthy,
      draining: d.draining,
      eventQueue: () => d.lifecycle.queueLength,
    });
  }
}
