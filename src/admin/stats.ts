/**
 * A node's stats snapshot: what the admin overview shows per node and what each cluster node publishes
 * to Redis at its refresh (cluster/node_stats.ts). Small and bounded: rates are means of the last
 * {@linkcode RATE_WINDOW_S} per-second samples, apps at most {@linkcode MAX_APPS}, top rooms 10 per app.
 *
 * @example
 * ```ts
 * const stats = nodeStats(sources);
 * stats.connections; // this node's open WebSockets
 * JSON.stringify(stats).length; // ~1 KB with a few apps
 * ```
 * @module
 */
import type { Hub } from "../session/hub.ts";
import type { RoomActivity, RoomCount } from "./room_activity.ts";
import type { Sampler, SeriesName } from "./sampler.ts";

/** Seconds of samples the rates of a snapshot average over. */
export const RATE_WINDOW_S = 10;
/** Apps listed per node. */
export const MAX_APPS = 64;
/** Top rooms listed per app. */
export const TOP_ROOMS = 10;

/** One node as the overview shows it. */
export interface NodeStats {
  nodeId: string;
  /** When the snapshot was taken (ms). */
  at: number;
  mode: "embedded" | "cluster";
  startedAt: number;
  uptimeSeconds: number;
  draining: boolean;
  /** Open WebSockets, logged-in ones, distinct users. */
  connections: number;
  loggedIn: number;
  users: number;
  /** Lifecycle events waiting or being applied. */
  eventQueue: number;
  /** Per second, mean of the last {@linkcode RATE_WINDOW_S} s (null before the first sample). */
  rates: Record<"msgsIn" | "msgsOut" | "deliveries" | "drops" | "slowCloses", number | null>;
  store: {
    kind: string;
    /** Reachable (always true for in-process engines). */
    healthy: boolean;
    /** Mean of the per-second p50/p99 of store calls over the window; null when the store reports none. */
    p50Ms: number | null;
    p99Ms: number | null;
  };
  memory: { rss: number; heapUsed: number };
  /** This node's connections by app. */
  apps: Array<{ appId: number; connections: number; users: number }>;
  /** Room messages through this node, busiest first, per app. */
  topRooms: Array<{ appId: number; rooms: RoomCount[] }>;
}

/** What a snapshot is read from. */
export interface StatsSources {
  nodeId: string;
  mode: "embedded" | "cluster";
  startedAt: number;
  now: () => number;
  hub: Hub;
  sampler: Sampler;
  rooms: RoomActivity;
  storeKind: string;
  storeHealthy: () => boolean;
  draining: () => boolean;
  eventQueue: () => number;
}

const rounded = (v: number, digits = 2): number | null =>
  Number.isNaN(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits;

/** Take this node's snapshot now. */
export function nodeStats(s: StatsSources): NodeStats {
  const now = s.now();
  const rate = (name: SeriesName) => rounded(s.sampler.recentRate(name, RATE_WINDOW_S));
  const { rss, heapUsed } = Deno.memoryUsage();
  const apps = s.hub.appIds().slice(0, MAX_APPS).sort((a, b) => a - b).map((appId) => ({
    appId,
    connections: s.hub.appConnections(appId)?.size ?? 0,
    users: s.hub.appUsers(appId).size,
  }));
  return {
    nodeId: s.nodeId,
    at: now,
    mode: s.mode,
    startedAt: s.startedAt,
    uptimeSeconds: Math.round((now - s.startedAt) / 1000),
    draining: s.draining(),
    connections: s.hub.size,
    loggedIn: s.hub.loggedIn,
    users: s.hub.users,
    eventQueue: s.eventQueue(),
    rates: {
      msgsIn: rate("msgsIn"),
      msgsOut: rate("msgsOut"),
      deliveries: rate("deliveries"),
      drops: rate("drops"),
      slowCloses: rate("slowCloses"),
    },
    store: {
      kind: s.storeKind,
      healthy: s.storeHealthy(),
      p50Ms: rate("storeP50"),
      p99Ms: rate("storeP99"),
    },
    memory: { rss, heapUsed },
    apps,
    topRooms: s.rooms.apps().slice(0, MAX_APPS).sort((a, b) => a - b).map((appId) => ({
      appId,
      rooms: s.rooms.top(appId, TOP_ROOMS),
    })),
  };
}
