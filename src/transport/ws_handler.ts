/**
 * The WebSocket edge (the only place that knows Deno's WebSocket): upgrades `/im` and `/acc`, admits or
 * refuses, and turns socket events into lifecycle events and queued frames for the router. Frame-level
 * rules live here — binary frames (1001, close 1003), oversize frames (1011, close 1009), the token
 * bucket and the bounded inbound queue (1012, abuse closes 4003).
 *
 * @example
 * ```ts
 * Deno.serve({ port: 8089 }, createWsHandler(deps));
 * ```
 * @module
 */
import { abortSocket } from "./socket_abort.ts";
import type { Config } from "../config/load.ts";
import type { Router } from "../commands/router.ts";
import type { ServerCounters } from "../ops/counters.ts";
import type { Logger } from "../ops/log.ts";
import { CloseCode, Code } from "../protocol/codes.ts";
import { encodeError } from "../protocol/envelope.ts";
import type { Pushes } from "../protocol/pushes.ts";
import { utf8Bytes } from "../protocol/validate.ts";
import { Connection, type ConnectionPolicy, connectionPolicy } from "../session/connection.ts";
import type { Lifecycle } from "../session/lifecycle.ts";
import type { InboxEntry } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import type { IdGenerator } from "../util/ids.ts";
import type { Admission } from "./admission.ts";
import { type FrameLimits, FrameQueue } from "./frame_queue.ts";
import type { Bucket, RateLimiter } from "./rate_limit.ts";

/** Paths upgraded to WebSocket (PROTOCOL.md A.1). */
export const WS_PATHS: ReadonlySet<string> = new Set(["/im", "/acc"]);

/** What the WebSocket edge needs. */
export interface WsDeps {
  config: Pick<Config, "im" | "heartbeat" | "inbox" | "limits">;
  router: Router;
  lifecycle: Lifecycle;
  admission: Admission;
  rate: RateLimiter;
  ids: IdGenerator;
  clock: Clock;
  log: Logger;
  pushes: Pushes;
  counters: Pick<
    ServerCounters,
    "connections" | "drops" | "errors" | "closes" | "closeAborts" | "slowConsumers"
  >;
  draining: () => boolean;
  /** A delivery saw the store contradict itself (same seq, other msgId): it went back in time. */
  onConflict?: (appId: number, userId: string, entry: Pick<InboxEntry, "seq" | "msgId">) => void;
}

function jsonError(status: number, code: number, message: string, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify({ code, msg: message, data: null }), {
    status,
    headers: { ...headers, "content-type": "application/json; charset=utf-8" },
  });
}

/** Build the fetch handler for the WebSocket port. */
export function createWsHandler(d: WsDeps): (req: Request, info: Deno.ServeHandlerInfo) => Response {
  const shared = listenerState(d);
  return (req, info) => {
    const path = new URL(req.url).pathname;
    // JSON like the HTTP port's replies (Code 1010 for an unknown path there too).
    if (!WS_PATHS.has(path)) return jsonError(404, Code.RouteNotExist, "not found: WebSocket at /im or /acc");
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return jsonError(426, Code.ParameterIllegal, "upgrade to websocket required", { upgrade: "websocket" });
    }
    const ip = (info.remoteAddr as Deno.NetAddr).hostname ?? "";
    if (d.draining()) {
      return jsonError(503, Code.Unavailable, "draining: reconnect to another node", { "retry-after": "1" });
    }
    const refused = d.admission.check(req, ip);
    if (refused) return refused;
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(req, shared.upgradeOptions);
    } catch (error) {
      // A handshake without Connection/Sec-WebSocket-Key (or with a bad version) is the client's mistake.
      return jsonError(
        400,
        Code.ParameterIllegal,
        `not a valid WebSocket handshake: ${(error as Error).message}`,
      );
    }
    accept(shared, upgraded.socket, ip);
    return upgraded.response;
  };
}

/** What every connection of this listener shares, built once (not a copy or closure per connection). */
interface ListenerState {
  readonly d: WsDeps;
  readonly policy: ConnectionPolicy;
  readonly frameLimits: FrameLimits;
  readonly upgradeOptions: Deno.UpgradeWebSocketOptions;
}

function listenerState(d: WsDeps): ListenerState {
  const { config, counters, lifecycle } = d;
  const idleTimeout = config.heartbeat.idleTimeout;
  const policy = connectionPolicy({
    maxBuffered: config.im.sendBufferBytes,
    closeGraceMs: config.heartbeat.closeGrace * 1000,
    delivery: {
      pageSize: config.inbox.syncPageSize,
      stallTimeoutMs: config.im.sendStallTimeout * 1000,
      clock: d.clock,
      pushes: d.pushes,
      onError: (conn, error) =>
        d.log.warning("replay of {connId} failed: {error}", { connId: conn.id, error: String(error) }),
      onConflict: d.onConflict &&
        ((conn, entry) => conn.identity && d.onConflict!(conn.identity.appId, conn.identity.userId, entry)),
    },
    abort: (socket) => {
      if (abortSocket(socket)) counters.closeAborts.inc();
    },
    onSlow: (conn) => {
      counters.slowConsumers.inc();
      // A peer that does not read never completes the close handshake: forget it now (presence,
      // deliveries) instead of when the socket is aborted after heartbeat.closeGrace.
      lifecycle.unregister(conn).catch(() => {});
    },
  });
  return {
    d,
    policy,
    frameLimits: { maxFrames: config.limits.maxQueuedFrames, maxBytes: config.limits.maxQueuedBytes },
    // Always explicit: without the option Deno applies its own default (30 s), so 0 must be passed to mean off.
    upgradeOptions: { idleTimeout },
  };
}

function accept(shared: ListenerState, socket: WebSocket, ip: string): void {
  const { d } = shared;
  const conn = new Connection({ id: d.ids.connId(), socket, ip, now: d.clock.now(), policy: shared.policy });
  d.admission.track(ip);
  const events = new SocketEvents(shared, conn, new FrameQueue(shared.frameLimits, d.router, conn));
  // One listener object for the three events instead of an `on…` closure each: Deno keeps a wrapper
  // function, its context and an entry in a handler map per `on…` property, per socket. No "error"
  // listener: an error is always followed by "close" once the socket was open, and one before (the
  // upgrade failed) leaves nothing registered.
  socket.addEventListener("open", events);
  socket.addEventListener("message", events);
  socket.addEventListener("close", events);
}

/** One connection's socket events: frame-level rules, then the frame queue and the lifecycle. */
class SocketEvents implements EventListenerObject {
  readonly #shared: ListenerState;
  readonly #conn: Connection;
  readonly #queue: FrameQueue<Connection>;
  readonly #bucket: Bucket;

  constructor(shared: ListenerState, conn: Connection, queue: FrameQueue<Connection>) {
    this.#shared = shared;
    this.#conn = conn;
    this.#queue = queue;
    this.#bucket = shared.d.rate.bucket();
  }

  handleEvent(event: Event): void {
    if (event.type === "message") this.#message((event as MessageEvent).data);
    else if (event.type === "open") {
      // Fires once: drop its listener record rather than keep it for the life of the connection.
      event.target?.removeEventListener("open", this);
      this.#open();
    } else if (event.type === "close") this.#close(event as CloseEvent);
  }

  #open(): void {
    const { d } = this.#shared, conn = this.#conn;
    d.counters.connections.inc();
    d.log.info("connect {connId} {ip}", { connId: conn.id, ip: conn.ip });
    d.lifecycle.register(conn).catch(() => conn.close(CloseCode.GoingAway, "server shutting down"));
  }

  #message(data: unknown): void {
    const { d } = this.#shared, conn = this.#conn;
    if (typeof data !== "string") {
      d.counters.drops.inc({ reason: "binary" });
      conn.send(encodeError("", "", Code.ParameterIllegal, "binary frames are not supported"));
      conn.close(CloseCode.UnsupportedData, "binary frame", "binary frames are not supported");
      return;
    }
    const maxFrame = d.config.im.maxFrameBytes;
    // length counts UTF-16 units: ≤ bytes ≤ 3 × length, so only near the cap do we count bytes.
    if (data.length > maxFrame || (data.length * 3 > maxFrame && utf8Bytes(data) > maxFrame)) {
      d.counters.drops.inc({ reason: "frame_too_large" });
      conn.send(encodeError("", "", Code.FrameTooLarge, `frame over ${maxFrame} bytes`));
      conn.close(CloseCode.MessageTooBig, "frame too large", `frame over ${maxFrame} bytes`);
      return;
    }
    const verdict = d.rate.take(this.#bucket);
    if (!verdict.ok) return refuse(d, conn, data, "rate_limited", verdict.retryMs, verdict.close);
    if (!this.#queue.push(data)) {
      const strike = d.rate.strike(this.#bucket, 100);
      if (!strike.ok) refuse(d, conn, data, "queue_full", strike.retryMs, strike.close);
    }
  }

  #close(event: CloseEvent): void {
    const { d } = this.#shared, conn = this.#conn;
    // Once per connection (Deno may report one close twice): a second run would release the admission slot
    // and unregister again.
    if (!conn.ended()) return;
    d.admission.untrack(conn.ip);
    const reason = conn.closeReason ?? "client closed";
    d.counters.closes.inc({ reason });
    d.log.info("disconnect {connId} {userId} {code} {reason}", {
      connId: conn.id,
      // The lifecycle unbinds a connection it closes (kick, timeouts) before the socket reports the close.
      userId: conn.lastUserId,
      code: event.code,
      reason,
    });
    d.lifecycle.unregister(conn).catch(() => {});
  }
}

/**
 * A frame over the token bucket or the inbound queue bound: reply 1012 with a retry hint (echoing seq/cmd
 * when cheap); sustained abuse closes 4003.
 */
function refuse(
  d: WsDeps,
  conn: Connection,
  text: string,
  why: string,
  retryMs: number,
  abuse: boolean,
): void {
  d.counters.drops.inc({ reason: why });
  d.counters.errors.inc({ code: String(Code.RateLimited) });
  let seq = "", cmd = "";
  if (text.length < 4096) {
    try {
      const req = JSON.parse(text);
      if (typeof req?.seq === "string") seq = req.seq;
      if (typeof req?.cmd === "string") cmd = req.cmd.slice(0, 64);
    } catch {
      // not JSON: reply without seq
    }
  }
  const message = why === "queue_full" ? "too many requests in flight" : "rate limited";
  conn.send(encodeError(seq, cmd, Code.RateLimited, message, { retryMs }));
  if (abuse) {
    const hint = retryMs + Math.floor(Math.random() * 1000);
    d.lifecycle.close(
      conn,
      CloseCode.RateLimited,
      "rate limited",
      `rate limit exceeded repeatedly; retry in ${hint} ms`,
    );
  }
}
