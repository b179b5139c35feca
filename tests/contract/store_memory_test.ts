/**
 * The shared store contract ({@linkcode storeSuite}) run against {@linkcode MemoryStore}.
 * @module
 */
import { FakeClock } from "../../src/clock.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { storeSuite } from "./store_suite.ts";

storeSuite("memory store", () => {
  const clock = new FakeClock(1_700_000_000_000);
  return Promise.resolve({ store: new MemoryStore(clock), clock, cleanup: () => Promise.resolve() });
});

storeSuite(
  "memory store (real clock)",
  () => Promise.resolve({ store: new MemoryStore(), cleanup: () => Promise.resolve() }),
);
