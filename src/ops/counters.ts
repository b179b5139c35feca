/**
 * The counters every part of the server increments, created once per server in its {@linkcode Metrics}.
 * Label values are fixed sets (command names, codes, reason names), never free text.
 *
 * @example
 * ```ts
 * const counters = createCounters(new Metrics());
 * counters.closes.inc({ reason: "slow consumer" });
 * ```
 * @module
 */
import type { Counter, Metrics } from "./metrics.ts";

/** The counters of one server. */
export interface ServerCounters {
  connections: Counter;
  logins: Counter;
  frames: Counter;
  errors: Counter;
  messages: Counter;
  deliveries: Counter;
  drops: Counter;
  slowConsumers: Counter;
  closes: Counter;
  closeAborts: Counter;
  http: Counter;
  presencePushes: Counter;
}

/** Create the server counters in `metrics`. */
export function createCounters(metrics: Metrics): ServerCounters {
  return {
    connections: metrics.counter("im_connections_total", "WebSocket connections accepted"),
    logins: metrics.counter("im_logins_total", "Login attempts by result", ["result"]),
    frames: metrics.counter("im_frames_in_total", "Request frames received by command", ["cmd"]),
    errors: metrics.counter("im_errors_total", "Error replies by code", ["code"]),
    messages: metrics.counter("im_messages_total", "Messages accepted by kind", ["kind"]),
    deliveries: metrics.counter("im_inbox_appends_total", "Inbox entries appended (one per recipient)"),
    drops: metrics.counter("im_drops_total", "Frames or deliveries dropped by reason", ["reason"]),
    slowConsumers: metrics.counter("im_slow_consumer_closes_total", "Connections closed as slow consumers"),
    closes: metrics.counter("im_closes_total", "Connections closed by reason", ["reason"]),
    closeAborts: metrics.counter(
      "im_close_aborts_total",
      "Closes the peer did not answer within heartbeat.closeGrace: the connection was aborted",
    ),
    http: metrics.counter("im_http_requests_total", "HTTP API requests by route", ["path"]),
    presencePushes: metrics.counter("im_presence_frames_total", "enter/exit/presence frames sent"),
  };
}
