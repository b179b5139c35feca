/**
 * Everything a handler may use, passed explicitly (no globals).
 * @module
 */
import type { Bus } from "./bus.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { IdGenerator } from "./ids.ts";
import type { Logger } from "./log.ts";
import type { ClientManager } from "./manager.ts";
import type { Counter, Metrics } from "./metrics.ts";
import type { Store } from "./store/store.ts";
import type { Authenticator } from "./auth.ts";

/** The counters every part of the server increments. */
export interface ServerCounters {
  connections: Counter;
  logins: Counter;
  frames: Counter;
  errors: Counter;
  messages: Counter;
  deliveries: Counter;
  drops: Counter;
  slowConsumers: Counter;
  closes: Counter;
  http: Counter;
}

/** Create the server counters in `metrics`. */
export function createCounters(metrics: Metrics): ServerCounters {
  return {
    connections: metrics.counter("im_connections_total", "WebSocket connections accepted"),
    logins: metrics.counter("im_logins_total", "Login attempts by result", ["result"]),
    frames: metrics.counter("im_frames_in_total", "Request frames received by command", ["cmd"]),
    errors: metrics.counter("im_errors_total", "Error replies by code", ["code"]),
    messages: metrics.counter("im_messages_total", "Messages accepted by kind", ["kind"]),
    deliveries: metrics.counter("im_inbox_appends_total", "Inbox entries appended (one per recipient)"),
    drops: metrics.counter("im_drops_total", "Frames or deliveries dropped by reason", ["reason"]),
    slowConsumers: metrics.counter("im_slow_consumer_closes_total", "Connections closed as slow consumers"),
    closes: metrics.counter("im_closes_total", "Connections closed by reason", ["reason"]),
    http: metrics.counter("im_http_requests_total", "HTTP API requests by path", ["path"]),
  };
}

/** Shared services of one server instance. */
export interface ServerContext {
  config: Config;
  nodeId: string;
  store: Store;
  bus: Bus;
  manager: ClientManager;
  clock: Clock;
  ids: IdGenerator;
  log: Logger;
  metrics: Metrics;
  counters: ServerCounters;
  auth: Authenticator;
  /** Start (or continue) an inbox replay on a connection; see sync.ts. */
  replay(client: import("./client.ts").Client, fromSeq?: number): void;
  /** True while draining: new connections and logins are refused. */
  draining: boolean;
  /** Started at (ms). */
  startedAt: number;
  /** Connection caps, login and frame rate limits (src/limits.ts); absent in bare unit-test contexts. */
  limits?: import("./limits.ts").Limits;
  /** Ports actually bound (differ from config when it says 0). */
  httpPort: number;
  wsPort: number;
  /**
   * Extra readiness check for `/readyz` (cluster mode sets it: Redis reachable). Returns a reason
   * string when not ready, undefined when ready. Absent = ready (unless draining).
   */
  readiness?: () => string | undefined | Promise<string | undefined>;
  /** Per-node login rate shaping (`drain.loginsPerSecond` > 0; src/login_shaping.ts). */
  loginShaper?: import("./login_shaping.ts").LoginShaper;
}
