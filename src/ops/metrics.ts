/**
 * A small Prometheus registry: counters and gauges with labels, rendered in the text
 * exposition format at `/metrics`. (prom-client depends on Node internals we do not need.)
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

/** A value read at scrape time. */
export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => number | Array<[Labels, number]>,
  ) {}
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

  /** Get or create a counter. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    let c = this.#counters.get(name);
    if (!c) this.#counters.set(name, c = new Counter(name, help, labelNames));
    return c;
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
