/**
 * The console's per-second samples (src/admin/ring.ts, src/admin/sampler.ts) and the latency histogram
 * they read p50/p99 from (src/ops/metrics.ts): rates from counter deltas, quantiles from bucket deltas,
 * a ring that never grows past its capacity (measured) and a bounded set of drop reasons.
 * @module
 */
import assert from "node:assert/strict";
import { SampleRing } from "../../src/admin/ring.ts";
import { Sampler, type SampleSources } from "../../src/admin/sampler.ts";
import { Histogram, Metrics } from "../../src/ops/metrics.ts";

Deno.test("Histogram: observations, Prometheus buckets and quantiles of a delta", () => {
  const m = new Metrics();
  const h = m.histogram("im_store_latency_ms", "Store call latency (ms)", [1, 2, 5, 10]);
  assert.equal(m.histogram("im_store_latency_ms", "again"), h, "get-or-create");
  assert.equal(m.findHistogram("nope"), undefined);
  for (const v of [0.5, 1.5, 1.5, 1.5, 3, 3, 3, 3, 3, 20]) h.observe(v);
  assert.equal(h.count, 10);
  const text = m.render();
  assert.match(text, /# TYPE im_store_latency_ms histogram/);
  assert.match(text, /im_store_latency_ms_bucket\{le="1"\} 1\n/);
  assert.match(text, /im_store_latency_ms_bucket\{le="2"\} 4\n/);
  assert.match(text, /im_store_latency_ms_bucket\{le="5"\} 9\n/);
  assert.match(text, /im_store_latency_ms_bucket\{le="\+Inf"\} 10\n/);
  assert.match(text, /im_store_latency_ms_count 10\n/);
  const p50 = Histogram.quantile(h.bounds, h.counts, 0.5)!;
  assert.ok(p50 > 2 && p50 <= 5, `p50 ${p50}`);
  assert.equal(Histogram.quantile(h.bounds, h.counts, 0.99), 10, "the +Inf bucket reports the last bound");
  assert.equal(Histogram.quantile(h.bounds, new Float64Array(5), 0.5), undefined, "no calls: no value");
});

Deno.test("Counter: sum and per-label totals", () => {
  const m = new Metrics();
  const drops = m.counter("im_drops_total", "", ["reason"]);
  drops.inc({ reason: "binary" }, 2);
  drops.inc({ reason: 'we"ird' });
  assert.equal(drops.sum(), 3);
  assert.deepEqual([...drops.byLabel()], [["binary", 2], ['we"ird', 1]]);
});

Deno.test("SampleRing: keeps the last `capacity` samples, oldest first, and a bounded set of extra series", () => {
  const ring = new SampleRing(["a", "b"], 5, 3);
  for (let t = 1; t <= 12; t++) ring.push(t, { a: t, b: -t }, new Map([[`r${t % 5}`, t]]));
  assert.equal(ring.size, 5);
  const s = ring.since(0);
  assert.deepEqual(s.t, [8, 9, 10, 11, 12]);
  assert.deepEqual(s.series.a, [8, 9, 10, 11, 12]);
  assert.deepEqual(s.series.b, [-8, -9, -10, -11, -12]);
  assert.deepEqual(Object.keys(s.extra).sort(), ["other", "r1", "r2", "r3"], "3 named + other");
  assert.deepEqual(ring.since(10).t, [11, 12]);
  const bytes = ring.bytes;
  for (let t = 13; t <= 1000; t++) ring.push(t, { a: t, b: t }, new Map([[`x${t}`, 1]]));
  assert.equal(ring.size, 5);
  assert.equal(ring.bytes, bytes, "no growth after the ring is full");
});

function fakeSources() {
  const state = {
    conns: 0,
    msgsIn: 0,
    msgsOut: 0,
    deliveries: 0,
    slow: 0,
    drops: new Map<string, number>(),
  };
  const metrics = new Metrics();
  const sources: SampleSources = {
    connections: () => state.conns,
    loggedIn: () => state.conns,
    users: () => state.conns,
    messagesIn: () => state.msgsIn,
    messagesOut: () => state.msgsOut,
    deliveries: () => state.deliveries,
    slowCloses: () => state.slow,
    drops: () => state.drops,
    storeLatency: () => metrics.findHistogram("im_store_latency_ms"),
  };
  return { state, sources, metrics };
}

Deno.test("Sampler: per-second rates from counter deltas; store p50/p99 only when the store reports latency", () => {
  const { state, sources, metrics } = fakeSources();
  const sampler = new Sampler(sources, { capacity: 600, now: () => 1000 });
  state.conns = 3;
  state.msgsIn = 10;
  state.msgsOut = 30;
  state.deliveries = 20;
  state.slow = 1;
  state.drops.set("binary", 4);
  sampler.tick(2000);
  let s = sampler.series(0);
  assert.deepEqual(s.t, [2000]);
  assert.equal(s.series.connections[0], 3);
  assert.equal(s.series.msgsIn[0], 10);
  assert.equal(s.series.msgsOut[0], 30);
  assert.equal(s.series.deliveries[0], 20);
  assert.equal(s.series.slowCloses[0], 1);
  assert.equal(s.drops.binary[0], 4);
  assert.ok(Number.isNaN(s.series.storeP50[0]), "memory store: no latency reported");
  // Two seconds later (a late timer): rates are per second.
  state.msgsIn = 30;
  const h = metrics.histogram("im_store_latency_ms", "");
  for (let i = 0; i < 99; i++) h.observe(1);
  h.observe(400);
  sampler.tick(4000);
  s = sampler.series(2000);
  assert.equal(s.series.msgsIn[0], 10);
  assert.ok(s.series.storeP50[0] <= 1.01, `p50 ${s.series.storeP50[0]}`);
  assert.ok(s.series.storeP99[0] >= 1 && s.series.storeP99[0] <= 500, `p99 ${s.series.storeP99[0]}`);
  assert.equal(sampler.recentRate("msgsIn", 10), 10, "average over the samples there are");
  const json = JSON.parse(JSON.stringify(sampler.series(0)));
  assert.equal(json.series.storeP50[0], null, "NaN becomes null in JSON");
});

Deno.test("Sampler: memory of a full ring, measured (admin.history = 3600 s)", () => {
  const { state, sources } = fakeSources();
  const before = Deno.memoryUsage().heapUsed;
  const sampler = new Sampler(sources, { capacity: 3600, now: () => 0 });
  for (let t = 1; t <= 7200; t++) {
    state.msgsIn += t % 7;
    state.drops.set(`reason${t % 40}`, t);
    sampler.tick(t * 1000);
  }
  const bytes = sampler.bytes;
  console.log(
    `sample ring: ${sampler.size} samples, ${bytes} bytes of arrays (${Math.round(bytes / 1024)} KiB)`,
  );
  assert.equal(sampler.size, 3600);
  assert.ok(bytes < 1024 * 1024, `${bytes} bytes`);
  const grown = Deno.memoryUsage().heapUsed - before;
  console.log(`heap growth while filling it twice: ${Math.round(grown / 1024)} KiB (includes garbage)`);
});
