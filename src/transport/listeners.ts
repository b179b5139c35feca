/**
 * The listeners of a node, with or without the connection guard (`http.guard`):
 *
 * | `http.guard`     | HTTP API listener      | WebSocket listener | one shared listener |
 * | ---------------- | ---------------------- | ------------------ | ------------------- |
 * | `http` (default) | guard, native          | `Deno.serve`       | `Deno.serve`        |
 * | `all`            | guard, native          | guard, proxy       | guard, proxy        |
 * | `off`            | `Deno.serve`           | `Deno.serve`       | `Deno.serve`        |
 *
 * (native falls back to proxy on a Deno without the internal API.) On the WebSocket-only
 * listener every reply that is not an upgrade carries `connection: close` unless the guard is
 * off, so a non-upgrade request cannot park an idle keep-alive connection there.
 *
 * @example
 * ```ts
 * const server = serveListener(config, "http", 8080, handler, { onDrop: (r) => drops.inc({ reason: r }) });
 * await server.shutdown();
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import { type GuardDropReason, nativeGuardAvailable, relayCapacity, serveGuarded } from "./guard/serve.ts";
import { ListenError } from "./listen.ts";
import { serveResilient } from "./resilient_serve.ts";
import { WS_PATHS } from "./ws_handler.ts";

/** Which traffic a listener carries. */
export type ListenerRole = "http" | "ws" | "shared";

/** What the server keeps of a listener (satisfied by `Deno.HttpServer` and the guard). */
export interface ServeListener {
  readonly addr: Deno.Addr;
  shutdown(): Promise<void>;
}

/** Hooks of {@linkcode serveListener}. */
export interface ListenerHooks {
  /** A connection closed or refused by the guard (metrics). */
  onDrop?: (reason: GuardDropReason) => void;
  /** A configuration that leaves a listener less protected than asked (logged once at start). */
  warn?: (message: string) => void;
}

type Handler = (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>;

/** Listen on `port` for `role`, guarded as `config.http.guard` says. */
export function serveListener(
  config: Config,
  role: ListenerRole,
  port: number,
  handler: Handler,
  hooks: ListenerHooks = {},
): ServeListener {
  const { app, http } = config;
  const h = role === "ws" && http.guard !== "off" ? closeUnlessUpgraded(handler) : handler;
  const guarded = http.guard === "all" || (http.guard === "http" && role === "http");
  if (!guarded) {
    if (role === "shared" && http.guard === "http") {
      hooks.warn?.(
        "http.guard: the listener shared by HTTP and WebSocket is not guarded (header/idle deadlines, " +
          "connection cap); set http.guard: all or put a proxy with timeouts in front",
      );
    }
    // Not Deno.serve itself: its loop dies on EMFILE and takes the process with it (resilient_serve.ts).
    return serveResilient({ hostname: app.hostname, port, reusePort: app.reusePort }, h, hooks.warn);
  }
  const native = role === "http" && nativeGuardAvailable();
  if (role === "http" && !native) {
    hooks.warn?.("http.guard: this Deno lacks the per-connection server; the HTTP listener uses the relay");
  }
  return serveGuarded({ hostname: app.hostname, port, reusePort: app.reusePort }, h, {
    mode: native ? "native" : "proxy",
    headerTimeoutMs: http.headerTimeout * 1000,
    idleTimeoutMs: http.idleTimeout * 1000,
    maxConnections: http.maxConnections,
    maxRelayed: native ? undefined : relayCapacity(),
    bodyTimeoutMs: http.bodyTimeout * 1000,
    onDrop: hooks.onDrop,
    report: hooks.warn,
  });
}

/** Add `connection: close` to every reply but a 101, so the connection ends after it. */
function closeUnlessUpgraded(handler: Handler): Handler {
  const mark = (res: Response) => {
    if (res.status !== 101) {
      try {
        res.headers.set("connection", "close");
      } catch {
        // immutable headers (Response.error/redirect): leave as is
      }
    }
    return res;
  };
  return (req, info) => {
    const res = handler(req, info);
    return res instanceof Promise ? res.then(mark) : mark(res);
  };
}

/** The handlers behind the node's listeners. */
export interface NodeHandlersByPort {
  ws: Handler;
  http: (req: Request) => Response | Promise<Response>;
}

/**
 * Bind the node's listeners: one shared listener when `app.httpPort` equals `app.webSocketPort`, else
 * two. A listener that cannot bind is a {@linkcode ListenError} naming the setting; those already bound
 * are shut down first.
 */
export function listenAll(
  config: Config,
  handlers: NodeHandlersByPort,
  hooks: ListenerHooks = {},
): { servers: ServeListener[]; httpPort: number; wsPort: number } {
  const { app } = config;
  const servers: ServeListener[] = [];
  const listen = (port: number, setting: string, role: ListenerRole, handler: Handler) => {
    let server: ServeListener;
    try {
      server = serveListener(config, role, port, handler, hooks);
    } catch (error) {
      for (const s of servers) void s.shutdown();
      throw new ListenError(app.hostname, port, setting, error);
    }
    servers.push(server);
    return (server.addr as Deno.NetAddr).port;
  };
  if (app.httpPort === app.webSocketPort && app.httpPort !== 0) {
    const port = listen(app.httpPort, "app.httpPort", "shared", (req, info) => {
      return WS_PATHS.has(new URL(req.url).pathname) ? handlers.ws(req, info) : handlers.http(req);
    });
    return { servers, httpPort: port, wsPort: port };
  }
  const httpPort = listen(app.httpPort, "app.httpPort", "http", (req) => handlers.http(req));
  const wsPort = listen(app.webSocketPort, "app.webSocketPort", "ws", handlers.ws);
  return { servers, httpPort, wsPort };
}
