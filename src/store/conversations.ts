/**
 * How an inbox's conversation summaries follow its entries (PROTOCOL.md C.2–C.4), as pure rules the
 * engines written in TypeScript share (the Redis engine runs the same rules in its append script):
 *
 * - a message starts or moves its conversation: `last` is the message, `time` its time, `seq` its inbox
 *   seq (the order of the list), and `unread` grows
 *   when it is from someone else;
 * - an edit of the conversation's last message changes `last.msg`, unless a later version (`editedAt`)
 *   is already shown;
 * - a recall or a deletion (for the owner) makes the message dead: it stops counting as unread, a recalled
 *   last message becomes a tombstone, a deleted one gives way to the previous live message;
 * - receipts change nothing;
 * - reading recounts `unread` from the entries after the new read position.
 *
 * @example
 * ```ts
 * const s = newSummaries();
 * applyEntry(s, entry, "bob", () => undefined);
 * s.convs.get("u:alice")!.unread; // 1
 * ```
 * @module
 */
import { conversationOf } from "../protocol/pushes.ts";
import type { Conversation, InboxEntry, LastMessage, ReadChange } from "./store.ts";

/** Where a message entry of the inbox is, for events that refer to it. */
export interface MessagePosition {
  seq: number;
  from: string;
  conv: string;
}

/** The summaries of one inbox. */
export interface Summaries {
  convs: Map<string, Conversation>;
  /** msgId → position of every message entry still in the inbox. */
  index: Map<string, MessagePosition>;
  /** msgIds recalled or deleted for the owner. */
  dead: Set<string>;
}

/** Empty summaries. */
export function newSummaries(): Summaries {
  return { convs: new Map(), index: new Map(), dead: new Set() };
}

/** The `last` of a message entry. */
export function lastOf(e: InboxEntry): LastMessage {
  return { msgId: e.msgId, seq: e.seq, from: e.from, type: e.type, time: e.time, msg: e.msg };
}

function conversation(id: string, time: number): Conversation {
  const room = id.startsWith("r:");
  const name = id.slice(2);
  return room
    ? { id, kind: "room", room: name, time, seq: 0, readSeq: 0, unread: 0 }
    : { id, kind: "direct", peer: name, time, seq: 0, readSeq: 0, unread: 0 };
}

/**
 * Apply one appended entry. `previousLive(conv, beforeSeq)` finds the newest live message of `conv`
 * before `beforeSeq` (for a deleted last message).
 */
export function applyEntry(
  s: Summaries,
  e: InboxEntry,
  owner: string,
  previousLive: (conv: string, beforeSeq: number) => InboxEntry | undefined,
): void {
  const conv = conversationOf(e, owner);
  if (conv === "") return;
  const kind = e.kind ?? "msg";
  if (kind === "msg") {
    let c = s.convs.get(conv);
    if (!c) s.convs.set(conv, c = conversation(conv, e.time));
    c.time = Math.max(c.time, e.time);
    c.seq = e.seq;
    c.last = lastOf(e);
    if (e.from !== owner) c.unread++;
    s.index.set(e.msgId, { seq: e.seq, from: e.from, conv });
    return;
  }
  const c = s.convs.get(conv);
  const ref = e.ref ?? "";
  if (kind === "edit") {
    // edit events may arrive out of version order (two devices editing at once): the highest version wins
    const last = c?.last;
    if (c && last?.msgId === ref && !last.recalled && e.time > (last.editedAt ?? -Infinity)) {
      c.last = { ...last, msg: e.msg, editedAt: e.time };
    }
    return;
  }
  if ((kind !== "recall" && kind !== "delete") || s.dead.has(ref)) return;
  s.dead.add(ref);
  const pos = s.index.get(ref);
  if (!c) return;
  if (pos && pos.seq > c.readSeq && pos.from !== owner) c.unread = Math.max(0, c.unread - 1);
  if (c.last?.msgId !== ref) return;
  if (kind === "recall") {
    const { msg: _gone, editedAt: _version, ...rest } = c.last;
    c.last = { ...rest, recalled: true };
  } else {
    const previous = previousLive(conv, c.last.seq);
    if (previous) c.last = lastOf(previous);
    else delete c.last;
  }
}

/**
 * The conversations a new one pushes out of the list once there are more than `max`: the least recent
 * (lowest seq) first, as many as are over (every engine drops them the same way; Redis in append.lua
 * `capConversations`). Empty while there are at most `max`. One over — a conversation opening at the cap —
 * is one scan; more (after `inbox.maxConversations` was lowered) one sort, not a scan per conversation.
 */
export function overCap(convs: Map<string, Conversation>, max: number): string[] {
  const over = convs.size - max;
  if (over <= 0) return [];
  if (over === 1) {
    let oldest: Conversation | undefined;
    for (const c of convs.values()) if (!oldest || c.seq < oldest.seq) oldest = c;
    return oldest ? [oldest.id] : [];
  }
  return [...convs.values()].sort((a, b) => a.seq - b.seq).slice(0, over).map((c) => c.id);
}

/** Whether `e` is a live (not recalled, not deleted) message of `conv`. */
export function isLiveMessage(s: Summaries, e: InboxEntry, conv: string, owner: string): boolean {
  return (e.kind ?? "msg") === "msg" && !s.dead.has(e.msgId) && conversationOf(e, owner) === conv;
}

/** Whether `e` is a live message of `conv` from someone else than `owner`. */
export function countsAsUnread(s: Summaries, e: InboxEntry, conv: string, owner: string): boolean {
  return e.from !== owner && isLiveMessage(s, e, conv, owner);
}

/**
 * Move read positions: one conversation, or all (`conv` undefined), to `seq` (never back, capped at
 * `lastSeq`). `entriesAfter(seq)` yields the inbox entries after a seq, oldest first, for the recount.
 */
export function markRead(
  s: Summaries,
  conv: string | undefined,
  seq: number,
  lastSeq: number,
  owner: string,
  entriesAfter: (seq: number) => Iterable<InboxEntry>,
): ReadChange[] {
  const target = Math.min(Math.floor(seq), lastSeq);
  const changes: ReadChange[] = [];
  const convs = conv === undefined
    ? [...s.convs.values()]
    : [s.convs.get(conv)].filter((c) => c !== undefined);
  for (const c of convs) {
    if (target <= c.readSeq) continue;
    const previous = c.readSeq;
    c.readSeq = target;
    let unread = 0;
    for (const e of entriesAfter(target)) if (countsAsUnread(s, e, c.id, owner)) unread++;
    c.unread = unread;
    changes.push({ id: c.id, previous, readSeq: c.readSeq, unread });
  }
  return changes;
}

/** A page of conversations, most recent first; `before` pages by seq (exclusive). */
export function pageOf(
  s: Summaries,
  limit: number,
  before: number | undefined,
): { items: Conversation[]; more: boolean } {
  const sorted = [...s.convs.values()]
    .filter((c) => before === undefined || c.seq < before)
    .sort((a, b) => b.seq - a.seq);
  return { items: sorted.slice(0, limit).map((c) => structuredClone(c)), more: sorted.length > limit };
}

/**
 * Forget what a trimmed entry left behind: a message's position and mark, or the mark a recall or deletion
 * set for a message already gone (nothing reads it then, and keeping it would grow without bound).
 */
export function forget(s: Summaries, e: InboxEntry): void {
  const kind = e.kind ?? "msg";
  if (kind === "msg") {
    s.index.delete(e.msgId);
    s.dead.delete(e.msgId);
  } else if ((kind === "recall" || kind === "delete") && e.ref && !s.index.has(e.ref)) {
    s.dead.delete(e.ref);
  }
}
