/**
 * Shared state and tiny helpers of the load generator: the connection record, counters of
 * everything sent and received, request/fire-and-forget sends, and the stdout channel.
 *
 * A connection speaks imserver's JSON envelope (`{seq, cmd, data}`, replies by `seq`) or, with `sio`, the
 * Socket.IO peer's (tests/bench/peers/socketio_server.ts): Engine.IO v4 / Socket.IO v5 text packets over the
 * same WebSocket — events `42<ackId>["name",data]`, acks `43<ackId>[reply]`, ping `2` → pong `3`. The same
 * commands map to the peer's events (`sendMsg` → `send`, `login` → `login`).
 * @module
 */
import * as hdr from "hdr-histogram-js";
import type { BenchSocket } from "./ws_client.ts";
import type { Json } from "./proc.ts";

/** One logged-in (or setup) connection of a loader. */
export interface Conn {
  user: string;
  socket: BenchSocket;
  next: number;
  /** Replies awaited by seq. */
  pending: Map<string, (frame: Json) => void>;
  /** fanout: the last message number received (in-order check). */
  lastK: number;
  closedByUs: boolean;
  /** Socket.IO framing (the Socket.IO peer) instead of imserver's envelope. */
  sio: boolean;
  /** When this connection last sent a frame (`now()`): an unexpected close says how long it had been silent. */
  sentAt: number;
  /** The socket has closed: a request answers at once instead of waiting for its timeout. */
  closed?: boolean;
}

/** Everything a loader counts; a run with loss or duplicates is a failed run. */
export const counters = {
  sent: 0,
  received: 0,
  duplicates: 0,
  gaps: 0,
  replies: 0,
  replyErrors: 0,
  /** rtt with receipts: replies to `ack`/`read` (seq `k…`), and `read`/`delivered` receipts received. */
  receiptReplies: 0,
  receiptsIn: 0,
  /** `ack`/`read` requests sent. */
  receiptsSent: 0,
  otherFrames: 0,
  badFrames: 0,
  unexpectedCloses: 0,
  firstError: undefined as string | undefined,
};

/** Every unexpected close (kept across phases, at most 10,000): when, and how long the connection had been silent. */
export const closes: Array<{ at: number; silentMs: number }> = [];

/** Wall-clock ms with µs resolution, comparable across processes on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** A latency histogram in µs (1 µs .. 10 min, 3 significant digits). */
export function newHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

let fireSeq = 0;
/** Replies to fire-and-forget sends up to this seq belong to an earlier phase (see {@linkcode countFromHere}). */
let countFrom = 0;

/** From now on count only replies to what is sent from now on (a phase's counters start at zero). */
export function countFromHere(): void {
  countFrom = fireSeq;
}

/** Whether a fire-and-forget reply with seq `m<n>` belongs to the current phase. */
export function counted(n: number): boolean {
  return n > countFrom;
}

/** The Socket.IO peer's event for an imserver command. */
const SIO_EVENTS: Record<string, string> = { sendMsg: "send" };

/** A Socket.IO event packet with ack id `ackId`: `42<ackId>["<event>",<data>]`. */
function sioEvent(ackId: number, cmd: string, data: Json): string {
  return `42${ackId}${JSON.stringify([SIO_EVENTS[cmd] ?? cmd, data])}`;
}

/**
 * Send a request whose reply is only counted (seq `m…`; on Socket.IO an ack id no request waits on, its ack
 * counted by the loader).
 */
export function send(conn: Conn, cmd: string, data: Json): void {
  conn.sentAt = now();
  if (conn.sio) conn.socket.send(sioEvent(++conn.next, cmd, data));
  else conn.socket.send(JSON.stringify({ seq: `m${++fireSeq}`, cmd, data }));
}

/** Send an `ack` or `read` whose reply is counted apart from the sends' (seq `k…`). */
export function sendReceipt(conn: Conn, cmd: "ack" | "read", data: Json): void {
  conn.sentAt = now();
  conn.socket.send(JSON.stringify({ seq: `k${++fireSeq}`, cmd, data }));
}

/**
 * Send a request and resolve with its reply frame (a fake 408 frame on timeout; on Socket.IO the loader
 * turns the ack into an imserver-like reply frame, see `sioReply`).
 */
export function request(conn: Conn, cmd: string, data: Json, timeoutMs: number): Promise<Json> {
  if (conn.closed) return Promise.resolve({ response: { code: -1, codeMsg: "closed" } });
  const id = ++conn.next;
  const seq = conn.sio ? String(id) : `r${id}`;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      conn.pending.delete(seq);
      resolve({ response: { code: 408, codeMsg: "bench timeout" } });
    }, timeoutMs);
    conn.pending.set(seq, (f) => {
      clearTimeout(timer);
      resolve(f);
    });
    conn.sentAt = now();
    conn.socket.send(conn.sio ? sioEvent(id, cmd, data) : JSON.stringify({ seq, cmd, data }));
  });
}

/** The Socket.IO peer's ack payload as an imserver reply frame (`{ok: 1, …}` → code 200). */
export function sioReply(ack: Json): Json {
  return ack?.ok === 1
    ? { response: { code: 200, codeMsg: "Success", data: ack } }
    : { response: { code: 500, codeMsg: String(ack?.error ?? "socket.io ack without ok") } };
}

/** Write one JSON line to the runner. */
export function emit(msg: Json): void {
  console.log(JSON.stringify(msg));
}
