/**
 * What an operator can do from the console: send a message to a user, kick one connection, disconnect
 * every device of a user — on whichever node the connections are (the bus carries the request to the
 * nodes that hold the user, cluster/wire.ts `x`). Closed connections get a `kick` push and close 4010.
 * Every action is written as one audit line (logger `["imserver", "audit"]`) naming the admin key by
 * its fingerprint, never the key, and counted in `im_admin_actions_total{action}`.
 *
 * @example
 * ```ts
 * const actions = new AdminActions({ hub, lifecycle, bus, messenger, pushes, metrics, audit, nodeId });
 * await actions.disconnect({ fingerprint: "3f2a…" }, 101, "bob"); // { closed: 2, nodes: 1 }
 * ```
 * @module
 */
import type { RouteCaller } from "../http/routes.ts";
import type { DirectResult, Messenger } from "../messaging/send.ts";
import type { Logger } from "../ops/log.ts";
import type { Counter, Metrics } from "../ops/metrics.ts";
import { CloseCode } from "../protocol/codes.ts";
import type { Pushes } from "../protocol/pushes.ts";
import type { Bus } from "../session/bus.ts";
import type { Hub } from "../session/hub.ts";
import type { Lifecycle } from "../session/lifecycle.ts";

/** The reason text of an operator's close (push `kick` and the close frame). */
export const ADMIN_CLOSE_REASON = "disconnected by an operator";

/** What the actions need. */
export interface AdminActionDeps {
  hub: Hub;
  lifecycle: Pick<Lifecycle, "close">;
  bus: Pick<Bus, "disconnectElsewhere">;
  messenger: Pick<Messenger, "direct">;
  pushes: Pick<Pushes, "kick">;
  metrics: Metrics;
  /** The audit logger (`["imserver", "audit"]`). */
  audit: Logger;
  nodeId: string;
}

/** Outcome of a kick or a disconnect. */
export interface CloseResult {
  appId: number;
  userId: string;
  /** Connections closed on this node. */
  closed: number;
  /** Other nodes asked to close theirs. */
  nodes: number;
}

/** A message an operator sends. */
export interface AdminSend {
  appId: number;
  userId: string;
  msg: string;
  /** Sender shown to the user ("" = a system message, as backend sends without `from`). */
  from: string;
  type?: string;
}

/** The console's actions. */
export class AdminActions {
  readonly #d: AdminActionDeps;
  readonly #count: Counter;

  constructor(deps: AdminActionDeps) {
    this.#d = deps;
    this.#count = deps.metrics.counter("im_admin_actions_total", "Admin console actions by kind", ["action"]);
  }

  /** Send `msg` to a user's inbox (and live connections). */
  send(caller: RouteCaller, s: AdminSend): Promise<DirectResult> {
    return this.#audited("send", caller, s.appId, s.userId, "", async () => {
      const r = await this.#d.messenger.direct({
        appId: s.appId,
        to: s.userId,
        from: s.from,
        msg: s.msg,
        type: s.type,
      });
      return { result: r, summary: `seq ${r.seq}, ${r.delivered ? "delivered" : "stored"}` };
    });
  }

  /** Close one connection of a user, here or on the node that holds it. */
  kick(caller: RouteCaller, appId: number, userId: string, connId: string): Promise<CloseResult> {
    return this.#audited("kick", caller, appId, userId, connId, async () => {
      const closed = this.closeLocal(appId, userId, connId);
      const nodes = closed > 0 ? 0 : await this.#d.bus.disconnectElsewhere(appId, userId, connId);
      return { result: { appId, userId, closed, nodes }, summary: `${closed} here, ${nodes} nodes told` };
    });
  }

  /** Close every connection of a user on every node. */
  disconnect(caller: RouteCaller, appId: number, userId: string): Promise<CloseResult> {
    return this.#audited("disconnect", caller, appId, userId, "", async () => {
      const closed = this.closeLocal(appId, userId, "");
      const nodes = await this.#d.bus.disconnectElsewhere(appId, userId, "");
      return { result: { appId, userId, closed, nodes }, summary: `${closed} here, ${nodes} nodes told` };
    });
  }

  /**
   * Close this node's connection `connId` of the user ("" = all of them) with a `kick` push and 4010;
   * returns how many. Remote requests (the bus) land here too.
   */
  closeLocal(appId: number, userId: string, connId: string): number {
    let n = 0;
    for (const conn of [...this.#d.hub.connectionsOf(appId, userId) ?? []]) {
      if (connId !== "" && conn.id !== connId) continue;
      conn.send(this.#d.pushes.kick(ADMIN_CLOSE_REASON));
      this.#d.lifecycle.close(conn, CloseCode.AdminDisconnect, "admin disconnect", ADMIN_CLOSE_REASON);
      n++;
    }
    return n;
  }

  async #audited<T>(
    action: string,
    caller: RouteCaller,
    appId: number,
    userId: string,
    connId: string,
    run: () => Promise<{ result: T; summary: string }>,
  ): Promise<T> {
    this.#count.inc({ action });
    const props = {
      action,
      keyFingerprint: caller.fingerprint,
      appId,
      userId,
      connId: connId || "all",
      nodeId: this.#d.nodeId,
    };
    try {
      const { result, summary } = await run();
      this.#d.audit.info(
        "admin {action} by key {keyFingerprint} on {nodeId}: app {appId} user {userId} conn {connId}: {summary}",
        { ...props, summary },
      );
      return result;
    } catch (error) {
      this.#d.audit.warning(
        "admin {action} by key {keyFingerprint} on {nodeId}: app {appId} user {userId} conn {connId} failed: {error}",
        { ...props, error: String((error as Error)?.message ?? error) },
      );
      throw error;
    }
  }
}
