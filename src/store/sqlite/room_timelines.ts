/**
 * Room timelines on the SQLite store (`Store.appendRoomTimeline`, `Store.roomTimeline`): one row per room
 * message (clustered by room, so a room's page of history is one range read) and a counter per room in
 * `room_heads`, which outlives the positions: roomSeqs are never reused. Nothing per room or per position
 * is held in memory — a page and a retried msgId are read from the file (`room_timeline_by_msg`); until
 * 2026-12-02 every room used since the start kept its positions in memory for `inbox.maxAge` (~140 B per room
 * message). Trims by count happen in the append's transaction; positions past `maxAgeMs` are never returned
 * and leave the file in background batches.
 *
 * @example
 * ```ts
 * const timelines = new RoomTimelines({ writer, im, policy, clock });
 * const roomSeq = await timelines.append(101, "lobby", "m1", Date.now()); // 1
 * timelines.page(101, "lobby", Infinity, 50); // newest first
 * ```
 * @module
 */
import { StorageError } from "../../protocol/errors.ts";
import type { Clock } from "../../util/clock.ts";
import type { RoomTimelineEntry, StorePolicy } from "../store.ts";
import type { ImStatements } from "./im_statements.ts";
import type { Writer } from "./writer.ts";

/** What {@linkcode RoomTimelines} needs. */
export interface RoomTimelinesDeps {
  writer: Writer;
  im: ImStatements;
  policy: StorePolicy;
  clock: Clock;
}

/**
 * The room timelines.
 *
 * @example
 * ```ts
 * await timelines.append(101, "lobby", "m1", Date.now());
 * ```
 */
export class RoomTimelines {
  readonly #d: RoomTimelinesDeps;

  constructor(deps: RoomTimelinesDeps) {
    this.#d = deps;
  }

  /** The `Store.appendRoomTimeline` contract: a msgId keeps its roomSeq while its position is kept. */
  append(app: number, room: string, msgId: string, time: number): Promise<number> {
    return this.#d.writer.submit("appendRoomTimeline", 2, () => {
      const { im, policy } = this.#d;
      const last = this.#last(app, room);
      // only a kept position counts: rows over a lowered maxEntries wait for this append's trim, aged rows
      // for the background prune (a retry of either gets a new roomSeq, as on the memory engine)
      const again = im.positionOf.get(app, room, msgId, last - policy.maxEntries, this.#oldest()) as
        | { roomSeq: number }
        | undefined;
      if (again) return Number(again.roomSeq);
      const roomSeq = last + 1;
      im.positionInsert.run(app, room, roomSeq, msgId, time);
      im.headPut.run(app, room, roomSeq);
      if (roomSeq > policy.maxEntries) im.positionsTrim.run(app, room, roomSeq - policy.maxEntries + 1);
      return roomSeq;
    });
  }

  /** The `Store.roomTimeline` contract. Throws `StorageError`. */
  page(app: number, room: string, beforeRoomSeq: number, limit: number): RoomTimelineEntry[] {
    const { im, policy } = this.#d;
    const count = Math.ceil(Math.min(limit, policy.maxEntries)); // as the memory engine: up to `limit`, so 2.5 gives 3
    if (!(count > 0)) return [];
    try {
      const last = this.#last(app, room);
      if (last === 0) return [];
      // Kept: the last maxEntries by count, each position until it is maxAgeMs old — the rule the background
      // prune deletes by, so a page reads the same before and after it (the memory engine trims aged
      // positions from the front only: after a clock step back it shows an aged one a little longer).
      const rows = im.positionsPage.all(
        app,
        room,
        beforeRoomSeq > last ? last + 1 : beforeRoomSeq,
        last - policy.maxEntries,
        this.#oldest(),
        count,
      ) as unknown as RoomTimelineEntry[];
      return rows.map((p) => ({ roomSeq: Number(p.roomSeq), msgId: p.msgId, time: Number(p.time) }));
    } catch (error) {
      throw new StorageError("roomTimeline", error);
    }
  }

  /** Delete a batch of positions past `maxAgeMs` from the file. */
  pruneStep(): Promise<number> {
    const oldest = this.#oldest();
    return this.#d.writer.submit("prune", 1000, () => Number(this.#d.im.positionsAged.run(oldest).changes));
  }

  /** Positions older than this (ms) are gone, deleted yet or not. */
  #oldest(): number {
    return this.#d.clock.now() - this.#d.policy.maxAgeMs;
  }

  /** The room's highest roomSeq given out (0: never written). */
  #last(app: number, room: string): number {
    const head = this.#d.im.headGet.get(app, room) as { last: number } | undefined;
    return Number(head?.last ?? 0);
  }
}
