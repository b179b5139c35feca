// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * The chat page once signed in: the client's pushes go into the model, the model into the views.
 * Renders are batched (one per microtask) and only redo the parts marked dirty. The user's actions
 * on conversations and messages are in actions.js, sends in outbox.js, rooms in rooms.js.
 */
import { Actions } from "./actions.js";
import { Composer } from "./composer.js";
import { convTitle } from "./format.js";
import { ChatModel } from "./model.js";
import { Notice, setTitle } from "./notices.js";
import { Outbox } from "./outbox.js";
import { Rooms } from "./rooms.js";
import { renderConversations, renderMembers, renderOnline } from "./sidebar.js";
import * as view from "./view.js";

/** @typedef {import("./client.js").ImClient} ImClient */
/** @typedef {import("./model.js").Conversation} Conversation */
/** @typedef {"list" | "head" | "messages" | "typing" | "members"} Part */

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

export class ChatPage {
  constructor() {
    /** @type {ImClient | null} */
    this.im = null;
    this.model = new ChatModel("");
    /** The open conversation's id, "" for none. */
    this.active = "";
    /** Where the "new messages" separator goes in the open conversation. @type {{count: number, key: string | null} | null} */
    this.unreadMark = null;
    /** New messages that arrived below the visible part of the open conversation. */
    this.newBelow = 0;
    this.scrollOnOpen = false;
    this.scrollEnd = false;
    this.keepTop = false;
    /** The room whose member list is open, "" for none. */
    this.membersRoom = "";
    this.firstLogin = true;
    this.everOnline = false;
    this.resetSeen = false;
    /** `conversations` answered (or is not supported): the title counts the model, not `unreadTotal`. */
    this.countsLoaded = false;
    /** The newest seq `read` was sent for, per conversation. @type {Map<string, number>} */
    this.readSent = new Map();
    /** Unsent text per conversation. @type {Map<string, string>} */
    this.drafts = new Map();
    /** @type {Set<Part>} */
    this.dirty = new Set();
    this.flushQueued = false;
    /** @type {any} */
    this.typingTimer = null;
    /** @type {Array<() => void>} */
    this.offs = [];
    this.rooms = new Rooms({
      client: () => this.im,
      me: () => this.model.me,
      event: (room, text, time) => {
        this.model.addEvent(`r:${room}`, text, time);
        this.changed(`r:${room}`);
      },
      changed: (room) => {
        this.changed(`r:${room}`);
        this.invalidate("head", "members");
      },
    });
    this.outbox = new Outbox({
      client: () => this.im,
      model: () => this.model,
      changed: (id) => this.changed(id),
      error: (text) => this.error(text),
    });
    this.actions = new Actions(this);
    this.composer = new Composer({
      form: $("composer"),
      input: $("composer-text"),
      send: $("composer-send"),
      editBar: $("edit-bar"),
      editCancel: $("edit-cancel"),
    }, {
      onSubmit: (text, editing) => editing ? this.actions.edit(editing, text) : this.#send(text),
      onTyping: (state) => this.#typing(state),
    });
    this.notice = new Notice($("notice"), $("notice-text"), $("notice-close"));
    this.actions.bind();
    $("messages").addEventListener("scroll", () => {
      if (!view.atBottom($("messages"))) return;
      this.newBelow = 0;
      $("jump-new").hidden = true;
    });
    $("jump-new").addEventListener("click", () => {
      const ol = $("messages");
      ol.scrollTop = ol.scrollHeight;
    });
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  // ---- the session (login.js drives these) ----

  /** A new session for `me`: listen to the client before it connects. @param {ImClient} client @param {string} me */
  attach(client, me) {
    this.detach();
    this.im = client;
    this.model = new ChatModel(me);
    this.rooms.reset(`imserver-rooms:${client.options.appId}:${me}`, client.epoch === undefined);
    Object.assign(this, {
      active: "",
      firstLogin: true,
      everOnline: false,
      resetSeen: false,
      countsLoaded: false,
    });
    const on = (/** @type {string} */ type, /** @type {(d: any) => void} */ fn) =>
      this.offs.push(client.on(type, fn));
    on("state", (s) => this.#state(s));
    on("msg", (m) => this.#message(m));
    on("enter", (d) => this.#presence([d.from], []));
    on("exit", (d) => this.#presence([], [d.from]));
    on("presence", (d) => this.#presence(d.enter ?? [], d.exit ?? [], d.truncated));
    on("read", (d) => this.#receipt(d.msgIds ?? [], "read"));
    on("delivered", (d) => this.#receipt(d.msgIds ?? [], "delivered"));
    on("readState", (d) => {
      this.model.markRead(d.conversation, Number(d.readSeq) || 0, Number(d.unread) || 0);
      this.invalidate("list");
    });
    on("msgEdited", (d) => this.changed(this.model.edit(d)?.id));
    on("msgRecalled", (d) => this.changed(this.model.recall(d)?.id));
    on("msgDeleted", (d) => this.changed(this.model.remove(d)?.id));
    on("typing", (d) => this.#peerTyping(d));
    on("joinRoom", (d) => this.rooms.onJoin(d));
    on("leaveRoom", (d) => this.rooms.onLeave(d));
    on("kick", () => this.error("Signed in elsewhere: this session was closed."));
    on(
      "gap",
      (d) => this.notice.show("history", "info", `${d.lost} older message(s) expired before delivery.`),
    );
    on("reset", () => this.#reset());
    on("login", (d) => this.#afterLogin(client, d));
  }

  detach() {
    for (const off of this.offs.splice(0)) off();
    this.im = null;
  }

  /** Logged in: show the chat. @param {string} userId @param {number} appId */
  show(userId, appId) {
    $("chat-view").hidden = false;
    $("logout").hidden = false;
    $("me").textContent = `${userId} · app ${appId}`;
    $("me").title = `${userId} · app ${appId}`;
    this.invalidate("list", "head", "messages");
  }

  /** The session closed for good (kicked, token expired, refused on reconnect). @param {{code: number, reason: string}} close */
  ended({ code, reason }) {
    this.notice.show(
      "connection",
      "bad",
      `Disconnected (${code}${reason ? `: ${reason}` : ""}). Log out to sign in again.`,
    );
  }

  // ---- pushes ----

  /** @param {string} state */
  #state(state) {
    view.showState($("conn-state"), state);
    if ((state === "reconnecting" || state === "connecting") && this.everOnline) {
      this.notice.show("connection", "warn", "Reconnecting…");
    }
  }

  /** @param {ImClient} client @param {Record<string, any>} login */
  async #afterLogin(client, login) {
    if (this.im !== client) return;
    const first = this.firstLogin;
    this.firstLogin = false;
    this.model.seenUpTo = Number(login.ackedSeq) || 0;
    if (this.resetSeen) {
      this.notice.show(
        "history",
        "warn",
        "The server's message history was reset: earlier messages may be missing.",
      );
    } else if (!first) this.notice.show("connection", "ok", "Reconnected");
    this.resetSeen = false;
    this.everOnline = true;
    const joins = this.rooms.rejoin(client);
    this.outbox.resendTransient();
    try {
      await Promise.all(joins);
      // A new page: learn who is in each room, and drop rooms left on another device meanwhile.
      if (first) await Promise.all([...this.rooms.joined].map((room) => this.rooms.load(client, room, true)));
      const { userList } = await client.users();
      this.model.online = new Set(userList);
      await this.actions.loadBlocked(client);
      await this.#loadConversations(client);
    } catch {
      // dropped again; the next login retries
    }
    this.invalidate("list", "head", "members");
    this.markRead();
  }

  /** Every page of `conversations` (bounded): unread counts, previews, the order of the list. @param {ImClient} client */
  async #loadConversations(client) {
    /** @type {number | undefined} */
    let before;
    try {
      for (let page = 0; page < 25; page++) {
        const r = await client.conversations(before === undefined ? {} : { before });
        for (const s of r.conversations) this.model.fromServer(s);
        this.model.serverCounts = true;
        before = r.conversations.at(-1)?.time;
        if (!r.more || before === undefined) break;
      }
    } catch {
      // a server without `conversations` (1010): the page counts what it receives
    }
    this.countsLoaded = true;
    const open = this.model.convs.get(this.active);
    if (open) open.unread = 0;
  }

  #reset() {
    this.model.epochIndex++;
    for (const c of this.model.convs.values()) {
      Object.assign(c, { readSeq: 0, countedUpTo: 0, history: "none", before: 0 });
    }
    this.readSent.clear();
    this.rooms.rejoinNeeded = true; // the server lost its store: room membership too
    this.resetSeen = true;
  }

  /** @param {import("./client.js").MsgPush} m */
  #message(m) {
    const r = this.model.addMessage(m);
    if (!r) return;
    this.changed(r.conv.id);
    if (r.conv.id !== this.active) return;
    if (r.news && !view.atBottom($("messages"))) this.newBelow++;
    this.invalidate("typing");
    this.markRead();
  }

  /** @param {string[]} enter @param {string[]} exit @param {boolean} [truncated] */
  async #presence(enter, exit, truncated = false) {
    for (const u of enter) this.model.online.add(u);
    for (const u of exit) this.model.online.delete(u);
    if (truncated && this.im) {
      // Not every change fitted in the push: ask for the whole list.
      this.model.online = new Set(
        (await this.im.users().catch(() => ({ userList: [...this.model.online] }))).userList,
      );
    }
    this.invalidate("list", "head", "members");
  }

  /** @param {string[]} msgIds @param {"delivered" | "read"} status */
  #receipt(msgIds, status) {
    for (const c of this.model.receipt(msgIds, status)) this.changed(c.id);
  }

  /** @param {{from: string, to?: string, room?: string, state: string, expiresIn?: number}} d */
  #peerTyping(d) {
    if (d.from === this.model.me || this.model.blocked.has(d.from)) return;
    this.model.typing(d.room ? `r:${d.room}` : `u:${d.from}`, d.from, d.state, Number(d.expiresIn) || 6000);
    this.invalidate("list", "typing");
    this.#expireTyping();
  }

  /** Re-render when the next typing signal expires. */
  #expireTyping() {
    clearTimeout(this.typingTimer);
    const next = this.model.expireTyping();
    if (next === Infinity) return;
    this.typingTimer = setTimeout(() => {
      this.invalidate("list", "typing");
      this.#expireTyping();
    }, next - Date.now() + 20);
  }

  // ---- the open conversation ----

  /** Open a conversation (and, on a phone, show it instead of the list). @param {string} id */
  async open(id) {
    $("chat-view").dataset.pane = "conv";
    if (id === this.active) return;
    this.#leaveActive();
    this.active = id;
    const c = this.model.conv(id);
    this.actions.menuKey = null;
    this.newBelow = 0;
    this.unreadMark = c.unread > 0 ? { count: c.unread, key: null } : null;
    this.scrollOnOpen = true;
    if (this.membersRoom && `r:${this.membersRoom}` !== id) this.actions.closeMembers();
    $("composer-text").value = this.drafts.get(id) ?? "";
    this.invalidate("list", "head", "messages", "typing");
    this.composer.focus();
    await this.loadHistory(c);
    this.markRead();
  }

  /** Back to the list (phones): the conversation is no longer in view. */
  close() {
    this.#leaveActive();
    this.active = "";
    $("chat-view").dataset.pane = "list";
    this.invalidate("list", "head", "messages", "typing");
  }

  #leaveActive() {
    if (!this.active) return;
    this.#typing("stop");
    this.composer.cancelEdit();
    this.drafts.set(this.active, $("composer-text").value);
  }

  /** Load a page of history: the newest when the conversation opens, older ones on request. @param {Conversation} c @param {boolean} [older] */
  async loadHistory(c, older = false) {
    const im = this.im;
    if (!im || (c.kind !== "direct" && c.kind !== "room") || c.history === "loading") return;
    if (!older && c.history === "loaded") return;
    c.history = "loading";
    try {
      const q = c.kind === "room" ? { room: c.name } : { peer: c.name };
      const h = await im.history({ ...q, limit: 50, ...(older && c.before ? { before: c.before } : {}) });
      for (const m of h.messages) this.model.addMessage(m, true);
      Object.assign(c, { more: h.more === true, before: h.before, history: "loaded" });
    } catch {
      c.history = older ? "loaded" : "none";
    }
    this.keepTop = older;
    this.changed(c.id);
  }

  /** Tell the server the open conversation was read (its senders get a receipt, other devices `readState`). */
  markRead() {
    const c = this.model.convs.get(this.active);
    const im = this.im;
    if (!c || !im || im.state !== "online" || document.visibilityState === "hidden") return;
    if (c.unread > 0) {
      c.unread = 0;
      this.invalidate("list");
    }
    if (c.kind !== "direct" && c.kind !== "room") return; // no conversation on the server to mark
    const top = this.model.topSeq(c);
    if (top <= Math.max(c.readSeq, this.readSent.get(c.id) ?? 0)) return;
    this.readSent.set(c.id, top);
    im.read(c.id, top).then(
      (r) => this.model.markRead(c.id, Number(r?.readSeq) || top, 0),
      () => this.readSent.delete(c.id),
    );
  }

  /** @param {string} text */
  #send(text) {
    const c = this.model.convs.get(this.active);
    if (!c || (c.kind !== "direct" && c.kind !== "room")) return;
    this.error("");
    this.scrollEnd = true;
    this.drafts.delete(c.id);
    this.outbox.send(c.id, text);
  }

  /** The user is typing in the open conversation (or stopped). @param {"start" | "stop"} state */
  #typing(state) {
    const c = this.model.convs.get(this.active);
    if (!this.im || !c || $("composer-text").disabled) return;
    if (c.kind === "direct") this.im.typing({ to: c.name }, state);
    else if (c.kind === "room") this.im.typing({ room: c.name }, state);
  }

  /** @param {string} text */
  error(text) {
    $("chat-error").textContent = text;
  }

  // ---- rendering ----

  /** Something in conversation `id` changed. @param {string} [id] */
  changed(id) {
    this.invalidate("list");
    if (id !== undefined && id === this.active) this.invalidate("messages", "head");
  }

  /** @param {...Part} parts */
  invalidate(...parts) {
    for (const p of parts) this.dirty.add(p);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.#flush());
  }

  #flush() {
    this.flushQueued = false;
    const dirty = this.dirty;
    this.dirty = new Set();
    const open = (/** @type {string} */ id) => this.open(id);
    if (dirty.has("list")) {
      renderConversations($("convs"), this.model, {
        rooms: this.rooms.joined,
        active: this.active,
        onOpen: open,
      });
      renderOnline($("online"), this.model, open);
      $("convs-empty").hidden = $("convs").children.length > 0;
      const counted = this.model.unreadTotal();
      setTitle(this.countsLoaded || !this.im ? counted : Math.max(counted, this.im.unreadTotal));
    }
    if (dirty.has("head")) this.#renderHead();
    if (dirty.has("messages")) this.#renderMessages();
    if (dirty.has("typing")) this.#renderTyping();
    if (dirty.has("members") && this.membersRoom) {
      renderMembers($("members"), [...this.rooms.membersOf(this.membersRoom)], this.model);
    }
  }

  /**
   * Title, presence, actions and composer of the open conversation. A room this user is no longer
   * a member of stays readable with the composer disabled; so does a direct chat with a user this
   * user blocked.
   */
  #renderHead() {
    const c = this.model.convs.get(this.active);
    const room = c?.kind === "room" ? c.name : null;
    const peer = c?.kind === "direct" ? c.name : null;
    const left = room !== null && !this.rooms.joined.has(room);
    const blocked = peer !== null && this.model.blocked.has(peer);
    $("chat-title").textContent = c ? convTitle(c) : "Pick a conversation";
    let sub = "";
    if (peer !== null) sub = blocked ? "blocked" : this.model.online.has(peer) ? "online" : "offline";
    else if (room !== null && !left) {
      const members = [...this.rooms.membersOf(room)];
      const here = members.filter((m) => this.model.online.has(m)).length;
      if (members.length) sub = `${members.length} member${members.length === 1 ? "" : "s"}, ${here} online`;
    } else if (c?.kind === "all") sub = "app-wide messages";
    $("chat-sub").textContent = sub;
    $("chat-sub").dataset.presence = sub;
    $("block-btn").hidden = peer === null;
    $("block-btn").textContent = blocked ? "Unblock" : "Block";
    $("room-members-btn").hidden = $("room-leave").hidden = room === null || left;
    if (left) this.actions.closeMembers();
    const note = left
      ? "You left this room. Join it again to send messages."
      : blocked
      ? `You blocked ${peer}. Unblock to send messages.`
      : "";
    $("conv-note").hidden = !note;
    $("conv-note").textContent = note;
    const canSend = (peer !== null && !blocked) || (room !== null && !left);
    this.composer.setEnabled(canSend, left ? "You left this room" : blocked ? "Blocked" : "Message");
  }

  #renderMessages() {
    const ol = $("messages");
    const c = this.model.convs.get(this.active);
    if (!c) return ol.replaceChildren();
    const bottom = view.atBottom(ol);
    const [height, top] = [ol.scrollHeight, ol.scrollTop];
    const mark = this.unreadMark;
    if (mark && mark.key === null && c.history !== "loading") mark.key = this.#firstUnread(c, mark.count);
    view.renderMessages(ol, c, {
      blocked: this.model.blocked,
      unreadKey: mark?.key ?? null,
      unreadCount: mark?.count ?? 0,
      menuKey: this.actions.menuKey,
      more: c.more,
      onMore: () => this.loadHistory(c, true),
      onRetry: (line) => this.outbox.deliver(line),
      onMenu: (line) => this.actions.menu(line),
      onAction: (action, line) => this.actions.run(action, line),
    });
    const sep = ol.querySelector(".unread-sep");
    if (this.scrollOnOpen && c.history !== "loading") {
      this.scrollOnOpen = false;
      if (sep) sep.scrollIntoView({ block: "start" });
      else ol.scrollTop = ol.scrollHeight;
    } else if (this.keepTop) ol.scrollTop = top + ol.scrollHeight - height;
    else if (bottom || this.scrollEnd) ol.scrollTop = ol.scrollHeight;
    else ol.scrollTop = top;
    this.keepTop = this.scrollEnd = false;
    const jump = $("jump-new");
    jump.hidden = view.atBottom(ol);
    jump.textContent = this.newBelow > 0
      ? `↓ ${this.newBelow} new message${this.newBelow === 1 ? "" : "s"}`
      : "↓ Jump to latest";
  }

  /** The key of the `count`-th newest message of others: where the unread ones start. @param {Conversation} c @param {number} count */
  #firstUnread(c, count) {
    const lines = view.visibleLines(c, this.model.blocked);
    let n = 0;
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = lines[i];
      if (l.mine || l.status === "event" || l.recalled) continue;
      if (++n === count) return l.key;
    }
    return lines.find((l) => l.status !== "event")?.key ?? null;
  }

  #renderTyping() {
    const c = this.model.convs.get(this.active);
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
