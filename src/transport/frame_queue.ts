/**
 * The inbound queue of one connection. Frames are handled one at a time, in arrival order, as the Go
 * servers' read loop did — a login pipelined with the next command completes before that command runs,
 * and replies come back in request order. The queue is bounded in frames and bytes: a peer that keeps
 * writing while an earlier request waits (e.g. a `sync` paced by a socket it does not read) is refused
 * instead of piling frames up in memory.
 *
 * @example
 * ```ts
 * const queue = new FrameQueue(64, 1 << 20, (text) => router.dispatch(conn, text));
 * if (!queue.push(text)) refuse(text); // over the bound: 1012 reply
 * ```
 * @module
 */

/** A bounded, sequential queue of frames. */
export class FrameQueue {
  readonly #maxFrames: number;
  readonly #maxBytes: number;
  readonly #handle: (text: string) => Promise<void>;
  /** Frames not yet handled; the first one is running while {@linkcode #pumping}. */
  readonly #texts: string[] = [];
  #head = 0;
  #bytes = 0;
  #pumping = false;

  /** `handle` must not reject (the router turns every failure into a reply). */
  constructor(maxFrames: number, maxBytes: number, handle: (text: string) => Promise<void>) {
    this.#maxFrames = maxFrames;
    this.#maxBytes = maxBytes;
    this.#handle = handle;
  }

  /** Frames waiting or running. */
  get length(): number {
    return this.#texts.length - this.#head;
  }

  /** Queue a frame; false (and nothing queued) when it would go over either bound. */
  push(text: string): boolean {
    if (this.length >= this.#maxFrames || this.#bytes + text.length > this.#maxBytes) return false;
    this.#texts.push(text);
    this.#bytes += text.length;
    if (!this.#pumping) {
      this.#pumping = true;
      // One loop per busy connection rather than a promise chain per frame (a `then` and a `finally`,
      // two closures and ~4 promises each, on every message). Started from a microtask, as the chain
      // was: the handler never runs inside the socket's event dispatch.
      queueMicrotask(() => void this.#pump());
    }
    return true;
  }

  async #pump(): Promise<void> {
    const texts = this.#texts;
    while (this.#head < texts.length) {
      const text = texts[this.#head];
      try {
        await this.#handle(text);
      } catch {
        // `handle` does not reject (the router replies to every failure); were it to, the connection's
        // next frames must still run rather than stop behind a dead loop
      } finally {
        texts[this.#head++] = "";
        this.#bytes -= text.length;
      }
      if (this.#head === texts.length) {
        texts.length = 0;
        this.#head = 0;
      }
    }
    this.#pumping = false;
  }
}
