/**
 * Sending, shared by WebSocket commands and the HTTP API: every accepted message is appended to each
 * recipient's inbox (the store assigns the seq) and only then delivered live and acknowledged — a `200`
 * means stored. Sends with an idempotency key go through messaging/dedup.ts (claim first, idempotent
 * appends), so a retry never duplicates and never answers something other than the first result.
 *
 * @example
 * ```ts
 * const messenger = new Messenger({ store, bus, ids, clock, presence, counters });
 * const r = await messenger.direct({ appId: 101, from: "alice", to: "bob", msg: "hi" });
 * r.seq; // bob's inbox seq
 * ```
 * @module
 */
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";
import { type EntryFields, entryFrame, entryFramePrefix } from "../protocol/pushes.ts";
import type { ServerCounters } from "../ops/counters.ts";
import type { Bus } from "../session/bus.ts";
import type { Presence } from "../session/presence.ts";
import type { AppendOptions, Store } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import type { IdGenerator } from "../util/ids.ts";
import { claimSend, type ReusePolicy, type SendBinding } from "./dedup.ts";

/** What every send has. */
interface SendBase {
  appId: number;
  /** Sender userId ("" or a system name for backend sends). */
  from: string;
  msg: string;
  type?: string;
  /** Idempotency key (messaging/dedup.ts): a retry with the same key answers the first result. */
  key?: string;
  /** A key reused for a different message: 1030 (clients, the default) or a silent duplicate (backends). */
  reuse?: ReusePolicy;
  /** The sender's connection: it gets the reply, not a push. */
  originConnId?: string;
  /** Told the msgId before any inbox append (the origin connection passes its own copy). */
  onMsgId?: (msgId: string) => void;
}

/** A direct (1:1) send. */
export interface DirectSend extends SendBase {
  to: string;
  /** Also keep a copy in the sender's inbox (default true when `from` is a user other than `to`). */
  copyToSender?: boolean;
}

/** Result of a direct send. */
export interface DirectResult {
  msgId: string;
  /** Recipient's inbox seq. */
  seq: number;
  /** Seq of the copy in the sender's inbox (0 when no copy was kept). */
  senderSeq: number;
  time: number;
  /** The recipient had a live connection. */
  delivered: boolean;
  /** A retry of an earlier send with the same key: nothing was delivered twice. */
  duplicate?: boolean;
}

/** A room send. */
export interface RoomSend extends SendBase {
  room: string;
  /** Refuse when the sender is not a member (WebSocket clients); backends may post to any room. */
  requireMember: boolean;
}

/** Result of a room send. */
export interface RoomResult {
  msgId: string;
  /** Seq in the sender's inbox (0 when the sender is not a member). */
  seq: number;
  time: number;
  members: number;
  duplicate?: boolean;
}

/** Result of an app-wide send. */
export interface AppResult {
  msgId: string;
  recipients: number;
  duplicate?: boolean;
}

/** What the messenger needs. */
export interface MessengerDeps {
  store: Store;
  bus: Bus;
  presence: Presence;
  ids: IdGenerator;
  clock: Clock;
  counters: Pick<ServerCounters, "messages" | "deliveries" | "drops">;
}

interface Claimed {
  fields: EntryFields;
  append: AppendOptions | undefined;
  duplicate: boolean;
  /** False: the key belonged to another message; send nothing. */
  rerun: boolean;
}

/** Direct, room and app-wide sends of one server. */
export class Messenger {
  readonly #d: MessengerDeps;

  constructor(deps: MessengerDeps) {
    this.#d = deps;
  }

  /** The msgId and time of a send (the earlier attempt's for a retry), and its entry fields. */
  async #claim(s: SendBase, kind: string, to: string, target: string): Promise<Claimed> {
    const type = s.type ?? "text";
    let msgId = this.#d.ids.msgId();
    let time = this.#d.clock.now();
    let duplicate = false;
    let rerun = true;
    if (s.key) {
      const binding: SendBinding = { kind, target: to, from: s.from, type, msg: s.msg };
      ({ msgId, time, duplicate, rerun } = await claimSend(
        this.#d.store,
        s.key,
        binding,
        msgId,
        time,
        s.reuse,
      ));
      if (duplicate) this.#d.counters.drops.inc({ reason: "duplicate" });
    }
    if (rerun) s.onMsgId?.(msgId);
    const fields: EntryFields = { msgId, from: s.from, to, target, type, msg: s.msg, time };
    return { fields, append: s.key ? { idempotent: true } : undefined, duplicate, rerun };
  }

  #counted(kind: string, entries: number, duplicate: boolean): void {
    if (duplicate) return;
    this.#d.counters.messages.inc({ kind });
    this.#d.counters.deliveries.inc({}, entries);
  }

  /** Append a direct message to the recipient's (and sender's) inbox and deliver it. */
  async direct(s: DirectSend): Promise<DirectResult> {
    const { store, bus } = this.#d;
    const { fields, append, duplicate, rerun } = await this.#claim(s, "direct", s.to, "");
    if (!rerun) {
      return { msgId: fields.msgId, seq: 0, senderSeq: 0, time: fields.time, delivered: false, duplicate };
    }
    const copy = s.copyToSender !== false && s.from !== "" && s.from !== s.to;
    const [entry, senderEntry] = await Promise.all([
      store.append(s.appId, s.to, fields, append),
      copy ? store.append(s.appId, s.from, fields, append) : undefined,
    ]);
    this.#counted("direct", copy ? 2 : 1, duplicate);
    const prefix = entryFramePrefix(fields);
    const [delivered] = await Promise.all([
      bus.deliver(s.appId, s.to, entry, entryFrame(prefix, entry.seq)),
      senderEntry &&
      bus.deliver(s.appId, s.from, senderEntry, entryFrame(prefix, senderEntry.seq), s.originConnId),
    ]);
    return {
      msgId: fields.msgId,
      seq: entry.seq,
      senderSeq: senderEntry?.seq ?? 0,
      time: fields.time,
      delivered,
      ...(duplicate ? { duplicate } : {}),
    };
  }

  /** Append a room message to every member's inbox and deliver it. */
  async room(s: RoomSend): Promise<RoomResult> {
    const { store } = this.#d;
    const members = await store.roomMembers(s.appId, s.room);
    if (members.length === 0) throw new ReplyError(Code.RoomNotFound, `room ${s.room} has no members`);
    const isMember = members.includes(s.from);
    if (s.requireMember && !isMember) throw new ReplyError(Code.NotRoomMember, `not a member of ${s.room}`);
    const claimed = await this.#claim(
      { ...s, onMsgId: isMember ? s.onMsgId : undefined },
      "room",
      s.room,
      s.room,
    );
    const seqs = await store.appendMany(s.appId, members, claimed.fields, claimed.append);
    this.#counted("room", members.length, claimed.duplicate);
    const senderSeq = await this.#fanOut(s.appId, members, seqs, claimed.fields, s.from, s.originConnId);
    return {
      msgId: claimed.fields.msgId,
      seq: senderSeq,
      time: claimed.fields.time,
      members: members.length,
      ...(claimed.duplicate ? { duplicate: true } : {}),
    };
  }

  /**
   * Send to every user online in the app except the sender (HTTP sendMessageAll): each gets an inbox
   * entry, so a connection that drops mid-way still receives it on resume.
   */
  async app(s: SendBase): Promise<AppResult> {
    const users = (await this.#d.presence.onlineUsers(s.appId)).filter((u) => u !== s.from);
    const claimed = await this.#claim(s, "app", "", "");
    if (!claimed.rerun) return { msgId: claimed.fields.msgId, recipients: 0, duplicate: true };
    const seqs = users.length
      ? await this.#d.store.appendMany(s.appId, users, claimed.fields, claimed.append)
      : [];
    this.#counted("app", users.length, claimed.duplicate);
    await this.#fanOut(s.appId, users, seqs, claimed.fields, s.from, undefined);
    return {
      msgId: claimed.fields.msgId,
      recipients: users.length,
      ...(claimed.duplicate ? { duplicate: true } : {}),
    };
  }

  /** Deliver one entry to many users; resolves to the sender's seq among them (0 when not one). */
  async #fanOut(
    appId: number,
    users: string[],
    seqs: number[],
    fields: EntryFields,
    from: string,
    originConnId: string | undefined,
  ): Promise<number> {
    const prefix = entryFramePrefix(fields);
    let senderSeq = 0;
    const deliveries: Promise<boolean>[] = [];
    for (let i = 0; i < users.length; i++) {
      const seq = seqs[i];
      const own = users[i] === from;
      if (own) senderSeq = seq;
      deliveries.push(
        this.#d.bus.deliver(
          appId,
          users[i],
          { ...fields, seq },
          entryFrame(prefix, seq),
          own ? originConnId : undefined,
        ),
      );
    }
    await Promise.all(deliveries);
    return senderSeq;
  }
}
