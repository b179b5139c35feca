// No `// @ts-check` pragma: like app.js, this is type-checked with the DOM lib by
// tests/browser/web_client_test.ts, not by the project-wide `deno check`.
/**
 * The chat page's data, without the DOM: conversations with their lines, unread counts, receipts,
 * edits, recalls, deletions, typing and presence. Every change goes through a method here; the
 * views only read. Conversation ids are the server's (`"u:<peer>"`, `"r:<room>"`), plus `"all"`
 * (app-wide messages) and `"system"` (backend messages without a sender).
 */

import {
  expireTyping,
  fromServer,
  insertLine,
  markRead,
  newConversation,
  preview,
  setTyping,
} from "./conversation.js";

/** @typedef {import("./client.js").MsgPush} MsgPush */
/** @typedef {import("./client.js").Conversation} ServerConversation */
/** @typedef {import("./conversation.js").Line} Line */
/** @typedef {import("./conversation.js").Conversation} Conversation */

const PENDING = 2 ** 52;
const EPOCH = 2 ** 40;
const RANK = { "": 0, event: 0, failed: 0, pending: 0, sent: 1, delivered: 2, read: 3 };

export class ChatModel {
  /** @param {string} me */
  constructor(me) {
    this.me = me;
    /** Bumped when the server's inbox epoch changes: later seqs sort after earlier ones. */
    this.epochIndex = 0;
    /** @type {Map<string, Conversation>} */
    this.convs = new Map();
    /** msgIds already shown (dedupe across replays, history and other devices). */
    this.seen = new Set();
    /** Own and others' lines by msgId. @type {Map<string, {conv: Conversation, line: Line}>} */
    this.byMsgId = new Map();
    /** Receipts that arrived before their message's msgId was known. @type {Map<string, Line["status"]>} */
    this.early = new Map();
    this.online = new Set();
    /** @type {Set<string>} */
    this.blocked = new Set();
    /** Entries up to this inbox seq were acked by some device before this login (servers without `conversations`). */
    this.seenUpTo = 0;
    /** The server answers `conversations`: its unread counts are the truth. */
    this.serverCounts = false;
    this.localKeys = 0;
  }

  /** The conversation `id`, created empty if new. @param {string} id */
  conv(id) {
    let c = this.convs.get(id);
    if (!c) this.convs.set(id, c = newConversation(id));
    return c;
  }

  /** The conversation a message belongs to. @param {MsgPush} m */
  convIdOf(m) {
    if (m.target) return `r:${m.target}`;
    if (m.to === "") return "all";
    const peer = m.from === this.me ? m.to : m.from;
    return peer ? `u:${peer}` : "system";
  }

  /** @param {Conversation} c @param {{seq?: number, roomSeq?: number}} m */
  orderOf(c, m) {
    const n = c.kind === "room" && typeof m.roomSeq === "number" ? m.roomSeq : (m.seq ?? 0);
    if (c.kind === "room" && typeof m.roomSeq !== "number" && c.lines.some((l) => l.roomSeq)) {
      // An own room send answered without a roomSeq: after everything shown (it is the newest).
      return this.#afterLast(c) + 0.25;
    }
    return this.epochIndex * EPOCH + n;
  }

  /** @param {Conversation} c */
  #afterLast(c) {
    const orders = c.lines.map((l) => l.order).filter((o) => o < PENDING);
    return Math.floor(Math.max(this.epochIndex * EPOCH, ...orders));
  }

  /**
   * Add a pushed or history message. Returns its conversation and whether it is news (counts as
   * unread unless its conversation is in view), or null for a message already shown.
   * @param {MsgPush} m
   * @param {boolean} [fromHistory]
   */
  addMessage(m, fromHistory = false) {
    if (this.seen.has(m.msgId)) return null;
    this.seen.add(m.msgId);
    const c = this.conv(this.convIdOf(m));
    const mine = m.from === this.me;
    /** @type {Line} */
    const line = {
      key: m.msgId,
      msgId: m.msgId,
      from: m.from,
      text: m.recalled ? "" : String(m.msg ?? ""),
      time: m.time,
      order: this.orderOf(c, m),
      mine,
      status: mine ? this.early.get(m.msgId) ?? "sent" : "",
      seq: m.seq ?? 0,
      roomSeq: m.roomSeq,
      editedAt: m.recalled ? undefined : m.editedAt,
      recalled: m.recalled || undefined,
    };
    this.early.delete(m.msgId);
    this.byMsgId.set(m.msgId, { conv: c, line });
    insertLine(c, line);
    c.typing.delete(m.from); // the message is what they were typing
    const floor = Math.max(c.countedUpTo, c.readSeq, this.serverCounts ? 0 : this.seenUpTo);
    const news = !fromHistory && !mine && !(line.seq > 0 && line.seq <= floor) && !this.blocked.has(m.from);
    if (news) c.unread++;
    return { conv: c, line, news };
  }

  /** A local own line, "sending…" until the server answers. @param {string} convId @param {string} text @param {string} clientMsgId */
  addPending(convId, text, clientMsgId) {
    const c = this.conv(convId);
    /** @type {Line} */
    const line = {
      key: `p${++this.localKeys}`,
      from: this.me,
      text,
      time: Date.now(),
      order: PENDING + this.localKeys,
      mine: true,
      status: "pending",
      seq: 0,
      conv: convId,
      clientMsgId,
    };
    insertLine(c, line);
    return line;
  }

  /**
   * The server stored an own send: give the line its msgId and place. Returns false when the
   * message was shown already (a resume replayed the copy of an attempt whose reply was lost): the
   * pending line is dropped then.
   * @param {Line} line
   * @param {{msgId: string, time: number, seq: number, senderSeq?: number, roomSeq?: number}} r
   */
  confirm(line, r) {
    const c = this.conv(/** @type {string} */ (line.conv));
    if (this.seen.has(r.msgId)) {
      c.lines = c.lines.filter((l) => l !== line);
      return false;
    }
    this.seen.add(r.msgId);
    const seq = r.senderSeq ?? r.seq;
    Object.assign(line, {
      key: r.msgId,
      msgId: r.msgId,
      time: r.time,
      status: "sent",
      seq,
      roomSeq: r.roomSeq,
    });
    line.order = this.orderOf(c, { seq, roomSeq: r.roomSeq });
    const early = this.early.get(r.msgId);
    if (early) line.status = early;
    this.early.delete(r.msgId);
    this.byMsgId.set(r.msgId, { conv: c, line });
    c.lines.sort((a, b) => a.order - b.order);
    c.time = Math.max(c.time, line.time);
    return true;
  }

  /** An event line (join/leave) after every line shown so far. @param {string} convId @param {string} text @param {number} time */
  addEvent(convId, text, time) {
    const c = this.conv(convId);
    /** @type {Line} */
    const line = {
      key: `e${++this.localKeys}`,
      from: "",
      text,
      time,
      order: this.#afterLast(c) + 0.5,
      mine: false,
      status: "event",
      seq: 0,
    };
    insertLine(c, line);
  }

  /**
   * A receipt for own messages: `delivered` or `read` (never downgraded). Returns the conversations changed.
   * @param {string[]} msgIds @param {"delivered" | "read"} status
   */
  receipt(msgIds, status) {
    /** @type {Set<Conversation>} */
    const changed = new Set();
    for (const id of msgIds) {
      const hit = this.byMsgId.get(id);
      if (!hit) {
        if (RANK[status] > RANK[this.early.get(id) ?? ""]) this.early.set(id, status);
        if (this.early.size > 1000) this.early.delete(this.early.keys().next().value ?? "");
        continue;
      }
      if (hit.line.mine && RANK[status] > RANK[hit.line.status]) {
        hit.line.status = status;
        changed.add(hit.conv);
      }
    }
    return changed;
  }

  /** @param {string} msgId @param {string} [convId] */
  #find(msgId, convId) {
    const hit = this.byMsgId.get(msgId);
    if (hit) return hit;
    const conv = convId ? this.convs.get(convId) : undefined;
    return conv ? { conv, line: undefined } : undefined;
  }

  /**
   * An edit (`msgEdited`, or the reply to this page's own): applies unless the message is recalled
   * or shows a newer edit already (`editedAt` is the edit's version; edits from two devices can
   * arrive in either order).
   * @param {{msgId: string, msg: string, editedAt: number, conversation?: string}} e
   */
  edit(e) {
    const hit = this.#find(e.msgId, e.conversation);
    if (!hit) return undefined;
    const newer = (/** @type {{editedAt?: number, recalled?: boolean}} */ m) =>
      !m.recalled && !(Number(m.editedAt) >= e.editedAt);
    if (hit.line && newer(hit.line)) Object.assign(hit.line, { text: String(e.msg), editedAt: e.editedAt });
    const last = hit.conv.last;
    if (last?.msgId === e.msgId && newer(last)) {
      hit.conv.last = { ...last, msg: String(e.msg), editedAt: e.editedAt };
    }
    return hit.conv;
  }

  /** @param {{msgId: string, conversation?: string}} e */
  recall(e) {
    const hit = this.#find(e.msgId, e.conversation);
    if (hit?.line) {
      if (!hit.line.mine && !hit.line.recalled && hit.line.seq > hit.conv.readSeq && hit.conv.unread > 0) {
        hit.conv.unread--;
      }
      Object.assign(hit.line, { text: "", recalled: true, editedAt: undefined });
    }
    if (hit?.conv.last?.msgId === e.msgId) {
      hit.conv.last = { ...hit.conv.last, msg: undefined, recalled: true };
    }
    return hit?.conv;
  }

  /** Deleted for this user: the line goes. @param {{msgId: string, conversation?: string}} e */
  remove(e) {
    this.seen.add(e.msgId);
    const hit = this.#find(e.msgId, e.conversation);
    if (hit?.line) {
      hit.conv.lines = hit.conv.lines.filter((l) => l !== hit.line);
      this.byMsgId.delete(e.msgId);
    }
    if (hit?.conv.last?.msgId === e.msgId) hit.conv.last = null;
    return hit?.conv;
  }

  /** The server's view of a conversation (`conversations`). @param {ServerConversation} s */
  fromServer(s) {
    const c = this.conv(s.id);
    const known = s.last !== undefined && this.seen.has(s.last.msgId);
    fromServer(c, s, known);
    return c;
  }

  /** Conversation `id` is read up to `readSeq` (here, or `readState` from another device). @param {string} id @param {number} readSeq @param {number} [unread] */
  markRead(id, readSeq, unread = 0) {
    markRead(this.conv(id), readSeq, unread);
  }

  /** Someone is typing in conversation `id` (or stopped). @param {string} id @param {string} from @param {string} state @param {number} [expiresIn] */
  typing(id, from, state, expiresIn) {
    setTyping(this.conv(id), from, state, expiresIn);
  }

  /** Drop expired typing signals; returns when the next one expires (or Infinity). */
  expireTyping(now = Date.now()) {
    return Math.min(Infinity, ...[...this.convs.values()].map((c) => expireTyping(c, now)));
  }

  /** Unread messages over all conversations (the tab title). */
  unreadTotal() {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread;
    return n;
  }

  /** The newest line worth a preview, or the server's `last`. @param {Conversation} c */
  preview(c) {
    return preview(c, this.blocked);
  }
}
