/**
 * Composition root: builds one node in dependency order — store and presence (or the cluster node that
 * provides them), the hub, the bus, presence pushes, the lifecycle, messaging, commands, the WebSocket
 * edge and the HTTP app — then binds the listeners and returns a handle to drain or stop it. `main.ts`
 * and the tests start servers through here. No module-level state: everything lives in this call.
 *
 * @example
 * ```ts
 * const server = await startServer(config);
 * console.log(server.httpPort, server.wsPort);
 * await server.shutdown();
 * ```
 * @size The composition root builds every component in dependency order in one function that reads
 * top to bottom; its length is the number of components, not logic.
 * @module
 */
import { AdminConsole } from "./admin/console.ts";
import { RoomActivity } from "./admin/room_activity.ts";
import { createAuthenticator } from "./auth/authenticator.ts";
import { TokenExpiry } from "./auth/token_expiry.ts";
import { nodeHandlers } from "./cluster/handlers.ts";
import type { ClusterNode } from "./cluster/node.ts";
import { historyCommands } from "./commands/history.ts";
import { imCommands } from "./commands/im.ts";
import { messageCommands } from "./commands/messages.ts";
import { roomCommands } from "./commands/rooms.ts";
import { Router } from "./commands/router.ts";
import { sessionCommands } from "./commands/session.ts";
import type { Config } from "./config/load.ts";
import { createApiAuthorizer, parseApiKeys } from "./http/api_keys.ts";
import { createHttpApp } from "./http/app.ts";
import { compatRoutes, type HttpDeps } from "./http/compat.ts";
import { StaticFiles, webConfig } from "./http/static.ts";
import { v1Routes } from "./http/v1.ts";
import { MessageChanges } from "./messaging/changes.ts";
import { Receipts } from "./messaging/receipts.ts";
import { TypingGate } from "./messaging/typing_gate.ts";
import { Messenger } from "./messaging/send.ts";
import { createCounters, type ServerCounters } from "./ops/counters.ts";
import { drain, type DrainOptions, type DrainReport } from "./ops/drain.ts";
import { registerNodeGauges } from "./ops/gauges.ts";
import { getLogger } from "./ops/log.ts";
import { LoginShaper } from "./ops/login_shaping.ts";
import { Metrics } from "./ops/metrics.ts";
import { nodeState } from "./ops/node_state.ts";
import { Webhooks } from "./ops/webhooks.ts";
import { CloseCode } from "./protocol/codes.ts";
import { Pushes } from "./protocol/pushes.ts";
import { type Bus, LocalBus } from "./session/bus.ts";
import { Hub } from "./session/hub.ts";
import { Lifecycle } from "./session/lifecycle.ts";
import { LocalPresence, type Presence } from "./session/presence.ts";
import { PresencePushes } from "./session/presence_pushes.ts";
import { type EmbeddedStore, openEmbeddedStore } from "./store/embedded.ts";
import type { Store } from "./store/store.ts";
import { Admission } from "./transport/admission.ts";
import { LoginAttempts } from "./transport/login_attempts.ts";
import { RateLimiter } from "./transport/rate_limit.ts";
import { listenAll, type ServeListener } from "./transport/listeners.ts";
import { createWsHandler } from "./transport/ws_handler.ts";
import { type Clock, systemClock } from "./util/clock.ts";
import { IdGenerator } from "./util/ids.ts";

/** A running node. */
export interface RunningServer {
  readonly httpPort: number;
  readonly wsPort: number;
  readonly nodeId: string;
  readonly config: Config;
  readonly store: Store;
  /** This node's connections (read them; only the lifecycle changes them). */
  readonly hub: Hub;
  readonly metrics: Metrics;
  readonly counters: ServerCounters;
  /** True once a drain or shutdown began. */
  readonly draining: boolean;
  /** Graceful stop (SIGTERM): reconnect hints, close 1012, shutdown within `drain.deadline`. */
  drain(options?: DrainOptions): Promise<DrainReport>;
  /** Quick stop: close every socket with 1001, stop timers and release the store. */
  shutdown(reason?: string): Promise<void>;
  /** Resolves when the server has shut down. */
  readonly finished: Promise<void>;
}

/** Test and embedding hooks of {@linkcode startServer}. */
export interface StartOptions {
  clock?: Clock;
  /** Use this store instead of the configured engine (tests inject latency or failures). */
  store?: Store;
  /** An extra readiness check for `/readyz`: a reason string when not ready. */
  readiness?: () => string | undefined;
}

const LOOPBACK: ReadonlySet<string> = new Set(["127.0.0.1", "::1", "localhost"]);
const noop = () => {};

/** Start one node with `config`. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  const log = getLogger(["imserver"]);
  const metrics = new Metrics();
  const counters = createCounters(metrics);
  const ids = new IdGenerator(clock);
  const pushes = new Pushes();
  const { app, heartbeat, im } = config;
  const startedAt = clock.now();
  // With reusePort several processes share the port: the pid keeps their ids apart.
  const nodeId = config.cluster.nodeId ||
    `${Deno.hostname()}-${app.webSocketPort || Deno.pid}${app.reusePort ? `-${Deno.pid}` : ""}`;
  let draining = false;

  const hub = new Hub();
  // Cluster mode: Redis store, presence and bus; fails here (RedisUnreachableError) when Redis is down.
  // Loaded only in cluster mode: embedded mode never pays for the Redis client (start-up time, memory).
  const cluster: ClusterNode | undefined = config.cluster.enabled && !options.store
    ? await (await import("./cluster/node.ts")).ClusterNode.connect(config, {
      nodeId,
      hub,
      clock,
      log,
      metrics,
    })
    : undefined;
  // Embedded mode: store.engine (SQLite by default); a file that cannot be used throws StoreOpenError.
  const embedded: EmbeddedStore | undefined = cluster || options.store
    ? undefined
    : openEmbeddedStore(config, {
      clock,
      metrics,
      log,
      isActive: (appId, userId) => (hub.connectionsOf(appId, userId)?.size ?? 0) > 0,
    });
  const store: Store = options.store ?? cluster?.store ?? embedded!.store;
  const presence: Presence = cluster?.presence ??
    new LocalPresence(hub, clock, heartbeat.onlineWindow * 1000, nodeId);
  const bus: Bus = cluster?.bus ?? new LocalBus(hub);
  const auth = await createAuthenticator(config).catch(async (error) => {
    await embedded?.store.close(); // releases the file's lock and the store's timers
    throw error;
  });
  // Online/offline webhooks: enqueue is O(1) and never blocks the lifecycle.
  const webhooks = config.webhooks.url
    ? new Webhooks({ ...config.webhooks, nodeId, metrics, log, clock })
    : undefined;
  if (webhooks) webhooks.onDrop = (reason, n) => counters.drops.inc({ reason: `webhook_${reason}` }, n);
  const { presence: pp } = config;
  const presencePushes = new PresencePushes({
    hub,
    pushes,
    clock,
    enabled: im.enterExitPushes,
    intervalMs: pp.pushInterval * 1000,
    batchIntervalMs: pp.batchInterval * 1000,
    batchAbove: pp.batchAbove,
    batchMax: pp.batchMax,
    publish: cluster && ((appId, changes) => bus.publishPresence(appId, changes)),
    onSent: (n) => counters.presencePushes.inc({}, n),
  });
  const lifecycle = new Lifecycle({
    hub,
    presence,
    presencePushes,
    bus,
    store,
    pushes,
    nodeId,
    log,
    multiDevice: im.multiDevice,
    onOnline: webhooks && ((appId, userId) => webhooks.enqueue("online", appId, userId)),
    onOffline: webhooks && ((appId, userId) => webhooks.enqueue("offline", appId, userId)),
  });
  lifecycle.start();
  const late: { admin?: AdminConsole } = {}; // the admin console, built below once the messenger exists
  if (cluster) {
    try {
      await cluster.start({
        ...nodeHandlers({
          hub,
          lifecycle,
          presencePushes,
          reaped: (appId, userId) => webhooks?.enqueue("offline", appId, userId),
        }),
        disconnect: (appId, userId, connId) => late.admin?.closeLocal(appId, userId, connId),
        stats: () => late.admin?.snapshot(),
      });
    } catch (error) {
      await lifecycle.stop();
      presencePushes.close();
      await cluster.stop();
      throw error;
    }
  }
  webhooks?.start(); // after the cluster start: nothing to stop if that fails

  const rooms = new RoomActivity({ now: () => clock.now() });
  const messenger = new Messenger({
    store,
    bus,
    presence,
    ids,
    clock,
    counters,
    onRoomMessage: (appId, room) => rooms.record(appId, room),
  });
  const changes = new MessageChanges({
    store,
    bus,
    ids,
    clock,
    editWindowMs: im.editWindow * 1000,
    recallWindowMs: im.recallWindow * 1000,
  });
  const receipts = new Receipts({
    store,
    bus,
    presence,
    pushes,
    ids,
    clock,
    delivered: config.receipts.delivered,
    scanLimit: config.inbox.maxEntries,
    coalesceMs: config.receipts.coalesce * 1000,
    onError: (error) => log.warning("a receipt could not be sent: {error}", { error: String(error) }),
  });
  const tokens = new TokenExpiry(
    pushes,
    (conn) =>
      lifecycle.close(
        conn,
        CloseCode.TokenExpired,
        "token expired",
        "token expired; log in with a new token",
      ),
  );
  const { limits } = config;
  const router = new Router({
    ...sessionCommands({
      config,
      auth,
      lifecycle,
      hub,
      store,
      tokens,
      attempts: new LoginAttempts(limits.loginsPerIpPerMinute, limits.loginsPerConnectionPerMinute, clock),
      shaper: config.drain.loginsPerSecond > 0
        ? new LoginShaper(config.drain.loginsPerSecond, clock)
        : undefined,
      draining: () => draining,
      nodeId,
      clock,
      log,
      counters,
    }),
    ...messageCommands({ config, messenger, receipts, store, bus, presence, pushes, clock }),
    ...historyCommands({ config, store }),
    ...imCommands({ config, store, bus, changes, pushes, clock, typing: new TypingGate(clock) }),
    ...roomCommands({ config, messenger, store, bus, presence, pushes, clock }),
  }, {
    counters,
    log,
    disconnect: (conn, code, reason, detail) => lifecycle.close(conn, code, reason, detail),
  });
  const admission = new Admission(
    { ...limits, refusedGraceMs: config.heartbeat.closeGrace * 1000 },
    (reason) => counters.drops.inc({ reason }),
  );
  const wsHandler = createWsHandler({
    config,
    router,
    lifecycle,
    admission,
    rate: new RateLimiter(limits.messagesPerSecond, limits.messageBurst, clock),
    ids,
    clock,
    log,
    pushes,
    counters,
    draining: () => draining,
    onConflict: cluster && ((appId, userId, entry) => cluster.reportConflict(appId, userId, entry.seq)),
  });

  const ports = { http: 0, ws: 0 };
  const httpDeps: HttpDeps = {
    config,
    presence,
    messenger,
    localApps: () => hub.appIds(),
    state: (debug) =>
      nodeState({
        nodeId,
        httpUrl: app.httpUrl,
        mode: cluster ? "cluster" : "embedded",
        store,
        hub,
        lifecycle,
        metrics,
        clock,
        startedAt,
        draining: () => draining,
      }, debug),
  };
  const staticFiles = new StaticFiles(() => webConfig(config, ports.ws));
  const adminConsole = new AdminConsole({
    config,
    nodeId,
    mode: cluster ? "cluster" : "embedded",
    startedAt,
    now: () => clock.now(),
    hub,
    lifecycle,
    presence,
    store,
    bus,
    messenger,
    pushes,
    metrics,
    counters,
    rooms,
    files: staticFiles,
    draining: () => draining,
    storeHealthy: () => cluster?.healthy ?? true,
    cluster,
    log,
    audit: getLogger(["imserver", "audit"]),
  });
  late.admin = adminConsole;
  const httpHandler = createHttpApp({
    routes: [
      ...compatRoutes(httpDeps),
      ...v1Routes({ ...httpDeps, store, changes, backup: embedded?.backup }),
      ...adminConsole.routes,
    ],
    authorize: createApiAuthorizer(parseApiKeys(config.api.keys)),
    authorizeAdmin: (req) => adminConsole.authorize(req),
    corsOrigin: config.http.corsOrigin,
    maxBodyBytes: config.http.maxBodyBytes,
    bodyTimeoutMs: config.http.bodyTimeout * 1000,
    // A throwing hook must become a rejection (503 with the reason), not a 500.
    readiness: () =>
      new Promise((resolve) =>
        resolve(
          draining ? "draining" : cluster?.readiness() ?? embedded?.readiness() ?? options.readiness?.(),
        )
      ),
    metrics,
    counters,
    log,
    serveStatic: async (path) => await adminConsole.page(path) ?? staticFiles.serve(path),
  });
  registerNodeGauges(metrics, {
    clock,
    startedAt,
    draining: () => draining,
    connections: () => hub.size,
    loggedIn: () => hub.loggedIn,
    admitted: () => admission.connections,
    lifecycleQueue: () => lifecycle.queueLength,
    inboxStats: embedded?.inboxStats,
  });

  let servers: ServeListener[];
  try {
    ({ servers, httpPort: ports.http, wsPort: ports.ws } = listenAll(config, {
      ws: wsHandler,
      http: httpHandler,
    }, {
      onDrop: (reason) => counters.drops.inc({ reason }),
      warn: (message) => log.warning(message),
    }));
  } catch (error) {
    // Undo everything started so far: a failed start-up must not keep the process (or Redis) busy.
    await lifecycle.stop();
    presencePushes.close();
    await receipts.close();
    await webhooks?.close(0);
    adminConsole.stop();
    await cluster?.stop();
    await store.close();
    throw error;
  }
  adminConsole.start(); // per-second samples for the console's charts (only with admin.keys)
  if (config.api.keys.length === 0 && !LOOPBACK.has(app.hostname)) {
    log.warning(
      "the HTTP API on {hostname}:{port} has no api.keys: anyone who can reach it may send as any user",
      { hostname: app.hostname, port: ports.http },
    );
  }

  // One timer for all connections: heartbeat timeouts (and the users' delivered marks when
  // heartbeat.deliveredFlush is 0); one for the delivered marks of users whose connections got entries.
  let sweepTimer: ReturnType<typeof setInterval> | undefined;
  const sweep = () => {
    lifecycle.sweep(clock.now(), heartbeat.timeout * 1000, heartbeat.loginTimeout * 1000);
    if (heartbeat.deliveredFlush === 0) lifecycle.flushDelivered(true).catch(noop);
  };
  const deliveredTimer = heartbeat.deliveredFlush > 0
    ? setInterval(() => lifecycle.flushDelivered(true).catch(noop), heartbeat.deliveredFlush * 1000)
    : undefined;
  const firstSweep = setTimeout(() => {
    sweep();
    sweepTimer = setInterval(sweep, heartbeat.sweep * 1000);
  }, heartbeat.firstSweep * 1000);
  // One timer for all token expiries (auth.mode: jwt): push tokenExpired, close 4002.
  const expiryTimer = config.auth.mode === "jwt"
    ? setInterval(() => tokens.tick(clock.now()), 1000)
    : undefined;

  let done!: () => void;
  const finished = new Promise<void>((r) => done = r);
  let stopping: Promise<void> | undefined;
  const shutdown = (reason = "server shutting down") =>
    stopping ??= (async () => {
      draining = true;
      clearTimeout(firstSweep);
      clearInterval(sweepTimer);
      clearInterval(deliveredTimer);
      clearInterval(expiryTimer);
      adminConsole.stop();
      for (const conn of [...hub.connections()]) {
        conn.close(
          CloseCode.GoingAway,
          "server shutting down",
          reason,
        );
      }
      await Promise.all(servers.map((s) => s.shutdown()));
      await lifecycle.flushDelivered().catch(noop);
      await lifecycle.stop();
      presencePushes.close();
      await receipts.close(); // receipts still coalescing go out (or into inboxes) before the store closes
      // Offline events of the connections just closed: a bounded last chance to deliver them.
      await webhooks?.close(2000);
      await bus.close();
      await cluster?.stop();
      await store.close();
      log.info("stopped {nodeId}", { nodeId });
      done();
    })();

  log.info("listening http={httpPort} ws={wsPort} node={nodeId}", {
    httpPort: ports.http,
    wsPort: ports.ws,
    nodeId,
  });
  return {
    httpPort: ports.http,
    wsPort: ports.ws,
    nodeId,
    config,
    store,
    hub,
    metrics,
    counters,
    get draining() {
      return draining;
    },
    drain: (o) =>
      drain({
        nodeId,
        log,
        pushes,
        windowMs: config.drain.window * 1000,
        deadlineMs: config.drain.deadline * 1000,
        connections: () => hub.connections(),
        startDraining: () => draining = true,
        shutdown,
      }, o),
    shutdown,
    finished,
  };
}
