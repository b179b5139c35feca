/**
 * The Go servers' HTTP endpoints (PROTOCOL.md A.6), kept compatible: `/user/list`, `/user/online`,
 * `/user/sendMessage`, `/user/sendMessageAll`, `/system/state`. Answers are HTTP 200 with
 * `{code, msg, data}` whatever the code; GET and POST are both accepted.
 *
 * @example
 * ```ts
 * const routes = compatRoutes(deps);
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import { backendKey } from "../messaging/dedup.ts";
import type { Messenger } from "../messaging/send.ts";
import { Code } from "../protocol/codes.ts";
import { echoKey } from "../protocol/envelope.ts";
import { ReplyError } from "../protocol/errors.ts";
import { appIdField, stringField, userIdField } from "../protocol/validate.ts";
import type { Presence } from "../session/presence.ts";
import type { HttpRoute, Params } from "./routes.ts";

/** What the compat endpoints need. */
export interface HttpDeps {
  config: Pick<Config, "im">;
  presence: Presence;
  messenger: Messenger;
  /** Apps with connections on this node (for `/user/list` without appId when any app is allowed). */
  localApps: () => number[];
  /** `/system/state` (node-wide). */
  state: (debug: boolean) => Record<string, unknown>;
}

/** appId from params; refused unless in the allow-list (when one is set). */
export function appOf(im: Config["im"], p: Params): number {
  const appId = appIdField(p, "appId")!;
  if (im.appIds.length > 0 && !im.appIds.includes(appId)) {
    throw new ReplyError(Code.Unauthorized, `appId ${appId} not allowed`);
  }
  return appId;
}

/** A message body parameter: may be empty over HTTP (as in the Go server), bounded by im.maxMessageBytes. */
export function bodyField(im: Config["im"], p: Params, name: string): string {
  return stringField(p, name, im.maxMessageBytes, { allowEmpty: true, tooLongCode: Code.MessageTooLarge })!;
}

/**
 * A backend's optional `msgId`: a string, or an integer in a JSON body (its decimal string, as a numeric
 * userId is; only safe integers, whose decimal string is exact).
 */
export function msgIdParam(p: Params): string | undefined {
  if (typeof p.msgId === "number" && Number.isSafeInteger(p.msgId)) return String(p.msgId);
  return stringField(p, "msgId", 128, { optional: true });
}

/** The optional `from`, `msgId` and `type` of a backend send. */
export function sendOptions(im: Config["im"], p: Params, appId: number) {
  const from = p.from === undefined ? "" : userIdField(p, "from", im.maxUserIdBytes);
  const msgId = msgIdParam(p);
  const type = stringField(p, "type", im.maxTypeBytes, { optional: true });
  // A repeated msgId is a duplicate whatever the body (PROTOCOL.md A.6), as in the Go servers.
  return { from, type, key: msgId ? backendKey(appId, msgId) : undefined, reuse: "duplicate" as const };
}

/** Online users of one app, or of every allowed app (every local app when any is allowed). */
export async function listUsers(d: HttpDeps, p: Params) {
  const appId = appIdField(p, "appId", true) ?? 0;
  const { appIds } = d.config.im;
  const apps = appId !== 0 ? [appId] : appIds.length ? appIds : d.localApps();
  const users = new Set<string>();
  for (const app of apps) for (const u of await d.presence.onlineUsers(app)) users.add(u);
  return { userCount: users.size, userList: [...users] };
}

/** The compat route table. */
export function compatRoutes(d: HttpDeps): HttpRoute[] {
  const { im } = d.config;
  return [
    { method: "GET", path: "/user/list", compat: true, scope: "app", handler: (p) => listUsers(d, p) },
    {
      method: "GET",
      path: "/user/online",
      compat: true,
      scope: "app",
      handler: async (p, _path, ctx) => {
        const userId = userIdField(p, "userId", im.maxUserIdBytes);
        const appId = appIdField(p, "appId", true) ?? 0;
        const online = appId === 0
          ? (await d.presence.userApps(userId)).length > 0
          : (await d.presence.connections(appId, userId)).length > 0;
        return { [echoKey(ctx, "userId")]: userId, online };
      },
    },
    {
      method: "POST",
      path: "/user/sendMessage",
      compat: true,
      scope: "app",
      handler: async (p) => {
        const appId = appOf(im, p);
        const to = userIdField(p, "userId", im.maxUserIdBytes);
        const msg = bodyField(im, p, "message");
        const r = await d.messenger.direct({ appId, to, msg, ...sendOptions(im, p, appId) });
        return { sendResults: r.duplicate ? true : r.delivered, stored: true, ...r };
      },
    },
    {
      method: "POST",
      path: "/user/sendMessageAll",
      compat: true,
      scope: "app",
      handler: async (p) => {
        const appId = appOf(im, p);
        // No (or an empty) userId: a system broadcast with from "", excluding nobody (the Go server's).
        const from = p.userId === undefined || p.userId === null || p.userId === ""
          ? ""
          : userIdField(p, "userId", im.maxUserIdBytes);
        const msg = bodyField(im, p, "message");
        const { type, key, reuse } = sendOptions(im, p, appId);
        const r = await d.messenger.app({ appId, from, msg, type, key, reuse });
        return { sendResults: true, ...r };
      },
    },
    {
      method: "GET",
      path: "/system/state",
      compat: true,
      scope: "node", // node-wide counters: an app-limited key may not read them, whatever appId it names
      handler: (p) => d.state(p.isDebug === "true" || p.isDebug === true || p.isDebug === "1"),
    },
  ];
}
