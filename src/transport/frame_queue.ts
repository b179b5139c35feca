/**
 * The inbound queue of one connection. Frames are handled one at a time, in arrival order, as the Go
 * servers' read loop did — a login pipelined with the next command completes before that command runs,
 * and replies come back in request order. The queue is bounded in frames and bytes: a peer that keeps
 * writing while an earlier request waits (e.g. a `sync` paced by a socket it does not read) is refused
 * instead of piling frames up in memory.
 *
 * @example
 * ```ts
 * const limits = { maxFrames: 64, maxBytes: 1 << 20 }; // shared by every connection
 * const queue = new FrameQueue(limits, router, conn);   // runs router.dispatch(conn, text) per frame
 * if (!queue.push(text)) refuse(text); // over the bound: 1012 reply
 * ```
 * @module
 */

/** The bounds of a {@linkcode FrameQueue} (`limits.maxQueuedFrames`, `limits.maxQueuedBytes`). */
export interface FrameLimits {
  readonly maxFrames: number;
  readonly maxBytes: number;
}

/**
 * Runs one frame of a connection (the router). It must not throw or reject (it turns every failure into a
 * reply); it returns a promise only when the frame is still running (most frames — heartbeats, pings,
 * refusals — are answered at once).
 */
export interface FrameHandler<C> {
  dispatch(conn: C, text: string): Promise<void> | void;
}

/**
 * A bounded, sequential queue of frames. It holds the shared limits and handler plus the connection they
 * are run for, not a closure per connection; a frame answered at once costs no promise here.
 */
export class FrameQueue<C> {
  readonly #limits: FrameLimits;
  readonly #handler: FrameHandler<C>;
  readonly #conn: C;
  /** The frame running (or about to); undefined = idle. */
  #current: string | undefined;
  /** Frames waiting behind it, from {@linkcode #head} on (allocated by the first pipelined frame). */
  #waiting: string[] | undefined;
  #head = 0;
  #count = 0;
  #bytes = 0;

  constructor(limits: FrameLimits, handler: FrameHandler<C>, conn: C) {
    this.#limits = limits;
    this.#handler = handler;
    this.#conn = conn;
  }

  /** Frames waiting or running. */
  get length(): number {
    return this.#count;
  }

  /** Queue a frame; false (and nothing queued) when it would go over either bound. */
  push(text: string): boolean {
    const limits = this.#limits;
    if (this.#count >= limits.maxFrames || this.#bytes + text.length > limits.maxBytes) return false;
    this.#bytes += text.length;
    if (this.#count++ > 0) {
      (this.#waiting ??= []).push(text);
      return true;
    }
    this.#current = text;
    // Started from a microtask: the handler never runs inside the socket's event dispatch.
    queueMicrotask(() => this.#pump());
    return true;
  }

  /** Run frames while they are answered at once; a frame still running resumes the loop when it ends. */
  #pump(): void {
    while (this.#current !== undefined) {
      let running: Promise<void> | void;
      try {
        running = this.#handler.dispatch(this.#conn, this.#current);
      } catch {
        // the handler does not throw (the router replies to every failure); were it to, the
        // connection's next frames must still run rather than stop behind a dead loop
        running = undefined;
      }
      if (running) {
        void this.#resume(running);
        return;
      }
      this.#next();
    }
  }

  async #resume(running: Promise<void>): Promise<void> {
    try {
      await running;
    } catch {
      // as in #pump: a rejection must not stop the frames behind it
    }
    this.#next();
    this.#pump();
  }

  /** The current frame is done: the oldest waiting one is next. */
  #next(): void {
    this.#bytes -= this.#current!.length;
    this.#count--;
    const waiting = this.#waiting;
    if (waiting === undefined || this.#head === waiting.length) {
      this.#current = undefined;
      return;
    }
    this.#current = waiting[this.#head];
    waiting[this.#head++] = "";
    if (this.#head === waiting.length) {
      waiting.length = 0;
      this.#head = 0;
    }
  }
}
