/**
 * Every server push, built in one place (PROTOCOL.md A.5, B; docs/PROTOCOL.md section 6). Pushes use the
 * reply envelope with code 200 and codeMsg "Ok"; their `seq` is a server id (`s<base36>`), except `msg`
 * pushes, whose `seq` is the message's msgId.
 *
 * A `msg` push is built from a prefix shared by all recipients plus the recipient's inbox seq, so a room
 * fan-out stringifies once and only concatenates per member ({@linkcode entryFramePrefix}).
 *
 * @example
 * ```ts
 * const pushes = new Pushes();
 * socket.send(pushes.enter("alice"));
 * const frame = entryFrame(entryFramePrefix(entry), 7);
 * ```
 * @module
 */
import { Code } from "./codes.ts";
import { encodeReply } from "./envelope.ts";

/**
 * What an inbox entry is: a message (the default), or an event that changes one (PROTOCOL.md C): an edit, a
 * recall, a deletion for the inbox owner, or a stored receipt.
 */
export type EntryKind = "msg" | "edit" | "recall" | "delete" | "read" | "delivered";

/** The fields of an entry that are the same for every recipient (an inbox entry without its seq). */
export interface EntryFields {
  /** Message id; for an event, the event's own id (the message it changes is `ref`). */
  msgId: string;
  /** Sender userId ("" or a system name for backend sends); for an event, the sender of the message it changes. */
  from: string;
  /** Recipient userId for direct messages, the room for room messages, "" for app broadcasts. */
  to: string;
  /** "" for direct and app messages, the room name for room messages. */
  target: string;
  type: string;
  /** Body; for an edit the new text; "" for other events. */
  msg: string;
  /** Server time of acceptance (ms since epoch). */
  time: number;
  /** Absent for a message. */
  kind?: EntryKind;
  /** edit/recall/delete: the msgId of the message changed. */
  ref?: string;
  /** Who made the change (edit, recall, delete) or the receipt (read, delivered). */
  by?: string;
  /** read/delivered: the messages concerned. */
  msgIds?: string[];
  /** read: the reader's read position in its own inbox. */
  upTo?: number;
  /** A room message's position in the room's timeline. */
  roomSeq?: number;
}

/** Net presence changes of an app in one flush (see session/presence_pushes.ts). */
export interface PresenceChanges {
  enter: string[];
  exit: string[];
  /** Changes left out because the push is capped. */
  truncated: number;
}

/** Builds push frames; owns the counter behind server-chosen push seqs. */
export class Pushes {
  #counter = 0;

  /** A server-chosen `seq`: unique per server instance, cheap to build. */
  nextSeq(): string {
    return `s${(++this.#counter).toString(36)}`;
  }

  #push(cmd: string, data: unknown): string {
    return encodeReply(this.nextSeq(), cmd, Code.Success, data, "Ok");
  }

  /** `enter`: a user logged in (Go format). */
  enter(userId: string): string {
    return this.#push("enter", { target: "", type: "enter", msg: "", from: userId });
  }

  /** `exit`: a user's last connection in the app went (Go format). */
  exit(userId: string): string {
    return this.#push("exit", { target: "", type: "exit", msg: "", from: userId });
  }

  /** `presence`: coalesced enter/exit of a large app, one frame per connection per interval. */
  presence(changes: PresenceChanges): string {
    return this.#push("presence", changes);
  }

  /** `kick`: a newer login of the same user (multiDevice: single), before close 4000. */
  kick(reason: string): string {
    return this.#push("kick", { target: "", type: "kick", msg: reason, from: "" });
  }

  /** `read` receipt to a sender (live; a stored one is an inbox entry, see {@linkcode eventFramePrefix}). */
  read(
    r: { from: string; to: string; conversation: string; msgIds: string[]; upTo: number; time: number },
  ): string {
    return this.#push("read", {
      target: "",
      type: "read",
      msg: "",
      from: r.from,
      to: r.to,
      by: r.from,
      conversation: r.conversation,
      msgIds: r.msgIds,
      upTo: r.upTo,
      time: r.time,
    });
  }

  /** `delivered` receipt to a sender (live). */
  delivered(r: { by: string; conversation: string; msgIds: string[]; time: number }): string {
    return this.#push("delivered", r);
  }

  /** `readState` to the reader's other devices. */
  readState(r: { conversation: string; readSeq: number; unread: number }): string {
    return this.#push("readState", r);
  }

  /** `typing` to the peer's devices or a room's online members. */
  typing(
    r: { from: string; to?: string; room?: string; state: "start" | "stop"; expiresIn: number },
  ): string {
    return this.#push("typing", r);
  }

  /** `joinRoom`/`leaveRoom` event to a room's members. */
  roomEvent(kind: "join" | "leave", room: string, userId: string, time: number): string {
    return this.#push(kind === "join" ? "joinRoom" : "leaveRoom", {
      target: room,
      type: kind,
      msg: "",
      from: userId,
      room,
      time,
    });
  }

  /** `reconnect`: the node drains; come back after `retryMs` (then close 1012). */
  reconnect(retryMs: number, reason: string): string {
    return this.#push("reconnect", { retryMs, reason });
  }

  /** `tokenExpired` (then close 4002). */
  tokenExpired(expiresAt: number): string {
    return this.#push("tokenExpired", { code: Code.TokenExpired, expiresAt });
  }

  /** The `sync` push with code 1016: entries after `since` up to `firstSeq - 1` are gone. */
  gap(since: number, firstSeq: number, lost: number): string {
    return encodeReply("", "sync", Code.InboxGap, { since, firstSeq, lost });
  }
}

/** The conversation of an entry seen from the inbox owner: `u:<peer>`, `r:<room>`, or "" for none. */
export function conversationOf(
  e: Pick<EntryFields, "from" | "to" | "target" | "kind" | "by">,
  owner: string,
): string {
  if (e.target !== "") return `r:${e.target}`;
  if (e.kind === "read" || e.kind === "delivered") return e.by ? `u:${e.by}` : "";
  if (e.from === "") return "";
  if (e.from !== owner) return `u:${e.from}`;
  return e.to !== "" && e.to !== owner ? `u:${e.to}` : "";
}

/** The push command of an entry kind. */
const EVENT_CMDS: Readonly<Record<EntryKind, string>> = {
  msg: "msg",
  edit: "msgEdited",
  recall: "msgRecalled",
  delete: "msgDeleted",
  read: "read",
  delivered: "delivered",
};

/**
 * The push of an event entry for the inbox `owner` (its `conversation` depends on the owner), without the
 * recipient's `seq`; complete it with {@linkcode entryFrame} like a message prefix.
 */
export function eventFramePrefix(e: EntryFields, owner: string): string {
  const conversation = conversationOf(e, owner);
  let data: Record<string, unknown>;
  switch (e.kind) {
    case "edit":
      data = { msgId: e.ref, msg: e.msg, editedAt: e.time, by: e.by, conversation };
      break;
    case "recall":
      data = { msgId: e.ref, by: e.by, recalledAt: e.time, conversation };
      break;
    case "delete":
      data = { msgId: e.ref, conversation };
      break;
    case "read":
      data = {
        target: "",
        type: "read",
        msg: "",
        from: e.by,
        to: owner,
        by: e.by,
        conversation,
        msgIds: e.msgIds,
        upTo: e.upTo,
        time: e.time,
      };
      break;
    default:
      data = { by: e.by, conversation, msgIds: e.msgIds, time: e.time };
  }
  const json = JSON.stringify(data);
  return `{"seq":${JSON.stringify(e.msgId)},"cmd":"${
    EVENT_CMDS[e.kind ?? "msg"]
  }","response":{"code":200,"codeMsg":"Ok","data":${json.slice(0, -1)},"seq":`;
}

/** The push prefix of any entry for the inbox `owner`: a `msg` push for messages, the event's push else. */
export function framePrefixFor(e: EntryFields, owner: string): string {
  return e.kind === undefined || e.kind === "msg" ? entryFramePrefix(e) : eventFramePrefix(e, owner);
}

/**
 * A message as a `msg` push shows it: as sent (live), or as it is now when read back from the store
 * (messaging/current.ts: the edited text with `editedAt`, or a tombstone without `msg`, `recalled: true`).
 */
export type MessageView = Omit<EntryFields, "msg"> & { msg?: string; editedAt?: number; recalled?: true };

/**
 * Everything of a `msg` push except the recipient's `seq`; complete it with {@linkcode entryFrame}.
 *
 * @example
 * ```ts
 * const prefix = entryFramePrefix(fields);
 * for (const [member, seq] of seqs) send(member, entryFrame(prefix, seq));
 * ```
 */
export function entryFramePrefix(e: MessageView, blocked = false): string {
  // Optional keys are added in place (same key order) rather than spread from temporary objects: this
  // runs once per message on the send path. JSON leaves out `msg: undefined` (a tombstone).
  const fields: Record<string, unknown> = {
    target: e.target,
    type: e.type,
    msg: e.msg,
    from: e.from,
    to: e.to,
    msgId: e.msgId,
    time: e.time,
  };
  if (e.roomSeq !== undefined) fields.roomSeq = e.roomSeq;
  if (e.editedAt !== undefined) fields.editedAt = e.editedAt;
  if (e.recalled) fields.recalled = true;
  if (blocked) fields.blocked = true;
  const data = JSON.stringify(fields);
  return `{"seq":${JSON.stringify(e.msgId)},"cmd":"msg","response":{"code":200,"codeMsg":"Ok","data":${
    data.slice(0, -1)
  },"seq":`;
}

/** Complete a `msg` push built by {@linkcode entryFramePrefix} with the recipient's inbox seq. */
export function entryFrame(prefix: string, seq: number): string {
  return `${prefix}${seq}}}}`;
}
