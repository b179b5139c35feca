/**
 * Where HTTP/1.x request heads begin and end in a client's byte stream, for the relay of
 * {@linkcode serveGuarded} (proxy mode): it must know when a head starts (to arm the header
 * deadline), when it is complete, and when the connection stops being HTTP (a WebSocket
 * upgrade). Bodies with a `content-length` are skipped; a chunked body makes the rest of the
 * connection opaque (only the idle deadline applies). Pure: no I/O, no timers.
 *
 * @example
 * ```ts
 * const heads = new RequestHeads();
 * heads.feed(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
 * heads.state; // "head" (waiting for the next request)
 * ```
 * @module
 */

/** What the tracker expects next from the client. */
export type HeadState =
  /** Between requests or inside a head. */
  | "head"
  /** Inside a `content-length` body. */
  | "body"
  /** An upgrade request was sent; its answer decides (see {@linkcode RequestHeads.answer}). */
  | "upgrade"
  /** Upgraded (101): bytes are no longer HTTP. */
  | "tunnel"
  /** Framing the tracker does not follow (chunked body, refused upgrade): idle deadline only. */
  | "opaque"
  /** The head grew over the limit: close the connection. */
  | "too_large";

/** What one {@linkcode RequestHeads.feed} saw. */
export interface FeedResult {
  /** A head started in this chunk (and is not yet complete). */
  started: boolean;
  /** Heads completed in this chunk. */
  completed: number;
}

const CR = 13;
const LF = 10;
const decoder = new TextDecoder();

/** Request-head tracker of one connection. */
export class RequestHeads {
  state: HeadState = "head";
  readonly #maxHeadBytes: number;
  /** Bytes of the head in progress (0 = between requests). */
  #head: Uint8Array[] = [];
  #headBytes = 0;
  /** Last two bytes seen in the head, for an end that straddles chunks. */
  #prev1 = -1;
  #prev2 = -1;
  #bodyLeft = 0;

  constructor(maxHeadBytes = 64 * 1024) {
    this.#maxHeadBytes = maxHeadBytes;
  }

  /** True while a head has started but is not complete. */
  get inHead(): boolean {
    return this.#headBytes > 0;
  }

  /** Account for bytes the client sent. */
  feed(chunk: Uint8Array): FeedResult {
    const result: FeedResult = { started: false, completed: 0 };
    let i = 0;
    while (i < chunk.length) {
      if (this.state === "body") {
        const n = Math.min(this.#bodyLeft, chunk.length - i);
        this.#bodyLeft -= n;
        i += n;
        if (this.#bodyLeft === 0) this.state = "head";
        continue;
      }
      if (this.state !== "head") break;
      if (this.#headBytes === 0) result.started = true;
      const start = i;
      let end = -1;
      for (; i < chunk.length; i++) {
        const b = chunk[i];
        // "\r\n\r\n" or a bare "\n\n" (httparse accepts both).
        if (b === LF && (this.#prev1 === LF || (this.#prev1 === CR && this.#prev2 === LF))) {
          end = ++i;
          break;
        }
        this.#prev2 = this.#prev1;
        this.#prev1 = b;
      }
      const piece = chunk.subarray(start, end < 0 ? i : end);
      this.#headBytes += piece.length;
      if (this.#headBytes > this.#maxHeadBytes) {
        this.state = "too_large";
        break;
      }
      this.#head.push(piece.slice());
      if (end < 0) break;
      result.completed++;
      result.started = false;
      this.#complete();
    }
    return result;
  }

  /**
   * The server's first bytes after an upgrade request: a 101 makes the connection a tunnel;
   * anything else makes it opaque.
   */
  answer(firstBytes: Uint8Array): void {
    if (this.state !== "upgrade") return;
    const line = decoder.decode(firstBytes.subarray(0, 16));
    this.state = /^HTTP\/1\.[01] 101 /.test(line) ? "tunnel" : "opaque";
  }

  #complete(): void {
    const text = decoder.decode(concat(this.#head, this.#headBytes));
    this.#head = [];
    this.#headBytes = 0;
    this.#prev1 = this.#prev2 = -1;
    let length = 0;
    let chunked = false;
    let upgrade = false;
    for (const line of text.split("\n")) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === "content-length") length = Number(value) || 0;
      else if (name === "transfer-encoding") chunked = value.includes("chunked");
      else if (name === "upgrade") upgrade = value.includes("websocket");
    }
    if (upgrade) this.state = "upgrade";
    else if (chunked) this.state = "opaque";
    else if (length > 0) {
      this.state = "body";
      this.#bodyLeft = length;
    } else this.state = "head";
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}
