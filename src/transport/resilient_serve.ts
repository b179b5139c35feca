/**
 * `Deno.serve` that survives running out of file descriptors. When `accept` fails with EMFILE,
 * Deno 2.9.6 ends the serve loop and rejects `server.finished`; nobody awaits it, so the
 * rejection is unhandled and the whole process exits ("Uncaught (in promise) Http: Error: Too
 * many open files", measured with `ulimit -n 64` and 40 idle TCP connections). Connections
 * already accepted (and upgraded WebSockets) keep working after that; only the listener is gone.
 * This wrapper handles the rejection and listens again on the same port after a pause, until
 * `shutdown`.
 *
 * @example
 * ```ts
 * const server = serveResilient({ hostname: "0.0.0.0", port: 8089 }, handler, (m) => log.error(m));
 * await server.shutdown();
 * ```
 * @module
 */

/** Where to listen (`Deno.serve` TCP options). */
export interface ResilientListen {
  hostname: string;
  port: number;
  reusePort?: boolean;
}

/** A `Deno.serve` listener that comes back after its serve loop failed. */
export interface ResilientServer {
  /** The bound address (the port stays the same across restarts). */
  readonly addr: Deno.NetAddr;
  /** Times the serve loop failed and was started again. */
  readonly restarts: number;
  shutdown(): Promise<void>;
}

/** Pause before listening again (ms): the descriptors that ran out must be released first. */
export const RELISTEN_DELAY_MS = 1000;

type Handler = (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>;

/** Serve `handler` on `listen`; `report` is told of every failure and restart. */
export function serveResilient(
  listen: ResilientListen,
  handler: Handler,
  report: (message: string) => void = () => {},
): ResilientServer {
  let stopped = false;
  let restarts = 0;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const start = (port: number): Deno.HttpServer<Deno.NetAddr> | undefined => {
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve(
        { hostname: listen.hostname, port, reusePort: listen.reusePort, onListen: () => {} },
        handler,
      );
    } catch (error) {
      if (port === listen.port && restarts === 0) throw error; // the first bind: a real start-up error
      report(`listener ${listen.hostname}:${port} could not listen again (${error}); retrying`);
      schedule(port);
      return undefined;
    }
    server.finished.catch((error) => {
      if (stopped) return;
      report(
        `listener ${listen.hostname}:${port} failed (${error}); listening again in ${RELISTEN_DELAY_MS} ms`,
      );
      if (current === server) current = undefined;
      schedule(server.addr.port);
    });
    return server;
  };
  const schedule = (port: number) => {
    if (stopped) return;
    retry = setTimeout(() => {
      retry = undefined;
      if (stopped) return;
      restarts++;
      current = start(port) ?? current;
    }, RELISTEN_DELAY_MS);
  };
  let current = start(listen.port);
  const addr = current!.addr;
  return {
    addr,
    get restarts() {
      return restarts;
    },
    async shutdown() {
      stopped = true;
      clearTimeout(retry);
      await current?.shutdown();
    },
  };
}
