// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * The composer: a multi-line text box (Enter sends, Shift+Enter is a new line, it grows with its
 * text up to a few lines), an edit mode for changing an own message (Esc cancels), and typing
 * signals while keys are pressed.
 */

/** @typedef {import("./conversation.js").Line} Line */

/**
 * @typedef {object} ComposerHooks
 * @property {(text: string, editing: Line | null) => void} onSubmit a new message, or the new text of `editing`
 * @property {(state: "start" | "stop") => void} onTyping
 */

export class Composer {
  /**
   * @param {{form: HTMLFormElement, input: HTMLTextAreaElement, send: HTMLButtonElement, editBar: HTMLElement, editCancel: HTMLButtonElement}} els
   * @param {ComposerHooks} hooks
   */
  constructor(els, hooks) {
    this.els = els;
    this.hooks = hooks;
    /** The own message being edited, or null. @type {Line | null} */
    this.editing = null;
    const { form, input, editCancel } = els;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      } else if (e.key === "Escape" && this.editing) {
        e.preventDefault();
        this.cancelEdit();
      }
    });
    input.addEventListener("input", () => {
      this.#fit();
      if (!this.editing) hooks.onTyping(input.value.trim() ? "start" : "stop");
    });
    editCancel.addEventListener("click", () => this.cancelEdit());
  }

  submit() {
    const { input } = this.els;
    const text = input.value;
    if (!text.trim() || input.disabled) return;
    const editing = this.editing;
    this.clear();
    if (!editing) this.hooks.onTyping("stop");
    this.hooks.onSubmit(text, editing);
  }

  /** Edit an own message: its text goes into the box. @param {Line} line */
  startEdit(line) {
    this.editing = line;
    this.els.editBar.hidden = false;
    this.els.send.textContent = "Save";
    this.els.input.value = line.text;
    this.#fit();
    this.els.input.focus();
  }

  cancelEdit() {
    if (!this.editing) return;
    this.clear();
  }

  clear() {
    this.editing = null;
    this.els.editBar.hidden = true;
    this.els.send.textContent = "Send";
    this.els.input.value = "";
    this.#fit();
  }

  /** @param {boolean} enabled @param {string} placeholder */
  setEnabled(enabled, placeholder) {
    this.els.input.disabled = this.els.send.disabled = !enabled;
    this.els.input.placeholder = placeholder;
    if (!enabled) this.cancelEdit();
  }

  focus() {
    if (!this.els.input.disabled) this.els.input.focus();
  }

  /** Grow with the text (CSS `field-sizing` does it where supported). */
  #fit() {
    if (globalThis.CSS?.supports?.("field-sizing", "content")) return;
    const input = this.els.input;
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
  }
}
