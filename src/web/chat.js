// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * The chat page once signed in: the open conversation, its history, read marks and sends. The
 * client's pushes go into the model (pushes.js), the model into the views (render.js); renders are
 * batched (one per microtask) and only redo the parts marked dirty. The user's other actions are
 * in actions.js, sends in outbox.js, rooms in rooms.js.
 */
import { Actions } from "./actions.js";
import { Composer } from "./composer.js";
import { topSeq } from "./conversation.js";
import { ChatModel } from "./model.js";
import { Notice } from "./notices.js";
import { Outbox } from "./outbox.js";
import { listen } from "./pushes.js";
import { PageRenderer } from "./render.js";
import { Rooms } from "./rooms.js";
import * as view from "./view.js";

/** @typedef {import("./client.js").ImClient} ImClient */
/** @typedef {import("./conversation.js").Conversation} Conversation */
/** @typedef {import("./page_types.js").Part} Part */

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
    /** How long own messages may be edited / recalled (`/web/config.json`). */
    this.windows = { editMs: 86_400_000, recallMs: 120_000 };
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
    /** @type {Actions} */
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
    /** @type {PageRenderer} */
    this.renderer = new PageRenderer(this);
    this.actions.bind();
    $("messages").addEventListener("scroll", () => {
      const bottom = view.atBottom($("messages"));
      if (bottom && this.newBelow > 0) {
        this.newBelow = 0;
        this.invalidate("messages");
      }
      $("jump-new").hidden = bottom;
    });
    $("jump-new").addEventListener("click", () => {
      const ol = $("messages");
      ol.scrollTop = ol.scrollHeight;
    });
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  // ---- the session (login.js drives these) ----

  /**
   * A new session for `me`: listen to the client before it connects.
   * @param {ImClient} client @param {string} me @param {{editMs: number, recallMs: number}} [windows]
   */
  attach(client, me, windows = this.windows) {
    this.detach();
    this.windows = windows;
    this.im = client;
    this.model = new ChatModel(me);
    this.rooms.reset(`imserver-rooms:${client.options.appId}:${me}`, client.epoch === undefined);
    Object.assign(this, {
      active: "",
      firstLogin: true,
      everOnline: false,
      resetSeen: false,
      countsLoaded: false,
      unreadMark: null,
      readSent: new Map(),
      drafts: new Map(),
    });
    this.offs = listen(this, client);
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
    const top = topSeq(c);
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
    queueMicrotask(() => {
      this.flushQueued = false;
      const dirty = this.dirty;
      this.dirty = new Set();
      this.renderer.flush(dirty);
    });
  }
}
