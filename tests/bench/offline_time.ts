/**
 * Quick throughput comparison of 1:1 messaging: one embedded node, one cluster node (Redis),
 * and two cluster nodes with every sender on node A and every receiver on node B.
 * Nodes are real `src/main.ts` processes; this process only drives WebSocket clients.
 *
 *   deno run -A tests/bench/offline_time.ts [pairs=20] [window=20] [seconds=5]
 *
 * Also measures how long a kill -9'd node's users stay online (presence.ttl 2 s and 30 s default
 * bound = 2 × ttl). Prints one line per scenario.
 * @module
 */
import { RedisServer } from "../support/redis_helper.ts";
import { childEnv } from "../support/node_process.ts";

const [pairs, window, seconds] = [
  Number(Deno.args[0] ?? 20),
  Number(Deno.args[1] ?? 20),
  Number(Deno.args[2] ?? 5),
];
/** Presence TTL in seconds (env BENCH_TTL, default 2). */
const TTL = Number(Deno.env.get("BENCH_TTL") ?? 2);
const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

interface Node {
  child: Deno.ChildProcess;
  http: number;
  ws: number;
}

async function spawn(env: Record<string, string>): Promise<Node> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...(Deno.env.get("BENCH_PROF") ? ["--cpu-prof", `--cpu-prof-dir=${Deno.env.get("BENCH_PROF")}`] : []),
      MAIN,
    ],
    clearEnv: true,
    env: childEnv({
      IM_APP_HOSTNAME: "127.0.0.1",
      IM_APP_HTTPPORT: "0",
      IM_APP_WEBSOCKETPORT: "0",
      IM_APP_LOGFILE: "",
      IM_APP_LOGLEVEL: "error",
      IM_LIMITS_MESSAGESPERSECOND: "1000000",
      IM_LIMITS_MESSAGEBURST: "1000000",
      ...env,
    }),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`node exited: ${text}`);
    text += value;
    const m = text.match(/listening http=(\d+) ws=(\d+)/);
    if (m) {
      (async () => {
        while (!(await reader.read()).done) { /* discard */ }
      })();
      return { child, http: Number(m[1]), ws: Number(m[2]) };
    }
  }
}

function open(
  port: number,
  userId: string,
  onFrame: (f: { cmd: string; seq: string }) => void,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/im`);
    ws.onerror = () => reject(new Error("connect failed"));
    ws.onopen = () => ws.send(JSON.stringify({ seq: "login", cmd: "login", data: { userId, appId: 101 } }));
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data as string);
      if (f.seq === "login" && (f as { response: { code: number } }).response.code !== 200) {
        reject(new Error(`login ${userId}: ${e.data}`));
      } else if (f.seq === "login") resolve(ws);
      else onFrame(f);
    };
  });
}

/** Senders on `from`, receivers on `to`; resolves to delivered messages per second. */
async function run(label: string, from: number, to: number): Promise<void> {
  const tag = label.slice(0, 3) + label.length; // userIds stay under maxUserIdBytes
  let delivered = 0;
  let counting = false;
  const receivers: WebSocket[] = [];
  const senders: WebSocket[] = [];
  let stop = false;
  for (let i = 0; i < pairs; i++) {
    receivers.push(
      await open(to, `r${tag}${i}`, (f) => {
        if (f.cmd === "msg" && counting) delivered++;
      }),
    );
  }
  for (let i = 0; i < pairs; i++) {
    let n = 0;
    const ws: WebSocket = await open(from, `s${tag}${i}`, (f) => {
      if (f.cmd === "sendMsg" && !stop) {
        ws.send(
          JSON.stringify({
            seq: `${n++}`,
            cmd: "sendMsg",
            data: { to: `r${tag}${i}`, msg: "x".repeat(64) },
          }),
        );
      }
    });
    senders.push(ws);
    for (let k = 0; k < window; k++) {
      ws.send(
        JSON.stringify({ seq: `${n++}`, cmd: "sendMsg", data: { to: `r${tag}${i}`, msg: "x".repeat(64) } }),
      );
    }
  }
  await new Promise((r) => setTimeout(r, 1000));
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const rate = delivered / ((performance.now() - t0) / 1000);
  stop = true;
  for (const ws of [...senders, ...receivers]) ws.close();
  console.log(
    `${label}: ${Math.round(rate)} msgs/s delivered (${pairs} pairs, window ${window}, ${seconds}s)`,
  );
}

const redis = await RedisServer.start();
const nodes: Node[] = [];
try {
  const single = await spawn({});
  nodes.push(single);
  await run("embedded-single-node", single.ws, single.ws);
  const cluster = {
    IM_CLUSTER_ENABLED: "true",
    IM_REDIS_ADDR: `127.0.0.1:${redis.port}`,
    IM_PRESENCE_TTL: String(TTL),
  };
  const a = await spawn({ ...cluster, IM_CLUSTER_NODEID: "bench-a" });
  const b = await spawn({ ...cluster, IM_CLUSTER_NODEID: "bench-b" });
  nodes.push(a, b);
  await run("cluster-same-node", a.ws, a.ws);
  await run("cluster-cross-node", a.ws, b.ws);
  if (Deno.env.get("BENCH_REDIS_STATS")) {
    const out = await new Deno.Command("redis-cli", {
      args: ["-p", String(redis.port), "info", "commandstats"],
    })
      .output();
    console.log(new TextDecoder().decode(out.stdout));
  }

  // crash bound: a user on node a, kill -9, poll node b (skipped when profiling)
  if (Deno.env.get("BENCH_PROF")) throw new Error("profiling: crash measurement skipped");
  const victim = await open(a.ws, "victim", () => {});
  a.child.kill("SIGKILL");
  const t0 = Date.now();
  for (;;) {
    const r = await (await fetch(`http://127.0.0.1:${b.http}/user/online?userId=victim&appId=101`)).json();
    if (!r.data.online) break;
    if (Date.now() - t0 > 4 * TTL * 1000) throw new Error(`still online after ${4 * TTL} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(
    `crashed node's user offline after ${Date.now() - t0} ms (presence.ttl ${TTL * 1000} ms, bound ${
      2 * TTL * 1000
    } ms)`,
  );
  victim.close();
} finally {
  for (const n of nodes) {
    try {
      n.child.kill("SIGTERM");
    } catch { /* gone */ }
    await n.child.status;
  }
  await redis.dispose();
}
