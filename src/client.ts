/**
 * One connection: its socket, identity, heartbeat time and the inbox cursor that keeps
 * deliveries exactly-once and in order across replay and live traffic.
 *
 * @example
 * ```ts
 * const client = new Client("c1", fakeSocket, "127.0.0.1", 0, 1 << 20);
 * client.send('{"seq":"1","cmd":"ping"}');
 * ```
 * @module
 */
import { CloseCode } from "./protocol.ts";
import type { InboxEntry } from "./store/store.ts";

/** What a {@linkcode Client} needs from a socket (a WebSocket satisfies it; tests use fakes). */
export interface SocketLike {
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

const OPEN = 1;

/** A live entry waiting while a replay is running. */
export interface PendingDelivery {
  entry: InboxEntry;
  /** Pre-encoded push frame; undefined = advance the cursor without sending (the sender's own copy). */
  text?: string;
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

/** One WebSocket connection and its per-connection state. */
export class Client {
  readonly id: string;
  readonly socket: SocketLike;
  readonly ip: string;
  readonly connectedAt: number;
  readonly #maxBuffered: number;
  /** Set by the manager when a login is applied; cleared on logout/unregister. */
  identity: Identity | undefined;
  /** Last heartbeat (or connect time before the first one), ms. */
  heartbeatAt: number;
  /** Highest inbox seq delivered (or skipped as the sender's own copy) on this connection. */
  cursor = 0;
  /** True while a replay runs: live entries queue in {@linkcode pending}. */
  replaying = false;
  /** Live entries queued during replay. */
  pending: PendingDelivery[] = [];
  /** Set when a live entry skipped ahead of the cursor: the replay loop must read the store again. */
  gapSeen = false;
  /**
   * msgIds this connection sent whose inbox copy it has not passed yet. The sending connection
   * gets the reply instead of a push for its own copy — also when a replay running on it reads
   * that copy from the store before the live delivery arrives (see {@linkcode advance}).
   */
  readonly ownSends = new Set<string>();
  /** Token-bucket state for the per-connection rate limit. */
  tokens = 0;
  tokensAt = 0;
  /** JWT expiry (ms), when auth is on. */
  expiresAt = Infinity;
  /** Why the server closed the connection (for logs and metrics); undefined = client went away. */
  closeReason: string | undefined;
  /** Called when a send is refused because the socket buffer is over the cap. */
  onSlow: ((client: Client) => void) | undefined;

  constructor(id: string, socket: SocketLike, ip: string, now: number, maxBuffered: number) {
    this.id = id;
    this.socket = socket;
    this.ip = ip;
    this.connectedAt = now;
    this.heartbeatAt = now;
    this.#maxBuffered = maxBuffered;
  }

  /** True once the socket is open and not closing. */
  get open(): boolean {
    return this.socket.readyState === OPEN;
  }

  /** Bytes queued in the socket but not yet written. */
  get buffered(): number {
    return this.socket.bufferedAmount;
  }

  /**
   * Send a frame. A client whose buffer is over the cap is closed (4004) instead of buffering
   * without bound; returns false when the frame was not sent.
   */
  send(text: string): boolean {
    if (!this.open) return false;
    if (this.socket.bufferedAmount > this.#maxBuffered) {
      this.close(CloseCode.SlowConsumer, "slow consumer");
      this.onSlow?.(this);
      return false;
    }
    try {
      this.socket.send(text);
      return true;
    } catch {
      return false;
    }
  }

  /** Remember a msgId this connection is sending (called before the store append). */
  expectOwn(msgId: string): void {
    // Bounded: an id whose append failed is never passed; the oldest are forgotten first.
    if (this.ownSends.size >= 256) this.ownSends.delete(this.ownSends.values().next().value!);
    this.ownSends.add(msgId);
  }

  /**
   * Move the cursor to `entry` and send `text` — unless `text` is undefined or the entry is
   * this connection's own send (it got the reply). `entry` is next in line (or the first
   * entry still kept after a trimmed gap).
   */
  advance(entry: InboxEntry, text: string | undefined): void {
    this.cursor = entry.seq;
    // Most connections have no send in flight: skip hashing the msgId then.
    const own = this.ownSends.size !== 0 && this.ownSends.delete(entry.msgId);
    if (text !== undefined && !own) this.send(text);
  }

  /**
   * Deliver a live inbox entry: queued during replay, dropped if already delivered, sent if
   * next in line. Returns "gap" when entries are missing in between (the caller replays).
   */
  deliver(entry: InboxEntry, text: string | undefined): "sent" | "queued" | "duplicate" | "gap" {
    if (this.replaying) {
      this.pending.push({ entry, text });
      return "queued";
    }
    if (entry.seq <= this.cursor) return "duplicate";
    if (entry.seq !== this.cursor + 1) {
      this.replaying = true;
      this.gapSeen = true;
      this.pending.push({ entry, text });
      return "gap";
    }
    this.advance(entry, text);
    return "sent";
  }

  /** Close the socket once; `reason` is kept for logs. */
  close(code: number, reason: string): void {
    this.closeReason ??= reason;
    if (this.socket.readyState > OPEN) return;
    try {
      this.socket.close(code, reason.slice(0, 120));
    } catch {
      // already closing
    }
  }
}
