/**
 * The app-level tables of the memory store: messages kept once per app (edits, recalls, history), room
 * timelines, and blocks. Bounded like the inboxes: a kept message lives while an inbox entry or a timeline
 * position refers to it ({@linkcode MemoryTables.retain} / {@linkcode MemoryTables.release}; a full inbox
 * that drops its oldest entries lets their texts go too), and no longer than `maxAgeMs`; timelines keep at
 * most `maxEntries` positions.
 *
 * @example
 * ```ts
 * const tables = new MemoryTables(policy, clock);
 * tables.saveMessage(101, message);
 * tables.appendRoomTimeline(101, "lobby", message.msgId, message.time); // 1
 * ```
 * @module
 */
import type { Clock } from "../util/clock.ts";
import { BlockSets } from "./block_sets.ts";
import type { MessageChange, RoomTimelineEntry, StoredMessage, StorePolicy } from "./store.ts";

const key = (appId: number, id: string) => `${appId}\u0000${id}`;

/**
 * Apply an edit or a recall to a kept message in place (`Store.changeMessage`): a recall is final, an
 * edit's version is raised to one past the previous edit's when not later. False when nothing changed
 * (the message was recalled). The SQLite engine applies the same function (sqlite/kept_messages.ts).
 *
 * @example
 * ```ts
 * applyChange(m, { msg: "fixed", editedAt: Date.now() }); // true
 * applyChange(m, { recalledAt: Date.now(), recalledBy: "alice" }); // true; later changes: false
 * ```
 */
export function applyChange(m: StoredMessage, change: MessageChange): boolean {
  if (m.recalledAt !== undefined) return false;
  if ("msg" in change) {
    m.msg = change.msg;
    m.editedAt = Math.max(change.editedAt, (m.editedAt ?? -Infinity) + 1);
  } else Object.assign(m, change);
  return true;
}

/** A msgId the store knows: how many entries and positions refer to it, and the message once saved. */
interface Kept {
  refs: number;
  /** When the record was made (the message's time, or its first reference's): retention by age. */
  time: number;
  m?: StoredMessage;
}

interface Timeline {
  appId: number;
  entries: RoomTimelineEntry[];
  start: number;
  last: number;
  byMsgId: Map<string, number>;
}

/** Messages, room timelines and blocks of the memory store. */
export class MemoryTables {
  readonly #policy: StorePolicy;
  readonly #clock: Clock;
  /**
   * One record per msgId (one lookup for a save, a reference or a release on the send path). Insertion
   * order is time order: the oldest are at the front (pruned from there).
   */
  readonly #kept = new Map<string, Kept>();
  /** Records holding a saved message (a gauge without a scan). */
  #saved = 0;
  readonly #timelines = new Map<string, Timeline>();
  readonly #blocks = new BlockSets();

  constructor(policy: StorePolicy, clock: Clock) {
    this.#policy = policy;
    this.#clock = clock;
  }

  saveMessage(appId: number, m: StoredMessage): void {
    const k = key(appId, m.msgId);
    const rec = this.#kept.get(k);
    if (!rec) {
      this.#kept.set(k, { refs: 0, time: m.time, m: { ...m } });
      this.#saved++;
    } else if (!rec.m) {
      rec.m = { ...m };
      this.#saved++;
    }
  }

  /** An inbox entry or a timeline position now refers to the message. */
  retain(appId: number, msgId: string): void {
    const k = key(appId, msgId);
    const rec = this.#kept.get(k);
    if (rec) rec.refs++;
    else this.#kept.set(k, { refs: 1, time: this.#clock.now() });
  }

  /** One reference fewer; with none left the kept message goes. */
  release(appId: number, msgId: string): void {
    const k = key(appId, msgId);
    const rec = this.#kept.get(k);
    if (rec && --rec.refs <= 0) this.#forget(k, rec);
  }

  #forget(k: string, rec: Kept): void {
    this.#kept.delete(k);
    if (rec.m) this.#saved--;
  }

  /** Kept messages and msgIds known (metrics, bounds tests). */
  get sizes(): { messages: number; refs: number } {
    return { messages: this.#saved, refs: this.#kept.size };
  }

  messages(appId: number, msgIds: string[]): Map<string, StoredMessage> {
    const out = new Map<string, StoredMessage>();
    const oldest = this.#clock.now() - this.#policy.maxAgeMs;
    for (const id of msgIds) {
      const m = this.#kept.get(key(appId, id))?.m;
      if (m && m.time >= oldest) out.set(id, { ...m });
    }
    return out;
  }

  changeMessage(appId: number, msgId: string, change: MessageChange): StoredMessage | undefined {
    const m = this.#kept.get(key(appId, msgId))?.m;
    if (!m || m.time < this.#clock.now() - this.#policy.maxAgeMs) return undefined;
    applyChange(m, change);
    return { ...m };
  }

  appendRoomTimeline(appId: number, room: string, msgId: string, time: number): number {
    const k = key(appId, room);
    let t = this.#timelines.get(k);
    if (!t) this.#timelines.set(k, t = { appId, entries: [], start: 0, last: 0, byMsgId: new Map() });
    const held = t.byMsgId.get(msgId);
    if (held !== undefined) return held;
    const roomSeq = ++t.last;
    t.entries.push({ roomSeq, msgId, time });
    t.byMsgId.set(msgId, roomSeq);
    this.retain(appId, msgId);
    this.#trim(t);
    return roomSeq;
  }

  roomTimeline(appId: number, room: string, beforeRoomSeq: number, limit: number): RoomTimelineEntry[] {
    const t = this.#timelines.get(key(appId, room));
    if (!t || limit <= 0) return [];
    this.#trim(t);
    const out: RoomTimelineEntry[] = [];
    for (let i = t.entries.length - 1; i >= t.start && out.length < limit; i--) {
      if (t.entries[i].roomSeq < beforeRoomSeq) out.push({ ...t.entries[i] });
    }
    return out;
  }

  #trim(t: Timeline): void {
    const oldest = this.#clock.now() - this.#policy.maxAgeMs;
    while (t.entries.length - t.start > this.#policy.maxEntries || t.entries[t.start]?.time < oldest) {
      t.byMsgId.delete(t.entries[t.start].msgId);
      this.release(t.appId, t.entries[t.start].msgId);
      t.start++;
    }
    if (t.start > 64 && t.start * 2 > t.entries.length) {
      t.entries.splice(0, t.start);
      t.start = 0;
    }
  }

  setBlocked(appId: number, userId: string, other: string, blocked: boolean): boolean {
    return this.#blocks.set(appId, userId, other, blocked);
  }

  blockedUsers(appId: number, userId: string): string[] {
    return this.#blocks.blocked(appId, userId);
  }

  blockersOf(appId: number, sender: string, candidates: string[]): Set<string> {
    return this.#blocks.blockersOf(appId, sender, candidates);
  }

  /**
   * Drop messages older than `maxAgeMs` (insertion order is time order) and trim timelines. A timeline
   * keeps its counter when empty: roomSeqs are never reused.
   */
  prune(): void {
    const oldest = this.#clock.now() - this.#policy.maxAgeMs;
    for (const [k, rec] of this.#kept) {
      if (rec.time >= oldest) break;
      this.#forget(k, rec);
    }
    for (const t of this.#timelines.values()) this.#trim(t);
  }
}
