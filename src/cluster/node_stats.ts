/**
 * Stats snapshots of the nodes of a cluster, for the admin console's overview: each node SETs its
 * snapshot (JSON) under `stats:<node>` with the registration's TTL at every refresh (cluster/node.ts), so
 * a stopped or crashed node's snapshot goes with its registration; a reader lists the registered nodes
 * (the `nodes` zset) and fetches their snapshots with one MGET. Bounded by {@linkcode MAX_LISTED_NODES}.
 *
 * @example
 * ```ts
 * await writeNodeStats(client, keys, "n1", { connections: 3 }, 30_000);
 * const nodes = await readNodeStats(client, keys); // [{ nodeId: "n1", expiresAt, stats: {...} }]
 * ```
 * @module
 */
import type { Redis } from "../store/redis/client.ts";
import type { RedisKeys } from "../store/redis/keys.ts";

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
  client: Redis,
  keys: RedisKeys,
  nodeId: string,
  stats: unknown,
  ttlMs: number,
): Promise<void> {
  await client.set(keys.nodeStats(nodeId), JSON.stringify(stats), { PX: Math.max(1, Math.round(ttlMs)) });
}

/** Forget a node's snapshot (graceful stop). */
export async function deleteNodeStats(client: Redis, keys: RedisKeys, nodeId: string): Promise<void> {
  await client.del(keys.nodeStats(nodeId));
}

/** Every registered node with its last snapshot. */
export async function readNodeStats(client: Redis, keys: RedisKeys): Promise<NodeStatsEntry[]> {
  const raw = await client.sendCommand([
    "ZRANGE",
    keys.nodes,
    "0",
    String(MAX_LISTED_NODES - 1),
    "WITHSCORES",
  ]) as string[];
  const nodes: Array<{ nodeId: string; expiresAt: number }> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) nodes.push({ nodeId: raw[i], expiresAt: Number(raw[i + 1]) });
  if (nodes.length === 0) return [];
  const values = await client.mGet(nodes.map((n) => keys.nodeStats(n.nodeId)));
  return nodes.map((n, i) => ({ ...n, stats: parse(values[i]) }));
}

/** One PING round trip (ms). */
export async function pingMs(client: Redis): Promise<number> {
  const start = performance.now();
  await client.ping();
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
