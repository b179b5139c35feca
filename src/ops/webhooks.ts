/**
 * Online/offline webhooks (`webhooks.url`): the manager calls {@linkcode Webhooks.enqueue} from its
 * event loop, which only appends to a bounded queue — the manager is never blocked by the receiver.
 * One background sender POSTs batches as JSON:
 *
 * ```json
 * {"events": [{"id": "node-a:1764212000000:1", "event": "online", "appId": 101, "userId": "alice",
 *              "nodeId": "node-a", "time": 1764212000123}]}
 * ```
 *
 * Delivery is at least once: a batch is retried (exponential backoff with jitter, up to
 * `webhooks.maxRetries` retries) until the receiver answers 2xx; receivers de-duplicate by `id`.
 * When the queue is full (`webhooks.queueSize`) the oldest event is dropped, because the newest
 * state of a user matters most. Drops are counted in `im_webhook_drops_total{reason}` and in
 * `im_drops_total{reason="webhook_*"}`.
 *
 * @example
 * ```ts
 * const hooks = new Webhooks({ url, queueSize: 10000, maxRetries: 8, nodeId, metrics, log });
 * hooks.enqueue("online", 101, "alice");
 * await hooks.close(2000); // flush for at most 2 s
 * ```
 * @module
 */
import type { Clock } from "../util/clock.ts";
import { systemClock } from "../util/clock.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";

/** One event as POSTed. */
export interface WebhookEvent {
  /** Unique per event (node, start time, counter): receivers de-duplicate retries with it. */
  id: string;
  event: "online" | "offline";
  appId: number;
  userId: string;
  nodeId: string;
  /** Milliseconds since the epoch when the node saw the change. */
  time: number;
}

/** Settings of {@linkcode Webhooks}. */
export interface WebhookOptions {
  url: string;
  queueSize: number;
  maxRetries: number;
  nodeId: string;
  metrics: Metrics;
  log: Logger;
  clock?: Clock;
  /** Events per POST (default 100). */
  batchSize?: number;
  /** First retry delay (default 500 ms); doubles per retry up to `maxDelayMs` (default 30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per-request timeout (default 5 s). */
  timeoutMs?: number;
}

/** A bounded queue of events and the one sender that drains it. */
export class Webhooks {
  readonly #o: Required<Omit<WebhookOptions, "clock">> & { clock: Clock };
  #queue: WebhookEvent[] = [];
  #head = 0;
  #next = 0;
  readonly #prefix: string;
  #wake: (() => void) | undefined;
  #closed = false;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  readonly #sent;
  readonly #drops;
  readonly #retries;

  constructor(options: WebhookOptions) {
    this.#o = {
      batchSize: 100,
      baseDelayMs: 500,
      maxDelayMs: 30_000,
      timeoutMs: 5000,
      clock: systemClock,
      ...options,
    };
    this.#prefix = `${options.nodeId}:${this.#o.clock.now()}:`;
    const m = options.metrics;
    this.#sent = m.counter("im_webhook_events_total", "Webhook events delivered (2xx)");
    this.#retries = m.counter("im_webhook_retries_total", "Webhook POSTs retried");
    this.#drops = m.counter("im_webhook_drops_total", "Webhook events dropped by reason", ["reason"]);
    m.gauge("im_webhook_queue_length", "Webhook events waiting to be sent", () => this.length);
  }

  /** Events waiting (not counting a batch in flight). */
  get length(): number {
    return this.#queue.length - this.#head;
  }

  /** Start the background sender. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Queue an event; O(1), never waits. Drops the oldest when full. */
  enqueue(event: WebhookEvent["event"], appId: number, userId: string): void {
    if (this.#closed) return this.#drop("closed");
    if (this.length >= this.#o.queueSize) {
      this.#head++;
      this.#drop("queue_full");
    }
    this.#queue.push({
      id: this.#prefix + ++this.#next,
      event,
      appId,
      userId,
      nodeId: this.#o.nodeId,
      time: this.#o.clock.now(),
    });
    this.#wake?.();
  }

  /**
   * Stop: keep sending what is queued for at most `flushMs`, then abort. Events still queued are
   * counted as dropped (reason `shutdown`).
   */
  async close(flushMs = 0): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (this.#loop) {
      await Promise.race([
        this.#loop,
        new Promise<void>((r) => timer = setTimeout(r, flushMs)),
      ]);
    }
    clearTimeout(timer);
    this.#abort.abort();
    await this.#loop;
    const left = this.length;
    if (left > 0) this.#drop("shutdown", left);
    this.#queue = [];
    this.#head = 0;
  }

  #drop(reason: string, n = 1): void {
    this.#drops.inc({ reason }, n);
    this.onDrop?.(reason, n);
  }

  /** Also told about drops (the server forwards them to `im_drops_total`). */
  onDrop?: (reason: string, n: number) => void;

  async #run(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      if (this.length === 0) {
        if (this.#closed) return;
        await new Promise<void>((r) => this.#wake = r);
        this.#wake = undefined;
        continue;
      }
      const batch = this.#queue.slice(this.#head, this.#head + this.#o.batchSize);
      if (await this.#deliver(batch)) this.#sent.inc({}, batch.length);
      else if (!this.#abort.signal.aborted) this.#drop("retries_exhausted", batch.length);
      else return; // aborted mid-batch: close() counts it as a shutdown drop
      // The batch is done; events dropped from the front meanwhile moved #head past part of it.
      this.#head = Math.max(this.#head, this.#indexAfter(batch));
      this.#compact();
    }
  }

  /** Queue index just after the last event of `batch` (it may have been dropped meanwhile). */
  #indexAfter(batch: WebhookEvent[]): number {
    const last = batch[batch.length - 1];
    for (let i = this.#head; i < this.#queue.length; i++) if (this.#queue[i] === last) return i + 1;
    return this.#head;
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** POST one batch until a 2xx, at most 1 + maxRetries times. */
  async #deliver(batch: WebhookEvent[]): Promise<boolean> {
    const body = JSON.stringify({ events: batch });
    for (let attempt = 0; attempt <= this.#o.maxRetries; attempt++) {
      if (attempt > 0) {
        this.#retries.inc();
        const backoff = Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** (attempt - 1));
        if (!await this.#sleep(backoff / 2 + Math.random() * backoff / 2)) return false;
      }
      if (await this.#post(body)) return true;
    }
    return false;
  }

  async #post(body: string): Promise<boolean> {
    const timeout = new AbortController();
    const onAbort = () => timeout.abort();
    this.#abort.signal.addEventListener("abort", onAbort);
    const timer = setTimeout(onAbort, this.#o.timeoutMs);
    try {
      const res = await fetch(this.#o.url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "imserver-webhooks" },
        body,
        signal: timeout.signal,
      });
      await res.body?.cancel();
      if (res.ok) return true;
      this.#o.log.warning("webhook {url} answered {status}", { url: this.#o.url, status: res.status });
      return false;
    } catch (error) {
      if (!this.#abort.signal.aborted) {
        this.#o.log.warning("webhook {url} failed: {error}", { url: this.#o.url, error: String(error) });
      }
      return false;
    } finally {
      clearTimeout(timer);
      this.#abort.signal.removeEventListener("abort", onAbort);
    }
  }

  /** Wait `ms` unless aborted first; false when aborted. */
  #sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const signal = this.#abort.signal;
      if (signal.aborted) return resolve(false);
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve(!signal.aborted);
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done);
    });
  }
}
