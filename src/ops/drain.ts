/**
 * Graceful drain (SIGTERM; SIGINT stays the quick 1001 shutdown):
 *
 * 1. the node is marked draining: `/readyz` answers 503, new WebSocket upgrades get 503, logins get 1024.
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
 * Deno.addSignalListener("SIGTERM", async () => Deno.exit((await server.drain()).onTime ? 0 : 1));
 * ```
 * @module
 */
import { CloseCode } from "../protocol/codes.ts";
import type { Pushes } from "../protocol/pushes.ts";
import type { Connection } from "../session/connection.ts";
import type { Logger } from "./log.ts";

/** Options of a drain; defaults come from the `drain` config section. */
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

/** What a drain works on. */
export interface DrainTarget {
  nodeId: string;
  log: Logger;
  pushes: Pushes;
  /** Config `drain.window` / `drain.deadline` in ms. */
  windowMs: number;
  deadlineMs: number;
  /** Open connections now. */
  connections(): Iterable<Connection>;
  /** Mark the node draining (readyz 503, upgrades and logins refused). */
  startDraining(): void;
  /** The full shutdown (listeners, lifecycle, bus, store). */
  shutdown(reason: string): Promise<void>;
}

/** The reason text of the 1012 close: the hint is repeated for clients that only see the close. */
function drainCloseReason(retryMs: number): string {
  return `server restarting; retry in ${retryMs} ms`;
}

/** Tell every client to reconnect later and close it with 1012; returns how many were told. */
function sendReconnects(target: DrainTarget, windowMs: number, random = Math.random): number {
  let n = 0;
  for (const conn of [...target.connections()]) {
    if (!conn.open) continue;
    const retryMs = Math.floor(random() * windowMs);
    conn.send(target.pushes.reconnect(retryMs, "server restarting"));
    conn.close(CloseCode.ServiceRestart, "server restarting", drainCloseReason(retryMs));
    n++;
  }
  return n;
}

function count(target: DrainTarget): number {
  let n = 0;
  for (const _ of target.connections()) n++;
  return n;
}

/**
 * Drain and stop. Idempotent in effect: a second call while draining joins the shutdown under way.
 */
export async function drain(target: DrainTarget, options: DrainOptions = {}): Promise<DrainReport> {
  const started = performance.now();
  const windowMs = options.windowMs ?? target.windowMs;
  const deadlineMs = options.deadlineMs ?? target.deadlineMs;
  target.startDraining();
  target.log.info("draining {nodeId}: {n} connections, window {windowMs} ms", {
    nodeId: target.nodeId,
    n: count(target),
    windowMs,
  });
  const clients = sendReconnects(target, windowMs, options.random);
  // Let the close handshakes finish so every unregister (presence removal, offline webhook) goes
  // through the lifecycle before it stops; a peer that never answers costs at most half the deadline.
  const until = performance.now() + deadlineMs / 2;
  while (count(target) > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), deadlineMs));
  const onTime = await Promise.race([target.shutdown("server restarting").then(() => true as const), late]);
  clearTimeout(timer);
  const elapsedMs = Math.round(performance.now() - started);
  if (onTime) target.log.info("drained {nodeId} in {elapsedMs} ms", { nodeId: target.nodeId, elapsedMs });
  else {target.log.error("drain of {nodeId} passed its {deadlineMs} ms deadline", {
      nodeId: target.nodeId,
      deadlineMs,
    });}
  return { clients, onTime, elapsedMs };
}
