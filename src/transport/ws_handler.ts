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
import { Connection } from "../session/connection.ts";
import type { Lifecycle } from "../session/lifecycle.ts";
import type { InboxEntry } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import type { IdGenerator } from "../util/ids.ts";
import type { Admission } from "./admission.ts";
import { FrameQueue } from "./frame_queue.ts";
import type { RateLimiter } from "./rate_limit.ts";

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
  return (req, info) => {
    const path = new URL(req.url).pathname;
    if (!WS_PATHS.has(path)) return new Response("404 page not found\n", { status: 404 });
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("426 upgrade to websocket required\n", {
        status: 426,
        headers: { upgrade: "websocket" },
      });
    }
    const ip = (info.remoteAddr as Deno.NetAddr).hostname ?? "";
    if (d.draining()) return new Response("503 draining\n", { status: 503, headers: { "retry-after": "1" } });
    const refused = d.admission.check(req, ip);
    if (refused) return refused;
    const idleTimeout = d.config.heartbeat.idleTimeout;
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(req, idleTimeout > 0 ? { idleTimeout } : {});
    } catch (error) {
      // A handshake without Connection/Sec-WebSocket-Key (or with a bad version) is the client's mistake.
      return jsonError(
        400,
        Code.ParameterIllegal,
        `not a valid WebSocket handshake: ${(error as Error).message}`,
      );
    }
    accept(d, upgraded.socket, ip);
    return upgraded.response;
  };
}

function accept(d: WsDeps, socket: WebSocket, ip: string): void {
  const { config, counters, lifecycle } = d;
  const conn: Connection = new Connection({
    id: d.ids.connId(),
    socket,
    ip,
    now: d.clock.now(),
    maxBuffered: config.im.sendBufferBytes,
    delivery: {
      pageSize: config.inbox.syncPageSize,
      stallTimeoutMs: config.im.sendStallTimeout * 1000,
      clock: d.clock,
      pushes: d.pushes,
      onError: (error) =>
        d.log.warning("replay of {connId} failed: {error}", { connId: conn.id, error: String(error) }),
      onConflict: d.onConflict &&
        ((entry) => conn.identity && d.onConflict!(conn.identity.appId, conn.identity.userId, entry)),
    },
    abort: () => {
      if (abortSocket(socket)) counters.closeAborts.inc();
    },
    closeGraceMs: config.heartbeat.closeGrace * 1000,
    onSlow: () => {
      counters.slowConsumers.inc();
      // A peer that does not read never completes the close handshake: forget it now (presence,
      // deliveries) instead of when the socket is aborted after heartbeat.closeGrace.
      lifecycle.unregister(conn).catch(() => {});
    },
  });
  d.admission.track(ip);
  const maxFrame = config.im.maxFrameBytes;
  const bucket = d.rate.bucket();
  const queue = new FrameQueue(
    config.limits.maxQueuedFrames,
    config.limits.maxQueuedBytes,
    (text) => d.router.dispatch(conn, text),
  );
  socket.onopen = () => {
    counters.connections.inc();
    d.log.info("connect {connId} {ip}", { connId: conn.id, ip });
    lifecycle.register(conn).catch(() => conn.close(CloseCode.GoingAway, "server shutting down"));
  };
  socket.onmessage = (event) => {
    const data = event.data;
    if (typeof data !== "string") {
      counters.drops.inc({ reason: "binary" });
      conn.send(encodeError("", "", Code.ParameterIllegal, "binary frames are not supported"));
      conn.close(CloseCode.UnsupportedData, "binary frame", "binary frames are not supported");
      return;
    }
    // length counts UTF-16 units: ≤ bytes ≤ 3 × length, so only near the cap do we count bytes.
    if (data.length > maxFrame || (data.length * 3 > maxFrame && utf8Bytes(data) > maxFrame)) {
      counters.drops.inc({ reason: "frame_too_large" });
      conn.send(encodeError("", "", Code.FrameTooLarge, `frame over ${maxFrame} bytes`));
      conn.close(CloseCode.MessageTooBig, "frame too large", `frame over ${maxFrame} bytes`);
      return;
    }
    const verdict = d.rate.take(bucket);
    if (!verdict.ok) return refuse(d, conn, data, "rate_limited", verdict.retryMs, verdict.close);
    if (!queue.push(data)) {
      const strike = d.rate.strike(bucket, 100);
      if (!strike.ok) refuse(d, conn, data, "queue_full", strike.retryMs, strike.close);
    }
  };
  socket.onerror = () => {};
  socket.onclose = (event) => {
    conn.ended();
    d.admission.untrack(ip);
    const reason = conn.closeReason ?? "client closed";
    counters.closes.inc({ reason });
    d.log.info("disconnect {connId} {userId} {code} {reason}", {
      connId: conn.id,
      userId: conn.identity?.userId,
      code: event.code,
      reason,
    });
    lifecycle.unregister(conn).catch(() => {});
  };
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
