// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * What the user does besides sending: start a chat with any user id, join and leave rooms, the
 * member list, block and unblock, and a message's actions (edit and recall own messages, delete
 * for me). Each asks the server first and changes the page when it agrees; a refusal is shown
 * with its code (e.g. 1028 when the edit or recall window has passed).
 */
import { ImRequestError } from "./client.js";

/** @typedef {import("./conversation.js").Line} Line */
/** @typedef {import("./page_types.js").Page} Page */

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

/** "what failed: why (code)". @param {string} what @param {unknown} error */
function failure(what, error) {
  const e = /** @type {Error} */ (error);
  const code = e instanceof ImRequestError && e.code ? ` (${e.code})` : "";
  return `${what}: ${e.message}${code}`;
}

export class Actions {
  /** @param {Page} page */
  constructor(page) {
    this.page = page;
    /** The message whose actions are open. @type {string | null} */
    this.menuKey = null;
  }

  bind() {
    const page = this.page;
    /** @param {string} id @param {(value: string) => void | Promise<void>} fn */
    const form = (id, fn) =>
      $(id).addEventListener("submit", (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        const input = /** @type {HTMLInputElement} */ ($(id).querySelector("input"));
        const value = input.value.trim();
        if (!value || !page.im) return;
        input.value = "";
        fn(value);
      });
    form("new-chat", (user) => {
      if (user === page.model.me) return page.error("That is you: pick someone else.");
      page.error("");
      page.open(`u:${user}`);
    });
    form("room-form", (room) => this.join(room));
    $("back").addEventListener("click", () => page.close());
    $("block-btn").addEventListener("click", () => this.toggleBlock());
    $("room-members-btn").addEventListener("click", () => this.toggleMembers());
    $("members-close").addEventListener("click", () => this.closeMembers());
    $("room-leave").addEventListener("click", () => this.leave());
    $("logout").addEventListener("click", () => location.reload());
    addEventListener("beforeunload", () => page.im?.close());
    // A click elsewhere closes an open message menu.
    document.addEventListener("click", (e) => {
      if (this.menuKey && !(/** @type {Element} */ (e.target)).closest?.(".msg-actions, .msg-menu")) {
        this.menu(null);
      }
    });
  }

  /** @param {string} room */
  async join(room) {
    try {
      await this.page.rooms.join(room);
      this.page.error("");
      await this.page.open(`r:${room}`);
    } catch (error) {
      this.page.error(failure(`Cannot join ${room}`, error));
    }
  }

  async leave() {
    const c = this.page.model.convs.get(this.page.active);
    if (c?.kind !== "room") return;
    try {
      await this.page.rooms.leave(c.name);
    } catch (error) {
      this.page.error(failure("Cannot leave", error));
    }
  }

  async toggleMembers() {
    const page = this.page;
    const c = page.model.convs.get(page.active);
    if (c?.kind !== "room" || !page.im) return;
    if (page.membersRoom === c.name) return this.closeMembers();
    page.membersRoom = c.name;
    $("members-panel").hidden = false;
    $("chat-view").classList.add("with-members");
    page.invalidate("members");
    const r = await page.rooms.load(page.im, c.name);
    for (const u of r?.online ?? []) page.model.online.add(u);
    page.invalidate("members", "head", "list");
  }

  closeMembers() {
    this.page.membersRoom = "";
    $("members-panel").hidden = true;
    $("chat-view").classList.remove("with-members");
  }

  async toggleBlock() {
    const page = this.page;
    const c = page.model.convs.get(page.active);
    if (c?.kind !== "direct" || !page.im) return;
    const blocked = page.model.blocked.has(c.name);
    try {
      if (blocked) {
        await page.im.unblock(c.name);
        page.model.blocked.delete(c.name);
      } else {
        await page.im.block(c.name);
        page.model.blocked.add(c.name);
      }
      page.error("");
    } catch (error) {
      page.error(failure(blocked ? "Cannot unblock" : "Cannot block", error));
    }
    page.invalidate("head", "list", "messages");
  }

  /** Open (or close, null) a message's actions. @param {Line | null} line */
  menu(line) {
    this.menuKey = line?.key ?? null;
    this.page.invalidate("messages");
  }

  /** @param {"edit" | "recall" | "delete"} action @param {Line} line */
  async run(action, line) {
    const page = this.page;
    this.menu(null);
    const msgId = line.msgId;
    if (!page.im || !msgId) return;
    if (action === "edit") return page.composer.startEdit(line);
    try {
      if (action === "recall") {
        await page.im.recallMsg(msgId);
        page.changed(page.model.recall({ msgId })?.id);
      } else {
        await page.im.deleteMsg(msgId);
        page.changed(page.model.remove({ msgId })?.id);
      }
      page.error("");
    } catch (error) {
      page.error(failure(action === "recall" ? "Cannot recall" : "Cannot delete", error));
    }
  }

  /** Save the new text of an own message. @param {Line} line @param {string} text */
  async edit(line, text) {
    const page = this.page;
    if (!page.im || !line.msgId || text === line.text) return;
    try {
      const { editedAt } = await page.im.editMsg(line.msgId, text);
      page.changed(page.model.edit({ msgId: line.msgId, msg: text, editedAt })?.id);
      page.error("");
    } catch (error) {
      page.error(failure("Cannot edit", error));
    }
  }
}
