/**
 * The WebSocket edge: upgrades `/im` and `/acc`, feeds text frames to the router and
 * turns socket events into manager events. Everything protocol-level lives elsewhere.
 *
 * @example
 * ```ts
 * Deno.serve({ port: 8089 }, createWsHandler(ctx, router));
 * ```
 * @module
 */
import { Client } from "./client.ts";
import type { ServerContext } from "./context.ts";
import { CloseCode, Code, encodeReply } from "./protocol.ts";
import type { Router } from "./router.ts";
import { utf8Bytes } from "./validate.ts";

/** Paths upgraded to WebSocket (PROTOCOL.md A.1). */
export const WS_PATHS: ReadonlySet<string> = new Set(["/im", "/acc"]);

/** A check run before upgrading; returns a Response to refuse the connection. */
export type AdmissionCheck = (req: Request, ip: string) => Response | undefined;

/** Build the fetch handler for the WebSocket port. */
export function createWsHandler(
  ctx: ServerContext,
  router: Router,
  admission: AdmissionCheck[] = [],
): (req: Request, info: Deno.ServeHandlerInfo) => Response {
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
    if (ctx.draining) return new Response("503 draining\n", { status: 503, headers: { "retry-after": "1" } });
    for (const check of admission) {
      const refused = check(req, ip);
      if (refused) return refused;
    }
    const idleTimeout = ctx.config.heartbeat.idleTimeout;
    const { socket, response } = Deno.upgradeWebSocket(req, idleTimeout > 0 ? { idleTimeout } : {});
    accept(ctx, router, socket, ip);
    return response;
  };
}

function accept(ctx: ServerContext, router: Router, socket: WebSocket, ip: string): void {
  const { config, counters } = ctx;
  const client = new Client(ctx.ids.connId(), socket, ip, ctx.clock.now(), config.im.sendBufferBytes);
  client.onSlow = () => {
    counters.slowConsumers.inc();
    // A peer that does not read never completes the close handshake, and Deno cannot abort the
    // socket: forget it now (presence, deliveries) instead of when onclose finally fires.
    ctx.manager.unregister(client).catch(() => {});
  };
  ctx.limits?.track(client);
  const maxFrame = config.im.maxFrameBytes;
  // Frames of one connection are handled one at a time, in arrival order, as the Go servers'
  // read loop did: a login pipelined with the next command completes before that command runs,
  // and replies come back in request order. dispatch() never rejects, so the chain never breaks.
  let inbound: Promise<unknown> = Promise.resolve();
  socket.onopen = () => {
    counters.connections.inc();
    ctx.log.info("connect {connId} {ip}", { connId: client.id, ip });
    ctx.manager.register(client).catch(() => client.close(CloseCode.GoingAway, "server shutting down"));
  };
  socket.onmessage = (event) => {
    const data = event.data;
    if (typeof data !== "string") {
      counters.drops.inc({ reason: "binary" });
      client.send(encodeReply("", "", Code.ParameterIllegal, { error: "binary frames are not supported" }));
      client.close(CloseCode.UnsupportedData, "binary frames are not supported");
      return;
    }
    // length counts UTF-16 units: ≤ bytes ≤ 3 × length, so only near the cap do we count bytes.
    if (
      data.length > maxFrame ||
      (data.length * 3 > maxFrame && utf8Bytes(data) > maxFrame)
    ) {
      counters.drops.inc({ reason: "frame_too_large" });
      client.send(encodeReply("", "", Code.FrameTooLarge, { error: `frame over ${maxFrame} bytes` }));
      client.close(CloseCode.MessageTooBig, `frame over ${maxFrame} bytes`);
      return;
    }
    const verdict = ctx.limits?.frame(client);
    if (verdict && !verdict.ok) {
      rateLimited(ctx, client, data, verdict.retryMs, verdict.close);
      return;
    }
    inbound = inbound.then(() => router.dispatch(ctx, client, data)).then((reply) =>
      reply && client.send(reply)
    );
  };
  socket.onerror = () => {};
  socket.onclose = (event) => {
    ctx.limits?.untrack(client);
    const reason = client.closeReason ?? "client closed";
    counters.closes.inc({ reason });
    ctx.log.info("disconnect {connId} {userId} {code} {reason}", {
      connId: client.id,
      userId: client.identity?.userId,
      code: event.code,
      reason,
    });
    ctx.manager.unregister(client).catch(() => {});
  };
}

/** Over the token bucket: reply 1012 with a retry hint (echoing seq/cmd when cheap); abuse closes 4003. */
function rateLimited(
  ctx: ServerContext,
  client: Client,
  text: string,
  retryMs: number,
  abuse: boolean,
): void {
  ctx.counters.drops.inc({ reason: "rate_limited" });
  ctx.counters.errors.inc({ code: String(Code.RateLimited) });
  let seq = "", cmd = "";
  try {
    const req = JSON.parse(text);
    if (typeof req?.seq === "string") seq = req.seq;
    if (typeof req?.cmd === "string") cmd = req.cmd.slice(0, 64);
  } catch {
    // not JSON: reply without seq
  }
  client.send(encodeReply(seq, cmd, Code.RateLimited, { error: "rate limited", retryMs }));
  if (abuse) {
    const hint = retryMs + Math.floor(Math.random() * 1000);
    client.close(CloseCode.RateLimited, `rate limit exceeded repeatedly; retry in ${hint} ms`);
  }
}
