/**
 * One WebSocket connection: its socket, address, logged-in identity, heartbeat time and its
 * {@linkcode Delivery} (cursor, queue, replay). The identity is written only by the lifecycle
 * (session/lifecycle.ts) through {@linkcode Connection.bind}/{@linkcode Connection.unbind}; the delivery
 * state only by the Delivery itself.
 *
 * What all connections of a listener share — limits, delivery settings, the slow-consumer and abort hooks —
 * is one {@linkcode ConnectionPolicy} object rather than copies and closures per connection: an idle
 * connection keeps only its own state (docs/PERFORMANCE.md, "Memory per connection").
 *
 * @example
 * ```ts
 * const policy = connectionPolicy({ maxBuffered: 1 << 20, delivery: deliverySettings, onSlow: () => {} });
 * const conn = new Connection({ id: "c1", socket, ip: "127.0.0.1", now: Date.now(), policy });
 * conn.send('{"seq":"1","cmd":"ping"}');
 * ```
 * @module
 */
import { CloseCode } from "../protocol/codes.ts";
import { Delivery, type DeliveryPolicy } from "./delivery.ts";

/** What a {@linkcode Connection} needs from a socket (a WebSocket satisfies it; tests use fakes). */
export interface SocketLike {
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Logged-in identity of a connection. */
export interface Identity {
  userId: string;
  appId: number;
  deviceId?: string;
  platform?: string;
  /** When the login was applied (ms). */
  loginTime: number;
}

/** What every connection of a listener shares; build it once with {@linkcode connectionPolicy}. */
export interface ConnectionPolicy {
  /** Slow-consumer cap on the socket's unsent bytes (`im.sendBufferBytes`). */
  readonly maxBuffered: number;
  /** `heartbeat.closeGrace` (ms). */
  readonly closeGraceMs: number;
  /** Delivery settings; its byte budget is `maxBuffered`. */
  readonly delivery: DeliveryPolicy<Connection>;
  /** Told once when the connection is closed as a slow consumer (to unregister it at once). */
  onSlow(conn: Connection): void;
  /**
   * Force the socket shut (transport/socket_abort.ts) when the peer has not completed a close the server
   * started within `closeGraceMs`; absent = never (fakes in tests).
   */
  abort?(socket: SocketLike): void;
}

/** Settings of {@linkcode connectionPolicy}. */
export interface ConnectionPolicyOptions {
  maxBuffered: number;
  /** Default 5000 ms. */
  closeGraceMs?: number;
  delivery: Omit<DeliveryPolicy<Connection>, "maxBytes">;
  onSlow: (conn: Connection) => void;
  abort?: (socket: SocketLike) => void;
}

/**
 * The policy shared by the connections of one listener.
 *
 * @example
 * ```ts
 * const policy = connectionPolicy({ maxBuffered: 1 << 20, delivery: { pageSize: 200, stallTimeoutMs: 30_000,
 *   clock: systemClock, pushes: new Pushes() }, onSlow: (conn) => lifecycle.unregister(conn) });
 * ```
 */
export function connectionPolicy(o: ConnectionPolicyOptions): ConnectionPolicy {
  return {
    maxBuffered: o.maxBuffered,
    closeGraceMs: o.closeGraceMs ?? 5000,
    delivery: { ...o.delivery, maxBytes: o.maxBuffered },
    onSlow: o.onSlow,
    abort: o.abort,
  };
}

/** Construction options of {@linkcode Connection} (not kept: only the policy is referenced). */
export interface ConnectionOptions {
  id: string;
  socket: SocketLike;
  ip: string;
  /** Connect time (ms): the heartbeat clock starts here. */
  now: number;
  policy: ConnectionPolicy;
}

const OPEN = 1;
const CLOSED = 3;

/** One connection and its per-connection state. */
export class Connection {
  readonly id: string;
  readonly socket: SocketLike;
  readonly ip: string;
  readonly connectedAt: number;
  readonly delivery: Delivery<Connection>;
  readonly #policy: ConnectionPolicy;
  #identity: Identity | undefined;
  /** The user of the last login, kept after unbind: the disconnect log names who it was. */
  #lastUserId: string | undefined;
  #loggingIn = false;
  #heartbeatAt: number;
  #closeReason: string | undefined;
  #slow = false;
  #ended = false;
  #abortTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(o: ConnectionOptions) {
    this.id = o.id;
    this.socket = o.socket;
    this.ip = o.ip;
    this.connectedAt = this.#heartbeatAt = o.now;
    this.#policy = o.policy;
    this.delivery = new Delivery<Connection>(this, o.policy.delivery);
  }

  /** The logged-in identity, or undefined before login and after logout. */
  get identity(): Identity | undefined {
    return this.#identity;
  }

  /** The user this connection was last logged in as, for logs: kept after a logout and after the lifecycle unbinds it. */
  get lastUserId(): string | undefined {
    return this.#lastUserId;
  }

  /** A login command is being applied (between {@linkcode beginLogin} and {@linkcode endLogin}). */
  get loggingIn(): boolean {
    return this.#loggingIn;
  }

  /** The login command started applying a login (its call; a second concurrent login is refused on this). */
  beginLogin(): void {
    this.#loggingIn = true;
  }

  /** The login command is done, applied or failed (its call). */
  endLogin(): void {
    this.#loggingIn = false;
  }

  /** Last heartbeat (or connect time before the first one), ms. */
  get heartbeatAt(): number {
    return this.#heartbeatAt;
  }

  /** Why the server closed the connection (logs, metrics); undefined = the client went away. */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  /** True once the socket is open and not closing. */
  get open(): boolean {
    return this.socket.readyState === OPEN;
  }

  /** Bytes queued in the socket but not yet written. */
  get buffered(): number {
    return this.socket.bufferedAmount;
  }

  /** Set the identity of an applied login (the lifecycle's call). */
  bind(identity: Identity): void {
    this.#identity = identity;
    this.#lastUserId = identity.userId;
  }

  /** Clear the identity (the lifecycle's call); resolves to the identity it had. */
  unbind(): Identity | undefined {
    const identity = this.#identity;
    this.#identity = undefined;
    this.delivery.stop();
    return identity;
  }

  /** A heartbeat arrived. */
  touch(now: number): void {
    this.#heartbeatAt = now;
  }

  /**
   * Send a frame. A connection whose socket holds more than the cap is closed (4004) instead of
   * buffering without bound; returns false when the frame was not sent.
   */
  send(text: string): boolean {
    if (!this.open) return false;
    if (this.socket.bufferedAmount > this.#policy.maxBuffered) {
      this.stalled();
      return false;
    }
    try {
      this.socket.send(text);
      return true;
    } catch {
      return false;
    }
  }

  /** Close the socket once; `reason` (a short fixed text) is kept for logs and metrics. */
  close(code: number, reason: string, detail?: string): void {
    this.#closeReason ??= reason;
    if (this.socket.readyState > OPEN) return;
    try {
      this.socket.close(code, (detail ?? reason).slice(0, 120));
    } catch {
      // already closing
    }
    this.#armAbort();
  }

  /** A peer that never answers the close handshake would hold the socket forever: abort after a grace. */
  #armAbort(): void {
    const abort = this.#policy.abort;
    if (!abort || this.#abortTimer !== undefined) return;
    this.#abortTimer = setTimeout(() => {
      if (this.socket.readyState !== CLOSED) abort(this.socket);
    }, this.#policy.closeGraceMs);
  }

  /**
   * The socket has closed (its `close` event): nothing is left to abort. True the first time only: Deno fires
   * `close` twice for one socket when its own idle check closes it, and when a close the server sent is still
   * pending as the socket is aborted or the peer resets.
   */
  ended(): boolean {
    clearTimeout(this.#abortTimer);
    if (this.#ended) return false;
    this.#ended = true;
    return true;
  }

  /** The peer does not read (its buffer is over the cap, or a replay stalled on it): close it as a slow consumer, once. */
  stalled(): void {
    if (this.#slow) return;
    this.#slow = true;
    this.close(CloseCode.SlowConsumer, "slow consumer");
    this.#policy.onSlow(this);
  }
}
