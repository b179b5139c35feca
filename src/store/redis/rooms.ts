/**
 * Room membership on Redis: a room's member set (the truth about membership) and each user's list of
 * rooms. On one Redis a join or leave is one script over both keys; on a Redis Cluster the two sets live
 * in different slots (`{app:room}`, `{app:user}`), so a join takes the room's half first and the user's
 * half second, undoing the first when the second refuses. {@linkcode RedisStore} delegates to it.
 *
 * @example
 * ```ts
 * const rooms = new RedisRooms({ link, keys, policy, call, run });
 * await rooms.join(101, "lobby", "ann"); // "joined"
 * ```
 * @module
 */
import type { JoinResult, StorePolicy } from "../store.ts";
import type { RedisImOptions } from "./im.ts";
import type { RedisKeys } from "./keys.ts";
import type { RedisLink } from "./link.ts";
import { SCRIPTS } from "./scripts.ts";

/** What {@linkcode RedisRooms} needs from its store (the same helpers as {@linkcode RedisImOptions}). */
export interface RedisRoomsOptions {
  link: RedisLink;
  keys: RedisKeys;
  policy: Pick<StorePolicy, "maxRoomsPerUser" | "maxRoomMembers">;
  call: RedisImOptions["call"];
  run: RedisImOptions["run"];
}

/** Joins, leaves and member lists of rooms. */
export class RedisRooms {
  readonly #o: RedisRoomsOptions;

  constructor(options: RedisRoomsOptions) {
    this.#o = options;
  }

  /**
   * Join a room. A member's re-join answers `already` and lists the room again if the user's list lost it
   * (a half-done join of a node that died between the two steps), past maxRoomsPerUser if need be.
   */
  async join(appId: number, room: string, userId: string): Promise<JoinResult> {
    const { link, keys, policy, run, call } = this.#o;
    const members = keys.room(appId, room), rooms = keys.userRooms(appId, userId);
    const { maxRoomsPerUser, maxRoomMembers } = policy;
    if (!link.cluster) {
      return run("joinRoom", SCRIPTS.joinRoom, [members, rooms], [
        userId,
        room,
        maxRoomsPerUser,
        maxRoomMembers,
      ]);
    }
    // Concurrent joins of one user may overshoot maxRoomsPerUser by the joins in flight.
    const joined = await run<JoinResult>("joinRoom", SCRIPTS.joinRoomMembers, [members], [
      userId,
      maxRoomMembers,
    ]);
    if (joined === "roomFull") return joined;
    const undo = () => call("joinRoom", () => link.send(members, ["SREM", members, userId]));
    let listed: JoinResult;
    try {
      listed = await run<JoinResult>("joinRoom", SCRIPTS.joinRoomUser, [rooms], [
        room,
        maxRoomsPerUser,
        joined === "already" ? "1" : "0",
      ]);
    } catch (error) {
      if (joined === "joined") await undo().catch(() => {}); // best effort: the join failed as a whole
      throw error;
    }
    if (listed === "tooManyRooms" && joined === "joined") {
      await undo();
      return listed;
    }
    return joined;
  }

  /** Leave a room; true when the user was a member. The user's list is cleaned either way. */
  async leave(appId: number, room: string, userId: string): Promise<boolean> {
    const { link, keys, run, call } = this.#o;
    const members = keys.room(appId, room), rooms = keys.userRooms(appId, userId);
    if (!link.cluster) {
      return Number(await run("leaveRoom", SCRIPTS.leaveRoom, [members, rooms], [userId, room])) === 1;
    }
    const removed = Number(await call("leaveRoom", () => link.send(members, ["SREM", members, userId])));
    // the user's list too, even when the member set no longer had the user (a half-done earlier join)
    await call("leaveRoom", () => link.send(rooms, ["SREM", rooms, room]));
    return removed === 1;
  }

  /** Members of a room (empty for unknown rooms). */
  members(appId: number, room: string): Promise<string[]> {
    const key = this.#o.keys.room(appId, room);
    return this.#o.call("roomMembers", () => this.#o.link.send<string[]>(key, ["SMEMBERS", key]));
  }

  /** Rooms a user is in. */
  userRooms(appId: number, userId: string): Promise<string[]> {
    const key = this.#o.keys.userRooms(appId, userId);
    return this.#o.call("userRooms", () => this.#o.link.send<string[]>(key, ["SMEMBERS", key]));
  }
}
