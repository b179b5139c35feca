/**
 * Gauges read at scrape time that describe the process and the node as a whole (memory, uptime,
 * draining, connection counts). Other modules register their own series in the same registry.
 *
 * @example
 * ```ts
 * registerNodeGauges(metrics, { startedAt, clock, draining: () => false, ... });
 * ```
 * @module
 */
import type { Clock } from "../util/clock.ts";
import type { Metrics } from "./metrics.ts";

/** What the node gauges read. */
export interface NodeGaugeSources {
  clock: Clock;
  startedAt: number;
  draining: () => boolean;
  connections: () => number;
  loggedIn: () => number;
  /** Connections counted against limits.maxConnections. */
  admitted: () => number;
  /** Lifecycle events waiting or being applied. */
  lifecycleQueue: () => number;
  /** Inbox counts, when the store can tell cheaply (memory store). */
  inboxStats?: () => { inboxes: number; entries: number };
}

/** Register the process and node gauges. */
export function registerNodeGauges(metrics: Metrics, s: NodeGaugeSources): void {
  metrics.gauge("im_process_rss_bytes", "Resident set size", () => Deno.memoryUsage().rss);
  metrics.gauge("im_process_heap_used_bytes", "V8 heap used", () => Deno.memoryUsage().heapUsed);
  metrics.gauge("im_process_heap_total_bytes", "V8 heap total", () => Deno.memoryUsage().heapTotal);
  metrics.gauge(
    "im_process_external_bytes",
    "Memory held outside the V8 heap",
    () => Deno.memoryUsage().external,
  );
  metrics.gauge(
    "im_uptime_seconds",
    "Seconds since the node started",
    () => Math.round((s.clock.now() - s.startedAt) / 1000),
  );
  metrics.gauge("im_draining", "1 while the node drains (readyz answers 503)", () => s.draining() ? 1 : 0);
  metrics.gauge("im_connections", "Open WebSocket connections", s.connections);
  metrics.gauge("im_logged_in_connections", "Logged-in connections", s.loggedIn);
  metrics.gauge(
    "im_limit_tracked_connections",
    "Connections counted against limits.maxConnections",
    s.admitted,
  );
  metrics.gauge("im_event_queue_length", "Lifecycle events waiting or being applied", s.lifecycleQueue);
  const stats = s.inboxStats;
  if (stats) {
    metrics.gauge("im_inboxes", "Inboxes held by the store", () => stats().inboxes);
    metrics.gauge("im_inbox_entries", "Entries in all inboxes", () => stats().entries);
  }
}
