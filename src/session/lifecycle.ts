/**
 * The lifecycle of connections: register, login, logout, unregister. Events arrive through one bounded
 * {@linkcode Channel} (the design card's event channel) and are applied **in order per user**: each
 * user has a lane (a promise chain), so a late unregister of an old connection can never undo a newer
 * login of the same user, while logins of different users proceed concurrently — a login storm is not
 * capped by one store round trip at a time.
 *
 * This module is the only writer of the hub's indexes and of presence, and the only sender of enter/exit
 * (through {@linkcode PresencePushes}).
 *
 * @example
 * ```ts
 * const lifecycle = new Lifecycle(options);
 * lifecycle.start();
 * await lifecycle.register(conn);
 * await lifecycle.login(conn, { userId: "alice", appId: 101, loginTime: Date.now() });
 * ```
 * @module
 */
import { CloseCode, Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";
import type { Pushes } from "../protocol/pushes.ts";
import type { Store } from "../store/store.ts";
import type { Logger } from "../ops/log.ts";
import type { Bus } from "./bus.ts";
import { Channel } from "./channel.ts";
import type { Connection, Identity } from "./connection.ts";
import { type Hub, userKey } from "./hub.ts";
import { closeForLoginTimeout, overdueLogins } from "./login_deadline.ts";
import { type Presence, presenceOf } from "./presence.ts";
import type { PresencePushes } from "./presence_pushes.ts";

type Done = (error?: unknown) => void;
type Event =
  | { kind: "register"; conn: Connection; done: Done }
  | { kind: "unregister"; conn: Connection; done: Done }
  | { kind: "login"; conn: Connection; identity: Identity; done: Done }
  | { kind: "logout"; conn: Connection; done: Done };

/** Dependencies and settings of {@linkcode Lifecycle}. */
export interface LifecycleOptions {
  hub: Hub;
  presence: Presence;
  presencePushes: PresencePushes;
  bus: Bus;
  store: Store;
  pushes: Pushes;
  nodeId: string;
  log: Logger;
  multiDevice: "multi" | "single";
  /** A user's first connection anywhere appeared / last one went (webhooks). */
  onOnline?: (appId: number, userId: string) => void;
  onOffline?: (appId: number, userId: string) => void;
  /** Event channel capacity. */
  capacity?: number;
}

/** Applies connection lifecycle events of one node. */
export class Lifecycle {
  readonly #o: LifecycleOptions;
  readonly #events: Channel<Event>;
  /** user key → the tail of its lane. */
  readonly #lanes = new Map<string, Promise<void>>();
  /** The lane of a connection's (pending or applied) login. */
  readonly #laneOf = new WeakMap<Connection, string>();
  #loop: Promise<void> | undefined;
  /** The writes of the {@linkcode flushDelivered} in progress. */
  #flushing: Promise<void> | undefined;

  constructor(options: LifecycleOptions) {
    this.#o = options;
    this.#events = new Channel(options.capacity ?? 4096);
  }

  /** Start consuming events. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Refuse new events and wait until every queued one is applied. */
  async stop(): Promise<void> {
    this.#events.close();
    await this.#loop;
    while (this.#lanes.size > 0) await Promise.all(this.#lanes.values());
  }

  /** Events waiting in the channel plus lanes still working (a metric). */
  get queueLength(): number {
    return this.#events.size + this.#lanes.size;
  }

  /** Track a new connection. */
  register(conn: Connection): Promise<void> {
    return this.#submit((done) => ({ kind: "register", conn, done }));
  }

  /** Forget a closed connection (its presence goes; exit is pushed if it was the user's last). */
  unregister(conn: Connection): Promise<void> {
    return this.#submit((done) => ({ kind: "unregister", conn, done }));
  }

  /** Apply a login; resolves once presence is written. */
  login(conn: Connection, identity: Identity): Promise<void> {
    return this.#submit((done) => ({ kind: "login", conn, identity, done }));
  }

  /** Return a connection to the not-logged-in state. */
  logout(conn: Connection): Promise<void> {
    return this.#submit((done) => ({ kind: "logout", conn, done }));
  }

  /** Push `kick` and close with 4000 (multiDevice: single); the connection is forgotten at once. */
  kick(conn: Connection, reason: string): void {
    conn.send(this.#o.pushes.kick(reason));
    this.close(conn, CloseCode.Kicked, "kicked", reason);
  }

  /**
   * Close a connection the server gives up on and unregister it now: a peer that never reads never
   * completes the close handshake, and must not stay online meanwhile.
   */
  close(conn: Connection, code: number, reason: string, detail?: string): void {
    conn.close(code, reason, detail);
    this.unregister(conn).catch(() => {});
  }

  /**
   * Close every connection whose last heartbeat (or connect time, before the first) is older than
   * `timeoutMs` at `now` (code 4001), and those not logged in within `loginTimeoutMs` (code 4009,
   * session/login_deadline.ts; 0 = no deadline); returns how many. The node's one sweep timer calls it.
   */
  sweep(now: number, timeoutMs: number, loginTimeoutMs = 0): number {
    const deadline = now - timeoutMs;
    let n = 0;
    for (const conn of [...this.#o.hub.connections()]) {
      if (conn.heartbeatAt >= deadline) continue;
      this.close(conn, CloseCode.HeartbeatTimeout, "heartbeat timeout");
      n++;
    }
    for (const conn of overdueLogins(this.#o.hub.connections(), now, loginTimeoutMs)) {
      closeForLoginTimeout(conn, () => this.unregister(conn).catch(() => {}));
      n++;
    }
    return n;
  }

  #submit(make: (done: Done) => Event): Promise<void> {
    return new Promise((resolve, reject) => {
      const event = make((error) => error === undefined ? resolve() : reject(error));
      this.#events.send(event).catch(reject);
    });
  }

  async #run(): Promise<void> {
    // Events are taken in submission order; only work that needs I/O goes to a lane, so this loop
    // never waits for the store and the order per user is the order of submission.
    for await (const event of this.#events) {
      const { conn } = event;
      switch (event.kind) {
        case "register":
          this.#o.hub.add(conn);
          event.done();
          break;
        case "login": {
          const lane = userKey(event.identity.appId, event.identity.userId);
          this.#laneOf.set(conn, lane);
          this.#enqueue(lane, event, () => this.#attach(conn, event.identity));
          break;
        }
        case "unregister": {
          this.#o.hub.remove(conn);
          const lane = this.#laneOf.get(conn);
          if (lane === undefined) {
            conn.delivery.stop();
            event.done();
          } else this.#enqueue(lane, event, () => this.#detach(conn));
          break;
        }
        case "logout": {
          const lane = this.#laneOf.get(conn);
          if (lane === undefined) event.done();
          else this.#enqueue(lane, event, () => this.#detach(conn));
          break;
        }
      }
    }
  }

  #enqueue(lane: string, event: Event, job: () => Promise<void>): void {
    const prev = this.#lanes.get(lane) ?? Promise.resolve();
    const next = prev.then(job).then(
      () => event.done(),
      (error) => {
        if (error instanceof ReplyError) {
          this.#o.log.debug("lifecycle {kind}: {error}", { kind: event.kind, error: error.message });
        } else this.#o.log.warning("lifecycle {kind} failed: {error}", { kind: event.kind, error });
        event.done(error);
      },
    );
    this.#lanes.set(lane, next);
    void next.then(() => {
      if (this.#lanes.get(lane) === next) this.#lanes.delete(lane);
    });
  }

  async #attach(conn: Connection, identity: Identity): Promise<void> {
    const { hub, presence, nodeId } = this.#o;
    if (!hub.has(conn)) {
      throw new ReplyError(Code.OperationFailure, "connection closed before login completed");
    }
    const { appId, userId } = identity;
    if (this.#o.multiDevice === "single") {
      for (const older of [...hub.connectionsOf(appId, userId) ?? []]) {
        this.kick(older, "logged in elsewhere");
      }
      this.#o.bus.kickElsewhere(appId, userId, conn.id);
    }
    hub.bind(conn, identity);
    let first: boolean;
    try {
      first = await presence.add(presenceOf(conn, identity, nodeId));
    } catch (error) {
      hub.unbind(conn);
      this.#laneOf.delete(conn);
      throw error;
    }
    if (first) this.#o.onOnline?.(appId, userId);
    this.#o.presencePushes.local(appId, userId, "enter", conn);
  }

  async #detach(conn: Connection): Promise<void> {
    const position = conn.delivery.takeAdvance();
    const identity = this.#o.hub.unbind(conn);
    this.#laneOf.delete(conn);
    if (!identity) return;
    const { appId, userId } = identity;
    if (position !== undefined) await this.#recordDelivered(appId, userId, position);
    const gone = await this.#o.presence.remove(appId, userId, conn.id);
    if (!gone) return;
    this.#o.onOffline?.(appId, userId);
    this.#o.presencePushes.local(appId, userId, "exit");
  }

  /**
   * Write how far the user's live connections got into its `delivered` mark (PROTOCOL.md C.1: a login
   * without `lastSeq` resumes after it). The node's delivered-flush timer calls it every
   * `heartbeat.deliveredFlush` (so a kill -9 repeats at most that much to a plain login); a connection's
   * last position is also written when it goes. Only users whose position moved are written, one write per
   * user (the highest of its connections here), all in the same tick — the store groups them (SQLite: one
   * transaction; Redis: one pipeline). A position is a seq handed to a socket, never a queued one nor a frame
   * the socket refused (Delivery.takeAdvance), so the mark never runs ahead of what a connection got. With `skipIfBusy` (the timer) a flush still
   * writing makes this one a no-op, so writes in flight stay bounded by one per user; without it (shutdown)
   * it waits for that flush and writes what moved since. Resolves to the users written.
   */
  async flushDelivered(skipIfBusy = false): Promise<number> {
    if (this.#flushing) {
      if (skipIfBusy) return 0;
      await this.#flushing;
    }
    const moved = new Map<string, { appId: number; userId: string; seq: number }>();
    for (const conn of this.#o.hub.connections()) {
      const identity = conn.identity;
      const position = identity && conn.delivery.takeAdvance();
      if (!identity || position === undefined) continue;
      const key = userKey(identity.appId, identity.userId);
      const held = moved.get(key);
      if (!held) moved.set(key, { appId: identity.appId, userId: identity.userId, seq: position });
      else if (position > held.seq) held.seq = position;
    }
    if (moved.size === 0) return 0;
    const writes = Promise.all(
      [...moved.values()].map((m) => this.#recordDelivered(m.appId, m.userId, m.seq)),
    );
    const flushing = this.#flushing = writes.then(() => {});
    await flushing;
    if (this.#flushing === flushing) this.#flushing = undefined;
    return moved.size;
  }

  async #recordDelivered(appId: number, userId: string, seq: number): Promise<void> {
    try {
      await this.#o.store.advanceMark(appId, userId, "delivered", seq);
    } catch (error) {
      // Only costs a repeat: the next plain login may get these entries again.
      this.#o.log.warning("delivered mark of {userId} not written: {error}", {
        userId,
        error: String(error),
      });
    }
  }
}
