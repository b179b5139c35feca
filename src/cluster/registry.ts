/**
 * NodeRegistry: this node's registration in the node registry (`Pnodes`, node → registration expiry) and
 * the reaping of nodes whose registration expired. It is the only owner of both, and decides when a
 * missing renewal means a node is dead.
 *
 * A registration that expired is only proof of death when its node had the chance to renew it: the
 * registry was reachable for a whole TTL. After an outage of Redis (or of the shard holding the registry)
 * longer than the TTL, every registration has expired, and the first node whose heartbeat lands would
 * otherwise reap every other live node — their users pushed offline while still connected. So a node
 * reaps only after a whole TTL of heartbeats answered without a gap: every one answered, each within
 * half a TTL of the one before (they go every TTL / 3). By then every live node, renewing as often, has
 * renewed too. A beat that failed, or that was answered after a longer silence (a hung or stopped Redis
 * answers the whole queue at once when it wakes), starts the count again.
 *
 * Beats do not overlap: one still waiting on Redis makes the next a no-op (it renews the same expiry).
 *
 * @example
 * ```ts
 * const registry = new NodeRegistry({ link, keys, nodeId: "n1", ttlMs: 30_000, clock, presence, log, metrics,
 *   reaped: (appId, userId) => console.log("offline", appId, userId) });
 * await registry.beat();
 * ```
 * @module
 */
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { RedisKeys } from "../store/redis/keys.ts";
import type { RedisLink } from "../store/redis/link.ts";
import { SCRIPTS } from "../store/redis/scripts.ts";
import type { Clock } from "../util/clock.ts";
import type { RedisPresence } from "./presence.ts";

/** What {@linkcode NodeRegistry} needs. */
export interface NodeRegistryOptions {
  link: RedisLink;
  keys: RedisKeys;
  nodeId: string;
  /** `presence.ttl` (ms): a registration lasts this long after its last renewal. */
  ttlMs: number;
  clock: Clock;
  presence: Pick<RedisPresence, "reap">;
  log: Logger;
  metrics: Metrics;
  /** A user went offline because its node died and this node reaped it. */
  reaped(appId: number, userId: string): void;
}

/** This node's registration, and the reaping of dead nodes. */
export class NodeRegistry {
  readonly #o: NodeRegistryOptions;
  /** When the current run of beats answered without a gap began (undefined: the last one failed). */
  #liveSince: number | undefined;
  /** When the last beat was answered. */
  #answeredAt = 0;
  #beating: Promise<void> | undefined;

  constructor(options: NodeRegistryOptions) {
    this.#o = options;
  }

  /** Renew this node's registration and reap nodes that are dead; a no-op while a beat is in flight. */
  beat(): Promise<void> {
    return this.#beating ??= this.#beat().finally(() => this.#beating = undefined);
  }

  async #beat(): Promise<void> {
    const { link, keys, nodeId, ttlMs, clock } = this.#o;
    let expired: string[];
    try {
      expired = await SCRIPTS.nodeHeartbeat.run<string[]>(link, [keys.nodes], [nodeId, ttlMs]);
    } catch (error) {
      this.#liveSince = undefined;
      throw error;
    }
    const now = clock.now();
    if (now - this.#answeredAt > ttlMs / 2) this.#liveSince = undefined;
    this.#answeredAt = now;
    this.#liveSince ??= now;
    // Not yet a whole TTL of reachable registry behind us: the others may not have had their turn.
    if (now - this.#liveSince < ttlMs) return;
    for (const node of expired) if (node !== nodeId) await this.#reap(node);
  }

  /** Reap `node` unless another node holds its reap lock. */
  async #reap(node: string): Promise<void> {
    const { link, keys, nodeId, ttlMs, presence, log, metrics } = this.#o;
    const lockKey = `${keys.prefix}reap:${node}`;
    const lock = await link.send(lockKey, ["SET", lockKey, nodeId, "NX", "PX", String(ttlMs)]);
    if (lock === null) return;
    const gone = await presence.reap(node);
    metrics.counter("im_cluster_reaped_users_total", "Users made offline by reaping a dead node").inc(
      {},
      gone.length,
    );
    log.warning("reaped dead node {node}: {n} users offline", { node, n: gone.length });
    for (const { appId, userId } of gone) this.#o.reaped(appId, userId);
  }
}
