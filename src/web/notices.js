// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * The notice under the top bar (reconnecting, reconnected, history reset, messages expired,
 * disconnected) and the unread count in the tab title.
 */

const TITLE = "imserver chat";

/** `(3) imserver chat` while there are unread messages. @param {number} unread */
export function setTitle(unread) {
  const title = unread > 0 ? `(${unread}) ${TITLE}` : TITLE;
  if (document.title !== title) document.title = title;
}

/**
 * One notice at a time: a newer one replaces it. `ok` notices go away by themselves; the others
 * stay until the situation ends (reconnected) or the user closes them.
 */
export class Notice {
  /** @param {HTMLElement} box @param {HTMLElement} text @param {HTMLButtonElement} close */
  constructor(box, text, close) {
    this.box = box;
    this.text = text;
    /** @type {any} */
    this.timer = null;
    /** What the notice is about ("connection", "history"...), so the end of it clears only its own. */
    this.topic = "";
    close.addEventListener("click", () => this.hide());
  }

  /**
   * @param {string} topic
   * @param {"warn" | "ok" | "bad" | "info"} kind
   * @param {string} text
   */
  show(topic, kind, text) {
    clearTimeout(this.timer);
    this.topic = topic;
    this.box.dataset.kind = kind;
    this.text.textContent = text;
    this.box.hidden = false;
    if (kind === "ok") this.timer = setTimeout(() => this.hide(), 4000);
  }

  /** Hide it (only if it is about `topic`, when given). @param {string} [topic] */
  hide(topic) {
    if (topic !== undefined && topic !== this.topic) return;
    clearTimeout(this.timer);
    this.box.hidden = true;
    this.topic = "";
  }
}
