/**
 * The IM commands of Part C that are not sends or reads (PROTOCOL.md C.2, C.4, C.5, C.7): `conversations`,
 * `editMsg`, `recallMsg`, `deleteMsg`, `typing`, `block`, `unblock`, `blocked`.
 *
 * @example
 * ```ts
 * const routes = imCommands(deps);
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import type { MessageChanges } from "../messaging/changes.ts";
import { TYPING_EXPIRES_MS, type TypingGate } from "../messaging/typing_gate.ts";
import { type Request, withEchoKey } from "../protocol/envelope.ts";
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";
import type { Pushes } from "../protocol/pushes.ts";
import { intField, stringField, userIdField } from "../protocol/validate.ts";
import type { Bus } from "../session/bus.ts";
import type { Connection, Identity } from "../session/connection.ts";
import type { Store } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import { messageFields } from "./messages.ts";
import type { Routes } from "./router.ts";

/** What these commands need. */
export interface ImDeps {
  config: Pick<Config, "im">;
  store: Store;
  bus: Bus;
  changes: MessageChanges;
  pushes: Pushes;
  clock: Clock;
  /** The node's typing rate limit (per app, sender and conversation). */
  typing: TypingGate;
}

/** The IM commands. */
export function imCommands(d: ImDeps): Routes {
  const { im } = d.config;

  const msgIdOf = (data: Record<string, unknown>) => stringField(data, "msgId", 64)!;
  /** A change's reply echoes the msgId in the client's spelling (`msgID` in, `msgID` out: A.2). */
  const echoed = async (req: Request, change: Promise<{ msgId: string }>) =>
    withEchoKey(req, "msgId", await change);

  async function conversations(_conn: Connection, req: Request, me: Identity) {
    const { appId, userId } = me;
    const limit = intField(req.data, "limit", { optional: true, max: im.historyMaxLimit }) ?? 20;
    const before = intField(req.data, "before", { optional: true });
    const { items, more } = await d.store.conversations(appId, userId, limit, before);
    return { conversations: items, more };
  }

  function editMsg(conn: Connection, req: Request, me: Identity) {
    const { appId, userId } = me;
    const { msg } = messageFields(im, req.data);
    return echoed(
      req,
      d.changes.edit({ appId, by: userId, msgId: msgIdOf(req.data), msg, originConnId: conn.id }),
    );
  }

  function recallMsg(conn: Connection, req: Request, me: Identity) {
    const { appId, userId } = me;
    return echoed(
      req,
      d.changes.recall({ appId, by: userId, msgId: msgIdOf(req.data), originConnId: conn.id }),
    );
  }

  function deleteMsg(conn: Connection, req: Request, me: Identity) {
    const { appId, userId } = me;
    return echoed(
      req,
      d.changes.delete({ appId, by: userId, msgId: msgIdOf(req.data), originConnId: conn.id }),
    );
  }

  /**
   * Ephemeral: what the node's {@linkcode TypingGate} admits is forwarded (a start at most once per 2 s per
   * sender and conversation, a stop only after a forwarded start); dropped silently for blockers.
   */
  async function typing(_conn: Connection, req: Request, me: Identity) {
    const { appId, userId } = me;
    const data = req.data;
    const state = data.state;
    if (state !== "start" && state !== "stop") {
      throw new ReplyError(Code.ParameterIllegal, 'state must be "start" or "stop"');
    }
    const to = data.to === undefined
      ? undefined
      : userIdField(data, "to", im.maxUserIdBytes, Code.RecipientUnknown);
    const room = stringField(data, "room", im.maxRoomBytes, { optional: true });
    if ((to === undefined) === (room === undefined)) {
      throw new ReplyError(Code.ParameterIllegal, "typing needs exactly one of to or room");
    }
    const conversation = to !== undefined ? `u:${to}` : `r:${room}`;
    // Counted before any await, so two devices of the sender cannot both pass.
    if (!d.typing.admit(appId, userId, conversation, state)) return null;
    let targets = to !== undefined ? [to] : await d.store.roomMembers(appId, room!);
    if (room !== undefined) {
      if (!targets.includes(userId)) throw new ReplyError(Code.NotRoomMember, "join the room first");
      targets = targets.filter((m) => m !== userId);
    }
    if (targets.length > im.roomEventMaxMembers) return null; // no typing in broadcast-sized rooms
    const blockers = await d.store.blockersOf(appId, userId, targets);
    const push = d.pushes.typing({
      from: userId,
      ...(to !== undefined ? { to } : { room }),
      state,
      expiresIn: TYPING_EXPIRES_MS,
    });
    for (const t of targets) if (!blockers.has(t)) d.bus.sendToUser(appId, t, push);
    return null;
  }

  async function setBlocked(me: Identity, req: Request, blocked: boolean) {
    const { appId, userId } = me;
    const other = userIdField(req.data, "userId", im.maxUserIdBytes, Code.RecipientUnknown);
    if (other === userId) throw new ReplyError(Code.ParameterIllegal, "you cannot block yourself");
    await d.store.setBlocked(appId, userId, other, blocked);
    return withEchoKey(req, "userId", { userId: other, blocked });
  }

  async function blocked(_conn: Connection, _req: Request, me: Identity) {
    const { appId, userId } = me;
    return { users: await d.store.blockedUsers(appId, userId) };
  }

  return {
    conversations: { handler: conversations, auth: true },
    editMsg: { handler: editMsg, auth: true },
    recallMsg: { handler: recallMsg, auth: true },
    deleteMsg: { handler: deleteMsg, auth: true },
    typing: { handler: typing, auth: true },
    block: { handler: (_conn, req, me) => setBlocked(me, req, true), auth: true },
    unblock: { handler: (_conn, req, me) => setBlocked(me, req, false), auth: true },
    blocked: { handler: blocked, auth: true },
  };
}
