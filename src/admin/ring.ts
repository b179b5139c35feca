/**
 * A fixed-size ring of per-second samples: one `Float64Array` per named series plus a bounded set of
 * extra series that appear at run time (drops by reason). Memory is fixed once the arrays exist:
 * `(1 + series + extras) × capacity × 8` bytes; a reason past the cap is added to `"other"`.
 *
 * @example
 * ```ts
 * const ring = new SampleRing(["connections"], 600, 16);
 * ring.push(Date.now(), { connections: 3 }, new Map([["binary", 1]]));
 * ring.since(0).series.connections; // [3]
 * ```
 * @module
 */

/** Samples after a time, as plain arrays (JSON turns NaN — "no value" — into null). */
export interface SampleSlice {
  t: number[];
  series: Record<string, number[]>;
  extra: Record<string, number[]>;
}

/** The name extras past the cap are summed under. */
export const OTHER = "other";

/** The last `capacity` samples of fixed and extra series. */
export class SampleRing {
  readonly #t: Float64Array;
  readonly #series = new Map<string, Float64Array>();
  readonly #extra = new Map<string, Float64Array>();
  readonly #capacity: number;
  readonly #maxExtra: number;
  /** Index the next sample goes to. */
  #next = 0;
  #size = 0;

  /** `names` of the fixed series; at most `maxExtra` named extra series (plus {@linkcode OTHER}). */
  constructor(names: readonly string[], capacity: number, maxExtra: number) {
    this.#capacity = capacity;
    this.#maxExtra = maxExtra;
    this.#t = new Float64Array(capacity);
    for (const name of names) this.#series.set(name, new Float64Array(capacity));
  }

  /** Samples held (at most the capacity). */
  get size(): number {
    return this.#size;
  }

  /** Bytes of the sample arrays. */
  get bytes(): number {
    let n = this.#t.byteLength;
    for (const a of this.#series.values()) n += a.byteLength;
    for (const a of this.#extra.values()) n += a.byteLength;
    return n;
  }

  /** Add a sample at `t`; a fixed series missing from `values` is NaN, an extra one missing is 0. */
  push(t: number, values: Record<string, number>, extra: ReadonlyMap<string, number>): void {
    const i = this.#next;
    this.#t[i] = t;
    for (const [name, a] of this.#series) a[i] = values[name] ?? NaN;
    for (const a of this.#extra.values()) a[i] = 0;
    for (const [name, v] of extra) {
      if (v === 0) continue;
      const a = this.#extraArray(name);
      a[i] += v;
    }
    this.#next = (i + 1) % this.#capacity;
    this.#size = Math.min(this.#size + 1, this.#capacity);
  }

  #extraArray(name: string): Float64Array {
    let a = this.#extra.get(name);
    if (a) return a;
    const named = this.#extra.size - (this.#extra.has(OTHER) ? 1 : 0);
    if (named >= this.#maxExtra) name = OTHER;
    a = this.#extra.get(name);
    if (!a) this.#extra.set(name, a = new Float64Array(this.#capacity));
    return a;
  }

  /** Samples with a time after `after`, oldest first. */
  since(after: number): SampleSlice {
    const idx: number[] = [];
    const start = (this.#next - this.#size + this.#capacity) % this.#capacity;
    for (let k = 0; k < this.#size; k++) {
      const i = (start + k) % this.#capacity;
      if (this.#t[i] > after) idx.push(i);
    }
    const pick = (a: Float64Array) => idx.map((i) => a[i]);
    const out: SampleSlice = { t: pick(this.#t), series: {}, extra: {} };
    for (const [name, a] of this.#series) out.series[name] = pick(a);
    for (const [name, a] of this.#extra) out.extra[name] = pick(a);
    return out;
  }

  /** Mean of the last `n` values of a fixed series (NaN values skipped; NaN when none). */
  mean(name: string, n: number): number {
    const a = this.#series.get(name);
    if (!a) return NaN;
    let sum = 0;
    let count = 0;
    for (let k = 1; k <= Math.min(n, this.#size); k++) {
      const v = a[(this.#next - k + this.#capacity) % this.#capacity];
      if (Number.isNaN(v)) continue;
      sum += v;
      count++;
    }
    return count === 0 ? NaN : sum / count;
  }
}
