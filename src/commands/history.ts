/**
 * `history {peer | room, before?, limit?}` (PROTOCOL.md B.2, C.6): past messages newest first, as they are
 * now (messaging/current.ts): edits applied, recalled ones as tombstones, room messages of users the caller
 * blocked flagged `blocked: true`, and the ones the caller deleted left out. A peer's history is read
 * from the caller's inbox (`before` is an inbox seq); a room's from the room's own timeline, so a member who
 * joined later reads earlier messages (`before` is a roomSeq). A non-member (one who left) and every caller
 * with `rooms.historyForNewMembers: false` read the room's messages from their own inbox instead.
 *
 * @example
 * ```ts
 * const routes = historyCommands(deps); // { history }
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import { Code } from "../protocol/codes.ts";
import type { Request } from "../protocol/envelope.ts";
import { blockedFor, currentMessage, currentState } from "../messaging/current.ts";
import { ReplyError } from "../protocol/errors.ts";
import { intField, stringField, userIdField } from "../protocol/validate.ts";
import type { Connection, Identity } from "../session/connection.ts";
import type { InboxEntry, Store } from "../store/store.ts";
import type { Routes } from "./router.ts";

/** What history needs. */
export interface HistoryDeps {
  config: Pick<Config, "im" | "inbox" | "rooms">;
  store: Store;
}

/** A message as history shows it. */
export interface HistoryMessage {
  msgId: string;
  from: string;
  to: string;
  target: string;
  type: string;
  msg?: string;
  time: number;
  seq?: number;
  roomSeq?: number;
  editedAt?: number;
  recalled?: true;
  /** A room message from a user the caller blocked (C.7). */
  blocked?: true;
}

/** The history command. */
export function historyCommands(d: HistoryDeps): Routes {
  const { im, inbox, rooms } = d.config;

  async function render(appId: number, userId: string, list: Array<HistoryMessage & { msg: string }>) {
    const ids = list.map((m) => m.msgId);
    const [{ stored, blocked }, hidden] = await Promise.all([
      currentState(d.store, appId, userId, list),
      d.store.hiddenAmong(appId, userId, ids),
    ]);
    return list.filter((m) => !hidden.has(m.msgId)).map((m): HistoryMessage =>
      currentMessage(m, stored.get(m.msgId), blockedFor(m, blocked))
    );
  }

  /** Messages of the caller's inbox matching `matches`, newest first, up to `limit`. */
  async function fromInbox(
    appId: number,
    userId: string,
    before: number,
    limit: number,
    matches: (e: InboxEntry) => boolean,
  ) {
    const found: InboxEntry[] = [];
    const page = inbox.syncPageSize;
    let scanned = 0;
    while (found.length < limit && scanned < inbox.maxEntries) {
      const entries = await d.store.rangeBefore(appId, userId, before, page);
      for (const e of entries) {
        if ((e.kind ?? "msg") === "msg" && matches(e)) found.push(e);
        if (found.length === limit) break;
      }
      scanned += entries.length;
      if (entries.length < page) break;
      before = entries[entries.length - 1].seq;
    }
    return found.map(({ kind: _k, ...e }) => e);
  }

  async function history(_conn: Connection, req: Request, me: Identity) {
    const data = req.data;
    const { appId, userId } = me;
    const peer = data.peer === undefined
      ? undefined
      : userIdField(data, "peer", im.maxUserIdBytes, Code.RecipientUnknown);
    const room = stringField(data, "room", im.maxRoomBytes, { optional: true });
    if ((peer === undefined) === (room === undefined)) {
      throw new ReplyError(Code.ParameterIllegal, "history needs exactly one of peer or room");
    }
    const limit = intField(data, "limit", { optional: true, max: im.historyMaxLimit }) ?? 20;
    const before = intField(data, "before", { optional: true }) ?? Number.MAX_SAFE_INTEGER;
    // limit 0 is valid input and finds nothing: no "more".
    // The room's timeline is for its members; anyone else (a former member) reads what reached their inbox.
    const member = room !== undefined && rooms.historyForNewMembers &&
      (await d.store.userRooms(appId, userId)).includes(room);
    if (member) {
      const timeline = await d.store.roomTimeline(appId, room!, before, limit);
      const stored = await d.store.messages(appId, timeline.map((t) => t.msgId));
      const list = timeline.flatMap((t) => {
        const m = stored.get(t.msgId);
        return m
          ? [{
            msgId: m.msgId,
            from: m.from,
            to: m.to,
            target: m.target,
            type: m.type,
            msg: m.msg,
            time: m.time,
            roomSeq: t.roomSeq,
          }]
          : [];
      });
      const messages = await render(appId, userId, list);
      const more = timeline.length > 0 && timeline.length === limit;
      return { messages, before: more ? timeline[timeline.length - 1].roomSeq : 0, more };
    }
    const matches = (e: InboxEntry) =>
      room !== undefined
        ? e.target === room
        : e.target === "" && ((e.from === peer && e.to === userId) || (e.from === userId && e.to === peer));
    const found = await fromInbox(appId, userId, before, limit, matches);
    const messages = await render(appId, userId, found);
    const more = found.length > 0 && found.length === limit;
    return { messages, before: more ? found[found.length - 1].seq : 0, more };
  }

  return { history: { handler: history, auth: true } };
}
