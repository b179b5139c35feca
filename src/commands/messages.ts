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
import type { Messenger } from "../messaging/send.ts";
import { Code } from "../protocol/codes.ts";
import type { Request } from "../protocol/envelope.ts";
import { ReplyError } from "../protocol/errors.ts";
import type { Pushes } from "../protocol/pushes.ts";
import { appIdField, intField, stringField, userIdField } from "../protocol/validate.ts";
import type { Bus } from "../session/bus.ts";
import type { Connection } from "../session/connection.ts";
import type { Presence } from "../session/presence.ts";
import type { InboxEntry, Store } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import type { Routes } from "./router.ts";

/** What the messaging commands need. */
export interface MessageDeps {
  config: Pick<Config, "im" | "inbox" | "limits">;
  messenger: Messenger;
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

/** Refuse a request whose `appId` names another app than the connection's. */
export function sameApp(d: Record<string, unknown>, appId: number): void {
  const asked = appIdField(d, "appId", true);
  if (asked !== undefined && asked !== appId) {
    throw new ReplyError(Code.CrossApp, "cannot reach another appId");
  }
}

const RECIPIENT_WINDOW_MS = 60_000;

/** The messaging commands. */
export function messageCommands(d: MessageDeps): Routes {
  const { im, inbox, limits } = d.config;
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

  async function sendMsg(conn: Connection, req: Request) {
    const { userId, appId } = conn.identity!;
    const data = req.data;
    sameApp(data, appId);
    const to = userIdField(data, "to", im.maxUserIdBytes, Code.RecipientUnknown);
    if (to === userId) throw new ReplyError(Code.SendToSelf, "cannot send a message to yourself");
    const { msg, type, clientMsgId } = messageFields(im, data);
    checkRecipient(conn, to);
    const r = await d.messenger.direct({
      appId,
      from: userId,
      to,
      msg,
      type,
      originConnId: conn.id,
      onMsgId: (id) => conn.delivery.expectOwn(id),
      key: clientMsgId ? clientKey(appId, userId, clientMsgId) : undefined,
    });
    return {
      msgId: r.msgId,
      seq: r.seq,
      senderSeq: r.senderSeq,
      time: r.time,
      delivered: r.delivered,
      ...(r.duplicate ? { duplicate: true } : {}),
    };
  }

  async function sync(conn: Connection, req: Request) {
    const since = intField(req.data, "since", { optional: true }) ?? 0;
    const { appId, userId } = conn.identity!;
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

  async function ack(conn: Connection, req: Request) {
    const seq = intField(req.data, "seq")!;
    const { appId, userId } = conn.identity!;
    const { current } = await d.store.advanceMark(appId, userId, "ack", seq);
    return { seq: current };
  }

  /**
   * Mark entries up to `seq` read and push a `read` receipt to the senders of the direct messages among
   * them (live pushes, not inbox entries).
   */
  async function read(conn: Connection, req: Request) {
    const seq = intField(req.data, "seq")!;
    const { appId, userId } = conn.identity!;
    const { previous, current } = await d.store.advanceMark(appId, userId, "read", seq);
    if (current > previous) {
      const entries = await d.store.rangeBefore(
        appId,
        userId,
        current + 1,
        Math.min(current - previous, inbox.maxEntries),
      );
      const bySender = new Map<string, string[]>();
      for (const e of entries) {
        if (e.seq <= previous || e.target !== "" || e.from === userId || e.from === "") continue;
        let ids = bySender.get(e.from);
        if (!ids) bySender.set(e.from, ids = []);
        ids.push(e.msgId);
      }
      const time = d.clock.now();
      for (const [sender, msgIds] of bySender) {
        d.bus.sendToUser(appId, sender, d.pushes.read({ from: userId, to: sender, msgIds, time }));
      }
    }
    return { seq: current };
  }

  /** Past messages with a peer or in a room, newest first, from the caller's own inbox. */
  async function history(conn: Connection, req: Request) {
    const data = req.data;
    const { appId, userId } = conn.identity!;
    const peer = data.peer === undefined
      ? undefined
      : userIdField(data, "peer", im.maxUserIdBytes, Code.RecipientUnknown);
    const room = stringField(data, "room", im.maxRoomBytes, { optional: true });
    if ((peer === undefined) === (room === undefined)) {
      throw new ReplyError(Code.ParameterIllegal, "history needs exactly one of peer or room");
    }
    const limit = intField(data, "limit", { optional: true, max: im.historyMaxLimit }) ?? 20;
    let before = intField(data, "before", { optional: true }) ?? Number.MAX_SAFE_INTEGER;
    const matches = (e: InboxEntry) =>
      room !== undefined
        ? e.target === room
        : e.target === "" && ((e.from === peer && e.to === userId) || (e.from === userId && e.to === peer));
    const messages: InboxEntry[] = [];
    const page = inbox.syncPageSize;
    let scanned = 0;
    while (messages.length < limit && scanned < inbox.maxEntries) {
      const entries = await d.store.rangeBefore(appId, userId, before, page);
      for (const e of entries) {
        if (matches(e)) messages.push(e);
        if (messages.length === limit) break;
      }
      scanned += entries.length;
      if (entries.length < page) break;
      before = entries[entries.length - 1].seq;
    }
    // limit 0 is valid input and finds nothing: no "more" (and no messages[-1] to read).
    const more = messages.length > 0 && messages.length === limit;
    return { messages, before: more ? messages[messages.length - 1].seq : 0, more };
  }

  async function users(conn: Connection) {
    const userList = await d.presence.onlineUsers(conn.identity!.appId);
    return { userCount: userList.length, userList };
  }

  return {
    sendMsg: { handler: sendMsg, auth: true },
    sync: { handler: sync, auth: true },
    ack: { handler: ack, auth: true },
    read: { handler: read, auth: true },
    history: { handler: history, auth: true },
    users: { handler: users, auth: true },
  };
}
