/**
 * Graceful drain (SIGTERM; SIGINT stays the quick 1001 shutdown):
 *
 * 1. `ctx.draining = true`: `/readyz` answers 503, new WebSocket upgrades get 503, logins get 1024.
 * 2. Every connection gets a `reconnect` push `{retryMs, reason}` with `retryMs` spread uniformly over
 *    `drain.window`, then is closed with 1012 (service restart) and the same hint in the reason
 *    (`server restarting; retry in 1234 ms`), so a node's clients come back spread out instead of
 *    all at once. Their inboxes are already durable (messages are appended before delivery), and a
 *    client that logs in again with `lastSeq` gets the gap replayed: nothing is lost.
 * 3. The server shuts down: listeners stop, the manager applies every queued unregister (presence is
 *    removed at once, offline webhooks are queued), the bus and the store close.
 * 4. All of that must fit in `drain.deadline`; {@linkcode drainServer} reports whether it did and the
 *    caller (src/main.ts) exits 0 on time, 1 when it had to give up.
 *
 * @example
 * ```ts
 * Deno.addSignalListener("SIGTERM", async () => Deno.exit((await drainServer(server)).onTime ? 0 : 1));
 * ```
 * @module
 */
import { CloseCode, encodePush } from "./protocol.ts";
import type { RunningServer } from "./server.ts";

/** Options of {@linkcode drainServer}; defaults come from the `drain` config section. */
export interface DrainOptions {
  /** Spread of the reconnect hints (ms); default `drain.window` × 1000. */
  windowMs?: number;
  /** Longest drain (ms); default `drain.deadline` × 1000. */
  deadlineMs?: number;
  /** Injectable for tests: uniform in [0, 1). */
  random?: () => number;
}

/** What a drain did. */
export interface DrainReport {
  /** Connections told to reconnect and closed with 1012. */
  clients: number;
  /** True when the shutdown finished within the deadline. */
  onTime: boolean;
  /** How long it took (ms, wall clock). */
  elapsedMs: number;
}

/** The reason text of the 1012 close: the hint is repeated for clients that only see the close. */
export function drainCloseReason(retryMs: number): string {
  return `server restarting; retry in ${retryMs} ms`;
}

/** Tell every client to reconnect later and close it with 1012; returns how many were told. */
export function sendReconnects(server: RunningServer, windowMs: number, random = Math.random): number {
  const { manager } = server.ctx;
  let n = 0;
  for (const client of [...manager.clients.values()]) {
    if (!client.open) continue;
    const retryMs = Math.floor(random() * windowMs);
    // A push, not a reply: same envelope as other pushes (seq = server id, code 200).
    client.send(encodePush("reconnect", { retryMs, reason: "server restarting" }));
    client.close(CloseCode.ServiceRestart, drainCloseReason(retryMs));
    n++;
  }
  return n;
}

/**
 * Drain and stop `server`. Idempotent in effect: a second call while draining joins the shutdown
 * already under way.
 */
export async function drainServer(server: RunningServer, options: DrainOptions = {}): Promise<DrainReport> {
  const { ctx } = server;
  const started = performance.now();
  const windowMs = options.windowMs ?? ctx.config.drain.window * 1000;
  const deadlineMs = options.deadlineMs ?? ctx.config.drain.deadline * 1000;
  ctx.draining = true;
  ctx.log.info("draining {nodeId}: {n} connections, window {windowMs} ms", {
    nodeId: ctx.nodeId,
    n: ctx.manager.clients.size,
    windowMs,
  });
  const clients = sendReconnects(server, windowMs, options.random);
  // Let the close handshakes finish so every unregister (presence removal, offline webhook) goes
  // through the manager before it stops; a peer that never answers costs at most half the deadline.
  await closed(server, deadlineMs / 2);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), deadlineMs));
  const onTime = await Promise.race([
    server.shutdown("server restarting").then(() => true as const),
    late,
  ]);
  clearTimeout(timer);
  const elapsedMs = Math.round(performance.now() - started);
  if (onTime) ctx.log.info("drained {nodeId} in {elapsedMs} ms", { nodeId: ctx.nodeId, elapsedMs });
  else {ctx.log.error("drain of {nodeId} passed its {deadlineMs} ms deadline", {
      nodeId: ctx.nodeId,
      deadlineMs,
    });}
  return { clients, onTime, elapsedMs };
}

/** Resolve when the node holds no connection any more, or after `maxMs`. */
async function closed(server: RunningServer, maxMs: number): Promise<void> {
  const { manager } = server.ctx;
  const until = performance.now() + maxMs;
  while (manager.clients.size > 0 && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
}
