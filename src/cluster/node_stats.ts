/**
 * Stats snapshots of the nodes of a cluster, for the admin console's overview: each node SETs its
 * snapshot (JSON) under `stats:<node>` with the registration's TTL at every refresh (cluster/node.ts), so
 * a stopped or crashed node's snapshot goes with its registration; a reader lists the registered nodes
 * (the `nodes` zset) and fetches their snapshots in one pipeline (one GET each: on a cluster they live
 * in different slots). Bounded by {@linkcode MAX_LISTED_NODES}.
 *
 * @example
 * ```ts
 * await writeNodeStats(link, keys, "n1", { connections: 3 }, 30_000);
 * const nodes = await readNodeStats(link, keys); // [{ nodeId: "n1", expiresAt, stats: {...} }]
 * ```
 * @module
 */
import type { RedisKeys } from "../store/redis/keys.ts";
import type { RedisLink } from "../store/redis/link.ts";

/** A registered node and its last published stats. */
export interface NodeStatsEntry {
  nodeId: string;
  /** When its registration expires unless refreshed (ms). */
  expiresAt: number;
  /** Its last snapshot, parsed; undefined when it publishes none (admin console off there). */
  stats: unknown;
}

/** Most nodes {@linkcode readNodeStats} lists. */
export const MAX_LISTED_NODES = 256;

/** Publish a node's snapshot; it expires after `ttlMs` unless published again. */
export async function writeNodeStats(
  link: RedisLink,
  keys: RedisKeys,
  nodeId: string,
  stats: unknown,
  ttlMs: number,
): Promise<void> {
  const key = keys.nodeStats(nodeId);
  await link.send(key, ["SET", key, JSON.stringify(stats), "PX", String(Math.max(1, Math.round(ttlMs)))]);
}

/** Forget a node's snapshot (graceful stop). */
export async function deleteNodeStats(link: RedisLink, keys: RedisKeys, nodeId: string): Promise<void> {
  await link.send(keys.nodeStats(nodeId), ["DEL", keys.nodeStats(nodeId)]);
}

/** Every registered node with its last snapshot. */
export async function readNodeStats(link: RedisLink, keys: RedisKeys): Promise<NodeStatsEntry[]> {
  const raw = await link.send<string[]>(keys.nodes, [
    "ZRANGE",
    keys.nodes,
    "0",
    String(MAX_LISTED_NODES - 1),
    "WITHSCORES",
  ]);
  const nodes: Array<{ nodeId: string; expiresAt: number }> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) nodes.push({ nodeId: raw[i], expiresAt: Number(raw[i + 1]) });
  if (nodes.length === 0) return [];
  const values = await Promise.all(
    nodes.map((n) => link.send<string | null>(keys.nodeStats(n.nodeId), ["GET", keys.nodeStats(n.nodeId)])),
  );
  return nodes.map((n, i) => ({ ...n, stats: parse(values[i]) }));
}

/** One PING round trip (ms). */
export async function pingMs(link: RedisLink): Promise<number> {
  const start = performance.now();
  await link.send(undefined, ["PING"]);
  return performance.now() - start;
}

function parse(value: unknown): unknown {
  if (typeof value !== "string") return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}
