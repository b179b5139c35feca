// No `// @ts-check` pragma on purpose: like app.js, this is type-checked with the DOM lib by
// tests/browser/web_client_test.ts, not by the project-wide `deno check` (which has no DOM lib).
/**
 * The message list of the open conversation: date separators, consecutive messages of one sender
 * grouped (the name once, on the first), the "new messages" separator, delivery states, edited and
 * recalled messages, and the per-message actions. Every user-supplied string (message text, user
 * ids, room names) goes through textContent or dataset, never innerHTML.
 */
import { clock, dayLabel, sameDay } from "./format.js";

/** @typedef {import("./conversation.js").Line} Line */
/** @typedef {import("./conversation.js").Conversation} Conversation */

/** Messages of one sender closer than this are one group. */
const GROUP_MS = 5 * 60_000;

const STATUS_TEXT = {
  pending: "sending…",
  sent: "sent",
  delivered: "delivered",
  read: "read",
  failed: "not sent — retry",
  event: "",
  "": "",
};

/**
 * @typedef {object} MessagesOptions
 * @property {Set<string>} blocked room messages of these users are hidden
 * @property {string | null} unreadKey the first unread line: a "new messages" separator goes before it
 * @property {number} unreadCount what the separator says
 * @property {string | null} menuKey the line whose actions are open
 * @property {boolean} more older messages can be loaded
 * @property {() => void} onMore load them
 * @property {(line: Line) => void} onRetry a failed own send's "not sent — retry"
 * @property {(line: Line | null) => void} onMenu open (or close, null) a line's actions
 * @property {(action: "edit" | "recall" | "delete", line: Line) => void} onAction
 * @property {{editMs: number, recallMs: number}} windows own messages offer Edit / Recall only this long
 * @property {number} now the time the menu is drawn at (ms)
 */

/** @param {string} tag @param {string} className @param {string} [text] */
function el(tag, className, text) {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** @param {string} text @param {string} className @param {() => void} onClick */
function button(text, className, onClick) {
  const b = /** @type {HTMLButtonElement} */ (el("button", className, text));
  b.type = "button";
  b.addEventListener("click", (e) => {
    e.stopPropagation();
    onClick();
  });
  return b;
}

/** The lines shown: room messages of blocked users are left out. @param {Conversation} conv @param {Set<string>} blocked */
export function visibleLines(conv, blocked) {
  return conv.kind === "room" ? conv.lines.filter((l) => l.mine || !blocked.has(l.from)) : conv.lines;
}

/**
 * Replace the contents of `ol` with the lines of `conv`.
 * @param {HTMLElement} ol
 * @param {Conversation} conv
 * @param {MessagesOptions} o
 */
export function renderMessages(ol, conv, o) {
  const lines = visibleLines(conv, o.blocked);
  const named = conv.kind === "room" || conv.kind === "all";
  ol.replaceChildren();
  if (o.more) {
    const li = el("li", "load-more");
    li.append(button("Load earlier messages", "link", o.onMore));
    ol.append(li);
  }
  /** @type {Line | null} */
  let prev = null;
  lines.forEach((l, i) => {
    if (!prev || !sameDay(prev.time, l.time)) ol.append(separator("day", dayLabel(l.time)));
    if (l.key === o.unreadKey) {
      const n = o.unreadCount;
      ol.append(separator("unread-sep", n === 1 ? "1 new message" : `${n} new messages`));
    }
    if (l.status === "event") {
      const li = el("li", "message event");
      li.dataset.key = l.key;
      li.append(el("span", "text", l.text));
      ol.append(li);
      prev = null;
      return;
    }
    const next = lines[i + 1];
    const first = !joins(prev, l) || ol.lastElementChild?.classList.contains("unread-sep") === true;
    const last = !next || !joins(l, next) || next.key === o.unreadKey;
    ol.append(messageItem(l, { named: named && first && !l.mine, first, last }, o));
    prev = l;
  });
}

/** @param {Line | null} a @param {Line} b consecutive messages of one sender, same day, close in time */
function joins(a, b) {
  return !!a && a.status !== "event" && b.status !== "event" && a.from === b.from &&
    sameDay(a.time, b.time) &&
    Math.abs(b.time - a.time) < GROUP_MS;
}

/** @param {string} className @param {string} text */
function separator(className, text) {
  const li = el("li", className);
  li.setAttribute("role", "separator");
  li.append(el("span", "", text));
  return li;
}

/**
 * @param {Line} l
 * @param {{named: boolean, first: boolean, last: boolean}} place
 * @param {MessagesOptions} o
 */
function messageItem(l, place, o) {
  const li = el("li", "message");
  li.classList.toggle("mine", l.mine);
  li.classList.toggle("first", place.first);
  li.classList.toggle("last", place.last);
  li.classList.toggle("recalled", !!l.recalled);
  li.dataset.key = l.key;
  if (l.msgId) li.dataset.msgId = l.msgId;
  if (place.named) li.append(el("span", "from", l.from));
  const text = l.recalled
    ? el("span", "text tombstone", l.mine ? "You recalled this message" : "This message was recalled")
    : el("span", "text", l.text);
  li.append(text);
  const meta = el("span", "meta");
  if (l.editedAt !== undefined && !l.recalled) meta.append(el("span", "edited", "edited"));
  const time = /** @type {HTMLTimeElement} */ (el("time", "", clock(l.time)));
  const date = new Date(l.time);
  time.dateTime = date.toISOString();
  time.title = date.toLocaleString();
  meta.append(time);
  if (l.mine && l.status === "failed") {
    const retry = button(STATUS_TEXT.failed, "status failed", () => o.onRetry(l));
    retry.title = l.error ? `${l.error}. Send again` : "Send again";
    meta.append(retry);
  } else if (l.mine && l.status && !l.recalled) {
    meta.append(el("span", `status ${l.status}`, STATUS_TEXT[l.status]));
  }
  li.append(meta);
  if (l.msgId) {
    const open = o.menuKey === l.key;
    const menu = button("⋯", "msg-menu", () => o.onMenu(open ? null : l));
    menu.setAttribute("aria-label", "Message actions");
    menu.setAttribute("aria-expanded", String(open));
    li.append(menu);
    if (open) li.append(actions(l, o));
  }
  return li;
}

/** @param {Line} l @param {MessagesOptions} o */
function actions(l, o) {
  const bar = el("div", "msg-actions");
  bar.setAttribute("role", "menu");
  if (l.mine && !l.recalled) {
    const age = o.now - l.time;
    if (age < o.windows.editMs) bar.append(button("Edit", "edit", () => o.onAction("edit", l)));
    if (age < o.windows.recallMs) bar.append(button("Recall", "recall", () => o.onAction("recall", l)));
  }
  bar.append(button("Delete for me", "delete", () => o.onAction("delete", l)));
  for (const b of bar.children) b.setAttribute("role", "menuitem");
  return bar;
}

/** The list is scrolled to (near) its end. @param {HTMLElement} ol */
export function atBottom(ol) {
  return ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
}

/**
 * The connection badge: `data-state` drives its colour (style.css).
 * @param {HTMLElement} el
 * @param {string} state a ClientState of client.js
 */
export function showState(el, state) {
  el.dataset.state = state;
  el.textContent = state === "online" ? "online" : state === "closed" ? "offline" : `${state}…`;
}
