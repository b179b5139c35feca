/**
 * The Bus moves frames to connections wherever they are. Embedded mode uses
 * {@linkcode LocalBus} (straight into this node's manager); cluster mode swaps in the
 * Redis bus, which routes to the nodes that hold a user. Handlers only see this interface.
 *
 * @example
 * ```ts
 * const bus = new LocalBus(manager);
 * await bus.deliver(101, "bob", entry, frame);
 * ```
 * @module
 */
import type { ClientManager } from "./manager.ts";
import type { InboxEntry } from "./store/store.ts";

/** Routing of pushes to connections (this node or others). */
export interface Bus {
  /**
   * Deliver an inbox entry to every connection of a user; the origin connection (the sender's
   * own) only advances its cursor. Resolves to true when the user had a connection.
   */
  deliver(
    appId: number,
    userId: string,
    entry: InboxEntry,
    text: string,
    originConnId?: string,
  ): Promise<boolean>;
  /** An ephemeral frame (receipts, room events, kicks) to every connection of a user. */
  sendToUser(appId: number, userId: string, text: string, exceptConnId?: string): void;
  /** A frame to every logged-in connection of an app. */
  sendToApp(appId: number, text: string, exceptConnId?: string): void;
  /** Kick a user's connections on other nodes (multiDevice: single). */
  kickElsewhere(appId: number, userId: string, keepConnId: string): void;
  /** Stop routing. */
  close(): Promise<void>;
}

/** Single-node bus: everything is local. */
export class LocalBus implements Bus {
  constructor(readonly manager: ClientManager) {}

  deliver(
    appId: number,
    userId: string,
    entry: InboxEntry,
    text: string,
    originConnId?: string,
  ): Promise<boolean> {
    return Promise.resolve(this.manager.deliverEntry(appId, userId, entry, text, originConnId) > 0);
  }

  sendToUser(appId: number, userId: string, text: string, exceptConnId?: string): void {
    this.manager.sendToUser(appId, userId, text, exceptConnId);
  }

  sendToApp(appId: number, text: string, exceptConnId?: string): void {
    this.manager.sendToApp(appId, text, exceptConnId);
  }

  kickElsewhere(): void {
    // one node: the manager already kicked the local connections
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
