/**
 * Native guard backend: each accepted connection is served by Deno's own HTTP server for a single
 * connection (the internal `serveHttpOnConnection` that `Deno.serve` is built on) with an
 * `AbortSignal` that the deadlines fire — no byte passes through JavaScript. A WebSocket upgraded on
 * such a connection is closed when its per-connection server ends, so only listeners that never
 * upgrade use it.
 *
 * @example
 * ```ts
 * if (nativeGuardAvailable()) new NativeBackend(serveOnConnection()!, handler, core).serve(conn);
 * ```
 * @module
 */
import {
  CLOSE_LINGER_MS,
  closeQuietly,
  defaultOnError,
  type GuardCore,
  type GuardDropReason,
  type Handler,
  saysClose,
  SHUTDOWN_GRACE_MS,
} from "./core.ts";

/** The internal single-connection server behind `Deno.serve` (Deno 2.x). */
export type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: Handler,
  onError: (error: unknown) => Response | Promise<Response>,
  onListen: (scheme: string) => void,
) => { finished: Promise<void>; shutdown(): Promise<void> };

/** The internal per-connection server, when this Deno has it. */
export function serveOnConnection(): ServeOnConnection | undefined {
  const internal = (Deno as unknown as { internal?: symbol }).internal;
  const internals = internal === undefined
    ? undefined
    : (Deno as unknown as Record<symbol, Record<string, unknown>>)[internal];
  const fn = internals?.serveHttpOnConnection;
  return typeof fn === "function" && fn.length === 5 ? fn as ServeOnConnection : undefined;
}

/** True when this Deno has the internal single-connection server that native mode needs. */
export function nativeGuardAvailable(): boolean {
  return serveOnConnection() !== undefined;
}

interface NativeConn {
  abort: AbortController;
  server: { finished: Promise<void>; shutdown(): Promise<void> } | undefined;
  /** One lazy timer: requests only move `deadline`; the timer re-arms itself when it fires early. */
  timer: ReturnType<typeof setTimeout> | undefined;
  timerAt: number;
  /** When the connection expires (performance.now() ms; Infinity while a request is in flight). */
  deadline: number;
  reason: GuardDropReason;
  /** Pending close after a `connection: close` reply. */
  linger: ReturnType<typeof setTimeout> | undefined;
  inflight: number;
  closed: boolean;
}

/** Each connection served by its own internal Deno HTTP server; deadlines abort it. */
export class NativeBackend {
  readonly #serveOn: ServeOnConnection;
  readonly #handler: Handler;
  readonly #core: GuardCore;
  readonly #conns = new Set<NativeConn>();
  readonly #finished = new Set<Promise<void>>();

  constructor(serveOn: ServeOnConnection, handler: Handler, core: GuardCore) {
    this.#serveOn = serveOn;
    this.#handler = handler;
    this.#core = core;
  }

  serve(conn: Deno.Conn): void {
    const core = this.#core;
    const { headerTimeoutMs, idleTimeoutMs } = core.options;
    const c: NativeConn = {
      abort: new AbortController(),
      server: undefined,
      timer: undefined,
      timerAt: Infinity,
      deadline: headerTimeoutMs > 0 ? performance.now() + headerTimeoutMs : Infinity,
      reason: "http_header_timeout",
      linger: undefined,
      inflight: 0,
      closed: false,
    };
    const arm = (at: number) => {
      clearTimeout(c.timer);
      c.timerAt = at;
      c.timer = setTimeout(check, Math.max(0, at - performance.now()));
    };
    const check = () => {
      c.timer = undefined;
      c.timerAt = Infinity;
      if (c.closed || c.inflight > 0 || c.deadline === Infinity) return; // re-armed by settled()
      if (c.deadline > performance.now()) return arm(c.deadline);
      core.onDrop(c.reason);
      this.#core.abort(c.abort);
    };
    if (c.deadline !== Infinity) arm(c.deadline);
    const settled = () => {
      if (--c.inflight > 0 || c.closed || idleTimeoutMs <= 0) return;
      c.deadline = performance.now() + idleTimeoutMs;
      c.reason = "http_idle_timeout";
      // Usually a timer is pending already and fires no later than this deadline.
      if (c.timerAt > c.deadline) arm(c.deadline);
    };
    // Deno keeps reading an unfinished body after a `connection: close` reply (a 408): close it.
    const endAfter = (completed: Promise<void>) => {
      const end = () => {
        if (!c.closed && c.linger === undefined) {
          c.linger = setTimeout(() => this.#core.abort(c.abort), CLOSE_LINGER_MS);
        }
      };
      completed.then(end, end);
    };
    // The idle deadline starts when the reply is handed to Deno, not when it is sent: waiting
    // for `info.completed` costs ~5 µs per request (measured), and this way a reply must also be
    // delivered within idleTimeout, which bounds a client that never reads it.
    const handler: Handler = (req, info) => {
      c.deadline = Infinity;
      c.inflight++;
      const replied = (r: Response) => {
        settled();
        if (saysClose(r)) endAfter(info.completed);
        return r;
      };
      let res: Response | Promise<Response>;
      try {
        res = this.#handler(req, info);
      } catch (error) {
        settled();
        throw error;
      }
      return res instanceof Promise
        ? res.then(replied, (error) => {
          settled();
          throw error;
        })
        : replied(res);
    };
    try {
      c.server = this.#serveOn(conn, c.abort.signal, handler, defaultOnError, () => {});
    } catch {
      clearTimeout(c.timer);
      closeQuietly(conn);
      return;
    }
    core.open++;
    this.#conns.add(c);
    const finished = c.server.finished.catch(() => {}).finally(() => {
      c.closed = true;
      clearTimeout(c.timer);
      clearTimeout(c.linger);
      c.timer = c.linger = undefined;
      core.open--;
      this.#conns.delete(c);
      this.#finished.delete(finished);
    });
    this.#finished.add(finished);
  }

  /** Idle connections close now; those with a request in flight get a grace period. */
  async shutdown(): Promise<void> {
    for (const c of this.#conns) {
      if (c.inflight === 0) this.#core.abort(c.abort);
      else c.server?.shutdown().catch(() => {});
    }
    let grace: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#finished),
      new Promise<void>((r) => grace = setTimeout(r, SHUTDOWN_GRACE_MS)),
    ]);
    clearTimeout(grace);
    for (const c of this.#conns) this.#core.abort(c.abort);
    await Promise.all(this.#finished);
  }
}
