/**
 * In-memory {@linkcode Store} for embedded (single-node) mode. Everything lives in this
 * process and is lost on restart; the inbox `epoch` changes then, so clients resync.
 *
 * @example
 * ```ts
 * const store = new MemoryStore();
 * const e = await store.append(101, "bob", entry, { maxEntries: 1000, maxAgeMs: 864e5 });
 * e.seq; // 1
 * ```
 * @module
 */
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";
import type {
  InboxEntry,
  InboxHead,
  InboxLimits,
  JoinResult,
  Mark,
  NewEntry,
  PresenceEntry,
  Store,
} from "./store.ts";

interface Inbox {
  entries: InboxEntry[];
  /** Index of the first live entry in `entries` (trimmed ones are dropped lazily). */
  start: number;
  lastSeq: number;
  marks: Record<Mark, number>;
}

const key = (appId: number, id: string) => `${appId}\u0000${id}`;

/** Process-local store; synchronous underneath, async at the interface. */
export class MemoryStore implements Store {
  readonly kind = "memory";
  readonly #clock: Clock;
  readonly #epoch = crypto.randomUUID().slice(0, 8);
  /** appId:userId → connId → entry */
  readonly #presence = new Map<string, Map<string, PresenceEntry>>();
  /** appId → userId → number of connections */
  readonly #appUsers = new Map<number, Map<string, number>>();
  readonly #inboxes = new Map<string, Inbox>();
  readonly #claims = new Map<string, { value: string; expires: number }>();
  readonly #rooms = new Map<string, Set<string>>();
  readonly #userRooms = new Map<string, Set<string>>();
  #claimsSweptAt = 0;

  /** `clock` is used for ages and TTLs. */
  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** Inboxes held and the entries in them, for `/metrics` (aged-out entries not yet trimmed count). */
  get inboxStats(): { inboxes: number; entries: number } {
    let entries = 0;
    for (const inbox of this.#inboxes.values()) entries += inbox.entries.length - inbox.start;
    return { inboxes: this.#inboxes.size, entries };
  }

  addPresence(entry: PresenceEntry): Promise<void> {
    const k = key(entry.appId, entry.userId);
    let conns = this.#presence.get(k);
    if (!conns) this.#presence.set(k, conns = new Map());
    if (!conns.has(entry.connId)) {
      let users = this.#appUsers.get(entry.appId);
      if (!users) this.#appUsers.set(entry.appId, users = new Map());
      users.set(entry.userId, (users.get(entry.userId) ?? 0) + 1);
    }
    conns.set(entry.connId, { ...entry });
    return Promise.resolve();
  }

  removePresence(appId: number, userId: string, connId: string): Promise<void> {
    const k = key(appId, userId);
    const conns = this.#presence.get(k);
    if (conns?.delete(connId)) {
      if (conns.size === 0) this.#presence.delete(k);
      const users = this.#appUsers.get(appId)!;
      const n = users.get(userId)! - 1;
      if (n === 0) users.delete(userId);
      else users.set(userId, n);
    }
    return Promise.resolve();
  }

  refreshPresence(_nodeId: string, entries: PresenceEntry[]): Promise<void> {
    for (const e of entries) {
      const held = this.#presence.get(key(e.appId, e.userId))?.get(e.connId);
      if (held) held.heartbeatAt = e.heartbeatAt;
    }
    return Promise.resolve();
  }

  presence(appId: number, userId: string, windowMs: number): Promise<PresenceEntry[]> {
    const conns = this.#presence.get(key(appId, userId));
    const since = this.#clock.now() - windowMs;
    return Promise.resolve(conns ? [...conns.values()].filter((c) => c.heartbeatAt >= since) : []);
  }

  async onlineUsers(appId: number, windowMs: number): Promise<string[]> {
    const users = this.#appUsers.get(appId);
    if (!users) return [];
    const out: string[] = [];
    for (const userId of users.keys()) {
      if ((await this.presence(appId, userId, windowMs)).length > 0) out.push(userId);
    }
    return out;
  }

  async userApps(userId: string, windowMs: number): Promise<number[]> {
    const out: number[] = [];
    for (const [appId, users] of this.#appUsers) {
      if (users.has(userId) && (await this.presence(appId, userId, windowMs)).length > 0) out.push(appId);
    }
    return out;
  }

  append(appId: number, userId: string, entry: NewEntry, limits: InboxLimits): Promise<InboxEntry> {
    return Promise.resolve(this.#append(appId, userId, entry, limits));
  }

  appendMany(appId: number, userIds: string[], entry: NewEntry, limits: InboxLimits): Promise<number[]> {
    return Promise.resolve(userIds.map((u) => this.#append(appId, u, entry, limits).seq));
  }

  #append(appId: number, userId: string, entry: NewEntry, limits: InboxLimits): InboxEntry {
    const inbox = this.#inbox(appId, userId, true)!;
    const stored: InboxEntry = { ...entry, seq: ++inbox.lastSeq };
    inbox.entries.push(stored);
    this.#trim(inbox, limits.maxEntries, limits.maxAgeMs);
    return stored;
  }

  #inbox(appId: number, userId: string, create: boolean): Inbox | undefined {
    const k = key(appId, userId);
    let inbox = this.#inboxes.get(k);
    if (!inbox && create) {
      this.#inboxes.set(k, inbox = { entries: [], start: 0, lastSeq: 0, marks: { ack: 0, read: 0 } });
    }
    return inbox;
  }

  #trim(inbox: Inbox, maxEntries: number, maxAgeMs: number): void {
    const oldest = this.#clock.now() - maxAgeMs;
    const { entries } = inbox;
    while (entries.length - inbox.start > maxEntries || entries[inbox.start]?.time < oldest) inbox.start++;
    if (inbox.start > 64 && inbox.start * 2 > entries.length) {
      entries.splice(0, inbox.start);
      inbox.start = 0;
    }
  }

  range(
    appId: number,
    userId: string,
    afterSeq: number,
    limit: number,
    maxAgeMs: number,
  ): Promise<InboxEntry[]> {
    const inbox = this.#inbox(appId, userId, false);
    if (!inbox) return Promise.resolve([]);
    this.#trim(inbox, Infinity, maxAgeMs);
    const live = inbox.entries.length - inbox.start;
    const firstSeq = inbox.lastSeq - live + 1;
    const from = inbox.start + Math.max(0, afterSeq + 1 - firstSeq);
    return Promise.resolve(inbox.entries.slice(from, from + limit));
  }

  rangeBefore(
    appId: number,
    userId: string,
    beforeSeq: number,
    limit: number,
    maxAgeMs: number,
  ): Promise<InboxEntry[]> {
    const inbox = this.#inbox(appId, userId, false);
    if (!inbox) return Promise.resolve([]);
    this.#trim(inbox, Infinity, maxAgeMs);
    const live = inbox.entries.length - inbox.start;
    const firstSeq = inbox.lastSeq - live + 1;
    const end = inbox.start + Math.min(live, Math.max(0, beforeSeq - firstSeq));
    const from = Math.max(inbox.start, end - limit);
    return Promise.resolve(inbox.entries.slice(from, end).reverse());
  }

  head(appId: number, userId: string, maxAgeMs: number): Promise<InboxHead> {
    const inbox = this.#inbox(appId, userId, false);
    if (!inbox) return Promise.resolve({ firstSeq: 1, lastSeq: 0, epoch: this.#epoch });
    this.#trim(inbox, Infinity, maxAgeMs);
    const live = inbox.entries.length - inbox.start;
    return Promise.resolve({
      firstSeq: inbox.lastSeq - live + 1,
      lastSeq: inbox.lastSeq,
      epoch: this.#epoch,
    });
  }

  advanceMark(
    appId: number,
    userId: string,
    mark: Mark,
    seq: number,
  ): Promise<{ previous: number; current: number }> {
    const inbox = this.#inbox(appId, userId, true)!;
    const previous = inbox.marks[mark];
    inbox.marks[mark] = Math.max(previous, Math.min(seq, inbox.lastSeq));
    return Promise.resolve({ previous, current: inbox.marks[mark] });
  }

  mark(appId: number, userId: string, mark: Mark): Promise<number> {
    return Promise.resolve(this.#inbox(appId, userId, false)?.marks[mark] ?? 0);
  }

  claim(k: string, value: string, ttlMs: number): Promise<string | null> {
    const now = this.#clock.now();
    this.#sweepClaims(now);
    const held = this.#claims.get(k);
    if (held && held.expires > now) return Promise.resolve(held.value);
    this.#claims.set(k, { value, expires: now + ttlMs });
    return Promise.resolve(null);
  }

  putClaim(k: string, value: string, ttlMs: number): Promise<void> {
    this.#claims.delete(k);
    this.#claims.set(k, { value, expires: this.#clock.now() + ttlMs });
    return Promise.resolve();
  }

  dropClaim(k: string): Promise<void> {
    this.#claims.delete(k);
    return Promise.resolve();
  }

  /** Drops expired claims at most once a second; Map order is insertion order ≈ expiry order. */
  #sweepClaims(now: number): void {
    if (now - this.#claimsSweptAt < 1000) return;
    this.#claimsSweptAt = now;
    for (const [k, c] of this.#claims) {
      if (c.expires > now) break;
      this.#claims.delete(k);
    }
  }

  joinRoom(
    appId: number,
    room: string,
    userId: string,
    maxRooms: number,
    maxMembers: number,
  ): Promise<JoinResult> {
    const rk = key(appId, room);
    const uk = key(appId, userId);
    const members = this.#rooms.get(rk);
    if (members?.has(userId)) return Promise.resolve("already");
    const rooms = this.#userRooms.get(uk);
    if ((rooms?.size ?? 0) >= maxRooms) return Promise.resolve("tooManyRooms");
    if ((members?.size ?? 0) >= maxMembers) return Promise.resolve("roomFull");
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

  close(): Promise<void> {
    return Promise.resolve();
  }
}
