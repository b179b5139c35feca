/**
 * Rooms and idempotency claims of the SQLite store. Each write is one writer operation that checks and
 * changes in the same transaction (so two joins racing for the last seat of a room cannot both get
 * it). Room sizes and the member lists read are cached in memory (the lists only as committed): counting or
 * listing the members again on every join — `joinRoom` replies with the member count and pushes to the
 * members — made filling a 10,000-member room O(n²) (25 s, measured; 1.6 s in memory). The cache holds the
 * rooms used most recently, at most {@linkcode CACHED_ROOMS} rooms and {@linkcode CACHED_MEMBERS} listed
 * members; a room it let go is read from the file again (until 2026-12-02 every room ever used that still
 * had members stayed, ~360 B each: memberships never expire, so that grew for good).
 *
 * @example
 * ```ts
 * const records = new Records({ writer, statements, policy, clock });
 * await records.joinRoom(101, "lobby", "bob"); // "joined"
 * ```
 * @module
 */
import { StorageError } from "../../protocol/errors.ts";
import type { Clock } from "../../util/clock.ts";
import type { JoinResult, StorePolicy } from "../store.ts";
import type { Statements } from "./statements.ts";
import type { Tx, Writer } from "./writer.ts";

/** What {@linkcode Records} needs. */
export interface RecordsDeps {
  writer: Writer;
  statements: Statements;
  policy: StorePolicy;
  clock: Clock;
}

const count = (row: unknown): number => Number((row as { n: number }).n);

/** Rooms whose size (and maybe member list) the cache holds at most. */
export const CACHED_ROOMS = 10_000;
/** Members in the cached lists at most (~50 B each; the room in use is kept even past it). */
export const CACHED_MEMBERS = 500_000;

/** What the cache knows of one room, as committed. */
interface CachedRoom {
  size: number;
  members?: Set<string>;
}

/**
 * Room membership and claims.
 *
 * @example
 * ```ts
 * await records.claim("mid\u0000101\u0000m-1", "{}"); // null: claimed now
 * ```
 */
export class Records {
  readonly #d: RecordsDeps;
  /** Rooms used recently, least recently used first (a use moves a room to the end). */
  readonly #rooms = new Map<string, CachedRoom>();
  /** Members in the cached lists. */
  #listed = 0;
  #tx: Tx | undefined;
  /** This transaction's view of the sizes it touched. */
  #txSizes = new Map<string, number>();

  constructor(deps: RecordsDeps) {
    this.#d = deps;
  }

  /** Members of a room as the current transaction sees them. */
  #size(tx: Tx, appId: number, room: string): number {
    if (this.#tx !== tx) {
      this.#tx = tx;
      const sizes = this.#txSizes = new Map();
      tx.onCommit(() => {
        for (const [k, n] of sizes) {
          if (n <= 0) this.#drop(k);
          else {
            const held = this.#use(k);
            if (held) held.size = n;
            else this.#hold(k, { size: n });
          }
        }
      });
    }
    const k = `${appId}\u0000${room}`;
    return this.#txSizes.get(k) ?? this.#use(k)?.size ?? count(this.#d.statements.roomCount.get(appId, room));
  }

  /** Record a join (+1) or leave (-1) of `userId` in this transaction; the lists follow at commit. */
  #moved(tx: Tx, appId: number, room: string, userId: string, size: number, by: 1 | -1): void {
    const k = `${appId}\u0000${room}`;
    this.#txSizes.set(k, size + by);
    tx.onCommit(() => {
      const members = this.#rooms.get(k)?.members;
      if (!members) return;
      const before = members.size;
      if (by > 0) members.add(userId);
      else members.delete(userId);
      this.#listed += members.size - before;
      if (members.size > before) this.#bound(k); // lists that grow count against the bound too
    });
  }

  /** The cached room, now the most recently used; undefined when not cached. */
  #use(k: string): CachedRoom | undefined {
    const held = this.#rooms.get(k);
    if (held) {
      this.#rooms.delete(k);
      this.#rooms.set(k, held);
    }
    return held;
  }

  /** Cache a room as the most recently used, then let the least recently used go while over the bounds. */
  #hold(k: string, room: CachedRoom): void {
    this.#drop(k);
    this.#rooms.set(k, room);
    this.#listed += room.members?.size ?? 0;
    this.#bound(k);
  }

  /** Let the least recently used rooms go while over the bounds (never `keep`, the room in use). */
  #bound(keep: string): void {
    for (const old of this.#rooms.keys()) {
      if (old === keep || (this.#rooms.size <= CACHED_ROOMS && this.#listed <= CACHED_MEMBERS)) break;
      this.#drop(old);
    }
  }

  #drop(k: string): void {
    const held = this.#rooms.get(k);
    if (!held) return;
    this.#rooms.delete(k);
    this.#listed -= held.members?.size ?? 0;
  }

  /** The `Store.claim` contract: null when this call claimed `key`, else the value held. */
  claim(key: string, value: string): Promise<string | null> {
    const { statements: s, clock, policy } = this.#d;
    return this.#d.writer.submit("claim", 1, () => {
      const now = clock.now();
      const held = s.claimGet.get(key) as { value: string; expires: number } | undefined;
      if (held && held.expires > now) return held.value;
      s.claimPut.run(key, value, now + policy.dedupTtlMs);
      return null;
    });
  }

  /** Delete up to `limit` expired claims; resolves to how many. */
  expireClaims(limit: number): Promise<number> {
    const now = this.#d.clock.now();
    return this.#d.writer.submit(
      "prune",
      limit,
      () => Number(this.#d.statements.claimsExpire.run(now, limit).changes),
    );
  }

  joinRoom(appId: number, room: string, userId: string): Promise<JoinResult> {
    const { statements: s, policy } = this.#d;
    return this.#d.writer.submit("joinRoom", 1, (tx): JoinResult => {
      if (s.isMember.get(appId, room, userId)) return "already";
      if (count(s.userRoomCount.get(appId, userId)) >= policy.maxRoomsPerUser) return "tooManyRooms";
      const size = this.#size(tx, appId, room);
      if (size >= policy.maxRoomMembers) return "roomFull";
      s.join.run(appId, room, userId);
      this.#moved(tx, appId, room, userId, size, 1);
      return "joined";
    });
  }

  leaveRoom(appId: number, room: string, userId: string): Promise<boolean> {
    const s = this.#d.statements;
    return this.#d.writer.submit("leaveRoom", 1, (tx) => {
      const size = this.#size(tx, appId, room);
      if (Number(s.leave.run(appId, room, userId).changes) === 0) return false;
      this.#moved(tx, appId, room, userId, size, -1);
      return true;
    });
  }

  roomMembers(appId: number, room: string): Promise<string[]> {
    return query("roomMembers", () => {
      const k = `${appId}\u0000${room}`;
      const held = this.#use(k);
      if (held?.members) return [...held.members];
      const members = new Set(this.#d.statements.members.all(appId, room).map((r) => String(r.user)));
      if (members.size > 0) this.#hold(k, { size: members.size, members });
      return [...members];
    });
  }

  userRooms(appId: number, userId: string): Promise<string[]> {
    return query("userRooms", () => this.#d.statements.rooms.all(appId, userId).map((r) => String(r.room)));
  }
}

/**
 * A synchronous read as the Store interface's promise; a failure is a StorageError.
 *
 * @example
 * ```ts
 * return query("roomMembers", () => statement.all(101, "lobby"));
 * ```
 */
export function query<T>(op: string, fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(new StorageError(op, error));
  }
}
