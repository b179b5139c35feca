/**
 * Changing a sent message (PROTOCOL.md C.4): edit and recall by its sender within `im.editWindow` /
 * `im.recallWindow` (a backend moderator may do either at any time), and delete-for-me by anyone who has
 * it. The message kept once per app is updated; the change itself is an event entry for every recipient
 * and the sender's other devices (deletion: the caller's devices only).
 *
 * @example
 * ```ts
 * const changes = new MessageChanges({ store, bus, ids, clock, editWindowMs, recallWindowMs });
 * await changes.edit({ appId: 101, by: "alice", msgId, msg: "fixed typo", originConnId: conn.id });
 * ```
 * @module
 */
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";
import type { EntryFields } from "../protocol/pushes.ts";
import type { Bus } from "../session/bus.ts";
import type { Store, StoredMessage } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import type { IdGenerator } from "../util/ids.ts";
import { appendEvent } from "./events.ts";

/** What message changes need. */
export interface MessageChangeDeps {
  store: Store;
  bus: Bus;
  ids: IdGenerator;
  clock: Clock;
  editWindowMs: number;
  recallWindowMs: number;
}

/** Who asks for a change. */
export interface ChangeRequest {
  appId: number;
  msgId: string;
  /** The caller's userId, or the moderator's name for a backend. */
  by: string;
  /** A backend moderator (HTTP): neither the sender check nor the windows apply. */
  moderator?: boolean;
  originConnId?: string;
}

/** Edits, recalls and deletions of one server. */
export class MessageChanges {
  readonly #d: MessageChangeDeps;

  constructor(deps: MessageChangeDeps) {
    this.#d = deps;
  }

  async #message(appId: number, msgId: string): Promise<StoredMessage> {
    const m = (await this.#d.store.messages(appId, [msgId])).get(msgId);
    if (!m) throw new ReplyError(Code.UnknownMessage, "no such message");
    return m;
  }

  /** The sender may change it within `windowMs` of sending; a moderator always. */
  #allowed(m: StoredMessage, r: ChangeRequest, windowMs: number, what: string): void {
    if (r.moderator) return;
    if (m.from !== r.by) throw new ReplyError(Code.NotSender, `only the sender may ${what} a message`);
    if (this.#d.clock.now() - m.time > windowMs) {
      throw new ReplyError(Code.WindowPassed, `a message can be ${what}ed within ${windowMs / 1000} s`);
    }
  }

  /** Every inbox the message went to: the recipient and the sender's copy, or the room's members. */
  async #recipients(appId: number, m: StoredMessage): Promise<string[]> {
    if (m.target !== "") return await this.#d.store.roomMembers(appId, m.target);
    return [...new Set([m.to, m.from].filter((u) => u !== ""))];
  }

  #event(m: StoredMessage, kind: "edit" | "recall" | "delete", by: string, msg = ""): EntryFields {
    return {
      msgId: this.#d.ids.msgId(),
      from: m.from,
      to: m.to,
      target: m.target,
      type: kind,
      msg,
      time: this.#d.clock.now(),
      kind,
      ref: m.msgId,
      by,
    };
  }

  /**
   * Replace the text of a message; resolves to the edit's version (`editedAt`, see Store.changeMessage):
   * the version the store gave it, which the event carries so that every device keeps the same text.
   */
  async edit(r: ChangeRequest & { msg: string }): Promise<{ msgId: string; editedAt: number }> {
    const m = await this.#message(r.appId, r.msgId);
    if (m.recalledAt !== undefined) throw new ReplyError(Code.UnknownMessage, "the message was recalled");
    this.#allowed(m, r, this.#d.editWindowMs, "edit");
    const now = this.#d.clock.now();
    const changed = await this.#d.store.changeMessage(r.appId, r.msgId, { msg: r.msg, editedAt: now });
    if (!changed) throw new ReplyError(Code.UnknownMessage, "no such message");
    if (changed.recalledAt !== undefined) {
      throw new ReplyError(Code.UnknownMessage, "the message was recalled");
    }
    const event = { ...this.#event(m, "edit", r.by, r.msg), time: changed.editedAt! };
    await this.#announce(r, m, event);
    return { msgId: r.msgId, editedAt: changed.editedAt! };
  }

  /** Recall a message: every inbox shows a tombstone from now on. Recalling twice answers the first. */
  async recall(r: ChangeRequest): Promise<{ msgId: string; recalledAt: number }> {
    const m = await this.#message(r.appId, r.msgId);
    if (m.recalledAt !== undefined) return { msgId: r.msgId, recalledAt: m.recalledAt };
    this.#allowed(m, r, this.#d.recallWindowMs, "recall");
    const event = this.#event(m, "recall", r.by);
    const changed = await this.#d.store.changeMessage(r.appId, r.msgId, {
      recalledAt: event.time,
      recalledBy: r.by,
    });
    if (!changed) throw new ReplyError(Code.UnknownMessage, "no such message");
    // a concurrent recall got there first: it announced the tombstone already
    if (changed.recalledAt !== event.time || changed.recalledBy !== r.by) {
      return { msgId: r.msgId, recalledAt: changed.recalledAt! };
    }
    await this.#announce(r, m, event);
    return { msgId: r.msgId, recalledAt: event.time };
  }

  async #announce(r: ChangeRequest, m: StoredMessage, event: EntryFields): Promise<void> {
    const users = await this.#recipients(r.appId, m);
    await appendEvent(this.#d.store, this.#d.bus, r.appId, users, event, r.originConnId);
  }

  /** Hide a message for the caller only (all of the caller's devices). */
  async delete(r: ChangeRequest): Promise<{ msgId: string }> {
    const m = await this.#message(r.appId, r.msgId);
    const reached = m.target !== ""
      ? (await this.#d.store.userRooms(r.appId, r.by)).includes(m.target)
      : [m.from, m.to].includes(r.by);
    if (!reached) throw new ReplyError(Code.UnknownMessage, "the message is not in your inbox");
    // deleting twice is one deletion: no second event for the caller's devices
    if ((await this.#d.store.hiddenAmong(r.appId, r.by, [r.msgId])).has(r.msgId)) return { msgId: r.msgId };
    await appendEvent(
      this.#d.store,
      this.#d.bus,
      r.appId,
      [r.by],
      this.#event(m, "delete", r.by),
      r.originConnId,
    );
    return { msgId: r.msgId };
  }
}
