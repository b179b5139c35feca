/**
 * The store interface: presence, inboxes with sequence numbers, de-dup keys and rooms.
 * Handlers depend only on this; `memory.ts` (embedded) and `redis.ts` (cluster) implement it,
 * and `tests/contract/store_suite.ts` is the contract both must pass.
 * @module
 */

/** One message as kept in a user's inbox (and pushed to the user's connections). */
export interface InboxEntry {
  /** Position in this user's inbox: 1, 2, 3 … per (appId, userId), never reused. */
  seq: number;
  /** Server id of the message (the same in every recipient's inbox). */
  msgId: string;
  /** Sender userId ("" or a system name for backend sends). */
  from: string;
  /** Recipient userId for direct messages, the room for room messages, "" for app broadcasts. */
  to: string;
  /** "" for direct and app messages, the room name for room messages. */
  target: string;
  /** Message type chosen by the sender ("text" by default). */
  type: string;
  /** Body. */
  msg: string;
  /** Server time of acceptance (ms since epoch). */
  time: number;
}

/** Fields of an entry before the store assigns `seq`. */
export type NewEntry = Omit<InboxEntry, "seq">;

/** Position of a user's inbox. */
export interface InboxHead {
  /** Oldest seq still kept (lastSeq + 1 when empty). */
  firstSeq: number;
  /** Newest seq assigned (0 when nothing was ever appended). */
  lastSeq: number;
  /** Changes when the inbox sequence restarts (memory store restarted, Redis data lost). */
  epoch: string;
}

/** One logged-in connection as seen by presence. */
export interface PresenceEntry {
  appId: number;
  userId: string;
  connId: string;
  nodeId: string;
  /** Login time (ms). */
  since: number;
  /** Last heartbeat (ms); refreshed in batches by the owning node. */
  heartbeatAt: number;
  deviceId?: string;
  platform?: string;
}

/** Bounds applied by inbox writes. */
export interface InboxLimits {
  maxEntries: number;
  /** Maximum age in ms. */
  maxAgeMs: number;
}

/** Per-user inbox marks. */
export type Mark = "ack" | "read";

/** Outcome of a room join. */
export type JoinResult = "joined" | "already" | "tooManyRooms" | "roomFull";

/** Persistence and presence for one deployment (a single node or a cluster). */
export interface Store {
  /** "memory" or "redis". */
  readonly kind: string;

  /** Record a logged-in connection. */
  addPresence(entry: PresenceEntry): Promise<void>;
  /** Forget one connection of a user. */
  removePresence(appId: number, userId: string, connId: string): Promise<void>;
  /** Refresh heartbeat times (and TTLs) of every connection a node holds, in one batch. */
  refreshPresence(nodeId: string, entries: PresenceEntry[]): Promise<void>;
  /** Connections of a user that heartbeated within `windowMs`. */
  presence(appId: number, userId: string, windowMs: number): Promise<PresenceEntry[]>;
  /** Unique userIds of an app with a connection that heartbeated within `windowMs`. */
  onlineUsers(appId: number, windowMs: number): Promise<string[]>;
  /** Apps in which the user is online within `windowMs`. */
  userApps(userId: string, windowMs: number): Promise<number[]>;

  /** Append to a user's inbox, assigning the next seq; trims to `limits`. */
  append(appId: number, userId: string, entry: NewEntry, limits: InboxLimits): Promise<InboxEntry>;
  /** Append the same entry to many inboxes; resolves to each user's seq, in the order given. */
  appendMany(appId: number, userIds: string[], entry: NewEntry, limits: InboxLimits): Promise<number[]>;
  /** Up to `limit` entries with seq > `afterSeq`, oldest first (expired entries excluded). */
  range(
    appId: number,
    userId: string,
    afterSeq: number,
    limit: number,
    maxAgeMs: number,
  ): Promise<InboxEntry[]>;
  /** Up to `limit` entries with seq < `beforeSeq`, newest first. */
  rangeBefore(
    appId: number,
    userId: string,
    beforeSeq: number,
    limit: number,
    maxAgeMs: number,
  ): Promise<InboxEntry[]>;
  /** Current inbox position. */
  head(appId: number, userId: string, maxAgeMs: number): Promise<InboxHead>;
  /**
   * Move a per-user mark ("ack": delivered, "read": read) forward to `seq` (never back, never
   * past the inbox head); resolves to the previous and the stored value.
   */
  advanceMark(
    appId: number,
    userId: string,
    mark: Mark,
    seq: number,
  ): Promise<{ previous: number; current: number }>;
  /** Current value of a mark (0 if never set). */
  mark(appId: number, userId: string, mark: Mark): Promise<number>;

  /** Set `key` to `value` unless present; resolves to null when claimed, else the existing value. */
  claim(key: string, value: string, ttlMs: number): Promise<string | null>;
  /** Overwrite a claimed key (e.g. with the final result of a send). */
  putClaim(key: string, value: string, ttlMs: number): Promise<void>;
  /** Release a claim (the claimed operation failed and may be retried). */
  dropClaim(key: string): Promise<void>;

  /** Add a user to a room, enforcing both limits. */
  joinRoom(
    appId: number,
    room: string,
    userId: string,
    maxRooms: number,
    maxMembers: number,
  ): Promise<JoinResult>;
  /** Remove a user from a room; false if not a member. */
  leaveRoom(appId: number, room: string, userId: string): Promise<boolean>;
  /** Members of a room (empty for unknown rooms). */
  roomMembers(appId: number, room: string): Promise<string[]>;
  /** Rooms a user is in. */
  userRooms(appId: number, userId: string): Promise<string[]>;

  /** Release connections and timers. */
  close(): Promise<void>;
}
