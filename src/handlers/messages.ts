/**
 * Messaging commands: sendMsg, sync, ack, read, history, users (PROTOCOL.md B.2).
 * @module
 */
import type { Client } from "../client.ts";
import type { ServerContext } from "../context.ts";
import { ImError } from "../errors.ts";
import { Code, encodePush, type Request } from "../protocol.ts";
import type { Router } from "../router.ts";
import type { InboxEntry } from "../store/store.ts";
import { sendDirect } from "../messaging.ts";
import { replayInbox } from "../sync.ts";
import { appIdField, intField, stringField, userIdField } from "../validate.ts";

/** Register the messaging commands on `router`. */
export function addMessageRoutes(router: Router): void {
  router
    .add("sendMsg", sendMsg, { auth: true })
    .add("sync", sync, { auth: true })
    .add("ack", ack, { auth: true })
    .add("read", read, { auth: true })
    .add("history", history, { auth: true })
    .add("users", users, { auth: true });
}

/** The `msg`, `type` and `clientMsgId` fields common to sendMsg and roomMsg. */
export function messageFields(ctx: ServerContext, d: Record<string, unknown>) {
  const { im } = ctx.config;
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
  if (asked !== undefined && asked !== appId) throw new ImError(Code.CrossApp, "cannot reach another appId");
}

async function sendMsg(ctx: ServerContext, client: Client, req: Request) {
  const { userId, appId } = client.identity!;
  const d = req.data;
  sameApp(d, appId);
  const to = userIdField(d, "to", ctx.config.im.maxUserIdBytes, Code.RecipientUnknown);
  if (to === userId) throw new ImError(Code.SendToSelf, "cannot send a message to yourself");
  const { msg, type, clientMsgId } = messageFields(ctx, d);
  const r = await sendDirect(ctx, {
    appId,
    from: userId,
    to,
    msg,
    type,
    originConnId: client.id,
    onMsgId: (id) => client.expectOwn(id),
    dedupKey: clientMsgId ? `cm\u0000${appId}\u0000${userId}\u0000${clientMsgId}` : undefined,
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

async function sync(ctx: ServerContext, client: Client, req: Request) {
  const since = intField(req.data, "since", { optional: true }) ?? 0;
  const { appId, userId } = client.identity!;
  const head = await ctx.store.head(appId, userId, ctx.config.inbox.maxAge * 1000);
  if (since > head.lastSeq) {
    throw new ImError(Code.ParameterIllegal, "since is past the inbox head", {
      data: { inboxSeq: head.lastSeq, inboxEpoch: head.epoch },
    });
  }
  // Rewind: the entries after `since` are sent again, even if this connection had them.
  client.cursor = since;
  const result = await replayInbox(ctx, client);
  const data = { since, inboxSeq: client.cursor, replayed: result.replayed, inboxEpoch: head.epoch };
  if (result.lost > 0) {
    throw new ImError(Code.InboxGap, "entries were trimmed before delivery", {
      data: { ...data, lost: result.lost, firstSeq: result.firstSeq },
    });
  }
  return data;
}

async function ack(ctx: ServerContext, client: Client, req: Request) {
  const seq = intField(req.data, "seq")!;
  const { appId, userId } = client.identity!;
  const { current } = await ctx.store.advanceMark(appId, userId, "ack", seq);
  return { seq: current };
}

/**
 * Mark entries up to `seq` read and push a `read` receipt to the senders of the direct
 * messages among them (receipts are live-only pushes, not inbox entries).
 */
async function read(ctx: ServerContext, client: Client, req: Request) {
  const seq = intField(req.data, "seq")!;
  const { appId, userId } = client.identity!;
  const { previous, current } = await ctx.store.advanceMark(appId, userId, "read", seq);
  if (current > previous) {
    const limit = Math.min(current - previous, ctx.config.inbox.maxEntries);
    const entries = await ctx.store.rangeBefore(
      appId,
      userId,
      current + 1,
      limit,
      ctx.config.inbox.maxAge * 1000,
    );
    const bySender = new Map<string, string[]>();
    for (const e of entries) {
      if (e.seq <= previous || e.target !== "" || e.from === userId || e.from === "") continue;
      (bySender.get(e.from) ?? bySender.set(e.from, []).get(e.from)!).push(e.msgId);
    }
    const time = ctx.clock.now();
    for (const [sender, msgIds] of bySender) {
      const push = encodePush("read", {
        target: "",
        type: "read",
        msg: "",
        from: userId,
        to: sender,
        msgIds,
        time,
      });
      ctx.bus.sendToUser(appId, sender, push);
    }
  }
  return { seq: current };
}

/** Past messages with a peer or in a room, newest first, from the caller's own inbox. */
async function history(ctx: ServerContext, client: Client, req: Request) {
  const d = req.data;
  const { appId, userId } = client.identity!;
  const { config } = ctx;
  const peer = d.peer === undefined
    ? undefined
    : userIdField(d, "peer", config.im.maxUserIdBytes, Code.RecipientUnknown);
  const room = stringField(d, "room", config.im.maxRoomBytes, { optional: true });
  if ((peer === undefined) === (room === undefined)) {
    throw new ImError(Code.ParameterIllegal, "history needs exactly one of peer or room");
  }
  const limit = intField(d, "limit", { optional: true, max: config.im.historyMaxLimit }) ?? 20;
  let before = intField(d, "before", { optional: true }) ?? Number.MAX_SAFE_INTEGER;
  const matches = (e: InboxEntry) =>
    room !== undefined
      ? e.target === room
      : e.target === "" && ((e.from === peer && e.to === userId) || (e.from === userId && e.to === peer));
  const messages: InboxEntry[] = [];
  const maxAgeMs = config.inbox.maxAge * 1000;
  const page = config.inbox.syncPageSize;
  let scanned = 0;
  while (messages.length < limit && scanned < config.inbox.maxEntries) {
    const entries = await ctx.store.rangeBefore(appId, userId, before, page, maxAgeMs);
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

async function users(ctx: ServerContext, client: Client) {
  const userList = await ctx.store.onlineUsers(
    client.identity!.appId,
    ctx.config.heartbeat.onlineWindow * 1000,
  );
  return { userCount: userList.length, userList };
}
