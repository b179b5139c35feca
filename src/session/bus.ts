/**
 * The Bus moves pushes to connections wherever they are. Embedded mode uses {@linkcode LocalBus}
 * (straight into this node's hub); cluster mode uses `cluster/bus.ts`, which also publishes to the nodes
 * that hold a user. Senders and the lifecycle only see this interface.
 *
 * @example
 * ```ts
 * const bus = new LocalBus(hub);
 * await bus.deliver(101, "bob", entry, frame);
 * ```
 * @module
 */
import type { InboxEntry } from "../store/store.ts";
import type { Hub } from "./hub.ts";

/** Routing of pushes to connections (this node or others). */
export interface Bus {
  /**
   * Deliver an inbox entry to every connection of a user; the origin connection (the sender's own) only
   * passes it. Resolves to true when the user had a connection somewhere.
   */
  deliver(
    appId: number,
    userId: string,
    entry: InboxEntry,
    text: string,
    originConnId?: string,
  ): Promise<boolean>;
  /** An ephemeral frame (receipts, room events) to every connection of a user. */
  sendToUser(appId: number, userId: string, text: string, exceptConnId?: string): void;
  /** Kick a user's connections on other nodes (multiDevice: single). */
  kickElsewhere(appId: number, userId: string, keepConnId: string): void;
  /**
   * Ask the other nodes holding the user to close its connection `connId` ("" = every one) with 4010 (an
   * operator's disconnect, src/admin/actions.ts); resolves to how many nodes were told.
   */
  disconnectElsewhere(appId: number, userId: string, connId: string): Promise<number>;
  /** Tell the other nodes about presence changes of an app (they push them to their connections). */
  publishPresence(appId: number, changes: Record<string, "enter" | "exit">): void;
  /** Stop routing. */
  close(): Promise<void>;
}

/** Single-node bus: everything is local. */
export class LocalBus implements Bus {
  constructor(readonly hub: Hub) {}

  deliver(
    appId: number,
    userId: string,
    entry: InboxEntry,
    text: string,
    originConnId?: string,
  ): Promise<boolean> {
    return Promise.resolve(this.hub.deliver(appId, userId, entry, text, originConnId) > 0);
  }

  sendToUser(appId: number, userId: string, text: string, exceptConnId?: string): void {
    this.hub.sendToUser(appId, userId, text, exceptConnId);
  }

  kickElsewhere(): void {
    // one node: the lifecycle already kicked the local connections
  }

  disconnectElsewhere(): Promise<number> {
    return Promise.resolve(0); // one node: the admin actions closed the local connections
  }

  publishPresence(): void {
    // one node: nobody else to tell
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
