/**
 * In-memory {@linkcode Store}: for tests and for `store.engine: memory`, explicitly ephemeral — everything
 * lives in this process and is lost on restart (the epoch changes then, so clients resync).
 *
 * Bounded: entries older than `maxAgeMs` are dropped, and an inbox whose newest entry is that old is
 * dropped entirely (in small batches on a timer), unless `isActive` says its user is connected — a live
 * connection holds a cursor into the inbox, which must not restart under it. A dropped inbox that is
 * written again starts a new generation, so its epoch differs and clients resync instead of waiting for
 * seqs that will never come.
 *
 * @size One method per Store operation over in-process maps; the IM tables live in memory_tables.ts and
 * the conversation rules in conversations.ts, what remains is the inbox itself and its bounds.
 *
 * @example
 * ```ts
 * const store = new MemoryStore({ policy });
 * const e = await store.append(101, "bob", entry);
 * e.seq; // 1
 * await store.close();
 * ```
 * @module
 */
import { type Clock, systemClock } from "../util/clock.ts";
import {
  applyEntry,
  forget,
  isLiveMessage,
  markRead,
  newSummaries,
  overCap,
  pageOf,
  type Summaries,
} from "./conversations.ts";
import { MemoryTables } from "./memory_tables.ts";
import type {
  Appended,
  Conversation,
  InboxEntry,
  InboxHead,
  JoinResult,
  LoginState,
  Mark,
  MessageChange,
  NewEntry,
  ReadChange,
  RoomTimelineEntry,
  Store,
  StoredMessage,
  StorePolicy,
} from "./store.ts";

interface Inbox {
  appId: number;
  entries: InboxEntry[];
  /** Index of the first live entry in `entries` (trimmed ones are dropped lazily). */
  start: number;
  lastSeq: number;
  /** Generation: part of the epoch, new each time the inbox is created. */
  gen: string;
  marks: Record<Mark, number>;
  /** msgId → seq of idempotent appends still in the inbox. */
  byMsgId?: Map<string, number>;
  /** Conversation summaries (store/conversations.ts). */
  summaries: Summaries;
}

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  policy: StorePolicy;
  clock?: Clock;
  /** True while the user has a live connection: its inbox is never dropped then. */
  isActive?: (appId: number, userId: string) => boolean;
  /** How often idle inboxes are looked for (ms); 0 disables the timer (tests call {@linkcode MemoryStore.prune}). */
  pruneIntervalMs?: number;
}

const key = (appId: number, id: string) => `${appId}\u0000${id}`;
/** Inboxes examined per prune step: bounded work per timer tick. */
const PRUNE_BATCH = 1000;

/** Process-local store; synchronous underneath, async at the interface. */
export class MemoryStore implements Store {
  readonly kind = "memory";
  readonly #policy: StorePolicy;
  readonly #clock: Clock;
  readonly #isActive: (appId: number, userId: string) => boolean;
  readonly #epoch = crypto.randomUUID().slice(0, 8);
  readonly #inboxes = new Map<string, Inbox>();
  readonly #claims = new Map<string, { value: string; expires: number }>();
  readonly #rooms = new Map<string, Set<string>>();
  readonly #userRooms = new Map<string, Set<string>>();
  readonly #tables: MemoryTables;
  #claimsSweptAt = 0;
  #gens = 0;
  #pruneCursor: Iterator<[string, Inbox]> | undefined;
  readonly #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryStoreOptions) {
    this.#policy = options.policy;
    this.#clock = options.clock ?? systemClock;
    this.#isActive = options.isActive ?? (() => false);
    this.#tables = new MemoryTables(this.#policy, this.#clock);
    const every = options.pruneIntervalMs ?? 10_000;
    if (every > 0) this.#timer = setInterval(() => this.prune(), every);
  }

  /** Inboxes held and the entries in them, for `/metrics` (aged-out entries not yet trimmed count). */
  get inboxStats(): { inboxes: number; entries: number; keptMessages: number } {
    let entries = 0;
    for (const inbox of this.#inboxes.values()) entries += inbox.entries.length - inbox.start;
    return { inboxes: this.#inboxes.size, entries, keptMessages: this.#tables.sizes.messages };
  }

  append(appId: number, userId: string, entry: NewEntry): Promise<InboxEntry> {
    return Promise.resolve(this.#append(appId, userId, entry, false));
  }

  appendMany(appId: number, userIds: string[], entry: NewEntry): Promise<number[]> {
    return Promise.resolve(userIds.map((u) => this.#append(appId, u, entry, false).seq));
  }

  appendOnce(appId: number, userIds: string[], entry: NewEntry): Promise<Appended[]> {
    return Promise.resolve(userIds.map((u) => {
      const seq = this.#inbox(appId, u, false)?.byMsgId?.get(entry.msgId);
      if (seq !== undefined) return { seq, repeated: true };
      return { seq: this.#append(appId, u, entry, true).seq, repeated: false };
    }));
  }

  #append(appId: number, userId: string, entry: NewEntry, idempotent: boolean): InboxEntry {
    const inbox = this.#inbox(appId, userId, true)!;
    const stored: InboxEntry = { ...entry, seq: ++inbox.lastSeq };
    inbox.entries.push(stored);
    if ((stored.kind ?? "msg") === "msg") this.#tables.retain(appId, stored.msgId);
    if (idempotent) (inbox.byMsgId ??= new Map()).set(entry.msgId, stored.seq);
    const { convs } = inbox.summaries, held = convs.size;
    applyEntry(
      inbox.summaries,
      stored,
      userId,
      (conv, before) => this.#previousLive(inbox, userId, conv, before),
    );
    if (convs.size > held) {
      for (const c of overCap(convs, this.#policy.maxConversations)) convs.delete(c);
    }
    this.#trim(inbox, this.#policy.maxEntries);
    return stored;
  }

  /** The entry leaves its inbox: forget what refers to it. */
  #drop(inbox: Inbox, e: InboxEntry): void {
    inbox.byMsgId?.delete(e.msgId);
    forget(inbox.summaries, e);
    if ((e.kind ?? "msg") === "msg") this.#tables.release(inbox.appId, e.msgId);
  }

  #inbox(appId: number, userId: string, create: boolean): Inbox | undefined {
    const k = key(appId, userId);
    let inbox = this.#inboxes.get(k);
    if (!inbox && create) {
      inbox = {
        appId,
        entries: [],
        start: 0,
        lastSeq: 0,
        gen: (++this.#gens).toString(36),
        marks: { ack: 0, read: 0, delivered: 0 },
        summaries: newSummaries(),
      };
      this.#inboxes.set(k, inbox);
    }
    return inbox;
  }

  /** Drop entries over `maxEntries` or older than the policy's age. */
  #trim(inbox: Inbox, maxEntries: number): void {
    const oldest = this.#clock.now() - this.#policy.maxAgeMs;
    const { entries } = inbox;
    while (entries.length - inbox.start > maxEntries || entries[inbox.start]?.time < oldest) {
      this.#drop(inbox, entries[inbox.start]);
      inbox.start++;
    }
    if (inbox.start > 64 && inbox.start * 2 > entries.length) {
      entries.splice(0, inbox.start);
      inbox.start = 0;
    }
  }

  /** The live entries of an inbox after trimming by age, and its first seq. */
  #live(appId: number, userId: string): { inbox: Inbox; firstSeq: number } | undefined {
    const inbox = this.#inbox(appId, userId, false);
    if (!inbox) return undefined;
    this.#trim(inbox, Infinity);
    return { inbox, firstSeq: inbox.lastSeq - (inbox.entries.length - inbox.start) + 1 };
  }

  range(appId: number, userId: string, afterSeq: number, limit: number): Promise<InboxEntry[]> {
    const live = this.#live(appId, userId);
    if (!live || limit <= 0) return Promise.resolve([]);
    const from = live.inbox.start + Math.max(0, afterSeq + 1 - live.firstSeq);
    return Promise.resolve(live.inbox.entries.slice(from, from + limit));
  }

  rangeBefore(appId: number, userId: string, beforeSeq: number, limit: number): Promise<InboxEntry[]> {
    const live = this.#live(appId, userId);
    if (!live || limit <= 0) return Promise.resolve([]);
    const { inbox, firstSeq } = live;
    const count = inbox.entries.length - inbox.start;
    const end = inbox.start + Math.min(count, Math.max(0, beforeSeq - firstSeq));
    const from = Math.max(inbox.start, end - limit);
    return Promise.resolve(inbox.entries.slice(from, end).reverse());
  }

  head(appId: number, userId: string): Promise<InboxHead> {
    // The first look at an inbox creates it, so its epoch holds from the first login on.
    this.#inbox(appId, userId, true);
    const live = this.#live(appId, userId)!;
    return Promise.resolve({
      firstSeq: live.firstSeq,
      lastSeq: live.inbox.lastSeq,
      epoch: `${this.#epoch}.${live.inbox.gen}`,
    });
  }

  advanceMark(
    appId: number,
    userId: string,
    mark: Mark,
    seq: number,
  ): Promise<{ previous: number; current: number }> {
    const inbox = this.#inbox(appId, userId, false);
    if (!inbox) return Promise.resolve({ previous: 0, current: 0 });
    const previous = inbox.marks[mark];
    inbox.marks[mark] = Math.max(previous, Math.min(Math.floor(seq), inbox.lastSeq));
    return Promise.resolve({ previous, current: inbox.marks[mark] });
  }

  mark(appId: number, userId: string, mark: Mark): Promise<number> {
    return Promise.resolve(this.#inbox(appId, userId, false)?.marks[mark] ?? 0);
  }

  loginState(appId: number, userId: string): Promise<LoginState> {
    this.#inbox(appId, userId, true);
    const { inbox, firstSeq } = this.#live(appId, userId)!;
    let unreadTotal = 0;
    for (const c of inbox.summaries.convs.values()) unreadTotal += c.unread;
    return Promise.resolve({
      head: { firstSeq, lastSeq: inbox.lastSeq, epoch: `${this.#epoch}.${inbox.gen}` },
      delivered: inbox.marks.delivered,
      acked: inbox.marks.ack,
      unreadTotal,
    });
  }

  claim(k: string, value: string): Promise<string | null> {
    const now = this.#clock.now();
    this.#sweepClaims(now);
    const held = this.#claims.get(k);
    if (held && held.expires > now) return Promise.resolve(held.value);
    this.#claims.delete(k);
    this.#claims.set(k, { value, expires: now + this.#policy.dedupTtlMs });
    return Promise.resolve(null);
  }

  /** Drops expired claims at most once a second; Map order is insertion order = expiry order. */
  #sweepClaims(now: number): void {
    if (now - this.#claimsSweptAt < 1000) return;
    this.#claimsSweptAt = now;
    for (const [k, c] of this.#claims) {
      if (c.expires > now) break;
      this.#claims.delete(k);
    }
  }

  joinRoom(appId: number, room: string, userId: string): Promise<JoinResult> {
    const rk = key(appId, room);
    const uk = key(appId, userId);
    const members = this.#rooms.get(rk);
    if (members?.has(userId)) return Promise.resolve("already");
    const rooms = this.#userRooms.get(uk);
    if ((rooms?.size ?? 0) >= this.#policy.maxRoomsPerUser) return Promise.resolve("tooManyRooms");
    if ((members?.size ?? 0) >= this.#policy.maxRoomMembers) return Promise.resolve("roomFull");
    (members ?? this.#rooms.set(rk, new Set()).get(rk)!).add(userId);
    (rooms ?? this.#userRooms.set(uk, new Set()).get(uk)!).add(room);
    return Promise.resolve("joined");
  }

  leaveRoom(appId: number, room: string, userId: string): Promise<boolean> {
    const rk = key(appId, room);
    const members = this.#rooms.get(rk);
    if (!members?.delete(userId)) return Promise.resolve(false);
    if (members.size === 0) this.#rooms.delete(rk);
    const uk = key(appId, userId);
    const rooms = this.#userRooms.get(uk)!;
    rooms.delete(room);
    if (rooms.size === 0) this.#userRooms.delete(uk);
    return Promise.resolve(true);
  }

  roomMembers(appId: number, room: string): Promise<string[]> {
    return Promise.resolve([...(this.#rooms.get(key(appId, room)) ?? [])]);
  }

  userRooms(appId: number, userId: string): Promise<string[]> {
    return Promise.resolve([...(this.#userRooms.get(key(appId, userId)) ?? [])]);
  }

  #previousLive(inbox: Inbox, owner: string, conv: string, before: number): InboxEntry | undefined {
    for (let i = inbox.entries.length - 1; i >= inbox.start; i--) {
      const e = inbox.entries[i];
      if (e.seq < before && isLiveMessage(inbox.summaries, e, conv, owner)) return e;
    }
    return undefined;
  }

  conversations(
    appId: number,
    userId: string,
    limit: number,
    before?: number,
  ): Promise<{ items: Conversation[]; more: boolean }> {
    const inbox = this.#inbox(appId, userId, false);
    return Promise.resolve(inbox ? pageOf(inbox.summaries, limit, before) : { items: [], more: false });
  }

  markRead(
    appId: number,
    userId: string,
    conversation: string | undefined,
    seq: number,
  ): Promise<ReadChange[]> {
    const inbox = this.#inbox(appId, userId, false);
    if (!inbox) return Promise.resolve([]);
    const after = (s: number) => {
      const from = inbox.start +
        Math.max(0, s + 1 - (inbox.lastSeq - (inbox.entries.length - inbox.start) + 1));
      return inbox.entries.slice(from);
    };
    return Promise.resolve(markRead(inbox.summaries, conversation, seq, inbox.lastSeq, userId, after));
  }

  unreadTotal(appId: number, userId: string): Promise<number> {
    let n = 0;
    for (const c of this.#inbox(appId, userId, false)?.summaries.convs.values() ?? []) n += c.unread;
    return Promise.resolve(n);
  }

  hiddenAmong(appId: number, userId: string, msgIds: string[]): Promise<Set<string>> {
    const inbox = this.#inbox(appId, userId, false);
    const out = new Set<string>();
    if (!inbox) return Promise.resolve(out);
    const wanted = new Set(msgIds);
    for (let i = inbox.start; i < inbox.entries.length; i++) {
      const e = inbox.entries[i];
      if (e.kind === "delete" && e.ref && wanted.has(e.ref)) out.add(e.ref);
    }
    return Promise.resolve(out);
  }

  saveMessage(appId: number, message: StoredMessage): Promise<void> {
    this.#tables.saveMessage(appId, message);
    return Promise.resolve();
  }

  messages(appId: number, msgIds: string[]): Promise<Map<string, StoredMessage>> {
    return Promise.resolve(this.#tables.messages(appId, msgIds));
  }

  changeMessage(appId: number, msgId: string, change: MessageChange): Promise<StoredMessage | undefined> {
    return Promise.resolve(this.#tables.changeMessage(appId, msgId, change));
  }

  appendRoomTimeline(appId: number, room: string, msgId: string, time: number): Promise<number> {
    return Promise.resolve(this.#tables.appendRoomTimeline(appId, room, msgId, time));
  }

  roomTimeline(
    appId: number,
    room: string,
    beforeRoomSeq: number,
    limit: number,
  ): Promise<RoomTimelineEntry[]> {
    return Promise.resolve(this.#tables.roomTimeline(appId, room, beforeRoomSeq, limit));
  }

  setBlocked(appId: number, userId: string, other: string, blocked: boolean): Promise<boolean> {
    return Promise.resolve(this.#tables.setBlocked(appId, userId, other, blocked));
  }

  blockedUsers(appId: number, userId: string): Promise<string[]> {
    return Promise.resolve(this.#tables.blockedUsers(appId, userId));
  }

  blockersOf(appId: number, sender: string, candidates: string[]): Promise<Set<string>> {
    return Promise.resolve(this.#tables.blockersOf(appId, sender, candidates));
  }

  /**
   * One bounded step of retention: look at up to {@linkcode PRUNE_BATCH} inboxes (continuing where the
   * last step stopped) and drop those with no entry younger than `maxAgeMs` whose user is not
   * connected. Returns how many were dropped.
   */
  prune(): number {
    this.#tables.prune();
    const oldest = this.#clock.now() - this.#policy.maxAgeMs;
    let dropped = 0;
    for (let i = 0; i < PRUNE_BATCH; i++) {
      this.#pruneCursor ??= this.#inboxes.entries();
      const next = this.#pruneCursor.next();
      if (next.done) {
        this.#pruneCursor = undefined;
        break;
      }
      const [k, inbox] = next.value;
      const newest = inbox.entries[inbox.entries.length - 1];
      if (newest && newest.time >= oldest) continue;
      const sep = k.indexOf("\u0000");
      if (this.#isActive(Number(k.slice(0, sep)), k.slice(sep + 1))) continue;
      for (let j = inbox.start; j < inbox.entries.length; j++) this.#drop(inbox, inbox.entries[j]);
      this.#inboxes.delete(k);
      dropped++;
    }
    return dropped;
  }

  close(): Promise<void> {
    clearInterval(this.#timer);
    return Promise.resolve();
  }
}
