/**
 * The admin API route table (`/api/v1/admin/...`, docs/ADMIN.md): JSON for the console page and for
 * scripts, behind an admin key (route scope `admin`, checked by http/app.ts with src/admin/keys.ts).
 *
 * @example
 * ```ts
 * const routes = adminRoutes({ config, views, actions, sampler });
 * // GET /api/v1/admin/overview → { nodes: [{ nodeId, connections, users, rates, ... }], totals, ... }
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import type { HttpRoute, Params, RouteCaller } from "../http/routes.ts";
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";
import { appIdField, intField, stringField, userIdField } from "../protocol/validate.ts";
import type { AdminActions } from "./actions.ts";
import type { Sampler } from "./sampler.ts";
import type { AdminViews } from "./views.ts";

/** What the admin routes need. */
export interface AdminRouteDeps {
  config: Pick<Config, "im">;
  nodeId: string;
  views: AdminViews;
  actions: AdminActions;
  sampler: Sampler;
}

/** Largest room timeline page. */
const MAX_TIMELINE = 100;

/** The `/api/v1/admin` routes. */
export function adminRoutes(d: AdminRouteDeps): HttpRoute[] {
  const { im } = d.config;
  const appOf = (p: Params) => {
    const appId = appIdField(p, "appId")!;
    if (im.appIds.length > 0 && !im.appIds.includes(appId)) {
      throw new ReplyError(Code.ParameterIllegal, `appId ${appId} is not one of im.appIds`);
    }
    return appId;
  };
  const user = (raw: Params, name = "userId") => userIdField(raw, name, im.maxUserIdBytes);
  const route = (
    method: HttpRoute["method"],
    path: string,
    handler: (p: Params, path: Record<string, string>, caller: RouteCaller) => unknown,
  ): HttpRoute => ({
    method,
    path: `/api/v1/admin${path}`,
    compat: false,
    scope: "admin",
    handler: (p, pathParams, { caller }) => handler(p, pathParams, caller!),
  });
  return [
    route("GET", "/overview", () => d.views.overview()),
    route("GET", "/series", (p) => ({
      nodeId: d.nodeId,
      ...d.sampler.series(intField(p, "since", { optional: true }) ?? 0),
    })),
    route("GET", "/apps", () => d.views.apps()),
    route("GET", "/users/:userId", (p, path) => d.views.user(appOf(p), user(path))),
    route("POST", "/users/:userId/messages", (p, path, caller) => {
      const appId = appOf(p);
      return d.actions.send(caller, {
        appId,
        userId: user(path),
        msg: stringField(p, "msg", im.maxMessageBytes, { tooLongCode: Code.MessageTooLarge })!,
        from: p.from === undefined || p.from === "" ? "" : user(p, "from"),
        type: stringField(p, "type", im.maxTypeBytes, { optional: true }),
      });
    }),
    route(
      "POST",
      "/users/:userId/disconnect",
      (p, path, caller) => d.actions.disconnect(caller, appOf(p), user(path)),
    ),
    route("POST", "/connections/:connId/kick", (p, path, caller) => {
      const connId = stringField(path, "connId", 64)!;
      return d.actions.kick(caller, appOf(p), user(p), connId);
    }),
    route("GET", "/rooms/:room", (p, path) => {
      const room = stringField(path, "room", im.maxRoomBytes)!;
      const member = p.member === undefined || p.member === "" ? undefined : user(p, "member");
      const limit = intField(p, "limit", { optional: true, max: MAX_TIMELINE }) ?? 50;
      return d.views.room(appOf(p), room, member, limit);
    }),
  ];
}
