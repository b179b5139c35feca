/**
 * `/system/state` (PROTOCOL.md A.6): the node's counters as JSON, plus memory and per-command counts with
 * `isDebug`.
 *
 * @example
 * ```ts
 * const state = nodeState({ nodeId, httpUrl, mode: "embedded", store, hub, lifecycle, metrics, clock, startedAt,
 *   draining: () => false }, false);
 * ```
 * @module
 */
import type { Hub } from "../session/hub.ts";
import type { Lifecycle } from "../session/lifecycle.ts";
import type { Store } from "../store/store.ts";
import type { Clock } from "../util/clock.ts";
import type { Metrics } from "./metrics.ts";

/** What the state is read from. */
export interface NodeStateSources {
  nodeId: string;
  /** `app.httpUrl`: the public address of the HTTP API. */
  httpUrl: string;
  mode: "embedded" | "cluster";
  store: Store;
  hub: Hub;
  lifecycle: Lifecycle;
  metrics: Metrics;
  clock: Clock;
  startedAt: number;
  draining: () => boolean;
}

/** The state of this node now. */
export function nodeState(s: NodeStateSources, debug: boolean): Record<string, unknown> {
  return {
    nodeId: s.nodeId,
    httpUrl: s.httpUrl,
    mode: s.mode,
    store: s.store.kind,
    uptimeSeconds: Math.round((s.clock.now() - s.startedAt) / 1000),
    connections: s.hub.size,
    loggedIn: s.hub.loggedIn,
    users: s.hub.users,
    eventQueueLength: s.lifecycle.queueLength,
    draining: s.draining(),
    denoVersion: Deno.version.deno,
    ...(debug
      ? {
        memory: Deno.memoryUsage(),
        commands: s.metrics.render().split("\n").filter((l) => l.startsWith("im_frames_in_total")),
      }
      : {}),
  };
}
