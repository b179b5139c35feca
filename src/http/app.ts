/**
 * The HTTP handler of the API port: CORS, health and readiness, `/metrics`, the web client's files, then
 * the route tables (http/compat.ts, http/v1.ts) behind the API key guard. Compat endpoints answer HTTP 200
 * with `{code, msg, data}` whatever the code; `/api/v1` uses the same body with a matching status.
 *
 * @example
 * ```ts
 * Deno.serve({ port: 8080 }, createHttpApp(deps));
 * ```
 * @module
 */
import type { ServerCounters } from "../ops/counters.ts";
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import { Code, codeMessage } from "../protocol/codes.ts";
import { ReplyError, STORAGE_RETRY_MS, STORAGE_UNAVAILABLE, StorageError } from "../protocol/errors.ts";
import { appIdField } from "../protocol/validate.ts";
import type { ApiAuthorizer } from "./api_keys.ts";
import { BodyTimeoutError, readParams } from "./params.ts";
import { type HttpRoute, type RouteCaller, RouteTable } from "./routes.ts";

/** The Prometheus text content type. */
const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** What the HTTP app needs. */
export interface HttpAppDeps {
  routes: readonly HttpRoute[];
  authorize: ApiAuthorizer;
  /** The admin key guard of `admin` routes (src/admin/keys.ts): the caller, or throws a ReplyError. */
  authorizeAdmin?: (req: Request) => RouteCaller;
  /** `Access-Control-Allow-Origin`; empty = no CORS headers. */
  corsOrigin: string;
  maxBodyBytes: number;
  /** A body not complete within this long is answered 408 (ms; 0 = no limit). */
  bodyTimeoutMs: number;
  /** Why the node is not ready (draining, Redis unreachable), or undefined when it is. */
  readiness: () => Promise<string | undefined>;
  metrics: Metrics;
  counters: Pick<ServerCounters, "http" | "errors">;
  log: Logger;
  /** The web client's files, or undefined when `path` is not one. */
  serveStatic: (path: string) => Promise<Response | undefined>;
}

/** Build the fetch handler for the HTTP port. */
export function createHttpApp(d: HttpAppDeps): (req: Request) => Promise<Response> {
  const table = new RouteTable(d.routes);
  const cors = corsHeaders(d.corsOrigin);
  const json = (body: unknown, status: number) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { ...cors, "content-type": "application/json; charset=utf-8" },
    });
  const fail = (error: unknown, compat: boolean, path: string) => {
    let e: ReplyError;
    if (error instanceof ReplyError) e = error;
    else if (error instanceof StorageError) {
      d.log.warning("http {path}: {error}", { path, error: error.message });
      e = new ReplyError(Code.Unavailable, STORAGE_UNAVAILABLE, { retryMs: STORAGE_RETRY_MS });
    } else {
      d.log.error("http {path} failed: {error}", { path, error: String((error as Error)?.stack ?? error) });
      e = new ReplyError(Code.ServerError, "internal error");
    }
    d.counters.errors.inc({ code: String(e.code) });
    const data = e.retryMs === undefined ? e.data ?? null : { ...e.data, retryMs: e.retryMs };
    return json(envelope(e.code, data, e.message), compat ? 200 : e.status ?? httpStatus(e.code));
  };

  return async (req) => {
    const url = new URL(req.url);
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
    const path = url.pathname;
    if (path === "/healthz") return json({ status: "ok" }, 200);
    if (path === "/readyz") {
      const reason = await d.readiness().catch((error) => String(error));
      if (reason === undefined) return json({ status: "ready" }, 200);
      return json(reason === "draining" ? { status: "draining" } : { status: "unready", reason }, 503);
    }
    if (path === "/metrics" && (req.method === "GET" || req.method === "HEAD")) {
      try {
        d.authorize(req, undefined);
      } catch (error) {
        return fail(error, false, path);
      }
      return new Response(req.method === "HEAD" ? null : d.metrics.render(), {
        headers: { ...cors, "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
      });
    }
    if (req.method === "GET" || req.method === "HEAD") {
      const page = await d.serveStatic(path);
      if (page) {
        // The files keep their own headers (static.ts); CORS is this port's, on every reply.
        for (const [name, value] of Object.entries(cors)) page.headers.set(name, value);
        return page;
      }
    }
    const method = req.method === "HEAD" ? "GET" : req.method;
    let matched;
    try {
      matched = table.match(path, method);
    } catch (error) {
      return fail(error, false, path);
    }
    if (!matched) return json(envelope(Code.RouteNotExist, null, "not found"), 404);
    const { route } = matched;
    if (route.method !== method && !(route.compat && (method === "GET" || method === "POST"))) {
      // HTTP 405 on /api/v1; a compat endpoint answers 200 with the code, like every compat error.
      const use = route.compat ? "GET or POST" : route.method;
      return fail(new ReplyError(Code.ParameterIllegal, `use ${use}`, { status: 405 }), route.compat, path);
    }
    d.counters.http.inc({ path: route.path });
    try {
      // Admin routes: the admin key is checked before the body is read; API keys do not count.
      const caller = route.scope === "admin" ? adminCaller(d, req) : undefined;
      const { data: params, spellings } = await readParams(req, d.maxBodyBytes, d.bodyTimeoutMs);
      if (!caller) d.authorize(req, route.scope === "node" ? undefined : appIdField(params, "appId", true));
      const data = await route.handler(params, matched.path, { req, caller, spellings });
      return json(envelope(Code.Success, data ?? null), 200);
    } catch (error) {
      if (error instanceof BodyTimeoutError) return error.response(cors);
      return fail(error, route.compat, path);
    }
  };
}

function adminCaller(d: HttpAppDeps, req: Request): RouteCaller {
  if (!d.authorizeAdmin) throw new ReplyError(Code.RouteNotExist, "not found", { status: 404 });
  return d.authorizeAdmin(req);
}

function envelope(code: number, data: unknown, msg?: string) {
  return { code, msg: msg ?? codeMessage(code), data };
}

function corsHeaders(origin: string): Record<string, string> {
  if (!origin) return {};
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-methods": "GET, POST, PATCH, DELETE, OPTIONS",
    "access-control-allow-headers": "authorization, content-type",
  };
}

/** HTTP status of an `/api/v1` error code. */
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
