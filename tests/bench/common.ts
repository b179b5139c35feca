/**
 * Shared types and helpers of the benchmark scenarios: options, result rows, histogram
 * merging, loss accounting and progress output.
 * @module
 */
import * as hdr from "hdr-histogram-js";
import type { Json } from "./proc.ts";

/** Command-line options of `deno task bench`. */
export interface BenchOptions {
  quick: boolean;
  /** Measured phase per run (ms). */
  durationMs: number;
  /** How long idle / cluster-idle hold their connections (default: durationMs). */
  holdMs?: number;
  pairs: number;
  members: number;
  fanMessages: number;
  fanWindow: number;
  conns: number;
  client: "deno" | "ws";
  loaders: number | undefined;
  /** Extra bytes in every message body. */
  padding: number;
  baseline: boolean;
  imserver: boolean;
  cpuProfDir: string | undefined;
  /** Extra V8 flags for imserver processes. */
  v8Flags: string | undefined;
  /** Write V8 CPU profiles of the loaders here. */
  loaderProfDir: string | undefined;
  clusterNodes: number;
  /**
   * Loopback destination addresses the idle scenarios connect to (127.0.0.1 … 127.0.0.N, the servers then
   * bind 0.0.0.0): one (source, destination) address pair has ~28k ephemeral ports, and Linux's connect()
   * slows to a crawl long before they are all taken.
   */
  spread: number;
  /**
   * Idle scenarios: each connection logs in as soon as it is open (like clients reconnecting), instead of
   * every socket first and then every login at once (the login storm the `idle` rows measure).
   */
  loginOnOpen: boolean;
  /** Connections of the cluster-idle run. */
  clusterConns: number;
  /** Connections of the capacity run (on ⌈conns / 18,000⌉ nodes, at least `clusterNodes`). */
  capacityConns: number;
  /** Messages stored before the durability scenario's restart. */
  stored: number;
  /** Also run rtt and fanout on `store.engine: memory` (the sqlite rows get × memory ratios). */
  memory: boolean;
  /** cluster-idle and capacity: the redis-server appends every write to a file (AOF), fsynced so; default off. */
  redisAof?: RedisAof;
  /** cluster and push: also run on a 3-master Redis Cluster (`redis.cluster: true`). */
  redisCluster: boolean;
  /** cluster: also run the Socket.IO peer (npm socket.io + @socket.io/redis-adapter; `--no-peer` skips it). */
  peer: boolean;
  /** push: users logged in over WebSocket. */
  pushUsers: number;
  /** push: concurrent keep-alive HTTP senders. */
  pushSenders: number;
}

/** How a bench redis-server fsyncs its append-only file (`--redis-aof`). */
export type RedisAof = "always" | "everysec";

/** One line of the result table. */
export interface Row {
  scenario: string;
  target: string;
  params: string;
  /** Name and value of the figure the imserver/baseline ratio is taken on. */
  metric: string;
  value: number;
  ratio?: number;
  p50Ms?: number;
  p90Ms?: number;
  p99Ms?: number;
  maxMs?: number;
  sent: number;
  received: number;
  lost: number;
  duplicates: number;
  errors: number;
  serverCpu: number;
  loaderCpu: number[];
  status: string;
  extra: Json;
}

/** Print a progress line. */
export function progress(what: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${what}`);
}

/** Merge encoded histograms of several loaders. */
export function mergeHistograms(encoded: string[]): hdr.Histogram {
  const out = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const e of encoded) if (e) out.add(hdr.decodeFromCompressedBase64(e));
  return out;
}

/** p50/p90/p99/max in ms of a µs histogram. */
export function percentiles(h: hdr.Histogram): Pick<Row, "p50Ms" | "p90Ms" | "p99Ms" | "maxMs"> {
  if (h.totalCount === 0) return {};
  const ms = (us: number) => Math.round(us / 10) / 100;
  return {
    p50Ms: ms(h.getValueAtPercentile(50)),
    p90Ms: ms(h.getValueAtPercentile(90)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    maxMs: ms(h.maxValue),
  };
}

/** Sum a numeric field over loader results. */
export function sum(results: Json[], key: string): number {
  return results.reduce((a, r) => a + (Number(r[key]) || 0), 0);
}

/** "ok" or the reasons a run failed (loss, duplicates, errors, disconnects). */
export function verdict(
  r: { lost: number; duplicates: number; errors: number; closes?: number; note?: string },
): string {
  const bad: string[] = [];
  if (r.lost) bad.push(`lost ${r.lost}`);
  if (r.duplicates) bad.push(`dup ${r.duplicates}`);
  if (r.errors) bad.push(`errors ${r.errors}`);
  if (r.closes) bad.push(`disconnects ${r.closes}`);
  if (r.note) bad.push(r.note);
  return bad.length ? `FAILED: ${bad.join(", ")}` : "ok";
}

/** Split `items` into `n` nearly equal slices. */
export function split<T>(items: T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: n }, () => []);
  items.forEach((item, i) => out[i % n].push(item));
  return out;
}

/** Sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
