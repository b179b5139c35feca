/**
 * The `/api/v1` endpoints (docs/PROTOCOL.md section 7.2): JSON for backends, with HTTP statuses that
 * match the code.
 *
 * @example
 * ```ts
 * const routes = v1Routes({ ...deps, store });
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";
import { intField, stringField, userIdField } from "../protocol/validate.ts";
import type { MessageChanges } from "../messaging/changes.ts";
import type { BackupResult } from "../store/sqlite/backup.ts";
import type { Store } from "../store/store.ts";
import { appOf, bodyField, type HttpDeps, listUsers, sendOptions } from "./compat.ts";
import type { HttpRoute } from "./routes.ts";

/** What the v1 endpoints need besides the compat ones. */
export interface V1Deps extends HttpDeps {
  config: Pick<Config, "im">;
  store: Store;
  /** Moderation: edits and recalls by a backend (PROTOCOL.md C.8). */
  changes: MessageChanges;
  /** An online backup of the store (SQLite engine only). */
  backup?: () => Promise<BackupResult>;
}

/** The `/api/v1` route table. */
export function v1Routes(d: V1Deps): HttpRoute[] {
  const { im } = d.config;
  const room = (raw: string) => stringField({ room: raw }, "room", im.maxRoomBytes)!;
  return [
    { method: "GET", path: "/api/v1/users", compat: false, scope: "app", handler: (p) => listUsers(d, p) },
    {
      method: "GET",
      path: "/api/v1/users/:userId",
      compat: false,
      scope: "app",
      handler: async (p, path) => {
        const appId = appOf(im, p);
        const userId = userIdField(path, "userId", im.maxUserIdBytes);
        // The client address is for operators (the admin console), not for backends.
        const connections = (await d.presence.connections(appId, userId)).map(({ ip: _, ...c }) => c);
        return { userId, appId, online: connections.length > 0, connections };
      },
    },
    {
      method: "POST",
      path: "/api/v1/messages",
      compat: false,
      scope: "app",
      handler: (p) => {
        const appId = appOf(im, p);
        const to = userIdField(p, "to", im.maxUserIdBytes, Code.RecipientUnknown);
        return d.messenger.direct({ appId, to, msg: bodyField(im, p, "msg"), ...sendOptions(im, p, appId) });
      },
    },
    {
      method: "POST",
      path: "/api/v1/rooms/:room/messages",
      compat: false,
      scope: "app",
      handler: (p, path) => {
        const appId = appOf(im, p);
        return d.messenger.room({
          appId,
          room: room(path.room),
          msg: bodyField(im, p, "msg"),
          requireMember: false,
          ...sendOptions(im, p, appId),
        });
      },
    },
    {
      method: "GET",
      path: "/api/v1/rooms/:room/members",
      compat: false,
      scope: "app",
      handler: async (p, path) => {
        const appId = appOf(im, p);
        const members = await d.store.roomMembers(appId, room(path.room));
        if (members.length === 0) throw new ReplyError(Code.RoomNotFound, "room not found");
        return { room: path.room, members };
      },
    },
    {
      // Node-wide and it writes a file: unrestricted API keys only.
      method: "POST",
      path: "/api/v1/store/backup",
      compat: false,
      scope: "node",
      handler: () => {
        if (!d.backup) throw new ReplyError(Code.OperationFailure, "backups need store.engine: sqlite");
        return d.backup();
      },
    },
    {
      method: "GET",
      path: "/api/v1/conversations",
      compat: false,
      scope: "app",
      handler: async (p) => {
        const appId = appOf(im, p);
        const userId = userIdField(p, "userId", im.maxUserIdBytes);
        const limit = intField(p, "limit", { optional: true, max: im.historyMaxLimit }) ?? 20;
        const before = intField(p, "before", { optional: true });
        const { items, more } = await d.store.conversations(appId, userId, limit, before);
        return {
          userId,
          appId,
          conversations: items,
          more,
          unreadTotal: await d.store.unreadTotal(appId, userId),
        };
      },
    },
    {
      method: "PATCH",
      path: "/api/v1/messages/:msgId",
      compat: false,
      scope: "app",
      handler: (p, path) => {
        const appId = appOf(im, p);
        const by = p.by === undefined ? "" : userIdField(p, "by", im.maxUserIdBytes);
        const msg = stringField(p, "msg", im.maxMessageBytes, { tooLongCode: Code.MessageTooLarge })!;
        return d.changes.edit({ appId, msgId: path.msgId, msg, by, moderator: true });
      },
    },
    {
      method: "DELETE",
      path: "/api/v1/messages/:msgId",
      compat: false,
      scope: "app",
      handler: (p, path) => {
        const appId = appOf(im, p);
        const by = p.by === undefined ? "" : userIdField(p, "by", im.maxUserIdBytes);
        return d.changes.recall({ appId, msgId: path.msgId, by, moderator: true });
      },
    },
    {
      method: "GET",
      path: "/api/v1/inbox",
      compat: false,
      scope: "app",
      handler: async (p) => {
        const appId = appOf(im, p);
        const userId = userIdField(p, "userId", im.maxUserIdBytes);
        const since = intField(p, "since", { optional: true }) ?? 0;
        const limit = intField(p, "limit", { optional: true, max: im.historyMaxLimit }) ?? 50;
        const head = await d.store.head(appId, userId);
        const entries = await d.store.range(appId, userId, since, limit);
        return { userId, appId, inboxSeq: head.lastSeq, firstSeq: head.firstSeq, epoch: head.epoch, entries };
      },
    },
  ];
}
