/**
 * `deno task bench [scenario ...] [--flags]` — the benchmark runner.
 *
 * Scenarios: rtt, fanout, idle, cluster, durability, clients (Deno WebSocket vs npm ws loader), capacity
 * (--capacity-conns connections, default 250,000, on as many cluster nodes as they need, held --hold
 * seconds, default 600; not in the default set), push (backend pushes: --push-users users, default 200,
 * logged in over WebSocket, --senders keep-alive HTTP senders, default 32, POST /user/sendMessage for
 * --duration; embedded, then 2 cluster nodes on one redis-server; pushes/s acknowledged, deliveries,
 * server and redis CPU µs/push; not in the default set), all
 * (default: rtt fanout idle cluster durability). --redis-cluster: cluster and push also run on a 3-master
 * Redis Cluster (`redis.cluster: true`; needs redis-cli) right after the single-redis run, with
 * `ratioToSingleRedis` (cluster) and `ratioToEmbedded` (push). cluster also runs issue 15's peer, 2 Socket.IO
 * nodes (npm socket.io + @socket.io/redis-adapter) on one redis-server, same loaders, pairs and offered rate
 * (`ratioImserverToPeer` on the imserver row). Every imserver scenario also runs against the bare
 * baseline relay in the same invocation (`--no-baseline` skips it, `baseline` alone runs
 * only the baseline rows); rtt and fanout run on both stores, SQLite (the default) and memory, in the
 * same invocation (`--no-memory` skips the memory rows). Flags: --quick, --duration=S, --pairs=N, --members=M,
 * --messages=K, --window=W, --conns=K, --client=deno|ws, --loaders=N, --padding=B,
 * --hold=S (idle hold, default --duration), --nodes=N (2–32), --cluster-conns=K, --stored=N (durability),
 * --spread=N (idle scenarios: loopback destination addresses, default 8; 1 with --quick),
 * --login-on-open (idle scenarios: each connection logs in once open, not all sockets first),
 * --redis-cluster, --push-users=N, --senders=N, --no-peer (cluster: skip the Socket.IO peer rows),
 * --redis-aof=always|everysec (cluster-idle and capacity: the redis-server persists every write, AOF),
 * --cpu-prof[=dir], --loader-prof[=dir], --v8-flags=F (imserver), --out=dir.
 * Exit status 1 when any run lost or duplicated a message or saw errors.
 * @module
 */
import { type BenchOptions, progress, type RedisAof, type Row } from "./common.ts";
import { clusterUnavailable, runCluster, runClusterIdle } from "./cluster.ts";
import { runDurability } from "./durability.ts";
import { runFanout } from "./fanout.ts";
import { runPush } from "./push.ts";
import { idleHostname, runIdle } from "./idle.ts";
import { machineInfo } from "./proc.ts";
import { addMemoryRatios, addRatios, markdownTable, writeResults } from "./report.ts";
import { runRtt } from "./rtt.ts";
import { startBaseline, startImserver } from "./targets.ts";

const SCENARIOS = [
  "rtt",
  "fanout",
  "idle",
  "cluster",
  "durability",
  "clients",
  "baseline",
  "capacity",
  "push",
];
const DEFAULT = ["rtt", "fanout", "idle", "cluster", "durability"];

/** Parse argv into scenarios and options. */
export function parseArgs(args: string[]): { scenarios: string[]; o: BenchOptions; out: string } {
  const flags = new Map<string, string>();
  const scenarios: string[] = [];
  for (const a of args) {
    if (a.startsWith("--")) {
      // split at the first "=" only: a value may hold more (--v8-flags=--max-semi-space-size=4)
      const at = a.indexOf("=");
      flags.set(at < 0 ? a.slice(2) : a.slice(2, at), at < 0 ? "true" : a.slice(at + 1));
    } else if (a === "all") scenarios.push(...DEFAULT);
    else if (SCENARIOS.includes(a)) scenarios.push(a);
    else throw new Error(`unknown scenario "${a}" (one of ${SCENARIOS.join(", ")}, all)`);
  }
  if (scenarios.length === 0) scenarios.push(...DEFAULT);
  const quick = flags.has("quick");
  const num = (k: string, d: number) => {
    const v = Number(flags.get(k) ?? d);
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} must be a number`);
    return v;
  };
  const client = flags.get("client") ?? "deno";
  if (client !== "deno" && client !== "ws") throw new Error("--client must be deno or ws");
  const baselineOnly = scenarios.includes("baseline");
  const o: BenchOptions = {
    quick,
    durationMs: num("duration", quick ? 1 : 10) * 1000,
    holdMs: flags.has("hold") ? num("hold", 10) * 1000 : undefined,
    pairs: num("pairs", quick ? 10 : 100),
    members: num("members", quick ? 100 : 10_000),
    fanMessages: num("messages", quick ? 10 : 50),
    fanWindow: num("window", 4),
    conns: num("conns", quick ? 300 : 19_500),
    client,
    loaders: flags.has("loaders") ? num("loaders", 1) : undefined,
    padding: num("padding", 64),
    baseline: !flags.has("no-baseline"),
    imserver: !baselineOnly,
    cpuProfDir: flags.has("cpu-prof")
      ? (flags.get("cpu-prof") === "true" ? "bench-results/prof" : flags.get("cpu-prof"))
      : undefined,
    v8Flags: flags.get("v8-flags"),
    loaderProfDir: flags.get("loader-prof") === "true"
      ? "bench-results/prof-loader"
      : flags.get("loader-prof"),
    clusterNodes: Math.min(32, Math.max(2, num("nodes", 2))),
    spread: Math.min(64, Math.max(1, Math.floor(num("spread", quick ? 1 : 8)))),
    loginOnOpen: flags.has("login-on-open"),
    clusterConns: num("cluster-conns", quick ? 200 : 20_000),
    capacityConns: num("capacity-conns", quick ? 300 : 250_000),
    stored: num("stored", quick ? 20_000 : 1_000_000),
    memory: !flags.has("no-memory"),
    redisCluster: flags.has("redis-cluster"),
    redisAof: redisAof(flags.get("redis-aof")),
    peer: !flags.has("no-peer"),
    pushUsers: Math.max(1, num("push-users", 200)),
    pushSenders: Math.max(1, num("senders", 32)),
  };
  if (baselineOnly && scenarios.length === 1) scenarios.push("rtt", "fanout", "idle");
  return {
    scenarios: scenarios.filter((s) => s !== "baseline"),
    o,
    out: flags.get("out") ?? "bench-results",
  };
}

/** Connections per node in the capacity scenario (a process may hold 20,000 descriptors here). */
const CAPACITY_PER_NODE = 18_000;

/** Run the scenarios; returns the rows. */
export async function runBench(scenarios: string[], o: BenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const imserver = (engine: "sqlite" | "memory") => (maxRoomMembers?: number) =>
    startImserver({ maxRoomMembers, engine, cpuProfDir: o.cpuProfDir, v8Flags: o.v8Flags });
  let singleRate: number | undefined;
  for (const s of scenarios) {
    progress(`scenario ${s}`);
    // A scenario that cannot complete (a server that will not start, logins that time out) is a
    // FAILED row; the other scenarios still run and the result files are still written.
    try {
      if (s === "rtt") {
        if (o.imserver) rows.push(...await runRtt(o, imserver("sqlite")));
        singleRate = rows.find((r) => r.scenario === "rtt" && r.target === "imserver")?.value;
        // The memory and baseline fixed-rate runs use the SQLite run's offered rate, so latencies compare.
        const offered = rows.find((r) => r.scenario === "rtt-rate" && r.target === "imserver")?.extra.offered;
        if (o.imserver && o.memory) rows.push(...await runRtt(o, imserver("memory"), offered));
        if (o.baseline) rows.push(...await runRtt(o, startBaseline, offered));
      } else if (s === "fanout") {
        if (o.imserver) rows.push(await runFanout(o, imserver("sqlite")));
        if (o.imserver && o.memory) rows.push(await runFanout(o, imserver("memory")));
        if (o.baseline) rows.push(await runFanout(o, () => startBaseline()));
      } else if (s === "idle") {
        const hostname = idleHostname(o);
        if (o.imserver) {
          rows.push(
            await runIdle(o, () => startImserver({ hostname, cpuProfDir: o.cpuProfDir, v8Flags: o.v8Flags })),
          );
        }
        if (o.baseline) rows.push(await runIdle(o, () => startBaseline(hostname)));
      } else if (s === "clients") {
        for (const client of ["deno", "ws"] as const) {
          const [closed] = await runRtt({ ...o, client }, startBaseline);
          rows.push({ ...closed, scenario: "clients", target: `baseline, ${client} loader` });
        }
      } else if (s === "cluster" && o.imserver) {
        const why = clusterUnavailable();
        if (why) {
          progress(`cluster: unavailable (${why})`);
          rows.push(unavailable("cluster", why));
          continue;
        }
        const clusterRows = await runCluster(o);
        for (const r of clusterRows) {
          if (r.scenario === "cluster" && singleRate && r.target.startsWith("imserver")) {
            r.extra.vsSingleNode = Math.round(r.value / singleRate * 100) / 100;
          }
        }
        rows.push(...clusterRows);
        rows.push(await runClusterIdle(o, o.clusterConns));
      } else if (s === "capacity" && o.imserver) {
        const why = clusterUnavailable();
        if (why) {
          rows.push(unavailable("capacity", why));
          continue;
        }
        // Nodes below the fd cap (20,000 per process); held like real clients for 10 minutes by default.
        const nodes = Math.max(o.clusterNodes, Math.ceil(o.capacityConns / CAPACITY_PER_NODE));
        const holdMs = o.holdMs ?? (o.quick ? 2000 : 600_000);
        rows.push(await runClusterIdle({ ...o, holdMs }, o.capacityConns, "capacity", nodes));
      } else if (s === "push" && o.imserver) {
        rows.push(...await runPush(o));
      } else if (s === "durability" && o.imserver) {
        rows.push(await runDurability(o));
      }
    } catch (error) {
      const message = String((error as Error)?.message ?? error).slice(0, 300);
      progress(`scenario ${s} failed: ${message}`);
      rows.push({ ...unavailable(s, ""), status: `FAILED: ${message}` });
    }
    stampLoad(rows);
  }
  addRatios(rows);
  addMemoryRatios(rows);
  for (const r of rows) {
    if (r.extra.store) progress(`${r.scenario} ${r.target} store: ${JSON.stringify(r.extra.store)}`);
  }
  return rows;
}

/** Stamp rows with the 1-minute load average at their end: the machine is shared. */
function stampLoad(rows: Row[]): void {
  const load = Math.round(Deno.loadavg()[0] * 10) / 10;
  for (const r of rows) r.extra.load1 ??= load;
}

function unavailable(scenario: string, why: string): Row {
  return {
    scenario,
    target: "imserver",
    params: "",
    metric: "",
    value: 0,
    sent: 0,
    received: 0,
    lost: 0,
    duplicates: 0,
    errors: 0,
    serverCpu: 0,
    loaderCpu: [],
    status: `unavailable: ${why}`,
    extra: {},
  };
}

if (import.meta.main) {
  const { scenarios, o, out } = parseArgs(Deno.args);
  const machine = machineInfo();
  const started = new Date().toISOString();
  progress(
    `imserver bench: ${scenarios.join(" ")}${o.quick ? " (quick)" : ""}; ${machine.cores} cores, load ${
      machine.loadavg.join(" ")
    }`,
  );
  const rows = await runBench(scenarios, o);
  const table = markdownTable(rows);
  console.log(table);
  const doc = {
    date: started,
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    machine: { ...machine, loadavgAtEnd: Deno.loadavg() },
    options: o,
    caveat: "2-core machine shared with other processes; see loader CPU and load average",
    rows,
  };
  const path = await writeResults(out, doc, table);
  const failed = rows.filter((r) => r.status.startsWith("FAILED"));
  console.log(`\nresults: ${path}${failed.length ? `; ${failed.length} run(s) FAILED` : "; all runs ok"}`);
  Deno.exit(failed.length ? 1 : 0);
}

/** `--redis-aof`: how the capacity and cluster-idle redis-server fsyncs its append-only file (absent: no AOF). */
function redisAof(v: string | undefined): RedisAof | undefined {
  if (v === undefined) return undefined;
  if (v === "always" || v === "everysec") return v;
  throw new Error(`--redis-aof=${v}: always or everysec`);
}
