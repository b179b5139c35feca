/**
 * Sending, shared by WebSocket commands and the HTTP API: every accepted message is appended to each
 * recipient's inbox (the store assigns the seq) and only then delivered live and acknowledged — a `200`
 * means stored. The live delivery needs the commit; the acknowledgement also waits until the store says
 * the commit is on disk (`Store.synced`: SQLite with `store.sync: full`), so the push to the recipient
 * does not wait for the disk. Sends with an idempotency key go through messaging/dedup.ts (claim first, idempotent
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
import type { Store } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import type { IdGenerator } from "../util/ids.ts";
import { type ClaimedSend, claimSend, type ReusePolicy, type SendBinding } from "./dedup.ts";

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
  /** Position in the room's timeline (absent for a duplicate that was another message). */
  roomSeq?: number;
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
  /** Told of every room message stored (not of repeats): the admin console's room activity. */
  onRoomMessage?: (appId: number, room: string) => void;
}

interface Claimed {
  fields: EntryFields;
  /** A key was given: appends are idempotent (appendOnce). */
  keyed: boolean;
  /** The key was held by an earlier attempt. */
  retry: boolean;
  /** False: the key belonged to another message; send nothing. */
  rerun: boolean;
}

/** Direct, room and app-wide sends of one server. */
export class Messenger {
  readonly #d: MessengerDeps;

  constructor(deps: MessengerDeps) {
    this.#d = deps;
  }

  /** A send's msgId, time (the earlier attempt's for a retry) and fields; synchronous without a key. */
  #claim(s: SendBase, kind: string, to: string, target: string): Claimed | Promise<Claimed> {
    const msgId = this.#d.ids.msgId();
    const time = this.#d.clock.now();
    if (!s.key) return this.#claimed(s, to, target, { msgId, time, duplicate: false, rerun: true });
    const binding: SendBinding = { kind, target: to, from: s.from, type: s.type ?? "text", msg: s.msg };
    return claimSend(this.#d.store, s.key, binding, msgId, time, s.reuse)
      .then((c) => this.#claimed(s, to, target, c));
  }

  #claimed(s: SendBase, to: string, target: string, c: ClaimedSend): Claimed {
    if (c.rerun) s.onMsgId?.(c.msgId);
    const { msgId, time, duplicate: retry, rerun } = c;
    const fields: EntryFields = { msgId, from: s.from, to, target, type: s.type ?? "text", msg: s.msg, time };
    return { fields, keyed: s.key !== undefined, retry, rerun };
  }

  /**
   * Append to each inbox (at most once per msgId when keyed). `duplicate` is true when this was a retry
   * and every inbox had the message already: nothing new was stored or will be pushed.
   */
  async #append(
    appId: number,
    users: string[],
    c: Claimed,
    kind: string,
  ): Promise<{ seqs: number[]; duplicate: boolean }> {
    if (users.length === 0) return { seqs: [], duplicate: c.retry };
    let seqs: number[];
    let fresh = users.length;
    if (c.keyed) {
      const appended = await this.#d.store.appendOnce(appId, users, c.fields);
      seqs = appended.map((a) => a.seq);
      fresh = appended.filter((a) => !a.repeated).length;
    } else if (users.length === 1) seqs = [(await this.#d.store.append(appId, users[0], c.fields)).seq];
    else seqs = await this.#d.store.appendMany(appId, users, c.fields);
    const duplicate = c.retry && fresh === 0;
    if (duplicate) this.#d.counters.drops.inc({ reason: "duplicate" });
    else {
      this.#d.counters.messages.inc({ kind });
      this.#d.counters.deliveries.inc({}, fresh);
    }
    return { seqs, duplicate };
  }

  /**
   * Append a direct message to the recipient's (and sender's) inbox and deliver it. A recipient who blocked
   * the sender gets nothing, and the sender 1029 (PROTOCOL.md C.7).
   */
  async direct(s: DirectSend): Promise<DirectResult> {
    if (s.from !== "" && (await this.#d.store.blockersOf(s.appId, s.from, [s.to])).size > 0) {
      throw new ReplyError(Code.Blocked, `${s.to} does not accept messages from you`);
    }
    const claiming = this.#claim(s, "direct", s.to, "");
    const claimed = claiming instanceof Promise ? await claiming : claiming;
    const { fields } = claimed;
    if (!claimed.rerun) {
      await this.#durable();
      return {
        msgId: fields.msgId,
        seq: 0,
        senderSeq: 0,
        time: fields.time,
        delivered: false,
        duplicate: true,
      };
    }
    const copy = s.copyToSender !== false && s.from !== "" && s.from !== s.to;
    // The kept message first: were both written at once, a send failing on the kept message's shard
    // (a Redis Cluster master down) would answer 1024 while its inbox entries were stored and replayed,
    // and the message could never be edited or recalled.
    await this.#d.store.saveMessage(s.appId, fields);
    const { seqs, duplicate } = await this.#append(
      s.appId,
      copy ? [s.to, s.from] : [s.to],
      claimed,
      "direct",
    );
    const prefix = entryFramePrefix(fields);
    const [delivered] = await Promise.all([
      this.#d.bus.deliver(s.appId, s.to, { ...fields, seq: seqs[0] }, entryFrame(prefix, seqs[0])),
      copy &&
      this.#d.bus.deliver(
        s.appId,
        s.from,
        { ...fields, seq: seqs[1] },
        entryFrame(prefix, seqs[1]),
        s.originConnId,
      ),
    ]);
    await this.#durable();
    return {
      msgId: fields.msgId,
      seq: seqs[0],
      senderSeq: copy ? seqs[1] : 0,
      time: fields.time,
      delivered,
      ...(duplicate ? { duplicate } : {}),
    };
  }

  /** Append a room message to every member's inbox and deliver it. */
  async room(s: RoomSend): Promise<RoomResult> {
    const members = await this.#d.store.roomMembers(s.appId, s.room);
    if (members.length === 0) throw new ReplyError(Code.RoomNotFound, `room ${s.room} has no members`);
    const isMember = members.includes(s.from);
    if (s.requireMember && !isMember) throw new ReplyError(Code.NotRoomMember, `not a member of ${s.room}`);
    const claimed = await this.#claim(
      { ...s, onMsgId: isMember ? s.onMsgId : undefined },
      "room",
      s.room,
      s.room,
    );
    if (!claimed.rerun) {
      await this.#durable();
      return { msgId: claimed.fields.msgId, seq: 0, time: claimed.fields.time, members: 0, duplicate: true };
    }
    // The room's own timeline first, so every member's entry carries its roomSeq (PROTOCOL.md C.6).
    const roomSeq = await this.#d.store.appendRoomTimeline(
      s.appId,
      s.room,
      claimed.fields.msgId,
      claimed.fields.time,
    );
    const fields: EntryFields = { ...claimed.fields, roomSeq };
    const [blockers] = await Promise.all([
      s.from === "" ? new Set<string>() : this.#d.store.blockersOf(s.appId, s.from, members),
      this.#d.store.saveMessage(s.appId, fields),
    ]);
    const { seqs, duplicate } = await this.#append(s.appId, members, { ...claimed, fields }, "room");
    if (!duplicate) this.#d.onRoomMessage?.(s.appId, s.room);
    const senderSeq = await this.#fanOut(s.appId, members, seqs, fields, s.from, s.originConnId, blockers);
    await this.#durable();
    return {
      msgId: fields.msgId,
      seq: senderSeq,
      roomSeq,
      time: fields.time,
      members: members.length,
      ...(duplicate ? { duplicate } : {}),
    };
  }

  /**
   * Send to every user online in the app except the sender (HTTP sendMessageAll): each gets an inbox
   * entry, so a connection that drops mid-way still receives it on resume.
   */
  async app(s: SendBase): Promise<AppResult> {
    const users = (await this.#d.presence.onlineUsers(s.appId)).filter((u) => u !== s.from);
    const claimed = await this.#claim(s, "app", "", "");
    const { fields } = claimed;
    if (!claimed.rerun) {
      await this.#durable();
      return { msgId: fields.msgId, recipients: 0, duplicate: true };
    }
    const { seqs, duplicate } = await this.#append(s.appId, users, claimed, "app");
    await this.#fanOut(s.appId, users, seqs, fields, s.from, undefined);
    await this.#durable();
    return { msgId: fields.msgId, recipients: users.length, ...(duplicate ? { duplicate } : {}) };
  }

  /** Before a send is acknowledged: its writes are on disk (a no-op for stores durable at commit). */
  #durable(): Promise<void> {
    return this.#d.store.synced?.() ?? Promise.resolve();
  }

  /**
   * Deliver one entry to many users; resolves to the sender's seq among them (0 when not one). Members who
   * blocked the sender get the push flagged `blocked: true`.
   */
  async #fanOut(
    appId: number,
    users: string[],
    seqs: number[],
    fields: EntryFields,
    from: string,
    originConnId: string | undefined,
    blockers: ReadonlySet<string> = new Set(),
  ): Promise<number> {
    const prefix = entryFramePrefix(fields);
    const flagged = blockers.size > 0 ? entryFramePrefix(fields, true) : prefix;
    let senderSeq = 0;
    const deliveries: Promise<boolean>[] = [];
    for (let i = 0; i < users.length; i++) {
      const seq = seqs[i];
      const own = users[i] === from;
      if (own) senderSeq = seq;
      const text = entryFrame(blockers.has(users[i]) ? flagged : prefix, seq);
      deliveries.push(
        this.#d.bus.deliver(appId, users[i], { ...fields, seq }, text, own ? originConnId : undefined),
      );
    }
    await Promise.all(deliveries);
    return senderSeq;
  }
}
