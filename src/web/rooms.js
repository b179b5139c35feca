// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * Rooms on the chat page: the rooms this user is a member of (remembered in localStorage, rejoined
 * only when the server's state may be gone), who is in each (for join lines and the member list),
 * joining, leaving, and join/leave pushes from other users and other devices.
 *
 * Membership is per user on the server and survives reconnects, so a reconnect rejoins nothing.
 * A join push for someone already known as a member is the restoration of a membership the
 * server lost (memory store restart, rejoined on login), not a real join: no "X joined" line.
 */
import { ImRequestError } from "./client.js";
import { Code } from "./codes.js";

/** @typedef {import("./client.js").ImClient} ImClient */

/**
 * @typedef {object} RoomsHost what the rooms need from the page
 * @property {() => ImClient | null} client
 * @property {() => string} me
 * @property {(room: string, text: string, time: number) => void} event a join/leave line
 * @property {(room: string) => void} changed membership or members of `room` changed
 */

export class Rooms {
  /** @param {RoomsHost} host */
  constructor(host) {
    this.host = host;
    /** Rooms this user is a member of. @type {Set<string>} */
    this.joined = new Set();
    /** Members each room is known to have (roomMembers and join/leave pushes). @type {Map<string, Set<string>>} */
    this.members = new Map();
    /** The server's state may be gone (new inbox epoch, or no stored one): rejoin the remembered rooms. */
    this.rejoinNeeded = false;
    this.storageKey = "";
  }

  /** Start for a user: remembered rooms come from localStorage. @param {string} key @param {boolean} rejoin */
  reset(key, rejoin) {
    this.storageKey = key;
    this.joined = this.#load();
    this.members = new Map();
    this.rejoinNeeded = rejoin;
  }

  /** @param {string} room */
  membersOf(room) {
    let set = this.members.get(room);
    if (!set) this.members.set(room, set = new Set());
    return set;
  }

  /**
   * After a login: rejoin if needed (sent in this turn, before the sends the client resends after
   * this login: the server handles a connection's frames in order, so the rooms exist again before
   * those messages reach them). Returns what to await.
   * @param {ImClient} client
   */
  rejoin(client) {
    const rejoin = this.rejoinNeeded;
    this.rejoinNeeded = false;
    return rejoin ? [...this.joined].map((room) => this.#rejoinRoom(client, room)) : [];
  }

  /** @param {ImClient} client @param {string} room */
  async #rejoinRoom(client, room) {
    try {
      await client.joinRoom(room);
    } catch (error) {
      if (error instanceof ImRequestError && error.code !== 0) this.forget(room); // 1021/1022: too many, full
      else this.rejoinNeeded = true; // connection lost: the next login tries again
    }
  }

  /**
   * Fetch a room's members into `members`; with `check`, forget the room when this user is not one
   * of them (it left on another device). Returns the reply, or null.
   * @param {ImClient} client @param {string} room @param {boolean} [check]
   * @returns {Promise<{members: string[], online: string[]} | null>}
   */
  async load(client, room, check = false) {
    try {
      const r = await client.roomMembers(room);
      const known = this.membersOf(room);
      known.clear();
      for (const m of r.members) known.add(m);
      if (check && !r.members.includes(this.host.me())) this.forget(room);
      this.host.changed(room);
      return r;
    } catch (error) {
      if (check && error instanceof ImRequestError && error.code === Code.RoomNotFound) this.forget(room); // no members
      return null;
    }
  }

  /**
   * A room this page did not know of, seen in `conversations`: remembered if this user is still a
   * member (joined on another device, or this browser is new).
   * @param {ImClient} client @param {string} room
   */
  async adopt(client, room) {
    const r = await this.load(client, room);
    if (r?.members.includes(this.host.me())) this.remember(room);
  }

  /** Join from the form; resolves once joined. @param {string} room */
  async join(room) {
    const client = this.host.client();
    if (!client) return;
    await client.joinRoom(room);
    this.remember(room);
    await this.load(client, room);
  }

  /** Leave; 1019 (not a member any more: left on another device) is not an error. @param {string} room */
  async leave(room) {
    const client = this.host.client();
    if (!client) return;
    try {
      await client.leaveRoom(room);
    } catch (error) {
      if (!(error instanceof ImRequestError && error.code === Code.NotRoomMember)) throw error;
    }
    this.forget(room);
  }

  /** A `joinRoom` push. @param {{from: string, room: string, time: number}} d */
  onJoin(d) {
    const members = this.membersOf(d.room);
    const known = members.has(d.from);
    members.add(d.from);
    // Own joins (this tab or another device) add the room; no line for them.
    if (d.from === this.host.me()) this.remember(d.room);
    else if (!known) this.host.event(d.room, `${d.from} joined`, d.time);
    this.host.changed(d.room);
  }

  /** A `leaveRoom` push. @param {{from: string, room: string, time: number}} d */
  onLeave(d) {
    this.members.get(d.room)?.delete(d.from);
    if (d.from === this.host.me()) this.forget(d.room);
    else this.host.event(d.room, `${d.from} left`, d.time);
    this.host.changed(d.room);
  }

  /** This user is a member of `room` (joined here or on another device). @param {string} room */
  remember(room) {
    if (!this.joined.has(room)) {
      this.joined.add(room);
      this.#save();
    }
    this.host.changed(room);
  }

  /**
   * This user left `room` (here or on another device): out of the list and the remembered rooms;
   * if it is open it stays readable, with the composer disabled.
   * @param {string} room
   */
  forget(room) {
    this.joined.delete(room);
    this.members.delete(room);
    this.#save();
    this.host.changed(room);
  }

  /** @returns {Set<string>} */
  #load() {
    try {
      return new Set(JSON.parse(localStorage.getItem(this.storageKey) ?? "[]"));
    } catch {
      return new Set();
    }
  }

  #save() {
    try {
      localStorage.setItem(this.storageKey, JSON.stringify([...this.joined]));
    } catch {
      // storage full or blocked: the rooms are still known in this page
    }
  }
}
