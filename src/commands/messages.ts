/**
 * Messaging commands: sendMsg, sync, ack, read, history, users (PROTOCOL.md B.2).
 *
 * @example
 * ```ts
 * const routes = messageCommands(deps); // { sendMsg, sync, ack, read, history, users }
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import { clientKey } from "../messaging/dedup.ts";
import type { Receipts } from "../messaging/receipts.ts";
import type { Messenger } from "../messaging/send.ts";
import { Code } from "../protocol/codes.ts";
import type { Request } from "../protocol/envelope.ts";
import { ReplyError } from "../protocol/errors.ts";
import type { Pushes } from "../protocol/pushes.ts";
import { appIdField, intField, stringField, userIdField } from "../protocol/validate.ts";
import type { Bus } from "../session/bus.ts";
import type { Connection, Identity } from "../session/connection.ts";
import type { Presence } from "../session/presence.ts";
import type { Store } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import { Reply, type Routes } from "./router.ts";

/** What the messaging commands need. */
export interface MessageDeps {
  config: Pick<Config, "im" | "limits">;
  messenger: Messenger;
  receipts: Receipts;
  store: Store;
  bus: Bus;
  presence: Presence;
  pushes: Pushes;
  clock: Clock;
}

/** The `msg`, `type` and `clientMsgId` fields common to sendMsg and roomMsg. */
export function messageFields(im: Config["im"], d: Record<string, unknown>) {
  const msg = stringField(d, "msg", im.maxMessageBytes, {
    allowEmpty: false,
    tooLongCode: Code.MessageTooLarge,
  })!;
  const type = stringField(d, "type", im.maxTypeBytes, { optional: true }) ?? "text";
  const clientMsgId = stringField(d, "clientMsgId", 128, { optional: true });
  return { msg, type, clientMsgId };
}

/** A conversation id field: `u:<userId>` or `r:<room>` (1001 otherwise). */
export function conversationField(d: Record<string, unknown>, name = "conversation"): string {
  const v = stringField(d, name, 128)!;
  if (!/^[ur]:./.test(v)) {
    throw new ReplyError(Code.ParameterIllegal, `${name} must be "u:<userId>" or "r:<room>"`);
  }
  return v;
}

/** Refuse a request whose `appId` names another app than the connection's. */
export function sameApp(d: Record<string, unknown>, appId: number): void {
  const asked = appIdField(d, "appId", true);
  if (asked !== undefined && asked !== appId) {
    throw new ReplyError(Code.CrossApp, "cannot reach another appId");
  }
}

/**
 * A send from `conn` (sendMsg, roomMsg): the connection passes its own copy instead of getting it pushed
 * (it gets this reply); the reply waits until the connection has been given every earlier entry, and no
 * later entry is written to the connection before the reply — or before the send failed (session/delivery.ts:
 * `passed`, `replied`). So the highest seq a client has seen is a safe resume point.
 */
export async function sendFrom<R extends { duplicate?: boolean }>(
  conn: Connection,
  send: (onMsgId: (msgId: string) => void) => Promise<R>,
  ownSeq: (r: R) => number,
  reply: (r: R) => Record<string, unknown>,
): Promise<Reply> {
  let own: string | undefined;
  try {
    const r = await send((msgId) => {
      own = msgId;
      conn.delivery.expectOwn(msgId);
    });
    // A retry answered `duplicate` passes nothing new; its seq is the first send's.
    if (!r.duplicate) await conn.delivery.passed(ownSeq(r));
    const id = own;
    return new Reply(reply(r), id === undefined ? undefined : () => conn.delivery.replied(id));
  } catch (error) {
    if (own !== undefined) conn.delivery.replied(own);
    throw error;
  }
}

const RECIPIENT_WINDOW_MS = 60_000;

/** The messaging commands. */
export function messageCommands(d: MessageDeps): Routes {
  const { im, limits } = d.config;
  /** Distinct recipients of each connection in the current minute (made-up ids cost inboxes). */
  const recipients = new WeakMap<Connection, { start: number; to: Set<string> }>();

  function checkRecipient(conn: Connection, to: string): void {
    const now = d.clock.now();
    let w = recipients.get(conn);
    if (!w || now - w.start >= RECIPIENT_WINDOW_MS) recipients.set(conn, w = { start: now, to: new Set() });
    if (w.to.has(to)) return;
    if (w.to.size >= limits.recipientsPerMinute) {
      throw new ReplyError(Code.RateLimited, `at most ${limits.recipientsPerMinute} recipients per minute`, {
        retryMs: w.start + RECIPIENT_WINDOW_MS - now,
      });
    }
    w.to.add(to);
  }

  function sendMsg(conn: Connection, req: Request, me: Identity) {
    const { userId, appId } = me;
    const data = req.data;
    sameApp(data, appId);
    const to = userIdField(data, "to", im.maxUserIdBytes, Code.RecipientUnknown);
    if (to === userId) throw new ReplyError(Code.SendToSelf, "cannot send a message to yourself");
    const { msg, type, clientMsgId } = messageFields(im, data);
    checkRecipient(conn, to);
    return sendFrom(
      conn,
      (onMsgId) =>
        d.messenger.direct({
          appId,
          from: userId,
          to,
          msg,
          type,
          originConnId: conn.id,
          onMsgId,
          key: clientMsgId ? clientKey(appId, userId, clientMsgId) : undefined,
        }),
      (r) => r.senderSeq,
      (r) => {
        const reply: Record<string, unknown> = {
          msgId: r.msgId,
          seq: r.seq,
          senderSeq: r.senderSeq,
          time: r.time,
          delivered: r.delivered,
        };
        if (r.duplicate) reply.duplicate = true; // added in place: no temporary object per send
        return reply;
      },
    );
  }

  async function sync(conn: Connection, req: Request, me: Identity) {
    const since = intField(req.data, "since", { optional: true }) ?? 0;
    const { appId, userId } = me;
    const head = await d.store.head(appId, userId);
    if (since > head.lastSeq) {
      throw new ReplyError(Code.ParameterIllegal, "since is past the inbox head", {
        data: { inboxSeq: head.lastSeq, inboxEpoch: head.epoch },
      });
    }
    // Rewind: the entries after `since` are sent again, even if this connection had them.
    const result = await conn.delivery.rewind(since);
    const data = {
      since,
      inboxSeq: conn.delivery.position,
      replayed: result.replayed,
      inboxEpoch: head.epoch,
    };
    if (result.lost > 0) {
      throw new ReplyError(Code.InboxGap, "entries were trimmed before delivery", {
        data: { ...data, lost: result.lost, firstSeq: result.firstSeq },
      });
    }
    return data;
  }

  async function ack(_conn: Connection, req: Request, me: Identity) {
    const seq = intField(req.data, "seq")!;
    const { appId, userId } = me;
    return { seq: await d.receipts.ack(appId, userId, seq) };
  }

  /**
   * `read {conversation, seq}` marks one conversation read (PROTOCOL.md C.3); the old `read {seq}` marks the
   * whole inbox (every conversation) read up to `seq` and answers the inbox read mark.
   */
  async function read(conn: Connection, req: Request, me: Identity) {
    const seq = intField(req.data, "seq")!;
    const { appId, userId } = me;
    const conversation = req.data.conversation === undefined ? undefined : conversationField(req.data);
    if (conversation === undefined) {
      const { current } = await d.store.advanceMark(appId, userId, "read", seq);
      await d.receipts.read(appId, userId, undefined, current, conn.id);
      return { seq: current };
    }
    const [change] = await d.receipts.read(appId, userId, conversation, seq, conn.id);
    if (change) return { conversation, readSeq: change.readSeq, unread: change.unread };
    const now = (await d.store.conversations(appId, userId, 1000)).items.find((c) => c.id === conversation);
    return { conversation, readSeq: now?.readSeq ?? 0, unread: now?.unread ?? 0 };
  }

  async function users(_conn: Connection, req: Request, me: Identity) {
    sameApp(req.data, me.appId);
    const userList = await d.presence.onlineUsers(me.appId);
    return { userCount: userList.length, userList };
  }

  return {
    sendMsg: { handler: sendMsg, auth: true },
    sync: { handler: sync, auth: true },
    ack: { handler: ack, auth: true },
    read: { handler: read, auth: true },
    users: { handler: users, auth: true },
  };
}
