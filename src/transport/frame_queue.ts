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
  #tail: Promise<void> = Promise.resolve();
  #frames = 0;
  #bytes = 0;

  /** `handle` must not reject (the router turns every failure into a reply). */
  constructor(maxFrames: number, maxBytes: number, handle: (text: string) => Promise<void>) {
    this.#maxFrames = maxFrames;
    this.#maxBytes = maxBytes;
    this.#handle = handle;
  }

  /** Frames waiting or running. */
  get length(): number {
    return this.#frames;
  }

  /** Queue a frame; false (and nothing queued) when it would go over either bound. */
  push(text: string): boolean {
    if (this.#frames >= this.#maxFrames || this.#bytes + text.length > this.#maxBytes) return false;
    this.#frames++;
    this.#bytes += text.length;
    this.#tail = this.#tail.then(() => this.#handle(text)).finally(() => {
      this.#frames--;
      this.#bytes -= text.length;
    });
    return true;
  }
}
