/**
 * Seeded randomness for property tests: a small PRNG and a runner that prints the seed on failure, so a
 * failing run can be repeated with `IM_TEST_SEED=<seed>`.
 *
 * @example
 * ```ts
 * await seeded("my property", async (seed) => {
 *   const rand = prng(seed);
 *   rand(); // in [0, 1)
 * });
 * ```
 * @module
 */
import { MemoryStore } from "../../src/store/memory.ts";
import { testPolicy } from "./helpers.ts";

/** mulberry32: a fast 32-bit PRNG, good enough to pick test steps. */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Run `fn` with `IM_TEST_SEED` (or a time-based seed); on failure print how to repeat it. */
export async function seeded(name: string, fn: (seed: number) => Promise<void>): Promise<void> {
  const seed = Number(Deno.env.get("IM_TEST_SEED") ?? Date.now() % 1_000_000);
  try {
    await fn(seed);
  } catch (error) {
    console.error(`${name} failed; repeat with IM_TEST_SEED=${seed}`);
    throw error;
  }
}

/** Latency injection: every store call takes 0–3 ms, like a remote store, so more interleavings happen. */
export function slowStore(rand: () => number): MemoryStore {
  const store = new MemoryStore({ policy: testPolicy() });
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "close") return value.bind(target);
      return async (...args: unknown[]) => {
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 4)));
        return value.apply(target, args);
      };
    },
  });
}
