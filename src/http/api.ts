/**
 * The HTTP API: the Go servers' endpoints (PROTOCOL.md A.6), `/api/v1` JSON equivalents,
 * health, readiness, metrics and the web client. Compat endpoints always answer HTTP 200
 * with `{code, msg, data}`; `/api/v1` uses the same body with a matching HTTP status.
 *
 * @example
 * ```ts
 * Deno.serve({ port: 8080 }, createHttpHandler(ctx));
 * ```
 * @module
 */
import type { ServerContext } from "../context.ts";
import { ImError } from "../errors.ts";
import { Code, codeMessage } from "../protocol.ts";
import { sendApp, sendDirect, sendRoom } from "../messaging.ts";
import { appIdField, intField, stringField, userIdField } from "../validate.ts";
import { BodyTimeoutError, readParams } from "./params.ts";
import { serveStatic } from "./static.ts";
import { metricsResponse } from "./metrics.ts";

type Params = Record<string, unknown>;
type Endpoint = (ctx: ServerContext, p: Params, req: Request, match: string[]) => unknown | Promise<unknown>;

/** Authorises an API call for an app (API keys); throws ImError(1003) to refuse. */
export type ApiAuthorizer = (req: Request, appId: number | undefined) => void;

interface Route {
  method: string;
  pattern: RegExp;
  endpoint: Endpoint;
  /** Compat endpoints answer HTTP 200 whatever the code. */
  compat: boolean;
}

const routes: Route[] = [];
const route = (method: string, path: string | RegExp, endpoint: Endpoint, compat = true) =>
  routes.push({
    method,
    pattern: typeof path === "string" ? new RegExp(`^${path}$`) : path,
    endpoint,
    compat,
  });

/** Build the fetch handler for the HTTP port. */
export function createHttpHandler(
  ctx: ServerContext,
  authorize: ApiAuthorizer = () => {},
): (req: Request) => Promise<Response> {
  return async (req) => {
    const url = new URL(req.url);
    const cors = corsHeaders(ctx.config.http.corsOrigin);
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
    const path = url.pathname;
    if (path === "/healthz") return json({ status: "ok" }, 200, cors);
    if (path === "/readyz") return await readyz(ctx, cors);
    if (path === "/metrics" && (req.method === "GET" || req.method === "HEAD")) {
      // Node-wide data: when API keys are configured, only an unrestricted key may scrape.
      try {
        authorize(req, undefined);
      } catch (error) {
        if (!(error instanceof ImError)) throw error;
        return json(envelope(error.code, null, error.message), httpStatus(error.code), cors);
      }
      return metricsResponse(ctx, req.method);
    }
    if (req.method === "GET" || req.method === "HEAD") {
      const page = await serveStatic(path, ctx);
      if (page) return page;
    }
    const matched = routes.find((r) => r.pattern.test(path));
    if (!matched) return json(envelope(Code.RouteNotExist, null, "not found"), 404, cors);
    const method = req.method === "HEAD" ? "GET" : req.method;
    if (matched.method !== method && !(matched.compat && (method === "GET" || method === "POST"))) {
      return json(envelope(Code.ParameterIllegal, null, `use ${matched.method}`), 405, cors);
    }
    ctx.counters.http.inc({ path: matched.pattern.source });
    try {
      const params = await readParams(req, ctx.config.http.maxBodyBytes, ctx.config.http.bodyTimeout * 1000);
      authorize(req, appIdField(params, "appId", true));
      const data = await matched.endpoint(ctx, params, req, path.match(matched.pattern)!.slice(1));
      return json(envelope(Code.Success, data ?? null), 200, cors);
    } catch (error) {
      if (error instanceof BodyTimeoutError) return error.response(cors); // http-guard: 408, connection closed
      const e = error instanceof ImError ? error : new ImError(Code.ServerError, "internal error");
      if (!(error instanceof ImError)) {
        ctx.log.error("http {path} failed: {error}", { path, error: String(error) });
      }
      ctx.counters.errors.inc({ code: String(e.code) });
      return json(
        envelope(e.code, e.options.data ?? null, e.message),
        matched.compat ? 200 : httpStatus(e.code),
        cors,
      );
    }
  };
}

/** Ready: listeners up (we are answering), not draining, and the readiness hook (Redis) agrees. */
async function readyz(ctx: ServerContext, cors: Record<string, string>): Promise<Response> {
  if (ctx.draining) return json({ status: "draining" }, 503, cors);
  let reason: string | undefined;
  try {
    reason = await ctx.readiness?.();
  } catch (error) {
    reason = String(error);
  }
  return reason === undefined
    ? json({ status: "ready" }, 200, cors)
    : json({ status: "unready", reason }, 503, cors);
}

function envelope(code: number, data: unknown, msg?: string) {
  return { code, msg: msg ?? codeMessage(code), data };
}

function json(body: unknown, status: number, headers: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...headers, "content-type": "application/json; charset=utf-8" },
  });
}

function corsHeaders(origin: string): Record<string, string> {
  if (!origin) return {};
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": "authorization, content-type",
  };
}

function httpStatus(code: number): number {
  switch (code) {
    case Code.Unauthorized:
      return 401;
    case Code.CrossApp:
      return 403;
    case Code.RoomNotFound:
    case Code.NoData:
      return 404;
    case Code.RateLimited:
      return 429;
    case Code.ServerError:
      return 500;
    case Code.Unavailable:
      return 503;
    default:
      return 400;
  }
}

/** appId from params; refused unless in the allow-list (when one is set). */
function appOf(ctx: ServerContext, p: Params): number {
  const appId = appIdField(p, "appId")!;
  const allowed = ctx.config.im.appIds;
  if (allowed.length > 0 && !allowed.includes(appId)) {
    throw new ImError(Code.Unauthorized, `appId ${appId} not allowed`);
  }
  return appId;
}

const windowMs = (ctx: ServerContext) => ctx.config.heartbeat.onlineWindow * 1000;
const dedupKey = (appId: number, msgId: string | undefined) =>
  msgId ? `mid\u0000${appId}\u0000${msgId}` : undefined;

function body(ctx: ServerContext, p: Params, name: string): string {
  return stringField(p, name, ctx.config.im.maxMessageBytes, {
    allowEmpty: true,
    tooLongCode: Code.MessageTooLarge,
  })!;
}

async function listUsers(ctx: ServerContext, p: Params) {
  const appId = appIdField(p, "appId", true) ?? 0;
  const apps = appId !== 0
    ? [appId]
    : ctx.config.im.appIds.length
    ? ctx.config.im.appIds
    : ctx.manager.appIds();
  const users = new Set<string>();
  for (const app of apps) for (const u of await ctx.store.onlineUsers(app, windowMs(ctx))) users.add(u);
  return { userCount: users.size, userList: [...users] };
}

route("GET", "/user/list", listUsers);

route("GET", "/user/online", async (ctx, p) => {
  const userId = userIdField(p, "userId", ctx.config.im.maxUserIdBytes);
  const appId = appIdField(p, "appId", true) ?? 0;
  const online = appId === 0
    ? (await ctx.store.userApps(userId, windowMs(ctx))).length > 0
    : (await ctx.store.presence(appId, userId, windowMs(ctx))).length > 0;
  return { userId, online };
});

route("POST", "/user/sendMessage", async (ctx, p) => {
  const appId = appOf(ctx, p);
  const to = userIdField(p, "userId", ctx.config.im.maxUserIdBytes);
  const message = body(ctx, p, "message");
  const from = p.from === undefined ? "" : userIdField(p, "from", ctx.config.im.maxUserIdBytes);
  const msgId = stringField(p, "msgId", 128, { optional: true });
  const type = stringField(p, "type", ctx.config.im.maxTypeBytes, { optional: true });
  const r = await sendDirect(ctx, { appId, from, to, msg: message, type, dedupKey: dedupKey(appId, msgId) });
  return { sendResults: r.duplicate ? true : r.delivered, stored: true, ...r };
});

route("POST", "/user/sendMessageAll", async (ctx, p) => {
  const appId = appOf(ctx, p);
  const from = userIdField(p, "userId", ctx.config.im.maxUserIdBytes);
  const message = body(ctx, p, "message");
  const msgId = stringField(p, "msgId", 128, { optional: true });
  const type = stringField(p, "type", ctx.config.im.maxTypeBytes, { optional: true });
  const r = await sendApp(ctx, { appId, from, msg: message, type, dedupKey: dedupKey(appId, msgId) });
  return { sendResults: true, ...r };
});

route("GET", "/system/state", (ctx, p) => {
  const state: Record<string, unknown> = {
    nodeId: ctx.nodeId,
    mode: ctx.config.cluster.enabled ? "cluster" : "embedded",
    store: ctx.store.kind,
    uptimeSeconds: Math.round((ctx.clock.now() - ctx.startedAt) / 1000),
    connections: ctx.manager.clients.size,
    loggedIn: ctx.manager.loggedInCount,
    users: ctx.manager.userCount,
    eventQueueLength: ctx.manager.queueLength,
    draining: ctx.draining,
    denoVersion: Deno.version.deno,
  };
  if (p.isDebug === "true" || p.isDebug === true || p.isDebug === "1") {
    state.memory = Deno.memoryUsage();
    state.commands = ctx.metrics.render().split("\n").filter((l) => l.startsWith("im_frames_in_total"));
  }
  return state;
});

route("GET", "/api/v1/users", listUsers, false);

route("GET", /^\/api\/v1\/users\/([^/]+)$/, async (ctx, p, _req, [userId]) => {
  const appId = appOf(ctx, p);
  const id = userIdField({ userId: decodeURIComponent(userId) }, "userId", ctx.config.im.maxUserIdBytes);
  const conns = await ctx.store.presence(appId, id, windowMs(ctx));
  return { userId: id, appId, online: conns.length > 0, connections: conns };
}, false);

route("POST", "/api/v1/messages", async (ctx, p) => {
  const appId = appOf(ctx, p);
  const to = userIdField(p, "to", ctx.config.im.maxUserIdBytes, Code.RecipientUnknown);
  const from = p.from === undefined ? "" : userIdField(p, "from", ctx.config.im.maxUserIdBytes);
  const msgId = stringField(p, "msgId", 128, { optional: true });
  const type = stringField(p, "type", ctx.config.im.maxTypeBytes, { optional: true });
  return await sendDirect(ctx, {
    appId,
    from,
    to,
    msg: body(ctx, p, "msg"),
    type,
    dedupKey: dedupKey(appId, msgId),
  });
}, false);

route("POST", /^\/api\/v1\/rooms\/([^/]+)\/messages$/, async (ctx, p, _req, [room]) => {
  const appId = appOf(ctx, p);
  const from = p.from === undefined ? "" : userIdField(p, "from", ctx.config.im.maxUserIdBytes);
  const msgId = stringField(p, "msgId", 128, { optional: true });
  const type = stringField(p, "type", ctx.config.im.maxTypeBytes, { optional: true });
  return await sendRoom(ctx, {
    appId,
    from,
    room: roomName(ctx, room),
    msg: body(ctx, p, "msg"),
    type,
    requireMember: false,
    dedupKey: dedupKey(appId, msgId),
  });
}, false);

route("GET", /^\/api\/v1\/rooms\/([^/]+)\/members$/, async (ctx, p, _req, [room]) => {
  const appId = appOf(ctx, p);
  const members = await ctx.store.roomMembers(appId, roomName(ctx, room));
  if (members.length === 0) throw new ImError(Code.RoomNotFound, "room not found");
  return { room: decodeURIComponent(room), members };
}, false);

route("GET", "/api/v1/inbox", async (ctx, p) => {
  const appId = appOf(ctx, p);
  const userId = userIdField(p, "userId", ctx.config.im.maxUserIdBytes);
  const since = intField(p, "since", { optional: true }) ?? 0;
  const limit = intField(p, "limit", { optional: true, max: ctx.config.im.historyMaxLimit }) ?? 50;
  const maxAgeMs = ctx.config.inbox.maxAge * 1000;
  const head = await ctx.store.head(appId, userId, maxAgeMs);
  const entries = await ctx.store.range(appId, userId, since, limit, maxAgeMs);
  return { userId, appId, inboxSeq: head.lastSeq, firstSeq: head.firstSeq, epoch: head.epoch, entries };
}, false);

function roomName(ctx: ServerContext, raw: string): string {
  let room: string;
  try {
    room = decodeURIComponent(raw);
  } catch {
    throw new ImError(Code.ParameterIllegal, "room is not valid URL encoding");
  }
  return stringField({ room }, "room", ctx.config.im.maxRoomBytes)!;
}
