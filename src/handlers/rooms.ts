/**
 * Room commands: joinRoom, leaveRoom, roomMsg, roomMembers (PROTOCOL.md B.2).
 * Membership is per user (not per connection): it survives disconnects and reconnects, and
 * offline members keep receiving room messages into their inbox.
 * @module
 */
import type { Client } from "../client.ts";
import type { ServerContext } from "../context.ts";
import { ImError } from "../errors.ts";
import { Code, encodePush, type Request } from "../protocol.ts";
import type { Router } from "../router.ts";
import { sendRoom } from "../messaging.ts";
import { hasControlChars, stringField } from "../validate.ts";
import { messageFields, sameApp } from "./messages.ts";

/** Register the room commands on `router`. */
export function addRoomRoutes(router: Router): void {
  router
    .add("joinRoom", joinRoom, { auth: true })
    .add("leaveRoom", leaveRoom, { auth: true })
    .add("roomMsg", roomMsg, { auth: true })
    .add("roomMembers", roomMembers, { auth: true });
}

function roomField(ctx: ServerContext, d: Record<string, unknown>): string {
  const room = stringField(d, "room", ctx.config.im.maxRoomBytes)!;
  if (hasControlChars(room)) {
    throw new ImError(Code.ParameterIllegal, "room contains control characters");
  }
  return room;
}

/**
 * Push a join/leave event to the room's members (live only). Rooms larger than
 * `im.roomEventMaxMembers` get none: there every join would cost a frame per member (O(n²) for a
 * room filling up), and such rooms are broadcast channels where nobody reads join notices.
 */
export async function pushRoomEvent(
  ctx: ServerContext,
  appId: number,
  room: string,
  userId: string,
  type: "join" | "leave",
  members?: string[],
): Promise<void> {
  const targets = members ?? await ctx.store.roomMembers(appId, room);
  if (targets.length > ctx.config.im.roomEventMaxMembers) return;
  const text = encodePush(type === "join" ? "joinRoom" : "leaveRoom", {
    target: room,
    type,
    msg: "",
    from: userId,
    room,
    time: ctx.clock.now(),
  });
  for (const member of targets) ctx.bus.sendToUser(appId, member, text);
}

async function joinRoom(ctx: ServerContext, client: Client, req: Request) {
  const { appId, userId } = client.identity!;
  sameApp(req.data, appId);
  const room = roomField(ctx, req.data);
  const { limits } = ctx.config;
  const result = await ctx.store.joinRoom(appId, room, userId, limits.maxRoomsPerUser, limits.maxRoomMembers);
  if (result === "tooManyRooms") {
    throw new ImError(Code.TooManyRooms, `at most ${limits.maxRoomsPerUser} rooms`);
  }
  if (result === "roomFull") throw new ImError(Code.RoomFull, `room is full (${limits.maxRoomMembers})`);
  const members = await ctx.store.roomMembers(appId, room);
  if (result === "joined") await pushRoomEvent(ctx, appId, room, userId, "join", members);
  return { room, members: members.length, joined: result === "joined" };
}

async function leaveRoom(ctx: ServerContext, client: Client, req: Request) {
  const { appId, userId } = client.identity!;
  sameApp(req.data, appId);
  const room = roomField(ctx, req.data);
  const left = await ctx.store.leaveRoom(appId, room, userId);
  if (!left) throw new ImError(Code.NotRoomMember, `not a member of ${room}`);
  const members = await ctx.store.roomMembers(appId, room);
  await pushRoomEvent(ctx, appId, room, userId, "leave", [...members, userId]);
  return { room, members: members.length };
}

async function roomMsg(ctx: ServerContext, client: Client, req: Request) {
  const { appId, userId } = client.identity!;
  sameApp(req.data, appId);
  const room = roomField(ctx, req.data);
  const { msg, type, clientMsgId } = messageFields(ctx, req.data);
  const r = await sendRoom(ctx, {
    appId,
    from: userId,
    room,
    msg,
    type,
    originConnId: client.id,
    onMsgId: (id) => client.expectOwn(id),
    requireMember: true,
    dedupKey: clientMsgId ? `cm\u0000${appId}\u0000${userId}\u0000${clientMsgId}` : undefined,
  });
  return {
    msgId: r.msgId,
    seq: r.seq,
    time: r.time,
    members: r.members,
    ...(r.duplicate ? { duplicate: true } : {}),
  };
}

async function roomMembers(ctx: ServerContext, client: Client, req: Request) {
  const { appId } = client.identity!;
  sameApp(req.data, appId);
  const room = roomField(ctx, req.data);
  const members = await ctx.store.roomMembers(appId, room);
  if (members.length === 0) throw new ImError(Code.RoomNotFound, `room ${room} not found`);
  const windowMs = ctx.config.heartbeat.onlineWindow * 1000;
  const online = new Set(await ctx.store.onlineUsers(appId, windowMs));
  return { room, members, online: members.filter((m) => online.has(m)) };
}
