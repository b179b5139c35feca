/**
 * What a cluster node asks of this node's session layer ({@linkcode NodeHandlers}): kick a user's
 * connections for a newer login elsewhere, push other nodes' presence changes, announce users of a dead
 * node as gone, close everything when the store's sequence restarted, replay everything after Redis
 * came back.
 *
 * @example
 * ```ts
 * await cluster.start(nodeHandlers({ hub, lifecycle, presencePushes, reaped: () => {} }));
 * ```
 * @module
 */
import { CloseCode } from "../protocol/codes.ts";
import type { Hub } from "../session/hub.ts";
import type { Lifecycle } from "../session/lifecycle.ts";
import type { PresencePushes } from "../session/presence_pushes.ts";
import type { NodeHandlers } from "./node.ts";

/** The session objects the handlers act on. */
export interface NodeHandlerDeps {
  hub: Hub;
  lifecycle: Lifecycle;
  presencePushes: PresencePushes;
  /** A user went offline because its node died (e.g. the offline webhook). */
  reaped: (appId: number, userId: string) => void;
}

/** The handlers of this node. */
export function nodeHandlers(d: NodeHandlerDeps): NodeHandlers {
  const { hub, lifecycle, presencePushes } = d;
  return {
    kick: (appId, userId, keep) => {
      for (const conn of [...hub.connectionsOf(appId, userId) ?? []]) {
        if (conn.id !== keep) lifecycle.kick(conn, "logged in elsewhere");
      }
    },
    presence: (appId, changes) => presencePushes.remote(appId, changes),
    reaped: (appId, userId) => {
      d.reaped(appId, userId);
      presencePushes.local(appId, userId, "exit");
    },
    storageReset: () => {
      for (const conn of [...hub.connections()]) {
        lifecycle.close(conn, CloseCode.ServiceRestart, "storage reset", "storage reset; reconnect");
      }
    },
    replayAll: () => {
      for (const conn of hub.connections()) {
        if (conn.identity && conn.open) conn.delivery.replay().catch(() => {});
      }
    },
  };
}
