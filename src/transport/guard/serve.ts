/**
 * The connection guard: what `Deno.serve` does not bound (denoland/deno#3515) — a complete
 * request head within `headerTimeout` of connecting, the next head within `idleTimeout` of the
 * last response, and at most `maxConnections` HTTP connections at once. It owns the accept loop
 * (`Deno.listen`) and serves each accepted connection one of two ways:
 *
 * - **native**: with Deno's own HTTP server for a single connection (the internal
 *   `serveHttpOnConnection` that `Deno.serve` is built on) and a per-connection `AbortSignal`
 *   that the deadlines fire. No byte passes through JavaScript; the handler call marks "head
 *   complete" and `info.completed` "response sent". A WebSocket upgraded on such a connection is
 *   closed when its per-connection server ends (measured on Deno 2.9.6), so only listeners that
 *   never upgrade may use it.
 * - **proxy**: relays bytes to a `Deno.serve` on a loopback port (public API only). A
 *   `RequestHeads` tracker finds request heads until a 101 turns the connection into a
 *   tunnel, which is then relayed without deadlines. Works with WebSocket, at a cost in CPU per
 *   chunk and two more sockets per connection (docs/SECURITY.md has the figures).
 *
 * A connection beyond the cap gets `503` with `{"code":1013,...}` and is closed; a deadline
 * closes the connection without a reply.
 *
 * @example
 * ```ts
 * const server = serveGuarded({ hostname: "0.0.0.0", port: 8080 }, handler, {
 *   mode: nativeGuardAvailable() ? "native" : "proxy",
 *   headerTimeoutMs: 10_000,
 *   idleTimeoutMs: 60_000,
 *   maxConnections: 1024,
 * });
 * await server.shutdown();
 * ```
 * @module
 */
import {
  closeQuietly,
  GuardCore,
  type GuardedServer,
  type GuardListen,
  type GuardOptions,
  type Handler,
} from "./core.ts";
import { NativeBackend, serveOnConnection } from "./native.ts";
import { ProxyBackend } from "./proxy.ts";

export type { GuardDropReason, GuardedServer, GuardListen, GuardMode, GuardOptions } from "./core.ts";
export { nativeGuardAvailable } from "./native.ts";
export { relayCapacity } from "./proxy.ts";

/** Accept on `listen` and serve `handler` behind the guard. */
export function serveGuarded(listen: GuardListen, handler: Handler, options: GuardOptions): GuardedServer {
  const serveOn = options.mode === "native" ? serveOnConnection() : undefined;
  if (options.mode === "native" && !serveOn) {
    throw new Error("native guard mode is not available in this Deno");
  }
  const listenOptions: Deno.TcpListenOptions & { reusePort?: boolean } = {
    hostname: listen.hostname,
    port: listen.port,
  };
  if (listen.reusePort) listenOptions.reusePort = true;
  const listener = Deno.listen(listenOptions);
  const onDrop = options.onDrop ?? (() => {});
  const core = new GuardCore(options, onDrop);
  const backend = serveOn ? new NativeBackend(serveOn, handler, core) : new ProxyBackend(handler, core);
  let closing = false;
  let backoff: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;

  const acceptLoop = (async () => {
    while (!closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        if (closing) break;
        // EMFILE and friends: do not spin; the connections waiting in the backlog stay there.
        await new Promise<void>((r) => {
          wake = r;
          backoff = setTimeout(r, 50);
        });
        continue;
      }
      if (closing) {
        closeQuietly(conn);
        break;
      }
      if (
        core.open >= options.maxConnections || core.open + core.tunnels >= (options.maxRelayed ?? Infinity)
      ) {
        onDrop("http_connection_cap");
        core.refuse(conn);
        continue;
      }
      backend.serve(conn);
    }
  })();

  let stopping: Promise<void> | undefined;
  let stopped!: () => void;
  const finished = new Promise<void>((r) => stopped = r);
  const shutdown = () =>
    stopping ??= (async () => {
      closing = true;
      clearTimeout(backoff);
      wake?.();
      closeQuietly(listener);
      await acceptLoop;
      await backend.shutdown();
      core.closeRefusing();
      await core.refusalsDone();
      core.dispose();
      stopped();
    })();

  return {
    addr: listener.addr as Deno.NetAddr,
    mode: options.mode,
    get connections() {
      return core.open;
    },
    get tunnels() {
      return core.tunnels;
    },
    shutdown,
    finished,
  };
}
