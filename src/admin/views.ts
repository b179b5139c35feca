/**
 * The console's read-only views, as the admin API returns them: the cluster overview (every node's
 * snapshot; this node's is live, the others' are their last published one), apps (online users,
 * connections, top rooms), a user (connections on every node, inbox head and marks, rooms, recent
 * entries) and a room (members with presence, and a recent timeline — the last room messages in one
 * member's inbox, as the store has no per-room timeline yet). Every read is bounded.
 *
 * @example
 * ```ts
 * const views = new AdminViews(deps);
 * const { nodes } = await views.overview();
 * const alice = await views.user(101, "alice");
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";
import type { NodeStatsEntry } from "../cluster/node_stats.ts";
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";
import type { Hub } from "../session/hub.ts";
import { type Presence, type PresenceEntry, presenceOf } from "../session/presence.ts";
import type { InboxEntry, Store } from "../store/store.ts";
import { MAX_APPS, type NodeStats, TOP_ROOMS } from "./stats.ts";

/** The cluster side of the views (absent in embedded mode). */
export interface ClusterView {
  nodeStats(): Promise<NodeStatsEntry[]>;
  ping(): Promise<number>;
}

/** What the views read. */
export interface AdminViewDeps {
  config: Pick<Config, "im">;
  nodeId: string;
  hub: Hub;
  presence: Presence;
  store: Store;
  /** This node's snapshot, taken now. */
  snapshot: () => NodeStats;
  cluster?: ClusterView;
  now: () => number;
}

/** A node row of the overview. */
export type NodeRow = (NodeStats & { self: boolean; ageMs: number }) | {
  nodeId: string;
  self: false;
  /** Registered, but publishes no stats (its console is off, or it has just started). */
  stale: true;
};

/** Most recent entries in the user view. */
export const RECENT_ENTRIES = 20;
/** Members listed in the room view. */
export const MAX_MEMBERS = 200;
/** Inbox entries scanned for a room's timeline. */
const TIMELINE_SCAN = 500;

/** Read-only views of one node (and, through Redis, of its cluster). */
export class AdminViews {
  readonly #d: AdminViewDeps;

  constructor(deps: AdminViewDeps) {
    this.#d = deps;
  }

  /** Every node's row; this node's first. Redis being down still answers, with this node alone. */
  async overview() {
    const { cluster, nodeId } = this.#d;
    const self = this.#d.snapshot();
    const nodes: NodeRow[] = [{ ...self, self: true, ageMs: 0 }];
    let redis: { ok: boolean; pingMs: number | null; error?: string } | undefined;
    if (cluster) {
      try {
        const [entries, ping] = await Promise.all([cluster.nodeStats(), cluster.ping()]);
        redis = { ok: true, pingMs: Math.round(ping * 100) / 100 };
        for (const e of entries) if (e.nodeId !== nodeId) nodes.push(this.#row(e));
      } catch (error) {
        redis = { ok: false, pingMs: null, error: String((error as Error)?.message ?? error).slice(0, 200) };
      }
    }
    let connections = 0;
    let loggedIn = 0;
    for (const n of nodes) {
      if ("stale" in n) continue;
      connections += n.connections;
      loggedIn += n.loggedIn;
    }
    return {
      nodeId,
      mode: self.mode,
      at: self.at,
      nodes,
      totals: { nodes: nodes.length, connections, loggedIn },
      ...(redis ? { redis } : {}),
    };
  }

  #row(e: NodeStatsEntry): NodeRow {
    const s = e.stats as NodeStats | undefined;
    if (!s || typeof s !== "object" || typeof s.at !== "number") {
      return { nodeId: e.nodeId, self: false, stale: true };
    }
    return { ...s, nodeId: e.nodeId, self: false, ageMs: Math.max(0, this.#d.now() - s.at) };
  }

  /** Apps: online users (all nodes), connections and the busiest rooms (summed over nodes). */
  async apps() {
    const { overview } = { overview: await this.overview() };
    const rows = overview.nodes.filter((n): n is NodeStats & { self: boolean; ageMs: number } =>
      !("stale" in n)
    );
    const ids = new Set<number>(this.#d.config.im.appIds);
    for (const n of rows) {
      for (const a of n.apps) ids.add(a.appId);
      for (const r of n.topRooms) ids.add(r.appId);
    }
    const apps = [];
    for (const appId of [...ids].sort((a, b) => a - b).slice(0, MAX_APPS)) {
      let connections = 0;
      const rooms = new Map<string, number>();
      for (const n of rows) {
        connections += n.apps.find((a) => a.appId === appId)?.connections ?? 0;
        for (const r of n.topRooms.find((t) => t.appId === appId)?.rooms ?? []) {
          rooms.set(r.room, (rooms.get(r.room) ?? 0) + r.messages);
        }
      }
      const top = [...rooms].sort((a, b) => b[1] - a[1]).slice(0, TOP_ROOMS);
      const [online, members] = await Promise.all([
        this.#d.presence.onlineUsers(appId),
        Promise.all(top.map(([room]) => this.#d.store.roomMembers(appId, room))),
      ]);
      apps.push({
        appId,
        onlineUsers: online.length,
        connections,
        topRooms: top.map(([room, messages], i) => ({ room, messages, members: members[i].length })),
      });
    }
    return { apps };
  }

  /** One user: connections on every node (this node's with IP and buffered bytes), inbox, rooms. */
  async user(appId: number, userId: string) {
    const { store, hub, nodeId } = this.#d;
    const local = [...hub.connectionsOf(appId, userId) ?? []].flatMap((conn) =>
      conn.identity ? [{ conn, identity: conn.identity }] : []
    ).map(({ conn, identity }) => ({
      ...presenceOf(conn, identity, nodeId),
      connectedAt: conn.connectedAt,
      buffered: conn.buffered,
      local: true,
    }));
    const [everywhere, head, acked, read, delivered, rooms] = await Promise.all([
      this.#d.cluster ? this.#d.presence.connections(appId, userId) : Promise.resolve([] as PresenceEntry[]),
      store.head(appId, userId),
      store.mark(appId, userId, "ack"),
      store.mark(appId, userId, "read"),
      store.mark(appId, userId, "delivered"),
      store.userRooms(appId, userId),
    ]);
    const remote = everywhere.filter((p) => p.nodeId !== nodeId).map((p) => ({ ...p, local: false }));
    const recent = head.lastSeq > 0
      ? await store.rangeBefore(appId, userId, head.lastSeq + 1, RECENT_ENTRIES)
      : [];
    const connections = [...local, ...remote].sort((a, b) => a.since - b.since);
    return {
      userId,
      appId,
      online: connections.length > 0,
      connections,
      inbox: { ...head, acked, read, delivered },
      rooms: rooms.sort(),
      recent,
    };
  }

  /** One room: members (at most {@linkcode MAX_MEMBERS}) with presence, and a recent timeline. */
  async room(appId: number, room: string, member: string | undefined, limit: number) {
    const { store, presence } = this.#d;
    const all = (await store.roomMembers(appId, room)).sort();
    if (all.length === 0) throw new ReplyError(Code.RoomNotFound, `room ${room} has no members`);
    if (member !== undefined && !all.includes(member)) {
      throw new ReplyError(Code.ParameterIllegal, `${member} is not a member of ${room}`);
    }
    const online = new Set(await presence.onlineUsers(appId));
    const members = all.slice(0, MAX_MEMBERS).map((userId) => ({ userId, online: online.has(userId) }));
    const from = member ?? all.find((u) => online.has(u)) ?? all[0];
    return {
      room,
      appId,
      membersTotal: all.length,
      members,
      timeline: { from, entries: await this.#timeline(appId, from, room, limit) },
    };
  }

  /** The last `limit` messages of `room` in `userId`'s inbox, oldest first. */
  async #timeline(appId: number, userId: string, room: string, limit: number): Promise<InboxEntry[]> {
    const head = await this.#d.store.head(appId, userId);
    const found: InboxEntry[] = [];
    let before = head.lastSeq + 1;
    for (let scanned = 0; scanned < TIMELINE_SCAN && found.length < limit && before > head.firstSeq;) {
      const page = await this.#d.store.rangeBefore(appId, userId, before, 100);
      if (page.length === 0) break;
      scanned += page.length;
      for (const e of page) if (e.target === room && found.length < limit) found.push(e);
      before = page[page.length - 1].seq;
    }
    return found.reverse();
  }
}
