/**
 * Message sending shared by WebSocket commands and the HTTP API: every accepted message is
 * appended to each recipient's inbox (seq assigned by the store) and then delivered live.
 *
 * @example
 * ```ts
 * const result = await sendDirect(ctx, { appId: 101, from: "alice", to: "bob", msg: "hi" });
 * result.seq; // bob's inbox seq
 * ```
 * @module
 */
import type { ServerContext } from "./context.ts";
import { ImError } from "./errors.ts";
import { Code, type EntryFields, entryFrame, entryFramePrefix } from "./protocol.ts";
import type { InboxLimits } from "./store/store.ts";

/** A direct (1:1) send. */
export interface DirectSend {
  appId: number;
  from: string;
  to: string;
  msg: string;
  type?: string;
  /** Idempotency key: a retry with the same key returns the first result. */
  dedupKey?: string;
  /** The sender's connection (it gets the reply, not a push). */
  originConnId?: string;
  /** Told the new msgId before any inbox append (the origin connection skips its own copy). */
  onMsgId?: (msgId: string) => void;
  /** Also keep a copy in the sender's inbox (false for backend sends from "system" names). */
  copyToSender?: boolean;
}

/** Result of a direct send. */
export interface DirectResult {
  msgId: string;
  /** Recipient's inbox seq. */
  seq: number;
  /** Seq of the copy in the sender's inbox (0 when no copy was kept). */
  senderSeq: number;
  time: number;
  /** The recipient had a live connection. */
  delivered: boolean;
  /** This was a retry of an earlier send; nothing was delivered again. */
  duplicate?: boolean;
}

/** A room send. */
export interface RoomSend {
  appId: number;
  from: string;
  room: string;
  msg: string;
  type?: string;
  dedupKey?: string;
  originConnId?: string;
  /** Told the new msgId before any inbox append (the origin connection skips its own copy). */
  onMsgId?: (msgId: string) => void;
  /** Refuse when the sender is not a member (WebSocket clients); backends may post to any room. */
  requireMember: boolean;
}

/** Result of a room send. */
export interface RoomResult {
  msgId: string;
  /** Seq in the sender's inbox (0 when the sender is not a member). */
  seq: number;
  time: number;
  members: number;
  duplicate?: boolean;
}

/** Inbox bounds from config. */
export function inboxLimits(ctx: ServerContext): InboxLimits {
  return { maxEntries: ctx.config.inbox.maxEntries, maxAgeMs: ctx.config.inbox.maxAge * 1000 };
}

/** How long a retry waits for a concurrent first send with the same key to finish (ms). */
const IN_FLIGHT_WAIT_MS = 3000;
/**
 * TTL of the in-flight marker until the result is stored: if the node dies mid-send, the key
 * frees itself after this instead of blocking retries for the whole de-dup TTL.
 */
const IN_FLIGHT_TTL_MS = 30_000;

/**
 * Run `send` at most once per `dedupKey` within the de-dup TTL; a retry gets the stored result.
 * A retry that races the first send (claim held, result not stored yet) waits for the result,
 * so it too answers the original msgId/seq; if the first send fails and drops its claim, the
 * retry claims the key and sends itself. A first send still running after the wait makes the
 * retry fail with 1024 and a retry hint (never a success without msgId).
 */
async function once<T extends { duplicate?: boolean }>(
  ctx: ServerContext,
  dedupKey: string | undefined,
  send: () => Promise<T>,
): Promise<T> {
  if (!dedupKey) return send();
  const ttl = ctx.config.im.msgIdDedupTtl * 1000;
  const started = Date.now();
  for (let delay = 2;; delay = Math.min(delay * 2, 100)) {
    const held = await ctx.store.claim(dedupKey, "", Math.min(ttl, IN_FLIGHT_TTL_MS));
    if (held === null) break;
    if (held !== "") {
      ctx.counters.drops.inc({ reason: "duplicate" });
      return { ...JSON.parse(held) as T, duplicate: true };
    }
    if (Date.now() - started >= IN_FLIGHT_WAIT_MS) {
      throw new ImError(Code.Unavailable, "a send with this id is still in progress; retry later", {
        retryMs: 1000,
      });
    }
    await new Promise((r) => setTimeout(r, delay));
  }
  try {
    const result = await send();
    await ctx.store.putClaim(dedupKey, JSON.stringify(result), ttl);
    return result;
  } catch (error) {
    await ctx.store.dropClaim(dedupKey).catch(() => {});
    throw error;
  }
}

/** Append a direct message to the recipient's (and sender's) inbox and deliver it. */
export function sendDirect(ctx: ServerContext, s: DirectSend): Promise<DirectResult> {
  return once<DirectResult>(ctx, s.dedupKey, async () => {
    const fields: EntryFields = {
      msgId: ctx.ids.msgId(),
      from: s.from,
      to: s.to,
      target: "",
      type: s.type ?? "text",
      msg: s.msg,
      time: ctx.clock.now(),
    };
    s.onMsgId?.(fields.msgId);
    const limits = inboxLimits(ctx);
    const prefix = entryFramePrefix(fields);
    const copy = s.copyToSender !== false && s.from !== "" && s.from !== s.to;
    const [entry, senderEntry] = await Promise.all([
      ctx.store.append(s.appId, s.to, fields, limits),
      copy ? ctx.store.append(s.appId, s.from, fields, limits) : undefined,
    ]);
    ctx.counters.messages.inc({ kind: "direct" });
    ctx.counters.deliveries.inc({}, copy ? 2 : 1);
    const [delivered] = await Promise.all([
      ctx.bus.deliver(s.appId, s.to, entry, entryFrame(prefix, entry.seq)),
      senderEntry &&
      ctx.bus.deliver(s.appId, s.from, senderEntry, entryFrame(prefix, senderEntry.seq), s.originConnId),
    ]);
    return {
      msgId: fields.msgId,
      seq: entry.seq,
      senderSeq: senderEntry?.seq ?? 0,
      time: fields.time,
      delivered,
    };
  });
}

/** Append a room message to every member's inbox and deliver it. */
export function sendRoom(ctx: ServerContext, s: RoomSend): Promise<RoomResult> {
  return once<RoomResult>(ctx, s.dedupKey, async () => {
    const members = await ctx.store.roomMembers(s.appId, s.room);
    if (members.length === 0) throw new ImError(Code.RoomNotFound, `room ${s.room} has no members`);
    const isMember = members.includes(s.from);
    if (s.requireMember && !isMember) throw new ImError(Code.NotRoomMember, `not a member of ${s.room}`);
    const fields: EntryFields = {
      msgId: ctx.ids.msgId(),
      from: s.from,
      to: s.room,
      target: s.room,
      type: s.type ?? "text",
      msg: s.msg,
      time: ctx.clock.now(),
    };
    if (isMember) s.onMsgId?.(fields.msgId);
    const seqs = await ctx.store.appendMany(s.appId, members, fields, inboxLimits(ctx));
    ctx.counters.messages.inc({ kind: "room" });
    ctx.counters.deliveries.inc({}, members.length);
    const prefix = entryFramePrefix(fields);
    let senderSeq = 0;
    const deliveries: Promise<boolean>[] = [];
    for (let i = 0; i < members.length; i++) {
      const seq = seqs[i];
      if (members[i] === s.from) senderSeq = seq;
      const origin = members[i] === s.from ? s.originConnId : undefined;
      deliveries.push(
        ctx.bus.deliver(s.appId, members[i], { ...fields, seq }, entryFrame(prefix, seq), origin),
      );
    }
    await Promise.all(deliveries);
    return { msgId: fields.msgId, seq: senderSeq, time: fields.time, members: members.length };
  });
}

/**
 * Send to every user online in the app except the sender (HTTP sendMessageAll): each gets
 * an inbox entry, so a connection that drops mid-way still receives it on resync.
 */
export function sendApp(
  ctx: ServerContext,
  s: { appId: number; from: string; msg: string; type?: string; dedupKey?: string },
): Promise<{ msgId: string; recipients: number; duplicate?: boolean }> {
  return once<{ msgId: string; recipients: number; duplicate?: boolean }>(ctx, s.dedupKey, async () => {
    const windowMs = ctx.config.heartbeat.onlineWindow * 1000;
    const users = (await ctx.store.onlineUsers(s.appId, windowMs)).filter((u) => u !== s.from);
    const fields: EntryFields = {
      msgId: ctx.ids.msgId(),
      from: s.from,
      to: "",
      target: "",
      type: s.type ?? "text",
      msg: s.msg,
      time: ctx.clock.now(),
    };
    const seqs = users.length ? await ctx.store.appendMany(s.appId, users, fields, inboxLimits(ctx)) : [];
    ctx.counters.messages.inc({ kind: "app" });
    ctx.counters.deliveries.inc({}, users.length);
    const prefix = entryFramePrefix(fields);
    await Promise.all(
      users.map((u, i) =>
        ctx.bus.deliver(s.appId, u, { ...fields, seq: seqs[i] }, entryFrame(prefix, seqs[i]))
      ),
    );
    return { msgId: fields.msgId, recipients: users.length };
  });
}
