/**
 * Rooms and idempotency claims of the SQLite store. Each write is one writer operation that checks and
 * changes in the same transaction (so two joins racing for the last seat of a room cannot both get
 * it); reads are plain indexed queries of committed rows.
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
import type { Writer } from "./writer.ts";

/** What {@linkcode Records} needs. */
export interface RecordsDeps {
  writer: Writer;
  statements: Statements;
  policy: StorePolicy;
  clock: Clock;
}

const count = (row: unknown): number => Number((row as { n: number }).n);

/** Room membership and claims. */
export class Records {
  readonly #d: RecordsDeps;

  constructor(deps: RecordsDeps) {
    this.#d = deps;
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
    return this.#d.writer.submit("joinRoom", 1, (): JoinResult => {
      if (s.isMember.get(appId, room, userId)) return "already";
      if (count(s.userRoomCount.get(appId, userId)) >= policy.maxRoomsPerUser) return "tooManyRooms";
      if (count(s.roomCount.get(appId, room)) >= policy.maxRoomMembers) return "roomFull";
      s.join.run(appId, room, userId);
      return "joined";
    });
  }

  leaveRoom(appId: number, room: string, userId: string): Promise<boolean> {
    const s = this.#d.statements;
    return this.#d.writer.submit("leaveRoom", 1, () => Number(s.leave.run(appId, room, userId).changes) > 0);
  }

  roomMembers(appId: number, room: string): Promise<string[]> {
    return query("roomMembers", () => this.#d.statements.members.all(appId, room).map((r) => String(r.user)));
  }

  userRooms(appId: number, userId: string): Promise<string[]> {
    return query("userRooms", () => this.#d.statements.rooms.all(appId, userId).map((r) => String(r.room)));
  }
}

/** A synchronous read as the Store interface's promise; a failure is a StorageError. */
export function query<T>(op: string, fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(new StorageError(op, error));
  }
}
