// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * Rendering of the signed-in page from the model: the conversation list, the online strip and the
 * tab title; the open conversation's head (title, presence, actions, composer state), its messages
 * (scroll position kept, the "new messages" separator, "jump to latest") and who is typing; the
 * member list of a room. ChatPage batches what is dirty and calls `flush` once per turn.
 */
import { convTitle } from "./format.js";
import { setTitle } from "./notices.js";
import { renderConversations, renderMembers, renderOnline } from "./sidebar.js";
import * as view from "./view.js";

/** @typedef {import("./page_types.js").Page} Page */
/** @typedef {import("./page_types.js").Part} Part */
/** @typedef {import("./conversation.js").Conversation} Conversation */

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

export class PageRenderer {
  /** @param {Page} page */
  constructor(page) {
    this.page = page;
  }

  /** Redo the parts in `dirty`. @param {Set<Part>} dirty */
  flush(dirty) {
    const page = this.page;
    const open = (/** @type {string} */ id) => page.open(id);
    if (dirty.has("list")) {
      renderConversations($("convs"), page.model, {
        rooms: page.rooms.joined,
        active: page.active,
        onOpen: open,
      });
      renderOnline($("online"), page.model, open);
      $("convs-empty").hidden = $("convs").children.length > 0;
      const counted = page.model.unreadTotal();
      setTitle(page.countsLoaded || !page.im ? counted : Math.max(counted, page.im.unreadTotal));
    }
    if (dirty.has("head")) this.#head();
    if (dirty.has("messages")) this.#messages();
    if (dirty.has("typing")) this.#typing();
    if (dirty.has("members") && page.membersRoom) {
      renderMembers($("members"), [...page.rooms.membersOf(page.membersRoom)], page.model);
    }
  }

  /**
   * Title, presence, actions and composer of the open conversation. A room this user is no longer
   * a member of stays readable with the composer disabled; so does a direct chat with a user this
   * user blocked.
   */
  #head() {
    const page = this.page;
    const c = page.model.convs.get(page.active);
    const room = c?.kind === "room" ? c.name : null;
    const peer = c?.kind === "direct" ? c.name : null;
    const left = room !== null && !page.rooms.joined.has(room);
    const blocked = peer !== null && page.model.blocked.has(peer);
    $("chat-title").textContent = c ? convTitle(c) : "Pick a conversation";
    let sub = "";
    if (peer !== null) sub = blocked ? "blocked" : page.model.online.has(peer) ? "online" : "offline";
    else if (room !== null && !left) {
      const members = [...page.rooms.membersOf(room)];
      const here = members.filter((m) => page.model.online.has(m)).length;
      if (members.length) sub = `${members.length} member${members.length === 1 ? "" : "s"}, ${here} online`;
    } else if (c?.kind === "all") sub = "app-wide messages";
    $("chat-sub").textContent = sub;
    $("chat-sub").dataset.presence = sub;
    $("block-btn").hidden = peer === null;
    $("block-btn").textContent = blocked ? "Unblock" : "Block";
    $("room-members-btn").hidden = $("room-leave").hidden = room === null || left;
    if (left) page.actions.closeMembers();
    const note = left
      ? "You left this room. Join it again to send messages."
      : blocked
      ? `You blocked ${peer}. Unblock to send messages.`
      : "";
    $("conv-note").hidden = !note;
    $("conv-note").textContent = note;
    const canSend = (peer !== null && !blocked) || (room !== null && !left);
    page.composer.setEnabled(canSend, left ? "You left this room" : blocked ? "Blocked" : "Message");
  }

  #messages() {
    const page = this.page;
    const ol = $("messages");
    const c = page.model.convs.get(page.active);
    if (!c) return ol.replaceChildren();
    const bottom = view.atBottom(ol);
    const [height, top] = [ol.scrollHeight, ol.scrollTop];
    const mark = page.unreadMark;
    if (mark && mark.key === null && c.history !== "loading") mark.key = this.#firstUnread(c, mark.count);
    view.renderMessages(ol, c, {
      blocked: page.model.blocked,
      unreadKey: mark?.key ?? null,
      unreadCount: mark?.count ?? 0,
      menuKey: page.actions.menuKey,
      more: c.more,
      onMore: () => page.loadHistory(c, true),
      onRetry: (line) => page.outbox.deliver(line),
      onMenu: (line) => page.actions.menu(line),
      onAction: (action, line) => page.actions.run(action, line),
      windows: page.windows,
      now: Date.now(),
    });
    const sep = ol.querySelector(".unread-sep");
    if (page.scrollOnOpen && c.history !== "loading") {
      page.scrollOnOpen = false;
      if (sep) sep.scrollIntoView({ block: "start" });
      else ol.scrollTop = ol.scrollHeight;
    } else if (page.keepTop) ol.scrollTop = top + ol.scrollHeight - height;
    else if (bottom || page.scrollEnd) ol.scrollTop = ol.scrollHeight;
    else ol.scrollTop = top;
    page.keepTop = page.scrollEnd = false;
    const jump = $("jump-new");
    jump.hidden = view.atBottom(ol);
    jump.textContent = page.newBelow > 0
      ? `↓ ${page.newBelow} new message${page.newBelow === 1 ? "" : "s"}`
      : "↓ Jump to latest";
  }

  /** The key of the `count`-th newest message of others: where the unread ones start. @param {Conversation} c @param {number} count */
  #firstUnread(c, count) {
    const page = this.page;
    const lines = view.visibleLines(c, page.model.blocked);
    let n = 0;
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = lines[i];
      if (l.mine || l.status === "event" || l.recalled) continue;
      if (++n === count) return l.key;
    }
    return lines.find((l) => l.status !== "event")?.key ?? null;
  }

  #typing() {
    const page = this.page;
    const c = page.model.convs.get(page.active);
    const who = c ? [...c.typing.keys()] : [];
    $("typing").textContent = who.length === 0
      ? ""
      : who.length === 1
      ? `${who[0]} is typing…`
      : who.length === 2
      ? `${who[0]} and ${who[1]} are typing…`
      : `${who.length} people are typing…`;
  }
}
