/**
 * One WebSocket connection: its socket, address, logged-in identity, heartbeat time and its
 * {@linkcode Delivery} (cursor, queue, replay). The identity is written only by the lifecycle
 * (session/lifecycle.ts) through {@linkcode Connection.bind}/{@linkcode Connection.unbind}; the delivery
 * state only by the Delivery itself.
 *
 * @example
 * ```ts
 * const conn = new Connection({ id: "c1", socket, ip: "127.0.0.1", now: Date.now(), maxBuffered: 1 << 20,
 *   delivery: deliveryOptions, onSlow: () => {} });
 * conn.send('{"seq":"1","cmd":"ping"}');
 * ```
 * @module
 */
import { CloseCode } from "../protocol/codes.ts";
import { Delivery, type DeliveryOptions } from "./delivery.ts";

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

/** Construction options of {@linkcode Connection}. */
export interface ConnectionOptions {
  id: string;
  socket: SocketLike;
  ip: string;
  /** Connect time (ms): the heartbeat clock starts here. */
  now: number;
  /** Slow-consumer cap on the socket's unsent bytes (`im.sendBufferBytes`). */
  maxBuffered: number;
  /** Delivery settings; `onStall` is wired to the slow-consumer close. */
  delivery: Omit<DeliveryOptions, "onStall" | "maxBytes">;
  /** Told once when the connection is closed as a slow consumer (to unregister it at once). */
  onSlow: (conn: Connection) => void;
  /**
   * Force the connection shut (transport/socket_abort.ts) when the peer has not completed a close the
   * server started within `closeGraceMs`; absent = never (fakes in tests).
   */
  abort?: () => void;
  /** `heartbeat.closeGrace` (ms). */
  closeGraceMs?: number;
}

const OPEN = 1;
const CLOSED = 3;

/** One connection and its per-connection state. */
export class Connection {
  readonly id: string;
  readonly socket: SocketLike;
  readonly ip: string;
  readonly connectedAt: number;
  readonly delivery: Delivery;
  readonly #maxBuffered: number;
  readonly #onSlow: (conn: Connection) => void;
  #identity: Identity | undefined;
  #heartbeatAt: number;
  #closeReason: string | undefined;
  #slow = false;
  readonly #abort: (() => void) | undefined;
  readonly #closeGraceMs: number;
  #abortTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(o: ConnectionOptions) {
    this.id = o.id;
    this.socket = o.socket;
    this.ip = o.ip;
    this.connectedAt = this.#heartbeatAt = o.now;
    this.#maxBuffered = o.maxBuffered;
    this.#onSlow = o.onSlow;
    this.#abort = o.abort;
    this.#closeGraceMs = o.closeGraceMs ?? 5000;
    this.delivery = new Delivery(this, {
      ...o.delivery,
      maxBytes: o.maxBuffered,
      onStall: () => this.#closeSlow(),
    });
  }

  /** The logged-in identity, or undefined before login and after logout. */
  get identity(): Identity | undefined {
    return this.#identity;
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
    if (this.socket.bufferedAmount > this.#maxBuffered) {
      this.#closeSlow();
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
    if (!this.#abort || this.#abortTimer !== undefined) return;
    this.#abortTimer = setTimeout(() => {
      if (this.socket.readyState !== CLOSED) this.#abort!();
    }, this.#closeGraceMs);
  }

  /** The socket has closed (its `close` event): nothing is left to abort. */
  ended(): void {
    clearTimeout(this.#abortTimer);
  }

  #closeSlow(): void {
    if (this.#slow) return;
    this.#slow = true;
    this.close(CloseCode.SlowConsumer, "slow consumer");
    this.#onSlow(this);
  }
}
