/**
 * Servers under test, each a subprocess: imserver (`src/main.ts` with a temp config, single
 * node or a cluster node), the bare baseline relay and the Socket.IO peer (cluster). Each prints one
 * "listening" line that carries the WebSocket port.
 * @module
 */
import { LineProcess, readLines } from "./proc.ts";

/** A running server subprocess. */
export interface Target {
  /** Row label: "imserver" (the default store, SQLite), "imserver (memory)", "baseline", … */
  kind: string;
  pid: number;
  wsPort: number;
  /** HTTP API port (0 for the baseline, which has none). */
  httpPort: number;
  url: string;
  /** SIGTERM, wait (SIGKILL after 15 s), clean up. */
  stop(): Promise<void>;
  /** SIGKILL and wait; the files are kept (a restart reuses them). */
  kill(): Promise<void>;
}

/** Options of an imserver target. */
export interface ImserverOptions {
  /** Room size the config must admit. */
  maxRoomMembers?: number;
  /** Cluster mode with this Redis address (with `redisCluster`: seed nodes `host:port,host:port,…`). */
  redisAddr?: string;
  /** `redis.cluster: true`: `redisAddr` names the seed nodes of a Redis Cluster. */
  redisCluster?: boolean;
  /** Write a V8 CPU profile into this directory. */
  cpuProfDir?: string;
  /** Extra V8 flags for the server (e.g. `--trace-gc`). */
  v8Flags?: string;
  /** Embedded store (default sqlite, the server's default); ignored in cluster mode. */
  engine?: "sqlite" | "memory";
  /** SQLite file (default: in the target's temporary directory, removed on stop). */
  storePath?: string;
  /** Row label (default "imserver", or "imserver (memory)"). */
  label?: string;
  /** inbox.maxEntries (default the server's). */
  maxInboxEntries?: number;
  /** Listen address (default 127.0.0.1; 0.0.0.0 when loaders spread over several loopback addresses). */
  hostname?: string;
}

const root = new URL("../../", import.meta.url).pathname;
// By name, so `--allow-run=deno` covers it (execPath may be a resolved symlink).
const DENO = "deno";

/** The bench config: loopback, free ports, no file log, limits out of the way, no enter/exit pushes. */
export function benchConfigYaml(o: ImserverOptions, storePath = o.storePath ?? "data/imserver.db"): string {
  return [
    "app:",
    `  hostname: ${o.hostname ?? "127.0.0.1"}`,
    "  httpPort: 0",
    "  webSocketPort: 0",
    '  logFile: ""',
    "  logLevel: warning",
    "im:",
    "  enterExitPushes: false",
    // The login storm connects every socket before any logs in (80 s for 100k): past the login deadline.
    "heartbeat:",
    "  loginTimeout: 600",
    "limits:",
    "  messagesPerSecond: 1000000",
    "  messageBurst: 1000000",
    "  maxConnections: 1000000",
    "  maxConnectionsPerIp: 1000000",
    "  loginsPerIpPerMinute: 10000000",
    // fanout's setup logs in thousands of members one after another on each of 20 connections
    "  loginsPerConnectionPerMinute: 1000000",
    `  maxRoomMembers: ${Math.max(10_000, (o.maxRoomMembers ?? 0) + 10)}`,
    ...(o.maxInboxEntries ? ["inbox:", `  maxEntries: ${o.maxInboxEntries}`] : []),
    "store:",
    `  engine: ${o.engine ?? "sqlite"}`,
    `  path: ${JSON.stringify(storePath)}`,
    ...(o.redisAddr
      ? [
        "cluster:",
        "  enabled: true",
        "redis:",
        `  addr: ${JSON.stringify(o.redisAddr)}`,
        ...(o.redisCluster ? ["  cluster: true"] : []),
      ]
      : []),
    "",
  ].join("\n");
}

/** Start `src/main.ts` with the bench config. */
export async function startImserver(o: ImserverOptions = {}): Promise<Target> {
  const dir = await Deno.makeTempDir({ prefix: "imbench-" });
  const config = `${dir}/bench.yaml`;
  // Every target its own database: runs never share (or inherit) a file.
  await Deno.writeTextFile(config, benchConfigYaml(o, o.storePath ?? `${dir}/imserver.db`));
  const prof = o.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`] : [];
  const args = [
    "run",
    ...prof,
    ...(o.v8Flags ? [`--v8-flags=${o.v8Flags}`] : []),
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-sys",
    `${root}src/main.ts`,
    "--config",
    config,
  ];
  const child = new Deno.Command(DENO, { args, stdout: "piped", stderr: "inherit", cwd: root })
    .spawn();
  const lines = readLines(child.stdout)[Symbol.asyncIterator]();
  const ports = await firstMatch(lines, /imserver listening http=(\d+) ws=(\d+)/, 60_000);
  if (ports === undefined) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error("imserver did not print its listening line");
  }
  const drain = (async () => {
    for (;;) {
      const next = await lines.next();
      if (next.done) break;
      if (o.v8Flags) console.error(`[imserver] ${next.value}`);
    }
  })();
  const label = o.label ?? (o.engine === "memory" && !o.redisAddr ? "imserver (memory)" : "imserver");
  return target(label, child, ports, async () => {
    await drain;
    await Deno.remove(dir, { recursive: true });
  });
}

/** Start the bare baseline relay (on `hostname`, default 127.0.0.1). */
export async function startBaseline(hostname = "127.0.0.1"): Promise<Target> {
  const args = [
    "run",
    `--allow-net=${hostname}`,
    `${root}tests/bench/baseline_server.ts`,
    `--hostname=${hostname}`,
  ];
  const child = new Deno.Command(DENO, { args, stdout: "piped", stderr: "inherit" }).spawn();
  const lines = readLines(child.stdout)[Symbol.asyncIterator]();
  const port = (await firstMatch(lines, /baseline listening ws=(\d+)/, 30_000))?.[0];
  if (port === undefined) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error("baseline did not print its listening line");
  }
  const drain = (async () => {
    for (;;) if ((await lines.next()).done) break;
  })();
  return target("baseline", child, [0, port], () => drain);
}

/**
 * Start a Socket.IO peer node (tests/bench/peers/socketio_server.ts: npm socket.io with the Redis adapter on
 * `redisAddr`, on Deno's node compat). `--allow-env`: npm `debug` (under socket.io, engine.io and the adapter)
 * enumerates the whole environment when it loads. The target's `url` is its Engine.IO WebSocket endpoint.
 */
export async function startSocketIo(redisAddr: string, kind = "socket.io"): Promise<Target> {
  const args = [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-env",
    `${root}tests/bench/peers/socketio_server.ts`,
    `--redis=${redisAddr}`,
  ];
  const child = new Deno.Command(DENO, { args, stdout: "piped", stderr: "inherit", cwd: root }).spawn();
  const lines = readLines(child.stdout)[Symbol.asyncIterator]();
  const port = (await firstMatch(lines, /socket\.io listening ws=(\d+)/, 60_000))?.[0];
  if (port === undefined) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error("the socket.io peer did not print its listening line");
  }
  const drain = (async () => {
    for (;;) if ((await lines.next()).done) break;
  })();
  const t = target(kind, child, [0, port], () => drain);
  return { ...t, url: `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket` };
}

function target(
  kind: string,
  child: Deno.ChildProcess,
  [httpPort, wsPort]: number[],
  cleanup: () => Promise<void>,
): Target {
  return {
    kind,
    pid: child.pid,
    wsPort,
    httpPort,
    url: `ws://127.0.0.1:${wsPort}/im`,
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, 15_000);
      await child.status;
      clearTimeout(timer);
      await cleanup();
    },
  };
}

/** The numbers captured by `re` in the first matching line, or undefined (end of output, timeout). */
async function firstMatch(
  lines: AsyncIterator<string>,
  re: RegExp,
  timeoutMs: number,
): Promise<number[] | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = await Promise.race([
      lines.next(),
      new Promise<{ done: true; value: undefined }>((r) => {
        timer = setTimeout(() => r({ done: true, value: undefined }), Math.max(1, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    if (next.done) return undefined;
    const m = next.value.match(re);
    if (m) return m.slice(1).map(Number);
  }
  return undefined;
}

/**
 * Start `count` loader processes using the `client` WebSocket implementation, allowed to reach the
 * `spread` loopback addresses 127.0.0.1 … 127.0.0.N.
 */
export function startLoaders(count: number, client: string, cpuProfDir?: string, spread = 1): LineProcess[] {
  const prof = cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [];
  const hosts = Array.from({ length: spread }, (_, i) => `127.0.0.${i + 1}`).join(",");
  return Array.from({ length: count }, (_, i) =>
    new LineProcess(`loader${i}`, DENO, [
      "run",
      ...prof,
      `--allow-net=${hosts}`,
      "--allow-env",
      "--allow-read",
      `${root}tests/bench/loader.ts`,
      `--client=${client}`,
    ]));
}

/** Close every loader's sockets and stop the processes. */
export async function stopLoaders(loaders: LineProcess[]): Promise<void> {
  await Promise.all(loaders.map(async (l) => {
    await l.call("close", {}, 30_000).catch(() => {});
    await l.stop();
  }));
}

/** Figures of the SQLite store from a running imserver's `/metrics` (averages and bucket p99s, ms). */
export interface StoreFigures {
  commitAvgMs: number;
  commitP99Ms: number;
  syncAvgMs: number;
  transactionAvgMs: number;
  rowsPerTransaction: number;
  checkpoints: number;
  checkpointAvgMs: number;
  /** The database fsync after each checkpoint (transactions wait for it). */
  checkpointSyncAvgMs: number;
}

/**
 * Read the store histograms of `target` (undefined for the baseline and the memory store). Cumulative
 * since the server started: call it just before stopping the target.
 */
export async function storeFigures(target: Target): Promise<StoreFigures | undefined> {
  if (!target.httpPort) return undefined;
  const text = await fetch(`http://127.0.0.1:${target.httpPort}/metrics`).then((r) => r.text(), () => "");
  const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1] ?? NaN);
  const count = value("im_store_commit_ms_count");
  if (!(count > 0)) return undefined;
  const avg = (h: string) => Math.round(value(`${h}_sum`) / value(`${h}_count`) * 100) / 100;
  const buckets = [...text.matchAll(/^im_store_commit_ms_bucket\{le="([^"]+)"\} (\d+)$/gm)];
  const p99 = buckets.find(([, , n]) => Number(n) >= count * 0.99)?.[1];
  return {
    commitAvgMs: avg("im_store_commit_ms"),
    commitP99Ms: p99 === "+Inf" ? Infinity : Number(p99),
    syncAvgMs: avg("im_store_sync_ms"),
    transactionAvgMs: avg("im_store_transaction_ms"),
    rowsPerTransaction: avg("im_store_batch_rows"),
    checkpoints: value("im_store_checkpoint_ms_count"),
    checkpointAvgMs: avg("im_store_checkpoint_ms"),
    checkpointSyncAvgMs: avg("im_store_checkpoint_sync_ms"),
  };
}
