/**
 * The load generator's connection: the same small surface over Deno's built-in WebSocket
 * client or npm `ws`, so the two can be measured against each other (`--client=deno|ws`).
 * @module
 */
import { WebSocket as NodeWs } from "ws";

/** Which WebSocket client implementation a loader uses. */
export type ClientImpl = "deno" | "ws";

/** A bench connection; `onText` gets every text frame. */
export interface BenchSocket {
  send(text: string): void;
  close(): void;
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<void>;
}

/** Callbacks of a bench connection. */
export interface SocketEvents {
  onText(text: string): void;
  /** The socket closed; `code`/`reason` of the close frame (1006 and "" when there was none). */
  onClose(code: number, reason: string): void;
}

/** Open `url` with `impl`; rejects when the handshake fails or takes longer than `timeoutMs`. */
export function openSocket(
  impl: ClientImpl,
  url: string,
  events: SocketEvents,
  timeoutMs = 30_000,
): Promise<BenchSocket> {
  return impl === "ws" ? openNodeWs(url, events, timeoutMs) : openDeno(url, events, timeoutMs);
}

function openDeno(url: string, events: SocketEvents, timeoutMs: number): Promise<BenchSocket> {
  const ws = new WebSocket(url);
  let closedResolve!: () => void;
  const closed = new Promise<void>((r) => closedResolve = r);
  ws.onmessage = (e) => events.onText(e.data as string);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error("connect timeout"));
      ws.close();
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve({ send: (t) => ws.send(t), close: () => ws.close(), closed });
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error("connect failed"));
    };
    ws.onclose = (e) => {
      clearTimeout(timer);
      events.onClose(e.code, e.reason);
      closedResolve();
    };
  });
}

function openNodeWs(url: string, events: SocketEvents, timeoutMs: number): Promise<BenchSocket> {
  const ws = new NodeWs(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
  let closedResolve!: () => void;
  const closed = new Promise<void>((r) => closedResolve = r);
  ws.on("message", (data: unknown, isBinary: boolean) => {
    if (!isBinary) events.onText(String(data));
  });
  return new Promise((resolve, reject) => {
    ws.on("open", () => resolve({ send: (t) => ws.send(t), close: () => ws.close(), closed }));
    ws.on("error", (e: Error) => reject(e));
    ws.on("close", (code: number, reason: unknown) => {
      events.onClose(code, String(reason ?? ""));
      closedResolve();
    });
  });
}
