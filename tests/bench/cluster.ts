/**
 * Scenario `cluster`: the rtt scenario across 2–4 imserver nodes joined by Redis
 * (`cluster.enabled: true`), the two ends of every pair on different nodes, so every message
 * crosses Redis; then `cluster-idle`: many logged-in connections spread over the nodes.
 * Needs `redis-server` on PATH; reported as unavailable otherwise.
 * @module
 */
import { type BenchOptions, progress, type Row, sleep } from "./common.ts";
import { connectPairs, rttPhase } from "./rtt.ts";
import { idleHostname, runIdle } from "./idle.ts";
import { startImserver, startLoaders, stopLoaders, type Target } from "./targets.ts";

/** A throw-away redis-server on a free loopback port, no persistence. */
async function startRedis(): Promise<{ addr: string; pid: number; stop: () => Promise<void> }> {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const child = new Deno.Command("redis-server", {
    args: ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"],
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
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
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

/** Closed-loop and fixed-rate 1:1 across `o.clusterNodes` nodes. */
export async function runCluster(o: BenchOptions, rate?: number): Promise<Row[]> {
  const redis = await startRedis();
  const nodes: Target[] = [];
  const loaders = startLoaders(o.loaders ?? 2, o.client, o.loaderProfDir);
  try {
    for (let i = 0; i < o.clusterNodes; i++) {
      nodes.push(
        await startImserver({ redisAddr: redis.addr, cpuProfDir: o.cpuProfDir, v8Flags: o.v8Flags }),
      );
    }
    progress(`cluster: ${nodes.length} nodes on redis ${redis.addr}; logging in ${o.pairs * 2} users`);
    const slices = await connectPairs(loaders, nodes.map((n) => n.url), o.pairs);
    const pids = [...nodes.map((n) => n.pid), redis.pid];
    const label = {
      scenario: "cluster",
      target: `imserver x${nodes.length}`,
      params: `${o.pairs} pairs, closed loop`,
    };
    const warm = { ...o, durationMs: Math.min(1000, o.durationMs / 2) };
    await rttPhase(warm, { ...label, params: "warm-up" }, pids, loaders, slices, { closed: true });
    const closed = await rttPhase(o, label, pids, loaders, slices, { closed: true });
    const offered = Math.max(10, Math.round(rate ?? closed.value / 2));
    const fixed = await rttPhase(
      o,
      { ...label, scenario: "cluster-rate", params: `${o.pairs} pairs, ${offered} msgs/s offered` },
      pids,
      loaders,
      slices,
      { closed: false, rate: offered },
    );
    for (const row of [closed, fixed]) row.extra.serverCpuNote = "sum over nodes + redis-server";
    return [closed, fixed];
  } finally {
    await stopLoaders(loaders);
    for (const n of nodes) await n.stop();
    await redis.stop();
  }
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
  const redis = await startRedis();
  try {
    return await runIdle({ ...o, conns }, async () => {
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
  } finally {
    await redis.stop();
  }
}
