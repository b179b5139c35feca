/**
 * Scenario `cluster`: the rtt scenario across 2–4 imserver nodes joined by Redis
 * (`cluster.enabled: true`), the two ends of every pair on different nodes, so every message
 * crosses Redis; then `cluster-idle`: many logged-in connections spread over the nodes. With
 * `--redis-cluster` the rtt part runs again on a 3-master Redis Cluster (`redis.cluster: true`, same
 * nodes, pairs, loaders and offered rate) right after the single-Redis one.
 *
 * Issue 15's peer (`--no-peer` skips it): right after the single-Redis rows, the same rtt on
 * `o.clusterNodes` Socket.IO nodes (tests/bench/peers/socketio_server.ts: npm socket.io + its Redis adapter)
 * on a fresh redis-server, same loaders, pairs (both ends on different nodes) and offered rate; rows
 * `socket.io x2 (redis adapter)`, and `ratioImserverToPeer` on the imserver rows. The peer stores nothing,
 * imserver every message.
 * Needs `redis-server` on PATH (and `redis-cli` for `--redis-cluster`); reported as unavailable otherwise.
 * @module
 */
import { type BenchOptions, progress, type RedisAof, type Row, sleep } from "./common.ts";
import { connectPairs, rttPhase } from "./rtt.ts";
import { commandsPerMessage, commandStats } from "./redis_commands.ts";
import { idleHostname, runIdle } from "./idle.ts";
import { startImserver, startLoaders, startSocketIo, stopLoaders, type Target } from "./targets.ts";
import type { LineProcess } from "./proc.ts";
import { RedisClusterServer } from "../support/redis_cluster.ts";

/** A throw-away redis-server; with `aof` it appends every write to a file in a temporary directory. */
async function startRedis(
  aof?: RedisAof,
): Promise<{ addr: string; port: number; pid: number; stop: () => Promise<void> }> {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const dir = aof ? await Deno.makeTempDir({ prefix: "imbench-redis-" }) : undefined;
  const persistence = aof && dir
    ? ["--appendonly", "yes", "--appendfsync", aof, "--dir", dir]
    : ["--appendonly", "no"];
  const child = new Deno.Command("redis-server", {
    args: ["--bind", "127.0.0.1", "--port", String(port), "--save", "", ...persistence],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 100; i++) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      break;
    } catch {
      await sleep(50);
    }
  }
  return {
    addr: `127.0.0.1:${port}`,
    port,
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      if (dir) await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Why the cluster scenario cannot run here, or undefined when it can. */
export function clusterUnavailable(): string | undefined {
  try {
    const ok = new Deno.Command("redis-server", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
    return ok ? undefined : "redis-server --version failed";
  } catch {
    return "redis-server not found on PATH";
  }
}

/** The Redis a set of cluster nodes runs on: one redis-server, or a Redis Cluster of several. */
export interface RedisBackend {
  /** `redis.addr` of the nodes (seed nodes with `cluster`). */
  addr: string;
  /** `redis.cluster: true`. */
  cluster: boolean;
  /** Every redis-server process (for the CPU split). */
  pids: number[];
  /** Their ports on 127.0.0.1 (for `INFO commandstats`). */
  ports: number[];
  /** Row label suffix: "" for one redis-server, " (redis cluster x3)" for a Redis Cluster. */
  suffix: string;
  stop(): Promise<void>;
}

/** A throw-away single redis-server as a {@linkcode RedisBackend}. */
export async function singleRedis(): Promise<RedisBackend> {
  const redis = await startRedis();
  return {
    addr: redis.addr,
    cluster: false,
    pids: [redis.pid],
    ports: [redis.port],
    suffix: "",
    stop: redis.stop,
  };
}

/**
 * A throw-away Redis Cluster of `masters` masters, no replicas (tests/support/redis_cluster.ts), as a
 * {@linkcode RedisBackend}; the pids come from each member's `INFO server`.
 */
export async function redisCluster(masters = 3): Promise<RedisBackend> {
  const cluster = await RedisClusterServer.start({ masters, replicas: 0 });
  try {
    const pids = await Promise.all(cluster.ports.map(async (port) => {
      const pid = Number(/process_id:(\d+)/.exec(await cluster.command(port, "INFO", "server"))?.[1]);
      if (!pid) throw new Error(`no process_id from the Redis Cluster member on ${port}`);
      return pid;
    }));
    return {
      addr: cluster.seeds,
      cluster: true,
      pids,
      ports: cluster.ports,
      suffix: ` (redis cluster x${masters})`,
      stop: () => cluster.dispose(),
    };
  } catch (e) {
    await cluster.dispose();
    throw e;
  }
}

/** Why `--redis-cluster` cannot run here (redis-cli missing), or undefined when it can. */
export function redisClusterUnavailable(): string | undefined {
  try {
    const ok = new Deno.Command("redis-cli", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
    return ok ? undefined : "redis-cli --version failed";
  } catch {
    return "redis-cli not found on PATH";
  }
}

/** Start `count` cluster nodes on `backend`. */
export async function startNodes(
  o: BenchOptions,
  backend: RedisBackend,
  count: number,
  hostname?: string,
): Promise<Target[]> {
  const nodes: Target[] = [];
  try {
    for (let i = 0; i < count; i++) {
      nodes.push(
        await startImserver({
          redisAddr: backend.addr,
          redisCluster: backend.cluster,
          cpuProfDir: o.cpuProfDir,
          v8Flags: o.v8Flags,
          hostname,
        }),
      );
    }
    return nodes;
  } catch (e) {
    for (const n of nodes) await n.stop();
    throw e;
  }
}

/** Start `count` Socket.IO peer nodes on `backend` (one redis-server). */
async function startPeerNodes(backend: RedisBackend, count: number): Promise<Target[]> {
  const nodes: Target[] = [];
  try {
    for (let i = 0; i < count; i++) nodes.push(await startSocketIo(backend.addr));
    return nodes;
  } catch (e) {
    for (const n of nodes) await n.stop();
    throw e;
  }
}

/** What the peer rows leave out that imserver does for every message (stated on the rows). */
const PEER_ASYMMETRY =
  "the peer stores nothing; imserver stores every message (inbox seq, durable summaries)";

/**
 * The Socket.IO peer on a fresh redis-server, same loaders, pairs and offered rate as the imserver rows
 * `single` (closed, fixed), whose `extra` get `ratioImserverToPeer` (closed-loop msgs/s), `p99ImserverToPeer`
 * and `cpuImserverToPeer` (total server CPU µs/msg, nodes + redis).
 */
async function peerRtt(o: BenchOptions, loaders: LineProcess[], single: Row[]): Promise<Row[]> {
  const target = `socket.io x${o.clusterNodes} (redis adapter)`;
  let peer: Row[];
  try {
    peer = await clusterRtt(o, loaders, await singleRedis(), single[1].extra.offered, "socket.io");
  } catch (error) {
    const message = String((error as Error)?.message ?? error).slice(0, 300);
    progress(`cluster: the Socket.IO peer failed: ${message}`);
    return [failedRow("cluster", target, message)];
  }
  const ratio = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b ? Math.round(a / b * 100) / 100 : undefined;
  for (const [i, row] of peer.entries()) {
    const base = single[i];
    // msgs/s on the closed loop only (the fixed-rate phases both carry the offered rate).
    if (i === 0) base.extra.ratioImserverToPeer = ratio(base.extra.msgsPerSec, row.extra.msgsPerSec);
    base.extra.p99ImserverToPeer = ratio(base.p99Ms, row.p99Ms);
    base.extra.cpuImserverToPeer = ratio(base.extra.totalCpuUsPerMsg, row.extra.totalCpuUsPerMsg);
    row.extra.peerNote = PEER_ASYMMETRY;
  }
  progress(`cluster: imserver ÷ socket.io msgs/s = ${single[0].extra.ratioImserverToPeer}`);
  return peer;
}

/**
 * Closed-loop and fixed-rate 1:1 across `o.clusterNodes` nodes on one redis-server; unless `o.peer` is
 * false, then the same on the Socket.IO peer; with `o.redisCluster`, then the imserver rows again (same
 * loaders, pairs and offered rate) on a 3-master Redis Cluster. Every row has the CPU split
 * `nodeCpuUsPerMsg` / `redisCpuUsPerMsg` / `totalCpuUsPerMsg`; the Redis Cluster rows `ratioToSingleRedis`
 * (msgs/s over the single-Redis row's), the single-Redis rows `ratioImserverToPeer`.
 */
export async function runCluster(o: BenchOptions, rate?: number): Promise<Row[]> {
  const loaders = startLoaders(o.loaders ?? 2, o.client, o.loaderProfDir);
  try {
    const imserver = await clusterRtt(o, loaders, await singleRedis(), rate);
    const single = [...imserver, ...(o.peer ? await peerRtt(o, loaders, imserver) : [])];
    if (!o.redisCluster) return single;
    const target = `imserver x${o.clusterNodes} (redis cluster x3)`;
    let onCluster: Row[];
    try {
      const why = redisClusterUnavailable();
      if (why) throw new Error(why);
      onCluster = await clusterRtt(o, loaders, await redisCluster(3), imserver[1].extra.offered);
    } catch (error) {
      const message = String((error as Error)?.message ?? error).slice(0, 300);
      progress(`cluster on a Redis Cluster failed: ${message}`);
      return [...single, failedRow("cluster", target, message)];
    }
    for (const [i, row] of onCluster.entries()) {
      const base = imserver[i];
      if (base.extra.msgsPerSec) {
        row.extra.ratioToSingleRedis = Math.round(row.extra.msgsPerSec / base.extra.msgsPerSec * 100) / 100;
      }
      if (base.p99Ms && row.p99Ms !== undefined) {
        row.extra.p99ToSingleRedis = Math.round(row.p99Ms / base.p99Ms * 100) / 100;
      }
    }
    return [...single, ...onCluster];
  } finally {
    await stopLoaders(loaders);
  }
}

/**
 * One closed loop and one fixed rate of the pairs across `o.clusterNodes` nodes (imserver, or the Socket.IO
 * peer) on `backend` (stopped).
 */
async function clusterRtt(
  o: BenchOptions,
  loaders: LineProcess[],
  backend: RedisBackend,
  rate?: number,
  kind: "imserver" | "socket.io" = "imserver",
): Promise<Row[]> {
  let nodes: Target[] = [];
  try {
    const peer = kind === "socket.io";
    nodes = peer
      ? await startPeerNodes(backend, o.clusterNodes)
      : await startNodes(o, backend, o.clusterNodes);
    progress(
      `cluster: ${nodes.length} ${kind} nodes on redis ${backend.addr}${
        backend.cluster ? " (Redis Cluster)" : ""
      }; ` +
        `logging in ${o.pairs * 2} users`,
    );
    const slices = await connectPairs(
      loaders,
      nodes.map((n) => n.url),
      o.pairs,
      peer ? "socket.io" : undefined,
    );
    const nodePids = nodes.map((n) => n.pid);
    const pids = [...nodePids, ...backend.pids];
    const groups = { node: nodePids, redis: backend.pids, total: pids };
    const label = {
      scenario: "cluster",
      target: peer
        ? `socket.io x${nodes.length} (redis adapter)`
        : `imserver x${nodes.length}${backend.suffix}`,
      params: `${o.pairs} pairs, closed loop${peer ? ", stores nothing" : ""}`,
    };
    const warm = { ...o, durationMs: Math.min(1000, o.durationMs / 2) };
    await rttPhase(warm, { ...label, params: "warm-up" }, pids, loaders, slices, { closed: true });
    const before = await commandStats(backend.ports);
    const closed = await rttPhase(o, label, pids, loaders, slices, { closed: true }, groups);
    closed.extra.redisCommandsPerMsg = commandsPerMessage(
      before,
      await commandStats(backend.ports),
      closed.received,
    );
    const offered = Math.max(10, Math.round(rate ?? closed.value / 2));
    const fixed = await rttPhase(
      o,
      {
        ...label,
        scenario: "cluster-rate",
        params: `${o.pairs} pairs, ${offered} msgs/s offered${peer ? ", stores nothing" : ""}`,
      },
      pids,
      loaders,
      slices,
      { closed: false, rate: offered },
      groups,
    );
    for (const row of [closed, fixed]) {
      row.extra.serverCpuNote = `sum over nodes + ${backend.pids.length} redis-server`;
      row.extra.redisServers = backend.pids.length;
      progress(
        `${row.scenario} ${row.target}: node ${row.extra.nodeCpuUsPerMsg} + redis ${row.extra.redisCpuUsPerMsg}` +
          ` = ${row.extra.totalCpuUsPerMsg} µs/msg`,
      );
    }
    return [closed, fixed];
  } finally {
    // The loaders' sockets first (a node stopping under them would count as unexpected closes).
    await Promise.all(loaders.map((l) => l.call("close", {}, 30_000).catch(() => {})));
    for (const n of nodes) await n.stop();
    await backend.stop();
  }
}

/** A FAILED row of `scenario` on `target`. */
export function failedRow(scenario: string, target: string, message: string): Row {
  return {
    scenario,
    target,
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
    status: `FAILED: ${message}`,
    extra: {},
  };
}

/**
 * `conns` connections spread over `nodes` nodes (default `o.clusterNodes`), held with heartbeats; the
 * `capacity` scenario is the same with as many nodes as the connections need.
 */
export async function runClusterIdle(
  o: BenchOptions,
  conns: number,
  scenario = "cluster-idle",
  nodeCount = o.clusterNodes,
): Promise<Row> {
  const redis = await startRedis(o.redisAof);
  try {
    const row = await runIdle({ ...o, conns }, async () => {
      const nodes: Target[] = [];
      for (let i = 0; i < nodeCount; i++) {
        nodes.push(
          await startImserver({
            redisAddr: redis.addr,
            cpuProfDir: o.cpuProfDir,
            v8Flags: o.v8Flags,
            hostname: idleHostname(o),
          }),
        );
      }
      return nodes;
    }, scenario);
    row.extra.redisAof = o.redisAof ?? "off";
    return row;
  } finally {
    await redis.stop();
  }
}
