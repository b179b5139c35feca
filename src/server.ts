/**
 * Composition root: builds the context, router and listeners of one node and returns a
 * handle to stop it. `main.ts` and the integration tests both start servers through here.
 *
 * @example
 * ```ts
 * const server = await startServer(config);
 * console.log(server.httpPort, server.wsPort);
 * await server.shutdown();
 * ```
 * @module
 */
import { createAuthenticator } from "./auth.ts";
import { LocalBus } from "./bus.ts";
import { createClusterBackend } from "./cluster/node.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Config } from "./config.ts";
import { createCounters, type ServerContext } from "./context.ts";
import { addMessageRoutes } from "./handlers/messages.ts";
import { addRoomRoutes } from "./handlers/rooms.ts";
import { addSessionRoutes } from "./handlers/session.ts";
import { createHttpHandler } from "./http/api.ts";
import { createApiAuthorizer, parseApiKeys } from "./http/api_keys.ts";
import { registerOperationalGauges } from "./http/metrics.ts";
import { IdGenerator } from "./ids.ts";
import { expireTokens, Limits } from "./limits.ts";
import { LoginShaper } from "./login_shaping.ts";
import { getLogger } from "./log.ts";
import { ClientManager } from "./manager.ts";
import { Metrics } from "./metrics.ts";
import { CloseCode } from "./protocol.ts";
import { Router } from "./router.ts";
import { MemoryStore } from "./store/memory.ts";
import type { Store } from "./store/store.ts";
import { replayInBackground } from "./sync.ts";
import { Webhooks } from "./webhooks.ts";
import { createWsHandler, WS_PATHS } from "./ws_server.ts";
import { type ListenerRole, type ServeListener, serveListener } from "./transport/listeners.ts"; // http-guard
import { closeForLoginTimeout, overdueLogins } from "./transport/login_deadline.ts"; // http-guard

/** A running node. */
export interface RunningServer {
  readonly httpPort: number;
  readonly wsPort: number;
  readonly nodeId: string;
  readonly ctx: ServerContext;
  /** Stop accepting, close every socket with 1001, stop timers and release the store. */
  shutdown(reason?: string): Promise<void>;
  /** Resolves when the server has shut down. */
  readonly finished: Promise<void>;
}

/** Test and embedding hooks of {@linkcode startServer}. */
export interface StartOptions {
  clock?: Clock;
  store?: Store;
  /** Print nothing on listen (tests). */
  quiet?: boolean;
}

/** Every command the server understands. */
export function createRouter(): Router {
  const router = new Router();
  addSessionRoutes(router);
  addMessageRoutes(router);
  addRoomRoutes(router);
  return router;
}

/** Start one node with `config`. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  const log = getLogger(["imserver"]);
  // Cluster mode: Redis store + bus; fails here (RedisUnreachableError) when Redis is down.
  const cluster = config.cluster.enabled && !options.store
    ? await createClusterBackend(config, { clock })
    : undefined;
  const store = options.store ?? cluster?.store ?? new MemoryStore(clock);
  const metrics = new Metrics();
  const counters = createCounters(metrics);
  const { app, heartbeat } = config;
  // With reusePort several processes share the port: the pid keeps their ids apart.
  const nodeId = config.cluster.nodeId ||
    `${Deno.hostname()}-${app.webSocketPort || Deno.pid}${app.reusePort ? `-${Deno.pid}` : ""}`;
  const ctx = {
    config,
    nodeId,
    store,
    clock,
    log,
    metrics,
    counters,
    draining: false,
    startedAt: clock.now(),
  } as
    & Partial<ServerContext>
    & Pick<ServerContext, "config" | "nodeId" | "store" | "clock" | "log" | "metrics" | "counters">;
  ctx.ids = new IdGenerator(clock);
  ctx.auth = await createAuthenticator(config);
  // Online/offline webhooks: enqueue is O(1) and never blocks the manager loop.
  const webhooks = config.webhooks.url
    ? new Webhooks({ ...config.webhooks, nodeId, metrics, log, clock })
    : undefined;
  if (webhooks) webhooks.onDrop = (reason, n) => counters.drops.inc({ reason: `webhook_${reason}` }, n);
  if (config.drain.loginsPerSecond > 0) {
    ctx.loginShaper = new LoginShaper(config.drain.loginsPerSecond, clock);
  }
  const manager = new ClientManager({
    nodeId,
    store,
    clock,
    log,
    multiDevice: config.im.multiDevice,
    enterExitPushes: config.im.enterExitPushes,
    heartbeatTimeoutMs: heartbeat.timeout * 1000,
    onlineWindowMs: heartbeat.onlineWindow * 1000,
    hooks: {
      broadcastApp: (appId, text, except) => ctx.bus!.sendToApp(appId, text, except),
      kickElsewhere: (appId, userId, keep) => ctx.bus!.kickElsewhere(appId, userId, keep),
      onGap: (client) => replayInBackground(full, client),
      onOnline: webhooks && ((appId, userId) => webhooks.enqueue("online", appId, userId)),
      onOffline: webhooks && ((appId, userId) => webhooks.enqueue("offline", appId, userId)),
    },
  });
  ctx.manager = manager;
  ctx.bus = new LocalBus(manager);
  ctx.replay = (client, fromSeq) => {
    if (fromSeq !== undefined) client.cursor = fromSeq;
    replayInBackground(full, client);
  };
  const full = ctx as ServerContext;
  const limits = full.limits = new Limits(config, clock, (reason) => counters.drops.inc({ reason }));
  manager.start();
  if (cluster) {
    try {
      full.bus = await cluster.attach(full, {
        onOffline: webhooks && ((appId, userId) => webhooks.enqueue("offline", appId, userId)),
      });
    } catch (error) {
      await manager.stop();
      await store.close();
      throw error;
    }
    // /readyz: a node that cannot reach Redis cannot deliver across nodes; let balancers route around it.
    full.readiness = () => cluster.store.client.isReady ? undefined : "redis unreachable";
  }
  webhooks?.start(); // after the cluster attach: nothing to stop if that fails
  metrics.gauge("im_connections", "Open WebSocket connections", () => manager.clients.size);
  metrics.gauge("im_logged_in_connections", "Logged-in connections", () => manager.loggedInCount);
  metrics.gauge(
    "im_event_queue_length",
    "Lifecycle events waiting in the manager channel",
    () => manager.queueLength,
  );
  registerOperationalGauges(full);

  const router = createRouter();
  const wsHandler = createWsHandler(full, router, limits.admission());
  const httpHandler = createHttpHandler(full, createApiAuthorizer(parseApiKeys(config.api.keys)));
  const servers: ServeListener[] = [];
  const listen = (port: number, handler: Deno.ServeHandler<Deno.NetAddr>, role: ListenerRole) => {
    // http-guard: header/idle deadlines and a connection cap per config.http.guard (src/transport/listeners.ts)
    const server = serveListener(config, role, port, handler, {
      onDrop: (reason) => counters.drops.inc({ reason }),
      warn: (message) => log.warning(message),
    });
    servers.push(server);
    return (server.addr as Deno.NetAddr).port;
  };
  let httpPort: number;
  let wsPort: number;
  if (app.httpPort === app.webSocketPort && app.httpPort !== 0) {
    httpPort = wsPort = listen(app.httpPort, (req, info) => {
      return WS_PATHS.has(new URL(req.url).pathname) ? wsHandler(req, info) : httpHandler(req);
    }, "shared");
  } else {
    httpPort = listen(app.httpPort, (req) => httpHandler(req), "http");
    wsPort = listen(app.webSocketPort, wsHandler, "ws");
  }

  full.httpPort = httpPort;
  full.wsPort = wsPort;

  // One timer for all connections: heartbeat timeouts and the batched presence refresh.
  let sweepTimer: ReturnType<typeof setInterval> | undefined;
  const sweep = () => {
    const live = manager.sweep();
    // http-guard: close (4009) connections not logged in within heartbeat.loginTimeout
    for (const c of overdueLogins(manager.clients.values(), clock.now(), heartbeat.loginTimeout * 1000)) {
      closeForLoginTimeout(c, () => manager.unregister(c).catch(() => {}));
    }
    store.refreshPresence(nodeId, live).catch((error) =>
      log.warning("presence refresh failed: {error}", { error })
    );
  };
  const firstSweep = setTimeout(() => {
    sweep();
    sweepTimer = setInterval(sweep, heartbeat.sweep * 1000);
  }, heartbeat.firstSweep * 1000);

  // One timer for all token expiries (auth.mode: jwt): push tokenExpired, close 4002.
  const expiryTimer = config.auth.mode === "jwt"
    ? setInterval(
      () => expireTokens(manager.clients.values(), clock.now(), (c) => manager.unregister(c).catch(() => {})),
      1000,
    )
    : undefined;

  let done!: () => void;
  const finished = new Promise<void>((r) => done = r);
  let stopping: Promise<void> | undefined;
  const shutdown = (reason = "server shutting down") =>
    stopping ??= (async () => {
      full.draining = true;
      clearTimeout(firstSweep);
      clearInterval(sweepTimer);
      clearInterval(expiryTimer);
      for (const client of manager.clients.values()) client.close(CloseCode.GoingAway, reason);
      await Promise.all(servers.map((s) => s.shutdown()));
      await manager.stop();
      // Offline events of the connections just closed: a bounded last chance to deliver them.
      await webhooks?.close(2000);
      await full.bus.close();
      await store.close();
      log.info("stopped {nodeId}", { nodeId });
      done();
    })();

  log.info("listening http={httpPort} ws={wsPort} node={nodeId}", { httpPort, wsPort, nodeId });
  return { httpPort, wsPort, nodeId, ctx: full, shutdown, finished };
}
