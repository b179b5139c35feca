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

/** The fields of a message that are the same for every recipient (an inbox entry without its seq). */
export interface EntryFields {
  msgId: string;
  /** Sender userId ("" or a system name for backend sends). */
  from: string;
  /** Recipient userId for direct messages, the room for room messages, "" for app broadcasts. */
  to: string;
  /** "" for direct and app messages, the room name for room messages. */
  target: string;
  type: string;
  msg: string;
  /** Server time of acceptance (ms since epoch). */
  time: number;
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

  /** `read` receipt to a sender. */
  read(r: { from: string; to: string; msgIds: string[]; time: number }): string {
    return this.#push("read", { target: "", type: "read", msg: "", ...r });
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

/**
 * Everything of a `msg` push except the recipient's `seq`; complete it with {@linkcode entryFrame}.
 *
 * @example
 * ```ts
 * const prefix = entryFramePrefix(fields);
 * for (const [member, seq] of seqs) send(member, entryFrame(prefix, seq));
 * ```
 */
export function entryFramePrefix(e: EntryFields): string {
  const data = JSON.stringify({
    target: e.target,
    type: e.type,
    msg: e.msg,
    from: e.from,
    to: e.to,
    msgId: e.msgId,
    time: e.time,
  });
  return `{"seq":${JSON.stringify(e.msgId)},"cmd":"msg","response":{"code":200,"codeMsg":"Ok","data":${
    data.slice(0, -1)
  },"seq":`;
}

/** Complete a `msg` push built by {@linkcode entryFramePrefix} with the recipient's inbox seq. */
export function entryFrame(prefix: string, seq: number): string {
  return `${prefix}${seq}}}}`;
}
