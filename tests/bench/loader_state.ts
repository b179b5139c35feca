/**
 * Shared state and tiny helpers of the load generator: the connection record, counters of
 * everything sent and received, request/fire-and-forget sends, and the stdout channel.
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

/** Send a request whose reply is only counted (seq `m…`). */
export function send(conn: Conn, cmd: string, data: Json): void {
  conn.socket.send(JSON.stringify({ seq: `m${++fireSeq}`, cmd, data }));
}

/** Send an `ack` or `read` whose reply is counted apart from the sends' (seq `k…`). */
export function sendReceipt(conn: Conn, cmd: "ack" | "read", data: Json): void {
  conn.socket.send(JSON.stringify({ seq: `k${++fireSeq}`, cmd, data }));
}

/** Send a request and resolve with its reply frame (a fake 408 frame on timeout). */
export function request(conn: Conn, cmd: string, data: Json, timeoutMs: number): Promise<Json> {
  const seq = `r${++conn.next}`;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      conn.pending.delete(seq);
      resolve({ response: { code: 408, codeMsg: "bench timeout" } });
    }, timeoutMs);
    conn.pending.set(seq, (f) => {
      clearTimeout(timer);
      resolve(f);
    });
    conn.socket.send(JSON.stringify({ seq, cmd, data }));
  });
}

/** Write one JSON line to the runner. */
export function emit(msg: Json): void {
  console.log(JSON.stringify(msg));
}
