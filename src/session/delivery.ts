/**
 * The delivery state of one connection, with one owner: this class. It keeps the inbox **cursor** (the
 * highest seq given to — or passed by — the connection), the queue of live entries held back while a
 * replay runs, the replay loop itself, the sender's own msgIds in flight and the byte budget.
 *
 * Rules (docs/MESSAGING.md §3):
 * - a live entry with `seq = cursor + 1` is sent; `seq ≤ cursor` is a duplicate and dropped; a higher seq
 *   is a gap: it is queued and the inbox is read from the store until the hole is filled;
 * - while a replay runs, live entries queue and are released in order when it has caught up, so replayed
 *   and live messages are never reordered or repeated;
 * - the connection's own sends are passed, not pushed (it gets the reply), and a reply that carries the
 *   sender's own seq waits until the cursor has reached it ({@linkcode Delivery.passed}); the own entry is
 *   a barrier the other way round: nothing after it is written before that reply
 *   ({@linkcode Delivery.replied}) — so the highest seq a client has seen is always a safe resume point;
 * - memory is bounded: queued bytes plus the socket's unsent bytes never exceed `maxBytes` — beyond, the
 *   queue is dropped and re-read from the store (every entry is there); a socket whose buffer stays over
 *   half the budget for `stallTimeoutMs` is a slow consumer (the sink's `stalled()`);
 * - a live entry that repeats a delivered seq with another msgId is evidence that the store went back in
 *   time (`onConflict`).
 *
 * @example
 * ```ts
 * const delivery = new Delivery(sink, policy);               // policy: shared by every connection
 * delivery.open(store, 101, "bob", lastSeq);                 // login: queue live entries
 * sendLoginReply();
 * void delivery.replay();                                                // then catch up
 * delivery.deliver(entry, frame);                                        // live traffic
 * ```
 * @size One owner of a connection's delivery state: the cursor, the queue and the replay loop share
 * private fields, and splitting them would hand those fields to another module.
 * @module
 */
import type { Clock } from "../util/clock.ts";
import { currentFrames, type MessageSource } from "../messaging/current.ts";
import type { Pushes } from "../protocol/pushes.ts";
import type { InboxEntry } from "../store/store.ts";

/** What a delivery writes to (a {@linkcode Connection} satisfies it; tests use fakes). */
export interface DeliverySink {
  readonly open: boolean;
  /** Bytes queued in the socket but not written yet. */
  readonly buffered: number;
  send(text: string): boolean;
  /** The peer does not read (a replay waited `stallTimeoutMs` for it): close it as a slow consumer. */
  stalled(): void;
}

/**
 * Where a delivery reads the logged-in user's inbox (a `Store` is one): entries after `afterSeq`, oldest
 * first, and what shows them as they are now (edits, recalls, blocks; messaging/current.ts).
 */
export interface InboxSource extends MessageSource {
  range(appId: number, userId: string, afterSeq: number, limit: number): Promise<InboxEntry[]>;
}

/**
 * Settings and callbacks of a {@linkcode Delivery}: one object shared by every connection of a listener
 * (the callbacks get the connection), so a connection keeps no copy and no closure of its own.
 */
export interface DeliveryPolicy<S extends DeliverySink = DeliverySink> {
  /** Entries read from the store per page (`inbox.syncPageSize`). */
  pageSize: number;
  /** Budget of queued plus unsent bytes (`im.sendBufferBytes`). */
  maxBytes: number;
  /** A replay waiting this long for the socket to drain is a stalled peer (`im.sendStallTimeout`, ms). */
  stallTimeoutMs: number;
  clock: Clock;
  pushes: Pushes;
  /** A store read failed (logged); the replay is retried after a pause. */
  onError?: (sink: S, error: unknown) => void;
  /** A live entry contradicts a delivered one (same seq, other msgId): the store rolled back. */
  onConflict?: (sink: S, entry: Pick<InboxEntry, "seq" | "msgId">) => void;
}

/** Outcome of one replay. */
export interface ReplayResult {
  /** Entries sent from the store. */
  replayed: number;
  /** Seqs dropped before the connection could get them (0 = no gap). */
  lost: number;
  /** First seq still kept when a gap was found. */
  firstSeq: number;
}

/** What {@linkcode Delivery.deliver} did with a live entry. */
export type DeliverOutcome = "sent" | "queued" | "duplicate" | "gap" | "closed";

interface Pending {
  entry: Pick<InboxEntry, "seq" | "msgId">;
  /** Pre-encoded push; undefined = advance without sending (the sender's own copy). */
  text: string | undefined;
}

/** Empty store reads in a row, with a hole before the queued live entries, before the hole is a gap. */
const MAX_STALLED_READS = 6;
/** Recently delivered (seq, msgId) pairs kept to notice a store that went back in time. */
const RECENT = 8;
/** Own msgIds remembered at most (an id whose append failed is never passed; the oldest go first). */
const MAX_OWN = 256;
/** A passed own entry waiting for its reply. */
interface Held {
  seq: number;
  /** When it was passed (clock ms): after `stallTimeoutMs` it holds nothing back, reply or not. */
  at: number;
}
/** Per-entry bookkeeping counted against the byte budget besides the frame text. */
const ENTRY_OVERHEAD = 64;
const noop = () => {};

/** Cursor, queue and replay of one connection. */
export class Delivery<S extends DeliverySink = DeliverySink> {
  readonly #sink: S;
  readonly #o: DeliveryPolicy<S>;
  /** Bumped by open/stop: a replay of an older login stops by itself. */
  #gen = 0;
  /** The store of the logged-in user's inbox; undefined = not delivering. */
  #source: InboxSource | undefined;
  #appId = 0;
  /** Whose inbox this is (event pushes name the conversation from the owner's side). */
  #owner = "";
  #cursor = 0;
  /** Cursor value last reported by {@linkcode takeAdvance}. */
  #reported = 0;
  /**
   * Seq of the first frame the socket refused (over its buffer cap; the connection is being closed as a
   * slow consumer), 0 = none: the user's delivered mark never reaches it, or a login without `lastSeq`
   * would skip an entry this connection never got.
   */
  #refusedAt = 0;
  /** True while live entries must queue (a replay is needed or running). */
  #queueing = false;
  #loop: { promise: Promise<ReplayResult> } | undefined;
  /** Live entries held back; undefined until one is. */
  #pending: Pending[] | undefined;
  #pendingBytes = 0;
  /** The queue went over budget and was dropped: read the store up to {@linkcode #highestSeen}. */
  #overflowed = false;
  #highestSeen = 0;
  /** A live entry skipped ahead while a replay ran: read the store again before finishing. */
  #reread = false;
  #own: Set<string> | undefined;
  /** Own entries passed whose reply is not written yet, by msgId: nothing after them is sent. */
  #held: Map<string, Held> | undefined;
  /** The lowest held seq (Infinity: none): entries after it wait (see {@linkcode replied}). */
  #limit = Infinity;
  /** Wakes a replay waiting at {@linkcode #limit}. */
  #wake: (() => void) | undefined;
  /**
   * Armed only while something waits behind a held entry (the common send holds nothing back and costs no
   * timer): lets it through should a reply never be reported.
   */
  #heldTimer: ReturnType<typeof setTimeout> | undefined;
  #recentSeq: number[] | undefined;
  #recentId: string[] | undefined;
  #recentAt = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #retries = 0;
  /** Replies waiting for the cursor to reach their seq (see {@linkcode passed}). */
  #waiters: Array<{ seq: number; done: () => void }> | undefined;

  constructor(sink: S, policy: DeliveryPolicy<S>) {
    this.#sink = sink;
    this.#o = policy;
  }

  /** Highest seq delivered or passed on this connection. */
  get position(): number {
    return this.#cursor;
  }

  /** True while live entries are held back for a replay. */
  get replaying(): boolean {
    return this.#queueing;
  }

  /** Bytes of live entries held back (a metric). */
  get queuedBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Start delivering for a new login: the cursor is `fromSeq`, live entries queue until
   * {@linkcode replay} has caught up. Forgets everything of a previous login.
   */
  open(source: InboxSource, appId: number, owner: string, fromSeq: number): void {
    this.stop();
    this.#source = source;
    this.#appId = appId;
    this.#owner = owner;
    this.#cursor = this.#reported = fromSeq;
    this.#refusedAt = 0;
    this.#queueing = true;
  }

  /** Stop delivering (logout, close): drops the queue and ends a running replay. */
  stop(): void {
    this.#gen++;
    this.#source = undefined;
    this.#queueing = false;
    this.#loop = undefined;
    this.#pending = undefined;
    this.#pendingBytes = 0;
    this.#overflowed = false;
    this.#reread = false;
    this.#own = undefined;
    clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
    this.#held = undefined;
    this.#limit = Infinity;
    this.#wakeReplay();
    this.#recentSeq = this.#recentId = undefined;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#retries = 0;
    this.#release(Infinity);
  }

  /**
   * Resolves once the cursor is at or past `seq` — every earlier entry of the inbox has been pushed (or
   * passed) on this connection — or delivery stops, or `stallTimeoutMs` passes. A reply that carries the
   * connection's own inbox seq (`senderSeq`) waits for this: were it sent while earlier entries are still
   * on their way (a replay after a gap), a client resuming from the highest seq it saw would skip them.
   * Immediate in the common case, where the sender's own copy was passed before the reply.
   */
  passed(seq: number): Promise<void> {
    if (seq <= this.#cursor || !this.#source || !this.#sink.open) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), this.#o.stallTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      (this.#waiters ??= []).push({ seq, done });
    });
  }

  /** Resolve the waiters whose seq the cursor (or `upTo`) has reached. */
  #release(upTo: number): void {
    const waiters = this.#waiters;
    if (!waiters) return;
    const still = waiters.filter((w) => w.seq > upTo);
    this.#waiters = still.length ? still : undefined;
    for (const w of waiters) if (w.seq <= upTo) w.done();
  }

  /** Catch up from the store (or join the replay already running); resolves when live again. */
  replay(): Promise<ReplayResult> {
    if (!this.#source) return Promise.resolve({ replayed: 0, lost: 0, firstSeq: 0 });
    this.#queueing = true;
    if (this.#loop) return this.#loop.promise;
    const run = { promise: undefined as unknown as Promise<ReplayResult> };
    this.#loop = run;
    run.promise = this.#run(this.#gen, run);
    return run.promise;
  }

  /** `sync {since}`: send every entry after `since` again, then go live. */
  rewind(since: number): Promise<ReplayResult> {
    this.#cursor = since;
    this.#reread = true;
    return this.replay();
  }

  /**
   * Remember a msgId this connection is sending (before the store append): it gets the reply instead, and
   * must report it written with {@linkcode replied}.
   */
  expectOwn(msgId: string): void {
    const own = this.#own ??= new Set();
    if (own.size >= MAX_OWN) own.delete(own.values().next().value!);
    own.add(msgId);
  }

  /**
   * The reply to this connection's send of `msgId` has been written, or the send failed: forget the id and
   * let through the entries held back behind its own entry. Until then, once the own entry is passed, no
   * entry with a higher seq is written to the connection (a later sender's push overtaking the reply, which
   * waits for the disk, would make the highest seq seen skip the own one), for at most `stallTimeoutMs`.
   * Other connections are not affected; held entries queue within the byte budget like a replay's.
   */
  replied(msgId: string): void {
    this.#own?.delete(msgId);
    const held = this.#held?.get(msgId);
    if (!held) return;
    this.#held!.delete(msgId);
    if (this.#held!.size === 0) {
      clearTimeout(this.#heldTimer);
      this.#heldTimer = undefined;
    }
    let limit = Infinity;
    for (const h of this.#held!.values()) if (h.seq < limit) limit = h.seq;
    this.#limit = limit;
    if (this.#loop) {
      this.#wakeReplay();
      return;
    }
    // Entries queued while live: release them in order (up to the next held entry), or read the store when
    // they have a hole.
    if (!this.#queueing || !this.#source || this.#cursor >= this.#limit) return;
    if (!this.#flush() && this.#cursor < this.#limit) this.replay().catch(noop);
  }

  /** An own entry was passed: hold back what follows until its reply is written. */
  #hold(entry: Pick<InboxEntry, "seq" | "msgId">): void {
    const held = this.#held ??= new Map();
    const { msgId } = entry;
    held.set(msgId, { seq: entry.seq, at: this.#o.clock.now() });
    if (held.size > MAX_OWN) {
      // As many sends in flight as own msgIds are remembered: the oldest no longer holds anything back.
      held.delete(held.keys().next().value!);
      this.#limit = Infinity;
    }
    for (const h of held.values()) if (h.seq < this.#limit) this.#limit = h.seq;
  }

  /** Something waits behind a held entry: make sure a reply that never comes cannot hold it for good. */
  #armHeld(): void {
    if (this.#heldTimer !== undefined) return;
    this.#heldTimer = setTimeout(() => {
      this.#heldTimer = undefined;
      const now = this.#o.clock.now();
      for (const [id, h] of this.#held ?? []) if (now - h.at >= this.#o.stallTimeoutMs) this.replied(id);
      if (this.#held?.size) this.#armHeld();
    }, this.#o.stallTimeoutMs);
  }

  #wakeReplay(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /**
   * The cursor — capped before the first frame the socket refused — if it moved since the last call (the
   * user's `delivered` mark follows it), else undefined.
   */
  takeAdvance(): number | undefined {
    const written = this.#refusedAt ? Math.min(this.#cursor, this.#refusedAt - 1) : this.#cursor;
    if (written <= this.#reported) return undefined;
    return this.#reported = written;
  }

  /**
   * Deliver a live inbox entry; `text` undefined means pass it without sending (the origin connection's
   * own copy). Only `seq` and `msgId` of the entry are read.
   */
  deliver(entry: Pick<InboxEntry, "seq" | "msgId">, text: string | undefined): DeliverOutcome {
    if (!this.#source || !this.#sink.open) return "closed";
    if (this.#queueing) {
      this.#queue(entry, text);
      return "queued";
    }
    if (entry.seq <= this.#cursor) {
      this.#checkConflict(entry);
      return "duplicate";
    }
    if (entry.seq > this.#limit) {
      // Behind an own entry whose reply is not written yet: queue until replied().
      this.#queueing = true;
      this.#armHeld();
      this.#queue(entry, text);
      return "queued";
    }
    if (entry.seq !== this.#cursor + 1) {
      this.#reread = true;
      this.#queue(entry, text);
      this.replay().catch(noop);
      return "gap";
    }
    this.#advance(entry, text);
    return "sent";
  }

  #queue(entry: Pick<InboxEntry, "seq" | "msgId">, text: string | undefined): void {
    if (entry.seq > this.#highestSeen) this.#highestSeen = entry.seq;
    if (this.#overflowed) return;
    const bytes = (text?.length ?? 0) + ENTRY_OVERHEAD;
    if (this.#pendingBytes + bytes + this.#sink.buffered > this.#o.maxBytes) {
      // Every queued entry is in the store: drop the queue and read it back later instead of growing.
      this.#pending = undefined;
      this.#pendingBytes = 0;
      this.#overflowed = true;
      this.#reread = true;
      return;
    }
    (this.#pending ??= []).push({ entry, text });
    this.#pendingBytes += bytes;
  }

  #advance(entry: Pick<InboxEntry, "seq" | "msgId">, text: string | undefined): void {
    this.#cursor = entry.seq;
    if (this.#waiters) this.#release(entry.seq);
    const seqs = this.#recentSeq ??= new Array(RECENT).fill(0);
    const ids = this.#recentId ??= new Array(RECENT).fill("");
    seqs[this.#recentAt] = entry.seq;
    ids[this.#recentAt] = entry.msgId;
    this.#recentAt = (this.#recentAt + 1) % RECENT;
    // Most connections have no send in flight: skip hashing the msgId then.
    const own = this.#own !== undefined && this.#own.size !== 0 && this.#own.delete(entry.msgId);
    if (own) this.#hold(entry);
    else if (text !== undefined && !this.#sink.send(text) && !this.#refusedAt) this.#refusedAt = entry.seq;
  }

  #checkConflict(entry: Pick<InboxEntry, "seq" | "msgId">): void {
    const seqs = this.#recentSeq;
    if (!seqs || !this.#o.onConflict) return;
    const i = seqs.indexOf(entry.seq);
    if (i >= 0 && this.#recentId![i] !== entry.msgId) this.#o.onConflict(this.#sink, entry);
  }

  async #run(gen: number, run: { promise: Promise<ReplayResult> }): Promise<ReplayResult> {
    const result: ReplayResult = { replayed: 0, lost: 0, firstSeq: 0 };
    const { pageSize } = this.#o;
    const live = () => gen === this.#gen && this.#sink.open;
    let stalled = 0;
    try {
      while (live()) {
        if (this.#cursor >= this.#limit) {
          // An own entry was passed and its reply is not written yet: wait for replied().
          this.#armHeld();
          await new Promise<void>((r) => this.#wake = r);
          continue;
        }
        const from = this.#cursor;
        this.#reread = false;
        const source = this.#source!;
        const page = await source.range(this.#appId, this.#owner, from, pageSize);
        // Messages as they are now (a recalled one without its text): one more read per page.
        const frames = page.length > 0 ? await currentFrames(source, this.#appId, this.#owner, page) : [];
        if (!live()) break;
        if (this.#cursor !== from) continue; // rewound meanwhile: read again from the new cursor
        this.#retries = 0;
        if (page.length > 0 && page[0].seq > from + 1) this.#gap(result, page[0].seq);
        for (let i = 0; i < page.length; i++) {
          if (page[i].seq <= this.#cursor) continue;
          if (page[i].seq > this.#limit) {
            this.#reread = true; // the rest of the page, after the own entry's reply
            break;
          }
          this.#advance(page[i], frames[i]);
          result.replayed++;
        }
        if (!await this.#drained(live)) break;
        if (page.length === pageSize) {
          stalled = 0;
          continue;
        }
        if (this.#flush()) return result;
        if (this.#cursor >= this.#limit) continue;
        // A live entry arrived past a hole the store cannot fill (it lost what it had already published,
        // e.g. Redis restarted without its last writes): retry with a growing pause, then report the hole
        // as a gap instead of polling the store forever.
        if (page.length > 0) stalled = 0;
        else if (++stalled > MAX_STALLED_READS) this.#skipHole(result);
        else await new Promise((r) => setTimeout(r, 5 * 2 ** stalled));
      }
      return result;
    } catch (error) {
      this.#o.onError?.(this.#sink, error);
      if (live()) this.#retryLater(gen);
      throw error;
    } finally {
      // Synchronously as the loop ends: a gap found right after must start a new run, not join this one.
      if (this.#loop === run) this.#loop = undefined;
    }
  }

  /** Report the entries from the cursor up to `firstSeq - 1` as lost (code 1016) and move past them. */
  #gap(result: ReplayResult, firstSeq: number): void {
    const lost = firstSeq - this.#cursor - 1;
    result.lost += lost;
    result.firstSeq ||= firstSeq;
    this.#sink.send(this.#o.pushes.gap(this.#cursor, firstSeq, lost));
    this.#cursor = firstSeq - 1;
    this.#release(this.#cursor);
  }

  /** Give up on entries the store no longer has: tell the client (1016) and move past them. */
  #skipHole(result: ReplayResult): void {
    this.#reread = false;
    let next = Infinity;
    for (const p of this.#pending ?? []) if (p.entry.seq < next) next = p.entry.seq;
    if (this.#overflowed) {
      next = Math.min(next, this.#highestSeen + 1);
      this.#overflowed = false;
    }
    if (Number.isFinite(next) && next > this.#cursor + 1) this.#gap(result, next);
  }

  /**
   * Send queued live entries that follow the cursor without a hole. True when the queue drained cleanly
   * (the replay is over, live again); false when the store must be read again.
   */
  #flush(): boolean {
    if (this.#overflowed) {
      if (this.#cursor < this.#highestSeen) return false;
      this.#overflowed = false;
    }
    const queued = this.#pending?.sort((a, b) => a.entry.seq - b.entry.seq) ?? [];
    let i = 0;
    for (; i < queued.length; i++) {
      const { entry, text } = queued[i];
      if (entry.seq <= this.#cursor) continue;
      if (entry.seq !== this.#cursor + 1 || entry.seq > this.#limit) break;
      this.#advance(entry, text);
    }
    const rest = i < queued.length ? queued.slice(i) : undefined;
    this.#pending = rest;
    this.#pendingBytes = rest?.reduce((n, p) => n + (p.text?.length ?? 0) + ENTRY_OVERHEAD, 0) ?? 0;
    if (rest || this.#reread) return false;
    this.#queueing = false;
    return true;
  }

  /**
   * Pace a large replay by the socket instead of tripping the slow-consumer cap: wait while more than half
   * the budget is unsent. False when the replay must end (stopped, closed, or stalled past the timeout).
   */
  async #drained(live: () => boolean): Promise<boolean> {
    const half = this.#o.maxBytes / 2;
    if (this.#sink.buffered <= half) return live();
    const since = this.#o.clock.now();
    while (live() && this.#sink.buffered > half) {
      if (this.#o.clock.now() - since > this.#o.stallTimeoutMs) {
        this.#sink.stalled();
        return false;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    return live();
  }

  /** After a failed store read, try again later (growing pause) while this login lasts. */
  #retryLater(gen: number): void {
    clearTimeout(this.#retry);
    const delay = Math.min(250 * 2 ** this.#retries++, 5000);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (gen === this.#gen && this.#sink.open) this.replay().catch(noop);
    }, delay);
  }
}
