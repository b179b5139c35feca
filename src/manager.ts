/**
 * ClientManager: every connection of this node, indexed by user and app. Lifecycle events
 * (register, unregister, login, logout) arrive through one {@linkcode Channel} and are applied
 * one at a time, so presence writes happen in order: a late unregister of an old connection
 * can never undo a newer login. Delivery (the hot path) reads the indexes directly.
 *
 * @example
 * ```ts
 * const manager = new ClientManager(options);
 * manager.start();
 * await manager.register(client);
 * await manager.login(client, { userId: "alice", appId: 101, loginTime: Date.now() });
 * ```
 * @module
 */
import { Channel } from "./channel.ts";
import type { Client, Identity } from "./client.ts";
import type { Clock } from "./clock.ts";
import { ImError } from "./errors.ts";
import { CloseCode, Code, encodePush } from "./protocol.ts";
import type { InboxEntry, PresenceEntry, Store } from "./store/store.ts";
import type { Logger } from "./log.ts";

type Event =
  | { kind: "register"; client: Client; done: Done }
  | { kind: "unregister"; client: Client; done: Done }
  | { kind: "login"; client: Client; identity: Identity; done: Done }
  | { kind: "logout"; client: Client; done: Done };

type Done = (error?: unknown) => void;

/** Hooks the manager calls out to (cluster broadcast, webhooks, replay). */
export interface ManagerHooks {
  /** Push a frame to every logged-in connection of an app on all nodes, except one connection. */
  broadcastApp(appId: number, text: string, exceptConnId?: string): void;
  /** Ask other nodes to kick a user's older connections (multiDevice: single). */
  kickElsewhere?(appId: number, userId: string, keepConnId: string): void;
  /** A user's first connection in an app appeared / last one went (all nodes). */
  onOnline?(appId: number, userId: string): void;
  onOffline?(appId: number, userId: string): void;
  /** A live delivery found a gap in a connection's inbox cursor: replay from the store. */
  onGap?(client: Client): void;
}

/** Construction options of {@linkcode ClientManager}. */
export interface ManagerOptions {
  nodeId: string;
  store: Store;
  clock: Clock;
  log: Logger;
  multiDevice: "multi" | "single";
  enterExitPushes: boolean;
  /** Close connections whose last heartbeat is older than this (ms). */
  heartbeatTimeoutMs: number;
  /** Window in which a user counts as online (ms). */
  onlineWindowMs: number;
  hooks: ManagerHooks;
  /** Event channel capacity. */
  capacity?: number;
}

const userKey = (appId: number, userId: string) => `${appId}\u0000${userId}`;

/** All connections of this node. */
export class ClientManager {
  readonly #opts: ManagerOptions;
  readonly #events: Channel<Event>;
  readonly clients = new Map<string, Client>();
  readonly #users = new Map<string, Set<Client>>();
  readonly #apps = new Map<number, Set<Client>>();
  #loop: Promise<void> | undefined;

  constructor(options: ManagerOptions) {
    this.#opts = options;
    this.#events = new Channel(options.capacity ?? 4096);
  }

  /** Start consuming lifecycle events. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stop accepting events and wait until the queued ones are applied. */
  async stop(): Promise<void> {
    this.#events.close();
    await this.#loop;
  }

  /** Events waiting in the channel (a metric). */
  get queueLength(): number {
    return this.#events.size;
  }

  /** Number of logged-in connections. */
  get loggedInCount(): number {
    let n = 0;
    for (const set of this.#apps.values()) n += set.size;
    return n;
  }

  /** Number of distinct (appId, userId) pairs connected to this node. */
  get userCount(): number {
    return this.#users.size;
  }

  /** Track a new connection. */
  register(client: Client): Promise<void> {
    return this.#submit((done) => ({ kind: "register", client, done }));
  }

  /** Forget a closed connection (its presence goes; exit is pushed if it was the user's last). */
  unregister(client: Client): Promise<void> {
    return this.#submit((done) => ({ kind: "unregister", client, done }));
  }

  /** Apply a login; resolves once presence is written and `enter` pushed. */
  login(client: Client, identity: Identity): Promise<void> {
    return this.#submit((done) => ({ kind: "login", client, identity, done }));
  }

  /** Return a connection to the not-logged-in state. */
  logout(client: Client): Promise<void> {
    return this.#submit((done) => ({ kind: "logout", client, done }));
  }

  #submit(make: (done: Done) => Event): Promise<void> {
    return new Promise((resolve, reject) => {
      const event = make((error) => error === undefined ? resolve() : reject(error));
      this.#events.send(event).catch(reject);
    });
  }

  async #run(): Promise<void> {
    for await (const event of this.#events) {
      try {
        await this.#apply(event);
        event.done();
      } catch (error) {
        if (error instanceof ImError) {
          this.#opts.log.debug("manager event {kind}: {error}", { kind: event.kind, error: error.message });
        } else this.#opts.log.error("manager event {kind} failed: {error}", { kind: event.kind, error });
        event.done(error);
      }
    }
  }

  async #apply(event: Event): Promise<void> {
    const { client } = event;
    switch (event.kind) {
      case "register":
        this.clients.set(client.id, client);
        return;
      case "unregister":
        this.clients.delete(client.id);
        await this.#detach(client);
        return;
      case "login":
        if (!this.clients.has(client.id)) {
          throw new ImError(Code.OperationFailure, "connection closed before login completed");
        }
        await this.#attach(client, event.identity);
        return;
      case "logout":
        await this.#detach(client);
        return;
    }
  }

  async #attach(client: Client, identity: Identity): Promise<void> {
    const { appId, userId } = identity;
    const { hooks, store, nodeId } = this.#opts;
    const k = userKey(appId, userId);
    if (this.#opts.multiDevice === "single") {
      for (const older of this.#users.get(k) ?? []) this.kick(older, "logged in elsewhere");
      hooks.kickElsewhere?.(appId, userId, client.id);
    }
    client.identity = identity;
    let conns = this.#users.get(k);
    if (!conns) this.#users.set(k, conns = new Set());
    conns.add(client);
    let app = this.#apps.get(appId);
    if (!app) this.#apps.set(appId, app = new Set());
    app.add(client);
    // The "was the user online already?" read costs a store round trip per login: only pay it
    // when someone listens for the online event.
    const wasOnline = hooks.onOnline ? (await store.presence(appId, userId, Infinity)).length > 0 : true;
    await store.addPresence(this.#presenceOf(client, identity, nodeId));
    if (!wasOnline) hooks.onOnline?.(appId, userId);
    if (this.#opts.enterExitPushes) {
      hooks.broadcastApp(
        appId,
        encodePush("enter", { target: "", type: "enter", msg: "", from: userId }),
        client.id,
      );
    }
  }

  async #detach(client: Client): Promise<void> {
    const identity = client.identity;
    if (!identity) return;
    client.identity = undefined;
    const { appId, userId } = identity;
    const k = userKey(appId, userId);
    const conns = this.#users.get(k);
    conns?.delete(client);
    if (conns?.size === 0) this.#users.delete(k);
    const app = this.#apps.get(appId);
    app?.delete(client);
    if (app?.size === 0) this.#apps.delete(appId);
    const { store, hooks } = this.#opts;
    await store.removePresence(appId, userId, client.id);
    if ((await store.presence(appId, userId, Infinity)).length > 0) return;
    hooks.onOffline?.(appId, userId);
    if (this.#opts.enterExitPushes) {
      hooks.broadcastApp(appId, encodePush("exit", { target: "", type: "exit", msg: "", from: userId }));
    }
  }

  #presenceOf(client: Client, identity: Identity, nodeId: string): PresenceEntry {
    return {
      appId: identity.appId,
      userId: identity.userId,
      connId: client.id,
      nodeId,
      since: identity.loginTime,
      heartbeatAt: client.heartbeatAt,
      deviceId: identity.deviceId,
      platform: identity.platform,
    };
  }

  /** Push `kick` and close with 4000 (multiDevice: single). */
  kick(client: Client, reason: string): void {
    client.send(encodePush("kick", { target: "", type: "kick", msg: reason, from: "" }));
    client.close(CloseCode.Kicked, reason);
    this.#forget(client);
  }

  /**
   * Unregister a connection the server closed without waiting for its close event: a peer that
   * never reads never completes the close handshake, and must not stay online meanwhile.
   */
  #forget(client: Client): void {
    this.unregister(client).catch(() => {});
  }

  /** Local connections of a user. */
  connectionsOf(appId: number, userId: string): ReadonlySet<Client> | undefined {
    return this.#users.get(userKey(appId, userId));
  }

  /**
   * Deliver an inbox entry to the user's local connections (the origin connection only advances);
   * returns how many local connections the user has, which is what the buses need to know.
   */
  deliverEntry(
    appId: number,
    userId: string,
    entry: InboxEntry,
    text: string,
    originConnId?: string,
  ): number {
    const conns = this.#users.get(userKey(appId, userId));
    if (!conns) return 0;
    for (const client of conns) {
      const result = client.deliver(entry, client.id === originConnId ? undefined : text);
      if (result === "gap") this.#opts.hooks.onGap?.(client);
    }
    return conns.size;
  }

  /** Send a frame to the user's local connections (except one); returns how many got it. */
  sendToUser(appId: number, userId: string, text: string, exceptConnId?: string): number {
    let sent = 0;
    for (const client of this.#users.get(userKey(appId, userId)) ?? []) {
      if (client.id !== exceptConnId && client.send(text)) sent++;
    }
    return sent;
  }

  /** Send a frame to every local logged-in connection of an app (except one). */
  sendToApp(appId: number, text: string, exceptConnId?: string): number {
    let sent = 0;
    for (const client of this.#apps.get(appId) ?? []) {
      if (client.id !== exceptConnId && client.send(text)) sent++;
    }
    return sent;
  }

  /** Logged-in local connections of an app. */
  appConnections(appId: number): ReadonlySet<Client> | undefined {
    return this.#apps.get(appId);
  }

  /** Apps with logged-in local connections. */
  appIds(): number[] {
    return [...this.#apps.keys()];
  }

  /**
   * One sweep: close connections whose heartbeat is older than the timeout and return the
   * presence of the rest, for the store's batched refresh.
   */
  sweep(): PresenceEntry[] {
    const now = this.#opts.clock.now();
    const deadline = now - this.#opts.heartbeatTimeoutMs;
    const live: PresenceEntry[] = [];
    for (const client of this.clients.values()) {
      if (client.heartbeatAt < deadline) {
        client.close(CloseCode.HeartbeatTimeout, "heartbeat timeout");
        this.#forget(client);
      } else if (client.identity) {
        live.push(this.#presenceOf(client, client.identity, this.#opts.nodeId));
      }
    }
    return live;
  }
}
