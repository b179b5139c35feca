/**
 * The IM part of the {@linkcode Store} on Redis (PROTOCOL.md C): conversation summaries (kept up to date
 * by the append script, scripts/apply_entry.lua — the rules of store/conversations.ts), read positions,
 * messages kept once per app, room timelines and blocks. {@linkcode RedisStore} delegates to it; every
 * call goes through the store's call/run helpers, so failures are `StorageError`s.
 *
 * @example
 * ```ts
 * const im = new RedisIm({ link, keys, policy, clock, keepMs, call, run });
 * const { items } = await im.conversations(101, "bob", 20);
 * ```
 * @module
 */
import type { Clock } from "../../util/clock.ts";
import type {
  Conversation,
  LastMessage,
  MessageChange,
  ReadChange,
  RoomTimelineEntry,
  StoredMessage,
  StorePolicy,
} from "../store.ts";
import type { RedisKeys } from "./keys.ts";
import type { RedisLink } from "./link.ts";
import { MessageSaves } from "./message_saves.ts";
import { type Script, SCRIPTS } from "./scripts.ts";
import { bySlot } from "./slots.ts";

/** What {@linkcode RedisIm} needs from its store. */
export interface RedisImOptions {
  /** The store's connection. */
  link: RedisLink;
  /** The store's key names. */
  keys: RedisKeys;
  /** The store's retention and limits. */
  policy: StorePolicy;
  /** The store's clock (ages are measured on it, as in the memory engine). */
  clock: Clock;
  /** TTL of per-inbox and per-room keys after their last append (ms). */
  keepMs: number;
  /** Run one Redis operation, counted, failures mapped to `StorageError`. */
  call<T>(op: string, fn: () => Promise<T>): Promise<T>;
  /** Run one script the same way. */
  run<T>(op: string, script: Script, keys: string[], args: (string | number)[]): Promise<T>;
}

/** A summary as the scripts keep it (cjson). */
interface Summary {
  time: number;
  seq: number;
  readSeq: number;
  unread: number;
  last?: LastMessage;
}

type StreamEntry = [string, string[]];

/** Page sizes beyond this are taken as this (Lua prints larger numbers in exponent form). */
const MAX_LIMIT = 1e9;
/** Candidates looked up per `blockersOf` script call (a room's members can be thousands). */
const BLOCKERS_CHUNK = 1000;
/** Up to this many candidates (a 1:1 send, small rooms) `blockersOf` sends plain SISMEMBERs. */
const FEW_CANDIDATES = 8;

/** Changes of a kept message, as HMGET answers them: j, msg, editedAt, recalledAt, recalledBy. */
type MessageFields = (string | null)[];

/** IM operations of the Redis store. */
export class RedisIm {
  readonly #o: RedisImOptions;
  readonly #saves: MessageSaves;

  /** IM operations over the store's connection and helpers. */
  constructor(options: RedisImOptions) {
    this.#o = options;
    this.#saves = new MessageSaves(options.link, options.run);
  }

  #oldest(): number {
    return this.#o.clock.now() - this.#o.policy.maxAgeMs;
  }

  /** {@linkcode Store.conversations}: one script reads a page of `ct` and the summaries in `c`. */
  async conversations(
    appId: number,
    userId: string,
    limit: number,
    before?: number,
  ): Promise<{ items: Conversation[]; more: boolean }> {
    if (Number.isNaN(before) || Number.isNaN(limit)) return { items: [], more: false };
    const k = this.#o.keys;
    const min = before === undefined ? "-inf" : `(${-before}`;
    const [more, ...flat] = await this.#o.run<[number, ...string[]]>(
      "conversations",
      SCRIPTS.conversations,
      [k.conversations(appId, userId), k.conversationTimes(appId, userId)],
      [min, Math.max(0, Math.min(Math.floor(limit), MAX_LIMIT))],
    );
    const items: Conversation[] = [];
    for (let i = 0; i < flat.length; i += 2) items.push(conversationFrom(flat[i], flat[i + 1]));
    return { items, more: Number(more) === 1 };
  }

  /** {@linkcode Store.markRead}: scripts/mark_read.lua moves and recounts. */
  async markRead(
    appId: number,
    userId: string,
    conversation: string | undefined,
    seq: number,
  ): Promise<ReadChange[]> {
    if (Number.isNaN(seq) || conversation === "") return [];
    const k = this.#o.keys;
    const keys = [
      k.marks(appId, userId),
      k.inbox(appId, userId),
      k.conversations(appId, userId),
      k.positions(appId, userId),
    ];
    const target = Math.max(-1, Math.min(Math.floor(seq), Number.MAX_SAFE_INTEGER));
    const flat = await this.#o.run<(string | number)[]>("markRead", SCRIPTS.markRead, keys, [
      userId,
      conversation ?? "",
      target,
      this.#oldest(),
    ]);
    const changes: ReadChange[] = [];
    for (let i = 0; i < flat.length; i += 4) {
      const [previous, readSeq, unread] = [flat[i + 1], flat[i + 2], flat[i + 3]].map(Number);
      changes.push({ id: String(flat[i]), previous, readSeq, unread });
    }
    return changes;
  }

  /** {@linkcode Store.hiddenAmong}: `h:<msgId>` members of the positions zset. */
  async hiddenAmong(appId: number, userId: string, msgIds: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    if (msgIds.length === 0) return out;
    const key = this.#o.keys.positions(appId, userId);
    const scores = await this.#o.call(
      "hiddenAmong",
      () => this.#o.link.send<(string | null)[]>(key, ["ZMSCORE", key, ...msgIds.map((id) => `h:${id}`)]),
    );
    msgIds.forEach((id, i) => scores[i] !== null && out.add(id));
    return out;
  }

  /**
   * {@linkcode Store.saveMessage}: kept until `time + maxAgeMs`; a retry does not overwrite. Saves issued
   * while one is in flight leave together (one script call per slot instead of one per message).
   */
  async saveMessage(appId: number, message: StoredMessage): Promise<void> {
    const ttl = Math.ceil(message.time + this.#o.policy.maxAgeMs - this.#o.clock.now());
    if (!(ttl > 0)) return; // already past retention: it would never be answered
    await this.#saves.save(this.#o.keys.message(appId, message.msgId), message, ttl);
  }

  /** {@linkcode Store.messages}: aged-out ones are left out even before Redis expires them. */
  async messages(appId: number, msgIds: string[]): Promise<Map<string, StoredMessage>> {
    const out = new Map<string, StoredMessage>();
    if (msgIds.length === 0) return out;
    const { link, keys } = this.#o;
    const fields = ["j", "msg", "editedAt", "recalledAt", "recalledBy"];
    // Concurrent commands leave in one pipeline per Redis node (node-redis auto-pipelining): one round trip.
    const replies = await this.#o.call(
      "messages",
      () =>
        Promise.all(msgIds.map((id) => {
          const key = keys.message(appId, id);
          return link.send<MessageFields>(key, ["HMGET", key, ...fields]);
        })),
    );
    const oldest = this.#oldest();
    msgIds.forEach((id, i) => {
      const m = messageFrom(replies[i] as MessageFields);
      if (m && m.time >= oldest) out.set(id, m);
    });
    return out;
  }

  /** {@linkcode Store.changeMessage}: the change goes into the message's hash; its TTL stays. */
  async changeMessage(
    appId: number,
    msgId: string,
    change: MessageChange,
  ): Promise<StoredMessage | undefined> {
    const pairs = "msg" in change
      ? ["msg", change.msg, "editedAt", change.editedAt]
      : ["recalledAt", change.recalledAt, "recalledBy", change.recalledBy];
    const reply = await this.#o.run<MessageFields | null>(
      "changeMessage",
      SCRIPTS.changeMessage,
      [this.#o.keys.message(appId, msgId)],
      [this.#oldest(), ...pairs],
    );
    return reply ? messageFrom(reply) : undefined;
  }

  /** {@linkcode Store.appendRoomTimeline}: at most once per msgId while its position is kept. */
  async appendRoomTimeline(appId: number, room: string, msgId: string, time: number): Promise<number> {
    const k = this.#o.keys;
    const { maxEntries, maxAgeMs } = this.#o.policy;
    return Number(
      await this.#o.run("appendRoomTimeline", SCRIPTS.appendRoomTimeline, [
        k.roomTimelineHead(appId, room),
        k.roomTimeline(appId, room),
        k.roomTimelineIds(appId, room),
      ], [msgId, time, this.#o.clock.now(), maxEntries, maxAgeMs, this.#o.keepMs]),
    );
  }

  /** {@linkcode Store.roomTimeline}: newest first, trimmed like inboxes. */
  async roomTimeline(
    appId: number,
    room: string,
    beforeRoomSeq: number,
    limit: number,
  ): Promise<RoomTimelineEntry[]> {
    if (!(limit > 0)) return [];
    const k = this.#o.keys;
    const before = Math.max(0, Math.min(Math.floor(beforeRoomSeq), Number.MAX_SAFE_INTEGER));
    if (Number.isNaN(before)) return [];
    // The inbox range script serves: the counter hash has `last`, the stream's first field is the time.
    const page = await this.#o.run<StreamEntry[]>(
      "roomTimeline",
      SCRIPTS.rangeBefore,
      [k.roomTimelineHead(appId, room), k.roomTimeline(appId, room)],
      [this.#oldest(), before, Math.min(Math.floor(limit), MAX_LIMIT)],
    );
    return page.map(([id, f]) => ({
      roomSeq: Number(id.slice(0, id.indexOf("-"))),
      msgId: f[3],
      time: Number(f[1]),
    }));
  }

  /** {@linkcode Store.setBlocked} */
  async setBlocked(appId: number, userId: string, other: string, blocked: boolean): Promise<boolean> {
    const key = this.#o.keys.blocked(appId, userId);
    const n = await this.#o.call(
      "setBlocked",
      () => this.#o.link.send<number>(key, [blocked ? "SADD" : "SREM", key, other]),
    );
    return Number(n) === 1;
  }

  /** {@linkcode Store.blockedUsers} (in no particular order). */
  blockedUsers(appId: number, userId: string): Promise<string[]> {
    const key = this.#o.keys.blocked(appId, userId);
    return this.#o.call("blockedUsers", () => this.#o.link.send<string[]>(key, ["SMEMBERS", key]));
  }

  /** {@linkcode Store.blockersOf} */
  async blockersOf(appId: number, sender: string, candidates: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    const { keys } = this.#o;
    if (candidates.length <= FEW_CANDIDATES) {
      // a 1:1 send asks about one user: SISMEMBER is a fraction of a script call's cost
      const found = await this.#o.call("blockersOf", () =>
        Promise.all(candidates.map((c) => {
          const key = keys.blocked(appId, c);
          return this.#o.link.send<number>(key, ["SISMEMBER", key, sender]);
        })));
      candidates.forEach((c, i) => Number(found[i]) === 1 && out.add(c));
      return out;
    }
    // Script calls over declared keys, BLOCKERS_CHUNK candidates each (of one slot on a cluster), all in
    // one pipeline per Redis node.
    const groups = this.#o.link.cluster
      ? [...bySlot(candidates, (c) => keys.blocked(appId, c)).values()]
      : [candidates];
    const chunks: string[][] = [];
    for (const group of groups) {
      for (let i = 0; i < group.length; i += BLOCKERS_CHUNK) chunks.push(group.slice(i, i + BLOCKERS_CHUNK));
    }
    const found = await Promise.all(
      chunks.map((chunk) =>
        this.#o.run<number[]>("blockersOf", SCRIPTS.blockersOf, chunk.map((c) => keys.blocked(appId, c)), [
          sender,
        ])
      ),
    );
    chunks.forEach((chunk, i) => chunk.forEach((c, j) => Number(found[i][j]) === 1 && out.add(c)));
    return out;
  }
}

/** A conversation from its id and the summary the scripts keep. */
function conversationFrom(id: string, json: string): Conversation {
  const s = JSON.parse(json) as Summary;
  const name = id.slice(2);
  const c: Conversation = id.startsWith("r:")
    ? { id, kind: "room", room: name, time: s.time, seq: s.seq, readSeq: s.readSeq, unread: s.unread }
    : { id, kind: "direct", peer: name, time: s.time, seq: s.seq, readSeq: s.readSeq, unread: s.unread };
  if (s.last) {
    const { msgId, seq, from, type, time, msg, editedAt, recalled } = s.last;
    c.last = { msgId, seq, from, type, time };
    if (!recalled && msg !== undefined) c.last.msg = msg;
    if (editedAt !== undefined && !recalled) c.last.editedAt = editedAt;
    if (recalled) c.last.recalled = true;
  }
  return c;
}

/** A kept message from HMGET j, msg, editedAt, recalledAt, recalledBy (undefined when missing). */
function messageFrom([j, msg, editedAt, recalledAt, recalledBy]: MessageFields): StoredMessage | undefined {
  if (!j) return undefined;
  const m = JSON.parse(j) as StoredMessage;
  if (msg !== null && editedAt !== null) Object.assign(m, { msg, editedAt: Number(editedAt) });
  if (recalledAt !== null && recalledBy !== null) {
    Object.assign(m, { recalledAt: Number(recalledAt), recalledBy });
  }
  return m;
}
