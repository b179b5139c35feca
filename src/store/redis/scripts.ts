/**
 * The Lua scripts of the Redis store and the cluster (files in `scripts/`, embedded in the build by
 * text imports). Each runs atomically inside Redis; every key a script touches is passed in KEYS, with
 * hash tags where keys belong together (`{app:user}`), so one call touches one slot whenever its keys do.
 *
 * @example
 * ```ts
 * const seqs = await SCRIPTS.append.run(client, keys, args);
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import type { RedisLink } from "./link.ts";
import advanceMark from "./scripts/advance_mark.lua" with { type: "text" };
import append from "./scripts/append.lua" with { type: "text" };
import appendRoomTimeline from "./scripts/append_room_timeline.lua" with { type: "text" };
import applyEntry from "./scripts/apply_entry.lua" with { type: "text" };
import blockersOf from "./scripts/blockers_of.lua" with { type: "text" };
import changeMessage from "./scripts/change_message.lua" with { type: "text" };
import connections from "./scripts/connections.lua" with { type: "text" };
import conversations from "./scripts/conversations.lua" with { type: "text" };
import firstYoung from "./scripts/first_young.lua" with { type: "text" };
import head from "./scripts/head.lua" with { type: "text" };
import imEntries from "./scripts/im_entries.lua" with { type: "text" };
import joinRoom from "./scripts/join_room.lua" with { type: "text" };
import joinRoomMembers from "./scripts/join_room_members.lua" with { type: "text" };
import joinRoomUser from "./scripts/join_room_user.lua" with { type: "text" };
import leaveRoom from "./scripts/leave_room.lua" with { type: "text" };
import loginState from "./scripts/login_state.lua" with { type: "text" };
import markRead from "./scripts/mark_read.lua" with { type: "text" };
import nodeHeartbeat from "./scripts/node_heartbeat.lua" with { type: "text" };
import onlineUsers from "./scripts/online_users.lua" with { type: "text" };
import otherNodes from "./scripts/other_nodes.lua" with { type: "text" };
import presence from "./scripts/presence.lua" with { type: "text" };
import presenceForget from "./scripts/presence_forget.lua" with { type: "text" };
import presenceWrite from "./scripts/presence_write.lua" with { type: "text" };
import range from "./scripts/range.lua" with { type: "text" };
import rangeBefore from "./scripts/range_before.lua" with { type: "text" };
import removePresence from "./scripts/remove_presence.lua" with { type: "text" };
import rotateEpoch from "./scripts/rotate_epoch.lua" with { type: "text" };
import route from "./scripts/route.lua" with { type: "text" };
import routeNodes from "./scripts/route_nodes.lua" with { type: "text" };
import saveMessage from "./scripts/save_message.lua" with { type: "text" };
import unreadTotal from "./scripts/unread_total.lua" with { type: "text" };
import upsertPresence from "./scripts/upsert_presence.lua" with { type: "text" };
import userApps from "./scripts/user_apps.lua" with { type: "text" };

/** One script: its source and SHA1, run by EVALSHA with an EVAL fallback (the cache is empty after a restart). */
export class Script {
  readonly sha: string;

  constructor(readonly name: string, readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  /** Run with `keys` (on a cluster they must share a slot: the call goes to its master) and `args`. */
  async run<T>(link: RedisLink, keys: readonly string[], args: readonly (string | number)[]): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await link.send<T>(keys[0], ["EVALSHA", this.sha, ...tail]);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith("NOSCRIPT")) throw error;
      return await link.send<T>(keys[0], ["EVAL", this.source, ...tail]);
    }
  }
}

/** Every script, by name. */
export const SCRIPTS = {
  append: new Script("append", firstYoung + imEntries + applyEntry + otherNodes + append),
  head: new Script("head", firstYoung + head),
  loginState: new Script("loginState", firstYoung + loginState),
  range: new Script("range", firstYoung + range),
  rangeBefore: new Script("rangeBefore", firstYoung + rangeBefore),
  advanceMark: new Script("advanceMark", advanceMark),
  joinRoom: new Script("joinRoom", joinRoom),
  joinRoomMembers: new Script("joinRoomMembers", joinRoomMembers),
  joinRoomUser: new Script("joinRoomUser", joinRoomUser),
  leaveRoom: new Script("leaveRoom", leaveRoom),
  rotateEpoch: new Script("rotateEpoch", rotateEpoch),
  upsertPresence: new Script("upsertPresence", connections + upsertPresence),
  removePresence: new Script("removePresence", connections + removePresence),
  presence: new Script("presence", presence),
  presenceWrite: new Script("presenceWrite", connections + presenceWrite),
  presenceForget: new Script("presenceForget", connections + presenceForget),
  onlineUsers: new Script("onlineUsers", onlineUsers),
  userApps: new Script("userApps", userApps),
  nodeHeartbeat: new Script("nodeHeartbeat", nodeHeartbeat),
  route: new Script("route", otherNodes + route),
  routeNodes: new Script("routeNodes", otherNodes + routeNodes),
  markRead: new Script("markRead", imEntries + markRead),
  conversations: new Script("conversations", conversations),
  unreadTotal: new Script("unreadTotal", unreadTotal),
  saveMessage: new Script("saveMessage", saveMessage),
  changeMessage: new Script("changeMessage", changeMessage),
  appendRoomTimeline: new Script("appendRoomTimeline", firstYoung + appendRoomTimeline),
  blockersOf: new Script("blockersOf", blockersOf),
} as const;
