/**
 * A small Prometheus registry: counters and gauges with labels and label-less histograms, rendered in
 * the text exposition format at `/metrics`. (prom-client depends on Node internals we do not need.)
 *
 * @example
 * ```ts
 * const m = new Metrics();
 * const sent = m.counter("im_messages_total", "Messages accepted", ["kind"]);
 * sent.inc({ kind: "direct" });
 * m.render();
 * ```
 * @module
 */

type Labels = Record<string, string>;

/** Most label sets one counter keeps; more are folded into `"other"`. */
const MAX_SERIES = 200;

/** A monotonically increasing value per label set. */
export class Counter {
  readonly values = new Map<string, number>();
  // Single-label counters are incremented per frame/message: remember the rendered key of each
  // label value instead of escaping and joining strings every time (bounded: label values are
  // cmd names, codes and reasons).
  readonly #keys = new Map<string, string>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {}
  /** Add `by` (default 1) to the series with `labels`. */
  inc(labels: Labels = {}, by = 1): void {
    let k = this.#key(labels);
    // Label values are meant to be a small fixed set; anything past the cap is counted as "other"
    // instead of growing the registry (and every scrape) without bound.
    if (!this.values.has(k) && this.values.size >= MAX_SERIES) k = this.#overflowKey();
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  /** Sum over every series. */
  sum(): number {
    let n = 0;
    for (const v of this.values.values()) n += v;
    return n;
  }
  /** Totals by label value, for a counter with one label (`{reason}` → count). */
  byLabel(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, v] of this.values) {
      const value = k.slice(k.indexOf('="') + 2, -1).replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c);
      out.set(value, (out.get(value) ?? 0) + v);
    }
    return out;
  }
  #overflowKey(): string {
    return labelKey(this.labelNames, Object.fromEntries(this.labelNames.map((n) => [n, "other"])));
  }
  /** Current value of one series (0 if never incremented). */
  get(labels: Labels = {}): number {
    return this.values.get(this.#key(labels)) ?? 0;
  }
  #key(labels: Labels): string {
    if (this.labelNames.length !== 1) return labelKey(this.labelNames, labels);
    const value = labels[this.labelNames[0]] ?? "";
    let k = this.#keys.get(value);
    if (k === undefined) {
      k = labelKey(this.labelNames, labels);
      if (this.#keys.size < 1024) this.#keys.set(value, k);
    }
    return k;
  }
}

/** Default bucket bounds of latency histograms (ms): about 1.5× apart from 50 µs to 10 s. */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  0.05,
  0.1,
  0.2,
  0.3,
  0.5,
  0.75,
  1,
  1.5,
  2,
  3,
  5,
  7.5,
  10,
  15,
  20,
  30,
  50,
  75,
  100,
  150,
  200,
  300,
  500,
  750,
  1000,
  2000,
  5000,
  10000,
];

/** A value read at scrape time. */
export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => number | Array<[Labels, number]>,
  ) {}
}

/**
 * Observations counted into fixed buckets (Prometheus `histogram`, no labels): O(buckets) per
 * observation, nothing kept per value.
 *
 * @example
 * ```ts
 * const commits = new Metrics().histogram("im_store_commit_ms", "Commit latency (ms)", [0.5, 1, 5]);
 * commits.observe(0.7);
 * commits.quantile(0.99); // 1 (the upper bound of the bucket the 99th percentile falls in)
 * ```
 */
export class Histogram {
  /** Upper bounds, ascending; a last `+Inf` bucket is implied. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative; the last one is `+Inf`): snapshot and diff them for rates. */
  readonly counts: Float64Array;
  #sum = 0;
  #count = 0;
  constructor(readonly name: string, readonly help: string, bounds: readonly number[]) {
    this.bounds = [...bounds].sort((a, b) => a - b);
    this.counts = new Float64Array(this.bounds.length + 1);
  }
  /** Count one value. */
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.#sum += value;
    this.#count++;
  }
  /** Observations so far. */
  get count(): number {
    return this.#count;
  }
  /** Sum of the observed values. */
  get sum(): number {
    return this.#sum;
  }
  /** Upper bound of the bucket holding quantile `q` (0..1); 0 when empty, Infinity past the last bound. */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return this.bounds[i] ?? Infinity;
    }
    return Infinity;
  }
  /**
   * Estimate the `q` quantile of per-bucket `counts` (e.g. the difference of two snapshots), linear
   * within the bucket; the `+Inf` bucket reports the last bound. Undefined when `counts` are all 0.
   */
  static quantile(bounds: readonly number[], counts: ArrayLike<number>, q: number): number | undefined {
    let total = 0;
    for (let i = 0; i < counts.length; i++) total += counts[i];
    if (total === 0) return undefined;
    const rank = q * total;
    let below = 0;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] > 0 && below + counts[i] >= rank) {
        if (i >= bounds.length) return bounds[bounds.length - 1];
        const lower = i === 0 ? 0 : bounds[i - 1];
        return lower + (bounds[i] - lower) * Math.max(0, rank - below) / counts[i];
      }
      below += counts[i];
    }
    return bounds[bounds.length - 1];
  }
  /** The exposition lines of this histogram. */
  lines(): string[] {
    const out: string[] = [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.counts[i];
      out.push(`${this.name}_bucket{le="${bound}"} ${cumulative}`);
    });
    out.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    out.push(`${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
    return out;
  }
}

function labelKey(names: readonly string[], labels: Labels): string {
  if (names.length === 0) return "";
  return names.map((n) => `${n}="${escape(labels[n] ?? "")}"`).join(",");
}

function escape(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Holds every metric of one server instance. */
export class Metrics {
  readonly #counters = new Map<string, Counter>();
  readonly #gauges = new Map<string, Gauge>();
  readonly #histograms = new Map<string, Histogram>();

  /** Get or create a counter. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    let c = this.#counters.get(name);
    if (!c) this.#counters.set(name, c = new Counter(name, help, labelNames));
    return c;
  }

  /** Get or create a histogram (`bounds` apply when it is created). */
  histogram(name: string, help: string, bounds: readonly number[] = LATENCY_BUCKETS_MS): Histogram {
    let h = this.#histograms.get(name);
    if (!h) this.#histograms.set(name, h = new Histogram(name, help, bounds));
    return h;
  }

  /** A histogram if some part of the server created it (e.g. a store that reports its latency). */
  findHistogram(name: string): Histogram | undefined {
    return this.#histograms.get(name);
  }

  /** Register (or replace) a gauge read at scrape time. */
  gauge(name: string, help: string, read: Gauge["read"]): void {
    this.#gauges.set(name, new Gauge(name, help, read));
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const lines: string[] = [];
    for (const c of this.#counters.values()) {
      lines.push(`# HELP ${c.name} ${c.help}`, `# TYPE ${c.name} counter`);
      if (c.values.size === 0 && c.labelNames.length === 0) lines.push(`${c.name} 0`);
      for (const [k, v] of c.values) lines.push(k ? `${c.name}{${k}} ${v}` : `${c.name} ${v}`);
    }
    for (const h of this.#histograms.values()) {
      lines.push(`# HELP ${h.name} ${h.help}`, `# TYPE ${h.name} histogram`, ...h.lines());
    }
    for (const g of this.#gauges.values()) {
      lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      const v = g.read();
      if (typeof v === "number") lines.push(`${g.name} ${v}`);
      else {for (const [labels, n] of v) {
          lines.push(`${g.name}{${labelKey(Object.keys(labels), labels)}} ${n}`);
        }}
    }
    return lines.join("\n") + "\n";
  }
}
