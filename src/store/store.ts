/**
 * The store interface: durable data of a deployment — inboxes with sequence numbers, per-user marks,
 * idempotency claims and rooms. Presence is live state and lives elsewhere (session/presence.ts).
 *
 * Engines: `memory.ts` (tests, explicitly ephemeral), `sqlite/` (the embedded default, durable) and
 * `redis/` (cluster). `tests/contract/store_suite.ts` is the contract every engine passes.
 *
 * Retention and limits are policy given at construction ({@linkcode StorePolicy}), not passed by callers.
 * Every failure of the engine itself is a `StorageError` (protocol/errors.ts); callers map it to 1024.
 *
 * @example
 * ```ts
 * const store: Store = new MemoryStore({ policy: storePolicy(config) });
 * const entry = await store.append(101, "bob", fields);
 * entry.seq; // 1
 * ```
 * @module
 */
import type { EntryFields } from "../protocol/pushes.ts";

/** One message as kept in a user's inbox (and pushed to the user's connections). */
export interface InboxEntry extends EntryFields {
  /** Position in this user's inbox: 1, 2, 3 … per (appId, userId), never reused within an epoch. */
  seq: number;
}

/** Fields of an entry before the store assigns `seq`. */
export type NewEntry = EntryFields;

/** Position of a user's inbox. */
export interface InboxHead {
  /** Oldest seq still kept (lastSeq + 1 when empty). */
  firstSeq: number;
  /** Newest seq assigned (0 when nothing was ever appended). */
  lastSeq: number;
  /**
   * Changes whenever this inbox's sequence restarts (the memory store restarted, Redis lost or rolled
   * back its data, an expired inbox was dropped and created again): a client holding another epoch
   * must resync from 0.
   */
  epoch: string;
}

/** What a login reads of its inbox ({@linkcode Store.loginState}): one call instead of four. */
export interface LoginState {
  head: InboxHead;
  /** The `delivered` mark (0 if never set). */
  delivered: number;
  /** The `ack` mark (0 if never set). */
  acked: number;
  /** Unread messages over all conversations of the inbox. */
  unreadTotal: number;
}

/**
 * Per-user inbox marks: `ack` (the client confirmed delivery), `read` (read up to), `delivered` (the
 * highest seq written to at least one of the user's connections; PROTOCOL.md C.1).
 */
export type Mark = "ack" | "read" | "delivered";

/** The newest message of a conversation, as the conversation list shows it. */
export interface LastMessage {
  msgId: string;
  seq: number;
  from: string;
  type: string;
  time: number;
  /** Absent once recalled. */
  msg?: string;
  /** The version of the edit shown (see {@linkcode Store.changeMessage}); absent when never edited. */
  editedAt?: number;
  recalled?: true;
}

/** One conversation of an inbox (PROTOCOL.md C.2). */
export interface Conversation {
  /** `u:<peer>` or `r:<room>`. */
  id: string;
  kind: "direct" | "room";
  peer?: string;
  room?: string;
  /** Time of the newest message (ms). */
  time: number;
  /** Inbox seq of the newest message: orders the list (unique within an inbox) and pages it. */
  seq: number;
  /** Read up to this inbox seq. */
  readSeq: number;
  /** Messages from others after `readSeq`, recalled and deleted ones excluded. */
  unread: number;
  last?: LastMessage;
}

/** A conversation whose read position moved. */
export interface ReadChange {
  id: string;
  previous: number;
  readSeq: number;
  unread: number;
}

/** A message as kept once per app (for edits, recalls, history and room timelines). */
export interface StoredMessage {
  msgId: string;
  from: string;
  to: string;
  target: string;
  type: string;
  msg: string;
  time: number;
  roomSeq?: number;
  editedAt?: number;
  recalledAt?: number;
  recalledBy?: string;
}

/** What an edit or a recall changes in a {@linkcode StoredMessage}. */
export type MessageChange = { msg: string; editedAt: number } | { recalledAt: number; recalledBy: string };

/** One position of a room's timeline. */
export interface RoomTimelineEntry {
  roomSeq: number;
  msgId: string;
  time: number;
}

/** Outcome of a room join. */
export type JoinResult = "joined" | "already" | "tooManyRooms" | "roomFull";

/** Outcome of {@linkcode Store.appendOnce} for one inbox. */
export interface Appended {
  seq: number;
  /** The msgId was already in this inbox: nothing was appended, `seq` is the first append's. */
  repeated: boolean;
}

/** Retention and limits every engine applies; fixed at construction. */
export interface StorePolicy {
  /** Entries kept per inbox; older ones are dropped on append. */
  maxEntries: number;
  /** Conversations kept per inbox: a new one beyond it drops the least recent (lowest seq) from the list. */
  maxConversations: number;
  /** Entries older than this (ms) are dropped and never returned; idle inboxes expire with them. */
  maxAgeMs: number;
  /** How long idempotency claims and idempotent appends are remembered (ms). */
  dedupTtlMs: number;
  /** Rooms one user may be in. */
  maxRoomsPerUser: number;
  /** Members of one room. */
  maxRoomMembers: number;
}

/** Durable data of one deployment (a single node or a cluster). */
export interface Store {
  /** "memory", "sqlite" or "redis". */
  readonly kind: string;

  /** Append to a user's inbox, assigning the next seq; trims to the policy. */
  append(appId: number, userId: string, entry: NewEntry): Promise<InboxEntry>;
  /** Append the same entry to many inboxes; resolves to each user's seq, in the order given. */
  appendMany(appId: number, userIds: string[], entry: NewEntry): Promise<number[]>;
  /**
   * Append the entry to each inbox at most once per msgId within the de-dup TTL: an inbox that already
   * has the msgId answers the seq it got then. Sends with an idempotency key use it, so a retry after a
   * partial failure completes the send instead of duplicating it.
   */
  appendOnce(appId: number, userIds: string[], entry: NewEntry): Promise<Appended[]>;
  /** Up to `limit` entries with seq > `afterSeq`, oldest first (expired entries excluded). */
  range(appId: number, userId: string, afterSeq: number, limit: number): Promise<InboxEntry[]>;
  /** Up to `limit` entries with seq < `beforeSeq`, newest first. */
  rangeBefore(appId: number, userId: string, beforeSeq: number, limit: number): Promise<InboxEntry[]>;
  /** Current inbox position. */
  head(appId: number, userId: string): Promise<InboxHead>;
  /**
   * Move a per-user mark forward to `seq` (never back, never past the inbox head); resolves to the
   * previous and the stored value.
   */
  advanceMark(
    appId: number,
    userId: string,
    mark: Mark,
    seq: number,
  ): Promise<{ previous: number; current: number }>;
  /** Current value of a mark (0 if never set). */
  mark(appId: number, userId: string, mark: Mark): Promise<number>;
  /**
   * A login's reads at once: what {@linkcode head}, {@linkcode mark} (`delivered`, `ack`) and
   * {@linkcode unreadTotal} answer, in one call (on Redis one script call per slot and batch).
   */
  loginState(appId: number, userId: string): Promise<LoginState>;

  /**
   * Record `value` under `key` for the de-dup TTL unless the key is already held; resolves to null when
   * this call claimed it, else to the value held.
   */
  claim(key: string, value: string): Promise<string | null>;

  /** Add a user to a room, enforcing the policy's limits. */
  joinRoom(appId: number, room: string, userId: string): Promise<JoinResult>;
  /** Remove a user from a room; false if not a member. */
  leaveRoom(appId: number, room: string, userId: string): Promise<boolean>;
  /** Members of a room (empty for unknown rooms). */
  roomMembers(appId: number, room: string): Promise<string[]>;
  /** Rooms a user is in (empty when none). */
  userRooms(appId: number, userId: string): Promise<string[]>;

  // --- IM semantics (PROTOCOL.md C); the engine keeps each inbox's conversation summaries up to date on
  // every append (messages and events), see store/conversations.ts for the rules.

  /** Conversations of an inbox, most recent activity first; `before` pages by `seq` (exclusive). */
  conversations(
    appId: number,
    userId: string,
    limit: number,
    before?: number,
  ): Promise<{ items: Conversation[]; more: boolean }>;
  /**
   * Move the read position of one conversation (or of every conversation, `conversation` undefined) to
   * `seq` (never back, never past the inbox head); resolves to the conversations that changed.
   */
  markRead(
    appId: number,
    userId: string,
    conversation: string | undefined,
    seq: number,
  ): Promise<ReadChange[]>;
  /** Unread messages over all conversations of an inbox. */
  unreadTotal(appId: number, userId: string): Promise<number>;
  /** Messages of this inbox's owner hidden for the owner (deleted for me) among `msgIds`. */
  hiddenAmong(appId: number, userId: string, msgIds: string[]): Promise<Set<string>>;

  /** Keep a message once per app (at send time), for the message's lifetime in the inboxes (`maxAgeMs`). */
  saveMessage(appId: number, message: StoredMessage): Promise<void>;
  /** Messages by msgId (missing ones are left out). */
  messages(appId: number, msgIds: string[]): Promise<Map<string, StoredMessage>>;
  /**
   * Apply an edit or a recall atomically; resolves to the message as it is now (undefined when unknown).
   * A recall is final: on a recalled message an edit or another recall changes nothing. An edit's
   * `editedAt` is its version: raised to one past the previous edit's when not later, so that versions
   * strictly increase per message whatever the nodes' clocks — the edit with the highest `editedAt` is the
   * text, in the store and on every device, in whatever order the edit events arrive.
   */
  changeMessage(appId: number, msgId: string, change: MessageChange): Promise<StoredMessage | undefined>;

  /** Append a message to a room's timeline at most once per msgId; resolves to its `roomSeq`. */
  appendRoomTimeline(appId: number, room: string, msgId: string, time: number): Promise<number>;
  /** Up to `limit` timeline positions with roomSeq < `beforeRoomSeq`, newest first (trimmed like inboxes). */
  roomTimeline(
    appId: number,
    room: string,
    beforeRoomSeq: number,
    limit: number,
  ): Promise<RoomTimelineEntry[]>;

  /** Block or unblock `other` for `userId`; true when it changed. */
  setBlocked(appId: number, userId: string, other: string, blocked: boolean): Promise<boolean>;
  /** Users `userId` blocked. */
  blockedUsers(appId: number, userId: string): Promise<string[]>;
  /** Who among `candidates` blocked `sender`. */
  blockersOf(appId: number, sender: string, candidates: string[]): Promise<Set<string>>;

  /**
   * Resolves once every write that resolved before this call is durable. Writes resolve once they are
   * committed — visible to every reader — and an engine whose commit is not yet on disk (SQLite with
   * `store.sync: full`, until its fdatasync) provides this; the others omit it. A send is acknowledged
   * only after it (messaging/send.ts); its live delivery does not wait.
   */
  synced?(): Promise<void>;

  /** Release connections and timers. */
  close(): Promise<void>;
}

/** The store policy from the configuration sections it comes from. */
export function storePolicy(config: {
  inbox: { maxEntries: number; maxAge: number; maxConversations: number };
  im: { msgIdDedupTtl: number };
  limits: { maxRoomsPerUser: number; maxRoomMembers: number };
}): StorePolicy {
  return {
    maxEntries: config.inbox.maxEntries,
    maxConversations: config.inbox.maxConversations,
    maxAgeMs: config.inbox.maxAge * 1000,
    dedupTtlMs: config.im.msgIdDedupTtl * 1000,
    maxRoomsPerUser: config.limits.maxRoomsPerUser,
    maxRoomMembers: config.limits.maxRoomMembers,
  };
}
