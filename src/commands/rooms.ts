/**
 * Room commands: joinRoom, leaveRoom, roomMsg, roomMembers (PROTOCOL.md B.2). Membership is per user
 * (not per connection): it survives disconnects and reconnects, and offline members keep receiving room
 * messages into their inbox.
 *
 * @example
 * ```ts
 * const routes = roomCommands(deps); // { joinRoom, leaveRoom, roomMsg, roomMembers }
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import { clientKey } from "../messaging/dedup.ts";
import type { Messenger } from "../messaging/send.ts";
import { Code } from "../protocol/codes.ts";
import type { Request } from "../protocol/envelope.ts";
import { ReplyError } from "../protocol/errors.ts";
import type { Pushes } from "../protocol/pushes.ts";
import { hasControlChars, stringField } from "../protocol/validate.ts";
import type { Bus } from "../session/bus.ts";
import type { Connection, Identity } from "../session/connection.ts";
import type { Presence } from "../session/presence.ts";
import type { Store } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import { messageFields, sameApp, sendFrom } from "./messages.ts";
import type { Routes } from "./router.ts";

/** What the room commands need. */
export interface RoomDeps {
  config: Pick<Config, "im" | "limits">;
  messenger: Messenger;
  store: Store;
  bus: Bus;
  presence: Presence;
  pushes: Pushes;
  clock: Clock;
}

/** A room name from request data: 1..im.maxRoomBytes bytes, no control characters. */
function roomField(im: Config["im"], d: Record<string, unknown>): string {
  const room = stringField(d, "room", im.maxRoomBytes)!;
  if (hasControlChars(room)) throw new ReplyError(Code.ParameterIllegal, "room contains control characters");
  return room;
}

/** The room commands. */
export function roomCommands(d: RoomDeps): Routes {
  const { im, limits } = d.config;

  /**
   * Push a join/leave event to the room's members (live only). Rooms larger than
   * `im.roomEventMaxMembers` get none: there every join would cost a frame per member (O(n²) for a room
   * filling up), and such rooms are broadcast channels where nobody reads join notices.
   */
  function roomEvent(appId: number, room: string, userId: string, kind: "join" | "leave", members: string[]) {
    if (members.length > im.roomEventMaxMembers) return;
    const text = d.pushes.roomEvent(kind, room, userId, d.clock.now());
    for (const member of members) d.bus.sendToUser(appId, member, text);
  }

  async function joinRoom(_conn: Connection, req: Request, me: Identity) {
    const { appId, userId } = me;
    sameApp(req.data, appId);
    const room = roomField(im, req.data);
    const result = await d.store.joinRoom(appId, room, userId);
    if (result === "tooManyRooms") {
      throw new ReplyError(Code.TooManyRooms, `at most ${limits.maxRoomsPerUser} rooms`);
    }
    if (result === "roomFull") throw new ReplyError(Code.RoomFull, `room is full (${limits.maxRoomMembers})`);
    const members = await d.store.roomMembers(appId, room);
    if (result === "joined") roomEvent(appId, room, userId, "join", members);
    return { room, members: members.length, joined: result === "joined" };
  }

  async function leaveRoom(_conn: Connection, req: Request, me: Identity) {
    const { appId, userId } = me;
    sameApp(req.data, appId);
    const room = roomField(im, req.data);
    if (!await d.store.leaveRoom(appId, room, userId)) {
      throw new ReplyError(Code.NotRoomMember, `not a member of ${room}`);
    }
    const members = await d.store.roomMembers(appId, room);
    roomEvent(appId, room, userId, "leave", [...members, userId]);
    return { room, members: members.length };
  }

  function roomMsg(conn: Connection, req: Request, me: Identity) {
    const { appId, userId } = me;
    sameApp(req.data, appId);
    const room = roomField(im, req.data);
    const { msg, type, clientMsgId } = messageFields(im, req.data);
    return sendFrom( // as sendMsg: the reply's seq is a safe resume point
      conn,
      (onMsgId) =>
        d.messenger.room({
          appId,
          from: userId,
          room,
          msg,
          type,
          originConnId: conn.id,
          onMsgId,
          requireMember: true,
          key: clientMsgId ? clientKey(appId, userId, clientMsgId) : undefined,
        }),
      (r) => r.seq,
      (r) => ({
        msgId: r.msgId,
        seq: r.seq,
        time: r.time,
        members: r.members,
        ...(r.roomSeq !== undefined ? { roomSeq: r.roomSeq } : {}),
        ...(r.duplicate ? { duplicate: true } : {}),
      }),
    );
  }

  async function roomMembers(_conn: Connection, req: Request, me: Identity) {
    const { appId } = me;
    sameApp(req.data, appId);
    const room = roomField(im, req.data);
    const members = await d.store.roomMembers(appId, room);
    if (members.length === 0) throw new ReplyError(Code.RoomNotFound, `room ${room} not found`);
    const online = new Set(await d.presence.onlineUsers(appId));
    return { room, members, online: members.filter((m) => online.has(m)) };
  }

  return {
    joinRoom: { handler: joinRoom, auth: true },
    leaveRoom: { handler: leaveRoom, auth: true },
    roomMsg: { handler: roomMsg, auth: true },
    roomMembers: { handler: roomMembers, auth: true },
  };
}
