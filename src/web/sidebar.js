// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * The sidebar: the conversation list (most recent activity first, with the last message, its time,
 * an unread badge, presence and "typing…") and the strip of users online now. Names and message
 * text only ever go through textContent or dataset.
 */
import { convTitle, listTime } from "./format.js";

/** @typedef {import("./model.js").ChatModel} ChatModel */
/** @typedef {import("./conversation.js").Conversation} Conversation */

/** @param {string} tag @param {string} className @param {string} [text] */
function el(tag, className, text) {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A round badge with the first letter of a name; `online` adds the presence dot. @param {string} name @param {boolean | null} online */
function avatar(name, online) {
  const a = el("span", "avatar", [...name.replace(/^# /, "")][0]?.toUpperCase() ?? "?");
  a.setAttribute("aria-hidden", "true");
  if (online !== null) a.classList.toggle("online", online);
  return a;
}

/** @param {ChatModel} model @param {Conversation} c */
function previewText(model, c) {
  if (c.typing.size > 0) return { text: "typing…", className: "preview typing" };
  const p = model.preview(c);
  if (!p) return { text: c.kind === "room" ? "No messages yet" : "", className: "preview" };
  const body = p.recalled ? "Message recalled" : p.text.replace(/\s+/g, " ");
  const who = p.from === model.me ? "You: " : c.kind === "room" || c.kind === "all" ? `${p.from}: ` : "";
  return { text: who + body, className: p.recalled ? "preview tombstone" : "preview" };
}

/**
 * The conversations to list, most recent activity first: the rooms this user is a member of, the
 * open conversation and every other one with something in it.
 * @param {ChatModel} model @param {Set<string>} rooms @param {string} active
 */
export function listed(model, rooms, active) {
  for (const r of rooms) model.conv(`r:${r}`);
  const shown = (/** @type {Conversation} */ c) =>
    c.kind === "room"
      ? rooms.has(c.name)
      : c.id === active || c.lines.length > 0 || c.last !== null || c.unread > 0;
  return [...model.convs.values()].filter(shown).sort((a, b) => b.time - a.time || a.id.localeCompare(b.id));
}

/**
 * @param {HTMLElement} ul
 * @param {ChatModel} model
 * @param {{rooms: Set<string>, active: string, onOpen: (id: string) => void}} state
 */
export function renderConversations(ul, model, state) {
  ul.replaceChildren();
  for (const c of listed(model, state.rooms, state.active)) {
    const li = el("li", "");
    li.dataset.conv = c.id;
    if (c.kind === "direct") li.dataset.peer = c.name;
    if (c.kind === "room") li.dataset.room = c.name;
    const b = /** @type {HTMLButtonElement} */ (el("button", "conv"));
    b.type = "button";
    b.classList.toggle("active", c.id === state.active);
    b.classList.toggle("has-unread", c.unread > 0);
    if (c.id === state.active) b.setAttribute("aria-current", "true");
    const title = convTitle(c);
    b.append(avatar(title, c.kind === "direct" ? model.online.has(c.name) : null));
    const main = el("span", "conv-main");
    const top = el("span", "conv-top");
    top.append(el("span", "conv-name", title));
    const time = model.preview(c)?.time;
    if (time) top.append(el("time", "conv-time", listTime(time)));
    const bottom = el("span", "conv-bottom");
    const p = previewText(model, c);
    bottom.append(el("span", p.className, p.text));
    if (model.blocked.has(c.name) && c.kind === "direct") bottom.append(el("span", "tag", "blocked"));
    if (c.unread > 0) {
      const badge = el("span", "unread", String(c.unread));
      badge.setAttribute("aria-label", `${c.unread} unread`);
      bottom.append(badge);
    }
    main.append(top, bottom);
    b.append(main);
    b.addEventListener("click", () => state.onOpen(c.id));
    li.append(b);
    ul.append(li);
  }
}

/**
 * Users online now (not this user), as buttons that open a chat with them.
 * @param {HTMLElement} ul @param {ChatModel} model @param {(id: string) => void} onOpen
 */
export function renderOnline(ul, model, onOpen) {
  ul.replaceChildren();
  for (const name of [...model.online].filter((u) => u !== model.me).sort()) {
    const li = el("li", "");
    li.dataset.peer = name;
    const b = /** @type {HTMLButtonElement} */ (el("button", "person"));
    b.type = "button";
    b.title = `Chat with ${name}`;
    b.append(avatar(name, true), el("span", "name", name));
    b.addEventListener("click", () => onOpen(`u:${name}`));
    li.append(b);
    ul.append(li);
  }
  ul.hidden = ul.children.length === 0;
}

/**
 * The members of a room, online ones first, each with a presence dot.
 * @param {HTMLElement} ul @param {string[]} members @param {ChatModel} model
 */
export function renderMembers(ul, members, model) {
  ul.replaceChildren();
  const sorted = [...members].sort((a, b) =>
    Number(model.online.has(b)) - Number(model.online.has(a)) || a.localeCompare(b)
  );
  for (const m of sorted) {
    const li = el("li", "member");
    li.dataset.member = m;
    const here = model.online.has(m);
    li.classList.toggle("online", here);
    li.append(avatar(m, here), el("span", "name", m === model.me ? `${m} (you)` : m));
    li.append(el("span", "presence", here ? "online" : "offline"));
    ul.append(li);
  }
}
