/**
 * Every Redis key and channel name of a deployment, in one place. Keys of one user share the hash tag
 * `{app:user}`, keys of one room `{app:room}`, so the scripts that touch them stay in one slot.
 *
 * | key | type | content |
 * |---|---|---|
 * | `P{app:user}:m` | hash | `last` (seq counter), `gen` (inbox generation), `ack`, `read`, `delivered` |
 * | `P{app:user}:i` | stream | id `<seq>-0`, fields `t` (time) and `e` (entry json) |
 * | `P{app:user}:x:<msgId>` | string | seq of an idempotent append (PX de-dup TTL) |
 * | `P{app:user}:p` | hash | `<node>\|<conn>` → `<expiryMs>\|<presence json>` |
 * | `P{app:user}:ur` | set | rooms of the user |
 * | `P{app:user}:c` | hash | conversation id → summary json (time, readSeq, unread, last) |
 * | `P{app:user}:ct` | zset | conversation id → -time (ascending = newest first) |
 * | `P{app:user}:ix` | zset | `m:`/`d:`/`h:<msgId>` → inbox seq: messages in the inbox, dead ones, hidden ones |
 * | `P{app:user}:bl` | set | users the user blocked |
 * | `P{app:msgId}:msg` | hash | a message kept once per app: `j` (json), `t` (time), edit/recall fields |
 * | `P{app:room}:tm` / `:t` / `:tx` | hash / stream / zset | room timeline: `last` (roomSeq counter), positions `<roomSeq>-0` (t, m), msgId → roomSeq |
 * | `P{app:room}:r` | set | members of the room |
 * | `P{app}:pu` / `P{app}:pe` | zset | user → newest heartbeat / newest presence expiry |
 * | `P{u:user}:ua` | zset | app → newest presence expiry of the user |
 * | `P{n:node}:nc` | hash | `<app>\|<conn>` → user: what a node holds (reaping, recovery) |
 * | `Pnodes` | zset | node → registration expiry |
 * | `Pstats:<node>` | string | the node's stats snapshot for the admin console (JSON, PX presence ttl) |
 * | `Pd:<key>` | string | idempotency claim (PX de-dup TTL) |
 * | `Pepoch`, `Pwc` | string | deployment epoch; write counter (only grows; rollback detection) |
 * | `P{<slot tag>}:wc` | string | Redis Cluster: the write counter of one slot, instead of `Pwc` (write_counters.ts) |
 *
 * Channels: `Pnode:<node>` (deliveries for a node), `Papp:<app>` (presence changes of an app); sharded
 * pub/sub on a Redis Cluster (each channel lives on the shard of its slot).
 *
 * @example
 * ```ts
 * const keys = new RedisKeys("im:");
 * keys.inbox(101, "bob"); // "im:{101:bob}:i"
 * ```
 * @module
 */

/** Key and channel names under one prefix. */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  #user(appId: number, userId: string, suffix: string): string {
    return `${this.prefix}{${appId}:${userId}}:${suffix}`;
  }

  marks(appId: number, userId: string): string {
    return this.#user(appId, userId, "m");
  }
  inbox(appId: number, userId: string): string {
    return this.#user(appId, userId, "i");
  }
  appended(appId: number, userId: string, msgId: string): string {
    return this.#user(appId, userId, `x:${msgId}`);
  }
  presence(appId: number, userId: string): string {
    return this.#user(appId, userId, "p");
  }
  userRooms(appId: number, userId: string): string {
    return this.#user(appId, userId, "ur");
  }
  /** Conversation summaries of an inbox (hash). */
  conversations(appId: number, userId: string): string {
    return this.#user(appId, userId, "c");
  }
  /** Conversation ordering of an inbox (zset, score -time). */
  conversationTimes(appId: number, userId: string): string {
    return this.#user(appId, userId, "ct");
  }
  /** Message positions of an inbox: in it, dead, hidden (zset, score seq). */
  positions(appId: number, userId: string): string {
    return this.#user(appId, userId, "ix");
  }
  /** Users a user blocked (set). */
  blocked(appId: number, userId: string): string {
    return this.#user(appId, userId, "bl");
  }
  /** A message kept once per app (hash). */
  message(appId: number, msgId: string): string {
    return `${this.prefix}{${appId}:${msgId}}:msg`;
  }
  room(appId: number, room: string): string {
    return `${this.prefix}{${appId}:${room}}:r`;
  }
  /** A room timeline's counter hash (`last`). */
  roomTimelineHead(appId: number, room: string): string {
    return `${this.prefix}{${appId}:${room}}:tm`;
  }
  /** A room timeline's positions (stream). */
  roomTimeline(appId: number, room: string): string {
    return `${this.prefix}{${appId}:${room}}:t`;
  }
  /** A room timeline's msgId → roomSeq (zset). */
  roomTimelineIds(appId: number, room: string): string {
    return `${this.prefix}{${appId}:${room}}:tx`;
  }
  appUsers(appId: number): string {
    return `${this.prefix}{${appId}}:pu`;
  }
  appExpiry(appId: number): string {
    return `${this.prefix}{${appId}}:pe`;
  }
  userApps(userId: string): string {
    return `${this.prefix}{u:${userId}}:ua`;
  }
  nodeConnections(nodeId: string): string {
    return `${this.prefix}{n:${nodeId}}:nc`;
  }
  get nodes(): string {
    return `${this.prefix}nodes`;
  }
  nodeStats(nodeId: string): string {
    return `${this.prefix}stats:${nodeId}`;
  }
  claim(key: string): string {
    return `${this.prefix}d:${key}`;
  }
  get epoch(): string {
    return `${this.prefix}epoch`;
  }
  get writeCounter(): string {
    return `${this.prefix}wc`;
  }
  /** Channel prefix of node channels (the route script appends the node id). */
  get nodeChannelPrefix(): string {
    return `${this.prefix}node:`;
  }
  nodeChannel(nodeId: string): string {
    return `${this.prefix}node:${nodeId}`;
  }
  appChannel(appId: number): string {
    return `${this.prefix}app:${appId}`;
  }
}
