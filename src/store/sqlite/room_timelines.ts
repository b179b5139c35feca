/**
 * Room timelines on the SQLite store (`Store.appendRoomTimeline`, `Store.roomTimeline`): one row per room
 * message (clustered by room, so a room's page of history is one range read) and a counter per room in
 * `room_heads`, which outlives the positions: roomSeqs are never reused. A room's positions are loaded
 * into memory the first time it is used after a start, then kept current; trims by count happen in the
 * append's transaction, positions past `maxAgeMs` leave memory at once and the file in background batches.
 *
 * An append changes the loaded timeline inside its writer operation (the next operation of the same
 * transaction sees it); a rollback drops the loaded timeline, which is read again on next use.
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

interface Timeline {
  last: number;
  positions: RoomTimelineEntry[];
  start: number;
  byMsgId: Map<string, number>;
}

const key = (app: number, room: string) => `${app}\u0000${room}`;

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
  readonly #rooms = new Map<string, Timeline>();

  constructor(deps: RoomTimelinesDeps) {
    this.#d = deps;
  }

  /** The `Store.appendRoomTimeline` contract. */
  append(app: number, room: string, msgId: string, time: number): Promise<number> {
    const held = this.#rooms.get(key(app, room))?.byMsgId.get(msgId);
    if (held !== undefined) return Promise.resolve(held);
    return this.#d.writer.submit("appendRoomTimeline", 2, (tx) => {
      const k = key(app, room);
      const t = this.#load(app, room, true);
      const again = t.byMsgId.get(msgId);
      if (again !== undefined) return again;
      tx.onRollback(() => this.#rooms.delete(k));
      const roomSeq = ++t.last;
      t.positions.push({ roomSeq, msgId, time });
      t.byMsgId.set(msgId, roomSeq);
      const { im } = this.#d;
      im.positionInsert.run(app, room, roomSeq, msgId, time);
      im.headPut.run(app, room, roomSeq);
      const first = t.positions[t.start].roomSeq;
      this.#trim(t, this.#d.policy.maxEntries);
      const kept = t.positions[t.start]?.roomSeq ?? roomSeq + 1;
      if (kept > first) im.positionsTrim.run(app, room, kept);
      return roomSeq;
    });
  }

  /** The `Store.roomTimeline` contract. Throws `StorageError`. */
  page(app: number, room: string, beforeRoomSeq: number, limit: number): RoomTimelineEntry[] {
    if (limit <= 0) return [];
    let t: Timeline | undefined;
    try {
      t = this.#load(app, room, false);
    } catch (error) {
      throw new StorageError("roomTimeline", error);
    }
    if (!t) return [];
    this.#trim(t, Infinity);
    const out: RoomTimelineEntry[] = [];
    for (let i = t.positions.length - 1; i >= t.start && out.length < limit; i--) {
      if (t.positions[i].roomSeq < beforeRoomSeq) out.push({ ...t.positions[i] });
    }
    return out;
  }

  /**
   * Delete a batch of positions past `maxAgeMs` from the file, trim the loaded timelines and let go of the
   * empty ones (read again from the file when used).
   */
  pruneStep(): Promise<number> {
    for (const [k, t] of this.#rooms) {
      this.#trim(t, Infinity);
      if (t.start === t.positions.length) this.#rooms.delete(k);
    }
    const oldest = this.#d.clock.now() - this.#d.policy.maxAgeMs;
    return this.#d.writer.submit("prune", 1000, () => Number(this.#d.im.positionsAged.run(oldest).changes));
  }

  /** The room's timeline, loaded from the file; a room never written is not held unless `create`. */
  #load(app: number, room: string, create: true): Timeline;
  #load(app: number, room: string, create: boolean): Timeline | undefined;
  #load(app: number, room: string, create: boolean): Timeline | undefined {
    const k = key(app, room);
    const held = this.#rooms.get(k);
    if (held) return held;
    const { im } = this.#d;
    const head = im.headGet.get(app, room) as { last: number } | undefined;
    if (!head && !create) return undefined;
    const positions = im.positions.all(app, room) as unknown as RoomTimelineEntry[];
    const t: Timeline = {
      last: Number(head?.last ?? 0),
      positions: positions.map((p) => ({ roomSeq: Number(p.roomSeq), msgId: p.msgId, time: Number(p.time) })),
      start: 0,
      byMsgId: new Map(),
    };
    for (const p of t.positions) t.byMsgId.set(p.msgId, p.roomSeq);
    this.#trim(t, this.#d.policy.maxEntries);
    this.#rooms.set(k, t);
    return t;
  }

  /** Drop positions over `maxEntries` or older than the policy's age, from the front (as the memory engine). */
  #trim(t: Timeline, maxEntries: number): void {
    const oldest = this.#d.clock.now() - this.#d.policy.maxAgeMs;
    while (t.positions.length - t.start > maxEntries || t.positions[t.start]?.time < oldest) {
      t.byMsgId.delete(t.positions[t.start].msgId);
      t.start++;
    }
    if (t.start > 64 && t.start * 2 > t.positions.length) {
      t.positions.splice(0, t.start);
      t.start = 0;
    }
  }
}
