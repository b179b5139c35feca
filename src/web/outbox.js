// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * Own sends: a line shows "sending…" at once; every attempt carries the line's first clientMsgId,
 * so a resend of a message the server already stored is answered with the first result and not
 * delivered twice. A failure leaves the line "not sent — retry" (a button); failures that may pass
 * (offline, timed out, 1023/1024) are also resent after the next login.
 */
import { ImRequestError, newClientMsgId } from "./client.js";
import { Code } from "./codes.js";

/** @typedef {import("./client.js").ImClient} ImClient */
/** @typedef {import("./model.js").ChatModel} ChatModel */
/** @typedef {import("./conversation.js").Line} Line */

/**
 * @typedef {object} OutboxHost what sends need from the page
 * @property {() => ImClient | null} client
 * @property {() => ChatModel} model
 * @property {(convId: string) => void} changed a line of `convId` changed
 * @property {(text: string) => void} error
 */

/** Codes after which the same send may pass later: resent after the next login. */
const TRANSIENT = new Set([0, Code.LoginRateLimited, Code.Unavailable]);

export class Outbox {
  /** @param {OutboxHost} host */
  constructor(host) {
    this.host = host;
    /** Own sends not acknowledged yet (pending or failed), by clientMsgId, in send order. @type {Map<string, Line>} */
    this.lines = new Map();
    /** clientMsgIds of sends in flight (a line is never sent twice at once). */
    this.sending = new Set();
  }

  /** Send a new message to a conversation. @param {string} convId @param {string} text */
  send(convId, text) {
    const clientMsgId = newClientMsgId();
    const line = this.host.model().addPending(convId, text, clientMsgId);
    this.lines.set(clientMsgId, line);
    this.host.changed(convId);
    return this.deliver(line);
  }

  /** After a login: resend what failed for a reason that may have passed. */
  resendTransient() {
    for (const line of this.lines.values()) {
      if (line.status === "failed" && line.transient) this.deliver(line);
    }
  }

  /** Send (or resend) an own line. @param {Line} line */
  async deliver(line) {
    const client = this.host.client();
    const { conv, clientMsgId } = line;
    if (!client || !conv || !clientMsgId || this.sending.has(clientMsgId)) return;
    this.sending.add(clientMsgId);
    Object.assign(line, { status: "pending", error: undefined, transient: undefined });
    this.host.changed(conv);
    try {
      const name = conv.slice(2);
      const r = conv.startsWith("r:")
        ? await client.roomMsg(name, line.text, "text", { clientMsgId })
        : await client.sendMsg(name, line.text, "text", { clientMsgId });
      this.lines.delete(clientMsgId);
      // false: already shown (the first attempt was stored, its reply lost, the resume replayed it).
      this.host.model().confirm(line, r);
    } catch (error) {
      const e = /** @type {Error} */ (error);
      const code = e instanceof ImRequestError ? e.code : 0;
      Object.assign(line, {
        status: "failed",
        error: code ? `${e.message} (${code})` : e.message,
        transient: TRANSIENT.has(code),
      });
      if (this.host.client() === client) this.host.error(`Not sent: ${line.error}`);
    } finally {
      this.sending.delete(clientMsgId);
    }
    this.host.changed(conv);
  }
}
