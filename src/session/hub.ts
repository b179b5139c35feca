/**
 * The local hub: every connection of this node, indexed by user and by app, and local fan-out to them.
 * The indexes are written only by the lifecycle (session/lifecycle.ts); delivery (the hot path) reads
 * them directly. The cluster bus depends on the hub, never the other way round.
 *
 * @example
 * ```ts
 * const hub = new Hub();
 * hub.add(conn);
 * hub.bind(conn, { userId: "bob", appId: 101, loginTime: now });
 * hub.deliver(101, "bob", entry, frame); // 1 connection
 * ```
 * @module
 */
import type { InboxEntry } from "../store/store.ts";
import type { Connection, Identity } from "./connection.ts";

/** The key of a user within an app: the same userId in two apps is two users. */
export const userKey = (appId: number, userId: string): string => `${appId}\u0000${userId}`;

/** Connections of this node. */
export class Hub {
  readonly #conns = new Map<string, Connection>();
  readonly #users = new Map<string, Set<Connection>>();
  readonly #apps = new Map<number, Set<Connection>>();
  #pushed = 0;

  /** Open connections (logged in or not). */
  get size(): number {
    return this.#conns.size;
  }

  /** Logged-in connections. */
  get loggedIn(): number {
    let n = 0;
    for (const set of this.#apps.values()) n += set.size;
    return n;
  }

  /** Distinct (appId, userId) pairs with a connection here. */
  get users(): number {
    return this.#users.size;
  }

  /** Live inbox entries handed to connections so far (the admin console's "messages out"). */
  get pushed(): number {
    return this.#pushed;
  }

  /** Every open connection. */
  connections(): IterableIterator<Connection> {
    return this.#conns.values();
  }

  /** A registered connection by id. */
  get(connId: string): Connection | undefined {
    return this.#conns.get(connId);
  }

  /** True while `conn` is registered (open and not unregistered). */
  has(conn: Connection): boolean {
    return this.#conns.get(conn.id) === conn;
  }

  /** Register a new connection. */
  add(conn: Connection): void {
    this.#conns.set(conn.id, conn);
  }

  /** Forget a connection's registration; its login (if any) is undone by {@linkcode unbind}. */
  remove(conn: Connection): void {
    if (this.#conns.get(conn.id) === conn) this.#conns.delete(conn.id);
  }

  /** Index a logged-in connection under its user and app. */
  bind(conn: Connection, identity: Identity): void {
    conn.bind(identity);
    const k = userKey(identity.appId, identity.userId);
    let conns = this.#users.get(k);
    if (!conns) this.#users.set(k, conns = new Set());
    conns.add(conn);
    let app = this.#apps.get(identity.appId);
    if (!app) this.#apps.set(identity.appId, app = new Set());
    app.add(conn);
  }

  /** Undo {@linkcode bind}; resolves to the identity the connection had (undefined if none). */
  unbind(conn: Connection): Identity | undefined {
    const identity = conn.unbind();
    if (!identity) return undefined;
    const k = userKey(identity.appId, identity.userId);
    const conns = this.#users.get(k);
    conns?.delete(conn);
    if (conns?.size === 0) this.#users.delete(k);
    const app = this.#apps.get(identity.appId);
    app?.delete(conn);
    if (app?.size === 0) this.#apps.delete(identity.appId);
    return identity;
  }

  /** Logged-in local connections of a user. */
  connectionsOf(appId: number, userId: string): ReadonlySet<Connection> | undefined {
    return this.#users.get(userKey(appId, userId));
  }

  /** Logged-in local connections of an app. */
  appConnections(appId: number): ReadonlySet<Connection> | undefined {
    return this.#apps.get(appId);
  }

  /** Apps with logged-in local connections. */
  appIds(): number[] {
    return [...this.#apps.keys()];
  }

  /** Users of an app with a local connection. */
  appUsers(appId: number): Set<string> {
    const out = new Set<string>();
    for (const conn of this.#apps.get(appId) ?? []) if (conn.identity) out.add(conn.identity.userId);
    return out;
  }

  /**
   * Deliver an inbox entry to the user's local connections (the origin connection only passes it);
   * returns how many local connections the user has.
   */
  deliver(
    appId: number,
    userId: string,
    entry: Pick<InboxEntry, "seq" | "msgId">,
    text: string,
    originConnId?: string,
  ): number {
    const conns = this.#users.get(userKey(appId, userId));
    if (!conns) return 0;
    for (const conn of conns) {
      if (conn.id === originConnId) conn.delivery.deliver(entry, undefined);
      else {
        conn.delivery.deliver(entry, text);
        this.#pushed++;
      }
    }
    return conns.size;
  }

  /** Send a frame to the user's local connections (except one); returns how many got it. */
  sendToUser(appId: number, userId: string, text: string, exceptConnId?: string): number {
    let sent = 0;
    for (const conn of this.#users.get(userKey(appId, userId)) ?? []) {
      if (conn.id !== exceptConnId && conn.send(text)) sent++;
    }
    return sent;
  }
}
