/**
 * The parts of the connection guard both backends share: options and result types, the counters and
 * the 503 refusals beyond the cap ({@linkcode GuardCore}), and small socket helpers. The guard as a
 * whole is described in guard/serve.ts.
 *
 * @example
 * ```ts
 * const core = new GuardCore(options, onDrop);
 * if (core.open >= options.maxConnections) core.refuse(conn);
 * ```
 * @module
 */
import { Code } from "../../protocol/codes.ts";

/** Why the guard closed or refused a connection (the `reason` label of `im_drops_total`). */
export type GuardDropReason =
  | "http_header_timeout"
  | "http_idle_timeout"
  | "http_body_timeout"
  | "http_connection_cap"
  | "http_head_too_large";

/** How the guard serves the connections it accepts (see the module doc). */
export type GuardMode = "native" | "proxy";

/** Options of {@linkcode serveGuarded}. */
export interface GuardOptions {
  mode: GuardMode;
  /** A complete request head must arrive this soon after connecting (ms; 0 = no limit). */
  headerTimeoutMs: number;
  /** The next head must be complete this soon after the last response (ms; 0 = no limit). */
  idleTimeoutMs: number;
  /** HTTP connections held at once; upgraded (tunnel) connections are not counted. */
  maxConnections: number;
  /**
   * Proxy mode: connections relayed at once, tunnels included. Each costs three descriptors
   * (client, relay → inner listener, inner side), so this keeps the process under its fd limit
   * (see `relayCapacity` in guard/proxy.ts). Default: no limit.
   */
  maxRelayed?: number;
  /**
   * Proxy mode: a request body must be through this soon after its head (ms; 0 = no limit).
   * The relay applies it one second later than the value, as a backstop behind the handler's
   * own deadline (`readParams`), which answers 408. Native mode needs no backstop: a body the
   * handler leaves unread falls under the idle deadline once the reply is sent.
   */
  bodyTimeoutMs?: number;
  /** Largest request head in proxy mode (bytes, default 64 KiB). */
  maxHeadBytes?: number;
  /** Told of every connection the guard closes or refuses (a metrics hook). */
  onDrop?: (reason: GuardDropReason) => void;
  /** Told when a listener fails and comes back (a log hook). */
  report?: (message: string) => void;
}

/** Where to listen. */
export interface GuardListen {
  hostname: string;
  port: number;
  /** SO_REUSEPORT; needs `--unstable-net` with `Deno.listen`. */
  reusePort?: boolean;
}

/** A running guarded listener; `shutdown` is shaped like `Deno.HttpServer`'s. */
export interface GuardedServer {
  readonly addr: Deno.NetAddr;
  readonly mode: GuardMode;
  /** HTTP connections held now (counted against the cap). */
  readonly connections: number;
  /** Upgraded connections relayed now (proxy mode). */
  readonly tunnels: number;
  /** Stop accepting, let requests in flight finish (bounded), close everything. */
  shutdown(): Promise<void>;
  /** Resolves when the listener and every connection are closed. */
  readonly finished: Promise<void>;
}

/** The request handler the guard serves. */
export type Handler = (
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** Refusals writing their 503 at once; beyond this a refused connection is closed without a reply. */
export const MAX_REFUSING = 64;
/** How long a refused connection may take to read its 503 (ms). */
const REFUSE_LINGER_MS = 1000;
/** How long shutdown lets requests in flight and tunnels finish before closing them (ms). */
export const SHUTDOWN_GRACE_MS = 2000;
/** Relay buffer per direction (proxy mode). */
export const RELAY_BUFFER = 16 * 1024;
/**
 * After a reply that says `connection: close` (or the server's end of a relay), how long the
 * client may take to read it before the socket is closed (ms). Closing at once could reset the
 * connection while the reply is still unread, and Deno's server would otherwise keep reading an
 * unfinished body (a 408's) until the client stops sending.
 */
export const CLOSE_LINGER_MS = 250;

/** The reply ends the connection (`connection: close`). */
export const saysClose = (res: Response) => /\bclose\b/i.test(res.headers.get("connection") ?? "");

const CAP_BODY = JSON.stringify({
  code: Code.TooManyConnections,
  msg: "too many HTTP connections",
  data: { retryMs: 1000 },
});
const CAP_RESPONSE = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\n" +
    `content-length: ${CAP_BODY.length}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${CAP_BODY}`,
);

export const closeQuietly = (c: { close(): void }) => {
  try {
    c.close();
  } catch {
    // already closed
  }
};

/** Write every byte of `bytes`. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

export const defaultOnError = (error: unknown) => {
  console.error("guarded handler failed:", error);
  return new Response("Internal Server Error", { status: 500 });
};

/** Counters and refusals shared by both backends, and the abort filter (see {@linkcode GuardCore.abort}). */
export class GuardCore {
  open = 0;
  tunnels = 0;
  readonly options: GuardOptions;
  readonly onDrop: (reason: GuardDropReason) => void;
  readonly #refusing = new Set<Deno.Conn>();
  readonly #refusals = new Set<Promise<void>>();
  #aborting = 0;
  readonly #filter = (event: ErrorEvent) => {
    if (this.#aborting > 0 && event.error instanceof Deno.errors.BadResource) event.preventDefault();
  };

  constructor(options: GuardOptions, onDrop: (reason: GuardDropReason) => void) {
    this.options = options;
    this.onDrop = onDrop;
    globalThis.addEventListener("error", this.#filter);
  }

  /**
   * Abort a per-connection server. Deno's abort listener calls `op_http_cancel` on the server's
   * resource, which throws BadResource when the connection ended a moment earlier (its close is in
   * flight); thrown inside an event listener, that is reported as an uncaught error and ends the
   * process (seen when 1000 keep-alive connections closed just before a shutdown). Only that error,
   * and only while this guard is aborting, is swallowed.
   */
  abort(abort: AbortController): void {
    if (abort.signal.aborted) return;
    this.#aborting++;
    try {
      abort.abort();
    } finally {
      this.#aborting--;
    }
  }

  /** Remove the abort filter (the guard has shut down). */
  dispose(): void {
    globalThis.removeEventListener("error", this.#filter);
  }

  /** Write the 503, half-close, drain what the client sent (bounded), close. */
  refuse(conn: Deno.Conn): void {
    if (this.#refusing.size >= MAX_REFUSING) {
      closeQuietly(conn);
      return;
    }
    this.#refusing.add(conn);
    const done = (async () => {
      const timer = setTimeout(() => closeQuietly(conn), REFUSE_LINGER_MS);
      try {
        await writeAll(conn, CAP_RESPONSE);
        await conn.closeWrite();
        // Closing with unread request bytes would send RST and could destroy the 503 in flight.
        const buf = new Uint8Array(4096);
        for (let total = 0; total < 64 * 1024;) {
          const n = await conn.read(buf);
          if (n === null) break;
          total += n;
        }
      } catch {
        // closed by the linger timer or the peer
      } finally {
        clearTimeout(timer);
        closeQuietly(conn);
        this.#refusing.delete(conn);
      }
    })();
    this.#refusals.add(done);
    done.finally(() => this.#refusals.delete(done));
  }

  closeRefusing(): void {
    for (const c of this.#refusing) closeQuietly(c);
  }

  async refusalsDone(): Promise<void> {
    await Promise.all(this.#refusals);
  }
}
