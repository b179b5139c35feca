/**
 * Scenario `push` (on request, not in the default set): backend pushes. `--push-users` users (200) are
 * logged in over WebSocket (the loader), and `--senders` concurrent keep-alive HTTP senders (32, in a
 * separate process: push_sender.ts) `POST /user/sendMessage` (`appId=101&userId=<online user>&message=…`)
 * for `--duration` seconds after a short warm-up. Counted: pushes acknowledged (HTTP 200 with `code` 200),
 * deliveries received by the WebSocket clients (each once, to the right user, in inbox seq order), server
 * CPU µs per acknowledged push (nodes, Redis, total).
 *
 * Three ways in one run: `imserver` (one embedded node, the default store), `imserver x2` (cluster mode on
 * one redis-server, 2 nodes: senders spread over both nodes' HTTP ports, users over both nodes, so half of
 * the pushes cross nodes) and, with `--redis-cluster`, `imserver x2 (redis cluster x3)` (a 3-master Redis
 * Cluster). The cluster rows carry `ratioToEmbedded` (pushes/s over the embedded row's).
 * @module
 */
import {
  type BenchOptions,
  mergeHistograms,
  percentiles,
  progress,
  type Row,
  sleep,
  verdict,
} from "./common.ts";
import {
  clusterUnavailable,
  failedRow,
  type RedisBackend,
  redisCluster,
  redisClusterUnavailable,
  singleRedis,
  startNodes,
} from "./cluster.ts";
import { CpuMeter, LineProcess } from "./proc.ts";
import { startImserver, startLoaders, stopLoaders, type Target } from "./targets.ts";

const root = new URL("../../", import.meta.url).pathname;
/** Nodes of the cluster rows. */
const NODES = 2;
/** Most requests of one phase (the duration bounds it first at any realistic rate). */
const MAX_REQUESTS = 2_000_000;

/** The three (or two) runs of the scenario. */
export async function runPush(o: BenchOptions): Promise<Row[]> {
  const loaders = startLoaders(1, o.client, o.loaderProfDir);
  const sender = new LineProcess("push-sender", "deno", [
    "run",
    "--allow-net=127.0.0.1",
    `${root}tests/bench/push_sender.ts`,
  ]);
  const rows: Row[] = [];
  const attempt = async (target: string, fn: () => Promise<Row>) => {
    try {
      rows.push(await fn());
    } catch (error) {
      const message = String((error as Error)?.message ?? error).slice(0, 300);
      progress(`push ${target} failed: ${message}`);
      rows.push(failedRow("push", target, message));
      // A failed run may leave sockets behind: close them before the next one.
      await Promise.all(loaders.map((l) => l.call("close", {}, 30_000).catch(() => {})));
    }
  };
  try {
    await attempt("imserver", () =>
      pushRun(o, loaders, sender, "imserver", async () => {
        const node = await startImserver({ cpuProfDir: o.cpuProfDir, v8Flags: o.v8Flags });
        return { nodes: [node], redisPids: [], stop: () => node.stop() };
      }));
    const onRedis = (backend: () => Promise<RedisBackend>) => async () => {
      const redis = await backend();
      try {
        const nodes = await startNodes(o, redis, NODES);
        return {
          nodes,
          redisPids: redis.pids,
          stop: async () => {
            for (const n of nodes) await n.stop();
            await redis.stop();
          },
        };
      } catch (e) {
        await redis.stop();
        throw e;
      }
    };
    const unavailable = (target: string, why: string) => {
      progress(`push ${target}: unavailable (${why})`);
      rows.push({ ...failedRow("push", target, ""), status: `unavailable: ${why}` });
    };
    const single = `imserver x${NODES}`;
    const noRedis = clusterUnavailable();
    if (noRedis) unavailable(single, noRedis);
    else await attempt(single, () => pushRun(o, loaders, sender, single, onRedis(singleRedis)));
    if (o.redisCluster) {
      const target = `imserver x${NODES} (redis cluster x3)`;
      const why = noRedis ?? redisClusterUnavailable();
      if (why) unavailable(target, why);
      else await attempt(target, () => pushRun(o, loaders, sender, target, onRedis(() => redisCluster(3))));
    }
  } finally {
    await stopLoaders(loaders);
    await sender.stop();
  }
  const embedded = rows.find((r) => r.target === "imserver" && r.value > 0);
  for (const r of rows) {
    if (r !== embedded && embedded && r.value > 0) {
      r.extra.ratioToEmbedded = Math.round(r.value / embedded.value * 100) / 100;
    }
  }
  return rows;
}

/** Servers of one run: the nodes to connect to, the redis-server pids, and how to stop it all. */
interface Setup {
  nodes: Target[];
  redisPids: number[];
  stop(): Promise<void>;
}

/** Start the servers, log the users in, warm up, then one measured phase. */
async function pushRun(
  o: BenchOptions,
  loaders: LineProcess[],
  sender: LineProcess,
  target: string,
  start: () => Promise<Setup>,
): Promise<Row> {
  const setup = await start();
  const [loader] = loaders;
  try {
    const { nodes } = setup;
    const users = Array.from({ length: o.pushUsers }, (_, i) => `p${i}`);
    progress(`push ${target}: logging in ${users.length} users on ${nodes.length} node(s)`);
    const c = await loader.call("connect", { urls: nodes.map((n) => n.url), users }, 120_000);
    if (c.failed || c.loginFailed) throw new Error(`push connect failed: ${JSON.stringify(c.failedBy)}`);
    const ports = nodes.map((n) => n.httpPort);
    const phase = async (n: number, durationMs: number) => {
      await loader.call("pushListen", { phase: n }, 10_000);
      const args = {
        ports,
        users,
        concurrency: o.pushSenders,
        maxRequests: MAX_REQUESTS,
        padding: o.padding,
      };
      return await sender.call("run", { ...args, phase: n, durationMs }, durationMs + 60_000);
    };
    const warm = await phase(0, Math.min(1000, o.durationMs / 2));
    await loader.call("pushCount", { expect: warm.acked, maxMs: 10_000 }, 20_000);
    await sleep(200);
    const nodePids = nodes.map((n) => n.pid);
    const serverPids = [...nodePids, ...setup.redisPids];
    const cpu = new CpuMeter([...serverPids, sender.pid, loader.pid]);
    const s = await phase(1, o.durationMs);
    const usage = cpu.read();
    const seconds = cpu.seconds();
    // Deliveries still in flight when the last reply came back: waited for, not measured.
    const d = await loader.call("pushCount", { expect: s.acked, maxMs: 10_000 }, 20_000);
    const sumOf = (from: number, to: number) => seconds.slice(from, to).reduce((a, b) => a + b, 0);
    const nodeSeconds = sumOf(0, nodePids.length);
    const redisSeconds = sumOf(nodePids.length, serverPids.length);
    const perPush = (sec: number) => s.acked ? Math.round(sec * 1e6 / s.acked) : undefined;
    const rate = s.elapsedMs > 0 ? Math.round(s.acked / (s.elapsedMs / 1000)) : 0;
    const lost = Math.max(0, s.acked - d.received);
    const requestErrors = s.notAcked + s.httpErrors + s.fetchErrors;
    const errors = requestErrors + d.replyErrors + d.wrongUser;
    const notes: string[] = [];
    if (d.seqGaps || d.seqBack) notes.push(`inbox seq out of order: ${d.seqGaps} gaps, ${d.seqBack} back`);
    if (s.deliveredFalse) notes.push(`${s.deliveredFalse} replies delivered:false`);
    if (d.received > s.acked) notes.push(`${d.received - s.acked} deliveries not acknowledged`);
    const http = percentiles(mergeHistograms([s.hist]));
    const row: Row = {
      scenario: "push",
      target,
      params: `${users.length} users, ${o.pushSenders} HTTP senders` +
        (nodes.length > 1 ? `, ${nodes.length} nodes (half of the pushes cross nodes)` : ""),
      metric: "pushes/s",
      value: rate,
      ...percentiles(mergeHistograms([d.hist])),
      sent: s.sent,
      received: d.received,
      lost,
      duplicates: d.duplicates,
      errors,
      serverCpu: usage.slice(0, serverPids.length).reduce((a, b) => a + b, 0),
      loaderCpu: usage.slice(serverPids.length),
      status: "",
      extra: {
        pushesPerSec: rate,
        acked: s.acked,
        deliveries: d.received,
        notAcked: s.notAcked,
        httpErrors: s.httpErrors,
        fetchErrors: s.fetchErrors,
        deliveredFalse: s.deliveredFalse,
        wrongUser: d.wrongUser,
        seqGaps: d.seqGaps,
        seqBack: d.seqBack,
        stale: d.stale,
        pushReplyErrors: d.replyErrors,
        firstError: s.firstError ?? d.firstError ?? d.firstSeqIssue,
        httpP50Ms: http.p50Ms,
        httpP99Ms: http.p99Ms,
        latencyNote: "p50…max: HTTP request sent → push received by the WebSocket client",
        nodeCpuUsPerPush: perPush(nodeSeconds),
        redisCpuUsPerPush: setup.redisPids.length ? perPush(redisSeconds) : undefined,
        serverUsPerMsg: perPush(nodeSeconds + redisSeconds),
        totalCpuUsPerPush: perPush(nodeSeconds + redisSeconds),
        senderUsPerPush: perPush(seconds[serverPids.length]),
        loaderUsPerMsg: perPush(seconds[serverPids.length] + seconds[serverPids.length + 1]),
        redisServers: setup.redisPids.length,
        serverCpuNote: setup.redisPids.length ? "sum over nodes + redis-server" : undefined,
      },
    };
    row.status = verdict({ lost, duplicates: d.duplicates, errors, note: notes.join(", ") || undefined });
    progress(
      `push ${target}: ${rate} pushes/s, ${s.acked} acked, ${d.received} delivered, node ${row.extra.nodeCpuUsPerPush}` +
        ` + redis ${row.extra.redisCpuUsPerPush ?? 0} µs/push, ${row.status}` +
        (row.extra.firstError ? ` (first error: ${row.extra.firstError})` : ""),
    );
    return row;
  } finally {
    await loader.call("close", {}, 30_000).catch(() => {});
    await setup.stop();
  }
}
