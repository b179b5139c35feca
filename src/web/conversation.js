// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * One conversation of the chat page and what changes it by itself: its lines in order, its read
 * mark and unread count, the server's view of it, who is typing and its preview. The index over
 * all conversations (msgIds, receipts, ordering across epochs) is model.js.
 */

/** @typedef {import("./client.js").Conversation} ServerConversation */

/**
 * @typedef {object} Line A message or event line of a conversation.
 * @property {string} key msgId, or a local key for pending and event lines
 * @property {string} [msgId] the server's id (own sends get it with the reply)
 * @property {string} from
 * @property {string} text
 * @property {number} time
 * @property {number} order sort key within the conversation (epoch × 2^40 + inbox seq or roomSeq)
 * @property {boolean} mine
 * @property {"pending" | "sent" | "delivered" | "read" | "failed" | "event" | ""} status
 * @property {number} seq inbox seq (0 = not in this user's inbox, e.g. room history before joining)
 * @property {number} [roomSeq] room messages: position in the room's timeline
 * @property {number} [editedAt] the version of its text: an edit only applies over an older one
 * @property {boolean} [recalled] a tombstone: the sender recalled it
 * @property {string} [conv] own sends: the conversation
 * @property {string} [clientMsgId] own sends: the id every attempt carries (server de-duplicates)
 * @property {string} [error] own sends that failed: why (shown as the retry button's tooltip)
 * @property {boolean} [transient] the failure may pass (offline, timed out, 1023/1024): resent after a reconnect
 */

/**
 * @typedef {object} Conversation
 * @property {string} id
 * @property {"direct" | "room" | "all" | "system"} kind
 * @property {string} name the peer or the room ("" for all/system)
 * @property {Line[]} lines sorted by `order`
 * @property {number} unread
 * @property {number} readSeq this user's read mark (inbox seq)
 * @property {number} countedUpTo messages with an inbox seq up to this are already in `unread`
 * @property {number} time last activity (ms)
 * @property {ServerConversation["last"] | null} last the server's newest message (before lines load)
 * @property {"none" | "loading" | "loaded"} history
 * @property {boolean} more older messages exist on the server (history paging)
 * @property {number} before history cursor for the next older page
 * @property {Map<string, number>} typing who is typing here, until when (ms)
 */

const MAX_LINES = 500;

/** @param {string} id */
export function kindOf(id) {
  if (id === "all" || id === "system") return id;
  return id.startsWith("r:") ? "room" : "direct";
}

/** An empty conversation. @param {string} id @returns {Conversation} */
export function newConversation(id) {
  const kind = kindOf(id);
  return {
    id,
    kind,
    name: kind === "direct" || kind === "room" ? id.slice(2) : "",
    lines: [],
    unread: 0,
    readSeq: 0,
    countedUpTo: 0,
    time: 0,
    last: null,
    history: "none",
    more: false,
    before: 0,
    typing: new Map(),
  };
}

/** Add a line in order (the oldest go beyond MAX_LINES). @param {Conversation} c @param {Line} line */
export function insertLine(c, line) {
  c.lines.push(line);
  c.lines.sort((a, b) => a.order - b.order);
  if (c.lines.length > MAX_LINES) c.lines.splice(0, c.lines.length - MAX_LINES);
  if (line.status !== "event") c.time = Math.max(c.time, line.time);
}

/**
 * The server's view (`conversations`): its unread count, plus messages of others this page
 * received after the server counted. `known`: its last message is shown already.
 * @param {Conversation} c @param {ServerConversation} s @param {boolean} known
 */
export function fromServer(c, s, known) {
  c.readSeq = Math.max(c.readSeq, Number(s.readSeq) || 0);
  c.countedUpTo = Math.max(c.readSeq, s.last?.seq ?? 0);
  c.unread = (Number(s.unread) || 0) +
    c.lines.filter((l) => !l.mine && !l.recalled && l.seq > c.countedUpTo && l.status !== "event").length;
  c.time = Math.max(c.time, Number(s.time) || 0);
  if (s.last && !known) c.last = s.last;
}

/** Read up to `readSeq`, `unread` left. @param {Conversation} c @param {number} readSeq @param {number} unread */
export function markRead(c, readSeq, unread) {
  c.readSeq = Math.max(c.readSeq, readSeq);
  c.countedUpTo = Math.max(c.countedUpTo, c.readSeq, ...c.lines.map((l) => l.seq));
  c.unread = unread;
}

/** The newest inbox seq of a conversation (what `read` marks up to). @param {Conversation} c */
export function topSeq(c) {
  return Math.max(0, ...c.lines.filter((l) => l.status !== "pending").map((l) => l.seq), c.last?.seq ?? 0);
}

/** `start` counts for `expiresIn` ms. @param {Conversation} c @param {string} from @param {string} state @param {number} [expiresIn] */
export function setTyping(c, from, state, expiresIn = 6000) {
  if (state === "start") c.typing.set(from, Date.now() + expiresIn);
  else c.typing.delete(from);
}

/** Drop expired typing signals; returns when the next one expires (or Infinity). @param {Conversation} c @param {number} now */
export function expireTyping(c, now) {
  let next = Infinity;
  for (const [who, until] of c.typing) {
    if (until <= now) c.typing.delete(who);
    else next = Math.min(next, until);
  }
  return next;
}

/**
 * The newest line worth a preview (not an event, not a room message of a blocked user), or the
 * server's `last`.
 * @param {Conversation} c @param {Set<string>} blocked
 */
export function preview(c, blocked) {
  for (let i = c.lines.length - 1; i >= 0; i--) {
    const l = c.lines[i];
    if (l.status === "event" || (blocked.has(l.from) && c.kind === "room")) continue;
    return { from: l.from, text: l.text, recalled: !!l.recalled, time: l.time };
  }
  if (!c.last) return null;
  return { from: c.last.from, text: c.last.msg ?? "", recalled: !!c.last.recalled, time: c.last.time };
}
