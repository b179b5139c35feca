/**
 * `GET /metrics`: the node's registry (src/metrics.ts) in Prometheus text format 0.0.4, plus the
 * operational gauges registered here (process memory, uptime, draining, connection caps).
 * Counters live in src/context.ts `createCounters`; other modules add their own series to the same
 * registry (Redis calls in src/store/redis.ts, webhooks in src/webhooks.ts).
 *
 * @example
 * ```ts
 * registerOperationalGauges(ctx);
 * const res = metricsResponse(ctx); // text/plain; version=0.0.4
 * ```
 * @module
 */
import type { ServerContext } from "../context.ts";

/** The Prometheus text content type. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Gauges read at scrape time that no other module owns. Idempotent: a gauge of the same name is
 * replaced, so calling it twice is harmless.
 */
export function registerOperationalGauges(ctx: ServerContext): void {
  const { metrics } = ctx;
  // One memoryUsage() call per scrape would be nicer, but the registry reads gauges one by one;
  // the call costs microseconds.
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
    () => Math.round((ctx.clock.now() - ctx.startedAt) / 1000),
  );
  metrics.gauge("im_draining", "1 while the node drains (readyz answers 503)", () => ctx.draining ? 1 : 0);
  // Inbox sizes: only a store that can count them cheaply (memory) exposes inboxStats; Redis does not
  // (it would need a SCAN per scrape).
  const store = ctx.store as { inboxStats?: { inboxes: number; entries: number } };
  if (store.inboxStats !== undefined) {
    metrics.gauge("im_inboxes", "Inboxes held by the store", () => store.inboxStats!.inboxes);
    metrics.gauge("im_inbox_entries", "Entries in all inboxes", () => store.inboxStats!.entries);
  }
  metrics.gauge(
    "im_limit_tracked_connections",
    "Connections counted against limits.maxConnections",
    () => ctx.limits?.connections ?? 0,
  );
}

/** The `/metrics` response: every series of the node's registry. */
export function metricsResponse(ctx: ServerContext, method = "GET"): Response {
  const body = ctx.metrics.render();
  return new Response(method === "HEAD" ? null : body, {
    status: 200,
    headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
  });
}
