/**
 * Presence: who is online, where. One interface, two engines: {@linkcode LocalPresence} answers from this
 * node's hub (embedded mode: the hub is the truth, nothing is copied), `cluster/presence.ts` keeps it in
 * Redis for every node.
 *
 * "Online" has one definition (docs/ARCHITECTURE.md): a logged-in connection whose last heartbeat is
 * within `heartbeat.onlineWindow`; in a cluster also on a node whose presence has not expired
 * (`presence.ttl`). The window is policy of the engine, not a parameter of each call.
 *
 * @example
 * ```ts
 * const presence = new LocalPresence(hub, clock, 180_000, nodeId);
 * await presence.onlineUsers(101); // ["alice", ...]
 * ```
 * @module
 */
import type { Clock } from "../util/clock.ts";
import type { Connection, Identity } from "./connection.ts";
import type { Hub } from "./hub.ts";

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
  /** Client address (the admin console shows it; the public API leaves it out). */
  ip?: string;
}

/** Who is online. Writes come from the lifecycle only; reads from commands and the HTTP API. */
export interface Presence {
  /** Record a logged-in connection; resolves to true when it is the user's first connection anywhere. */
  add(entry: PresenceEntry): Promise<boolean>;
  /** Forget one connection; resolves to true when the user has no connection left anywhere. */
  remove(appId: number, userId: string, connId: string): Promise<boolean>;
  /** Online connections of a user. */
  connections(appId: number, userId: string): Promise<PresenceEntry[]>;
  /** Unique online userIds of an app. */
  onlineUsers(appId: number): Promise<string[]>;
  /** Apps in which the user is online. */
  userApps(userId: string): Promise<number[]>;
}

/** The presence entry of a logged-in connection. */
export function presenceOf(conn: Connection, identity: Identity, nodeId: string): PresenceEntry {
  return {
    appId: identity.appId,
    userId: identity.userId,
    connId: conn.id,
    nodeId,
    since: identity.loginTime,
    heartbeatAt: conn.heartbeatAt,
    deviceId: identity.deviceId,
    platform: identity.platform,
    ip: conn.ip,
  };
}

/** Presence of a single node, read straight from its hub. */
export class LocalPresence implements Presence {
  constructor(
    readonly hub: Hub,
    readonly clock: Clock,
    readonly onlineWindowMs: number,
    readonly nodeId: string,
  ) {}

  #fresh(conn: Connection): boolean {
    return conn.heartbeatAt >= this.clock.now() - this.onlineWindowMs;
  }

  add(entry: PresenceEntry): Promise<boolean> {
    // The hub already indexes the connection: it is the first when it is the only one.
    return Promise.resolve((this.hub.connectionsOf(entry.appId, entry.userId)?.size ?? 0) === 1);
  }

  remove(appId: number, userId: string): Promise<boolean> {
    return Promise.resolve((this.hub.connectionsOf(appId, userId)?.size ?? 0) === 0);
  }

  connections(appId: number, userId: string): Promise<PresenceEntry[]> {
    const out: PresenceEntry[] = [];
    for (const conn of this.hub.connectionsOf(appId, userId) ?? []) {
      if (conn.identity && this.#fresh(conn)) out.push(presenceOf(conn, conn.identity, this.nodeId));
    }
    return Promise.resolve(out);
  }

  onlineUsers(appId: number): Promise<string[]> {
    const users = new Set<string>();
    for (const conn of this.hub.appConnections(appId) ?? []) {
      if (conn.identity && this.#fresh(conn)) users.add(conn.identity.userId);
    }
    return Promise.resolve([...users]);
  }

  userApps(userId: string): Promise<number[]> {
    const apps: number[] = [];
    for (const appId of this.hub.appIds()) {
      for (const conn of this.hub.connectionsOf(appId, userId) ?? []) {
        if (this.#fresh(conn)) {
          apps.push(appId);
          break;
        }
      }
    }
    return Promise.resolve(apps.sort((a, b) => a - b));
  }
}
