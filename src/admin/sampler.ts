/**
 * The console's history: once a second the sampler reads this node's gauges and cumulative counters
 * and keeps the rates in a {@linkcode SampleRing} (the last `admin.history` seconds), so a page reload
 * shows the last minutes. Store p50/p99 come from the difference of the `im_store_latency_ms` histogram
 * between two samples — only engines that report latency (Redis) have it; for the others they are NaN.
 * The sampler owns the ring and its timer; it reads everything else and writes nothing else.
 *
 * @example
 * ```ts
 * const sampler = new Sampler(sources, { capacity: 600, now: () => clock.now() });
 * sampler.start();
 * sampler.series(0).series.msgsIn; // messages accepted per second
 * sampler.stop();
 * ```
 * @module
 */
import { Histogram } from "../ops/metrics.ts";
import { SampleRing, type SampleSlice } from "./ring.ts";

/** What is sampled: gauges read as they are, counters (cumulative) turned into per-second rates. */
export interface SampleSources {
  connections(): number;
  loggedIn(): number;
  users(): number;
  /** Messages accepted (cumulative). */
  messagesIn(): number;
  /** Entries pushed live to this node's connections (cumulative). */
  messagesOut(): number;
  /** Inbox appends (cumulative). */
  deliveries(): number;
  /** Slow-consumer closes (cumulative). */
  slowCloses(): number;
  /** Drops by reason (cumulative). */
  drops(): ReadonlyMap<string, number>;
  /** The store's latency histogram, when the store reports one. */
  storeLatency(): Histogram | undefined;
  /** Process memory; default `Deno.memoryUsage()`. */
  memory?(): { rss: number; heapUsed: number };
}

/** The fixed series of every sample. */
export const SERIES = [
  "connections",
  "loggedIn",
  "users",
  "msgsIn",
  "msgsOut",
  "deliveries",
  "slowCloses",
  "drops",
  "storeP50",
  "storeP99",
  "rss",
  "heapUsed",
] as const;

/** One name of {@linkcode SERIES}. */
export type SeriesName = typeof SERIES[number];

/** Samples as the admin API returns them (`GET /api/v1/admin/series`). */
export interface SeriesReply {
  /** Seconds between samples. */
  interval: number;
  /** Samples kept at most. */
  capacity: number;
  /** Sample times (ms). */
  t: number[];
  series: Record<SeriesName, number[]>;
  /** Drops per second by reason. */
  drops: Record<string, number[]>;
}

/** Options of {@linkcode Sampler}. */
export interface SamplerOptions {
  /** Samples kept (`admin.history`). */
  capacity: number;
  now: () => number;
  /** Drop reasons kept apart; more are summed as "other". Default 16. */
  maxReasons?: number;
}

interface Totals {
  at: number;
  msgsIn: number;
  msgsOut: number;
  deliveries: number;
  slowCloses: number;
  drops: Map<string, number>;
  latency: Float64Array | undefined;
}

/** Per-second samples of one node. */
export class Sampler {
  readonly #s: SampleSources;
  readonly #o: SamplerOptions;
  readonly #ring: SampleRing;
  #prev: Totals;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(sources: SampleSources, options: SamplerOptions) {
    this.#s = sources;
    this.#o = options;
    this.#ring = new SampleRing(SERIES, options.capacity, options.maxReasons ?? 16);
    this.#prev = this.#totals(options.now());
  }

  /** Samples held. */
  get size(): number {
    return this.#ring.size;
  }

  /** Bytes of the sample arrays (fixed once the ring and its drop reasons exist). */
  get bytes(): number {
    return this.#ring.bytes;
  }

  /** Sample every `intervalMs` (default 1 s) until {@linkcode stop}. */
  start(intervalMs = 1000): void {
    this.#timer ??= setInterval(() => this.tick(this.#o.now()), intervalMs);
  }

  /** Stop sampling (the samples stay). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #totals(at: number): Totals {
    const s = this.#s;
    return {
      at,
      msgsIn: s.messagesIn(),
      msgsOut: s.messagesOut(),
      deliveries: s.deliveries(),
      slowCloses: s.slowCloses(),
      drops: new Map(s.drops()),
      latency: s.storeLatency()?.counts.slice(),
    };
  }

  /** Take one sample at `now` (ms); the timer calls it, tests call it directly. */
  tick(now: number): void {
    const cur = this.#totals(now);
    const prev = this.#prev;
    this.#prev = cur;
    const seconds = Math.max(0.001, (now - prev.at) / 1000);
    const rate = (a: number, b: number) => Math.max(0, a - b) / seconds;
    const drops = new Map<string, number>();
    let dropped = 0;
    for (const [reason, n] of cur.drops) {
      const r = rate(n, prev.drops.get(reason) ?? 0);
      if (r > 0) drops.set(reason, r);
      dropped += r;
    }
    const { p50, p99 } = this.#latency(cur.latency, prev.latency);
    const memory = this.#s.memory?.() ?? Deno.memoryUsage();
    this.#ring.push(now, {
      connections: this.#s.connections(),
      loggedIn: this.#s.loggedIn(),
      users: this.#s.users(),
      msgsIn: rate(cur.msgsIn, prev.msgsIn),
      msgsOut: rate(cur.msgsOut, prev.msgsOut),
      deliveries: rate(cur.deliveries, prev.deliveries),
      slowCloses: rate(cur.slowCloses, prev.slowCloses),
      drops: dropped,
      storeP50: p50,
      storeP99: p99,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
    }, drops);
  }

  #latency(cur: Float64Array | undefined, prev: Float64Array | undefined): { p50: number; p99: number } {
    const h = this.#s.storeLatency();
    if (!h || !cur) return { p50: NaN, p99: NaN };
    const delta = prev ? cur.map((v, i) => v - prev[i]) : cur;
    return {
      p50: Histogram.quantile(h.bounds, delta, 0.5) ?? NaN,
      p99: Histogram.quantile(h.bounds, delta, 0.99) ?? NaN,
    };
  }

  /** Samples taken after `after` (ms). */
  series(after: number): SeriesReply {
    const slice: SampleSlice = this.#ring.since(after);
    return {
      interval: 1,
      capacity: this.#o.capacity,
      t: slice.t,
      series: slice.series as Record<SeriesName, number[]>,
      drops: slice.extra,
    };
  }

  /** Mean of a series over the last `seconds` samples (NaN when there are none). */
  recentRate(name: SeriesName, seconds: number): number {
    return this.#ring.mean(name, seconds);
  }
}
