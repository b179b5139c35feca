/**
 * What one logged-in connection keeps on the server's V8 heap, by constructor: starts a server in this
 * process (default config, SQLite in a temp dir), takes a heap snapshot, logs in `--conns` connections from
 * a child process (so no client object is on this heap), takes another, and prints the difference per
 * connection — heap used and committed, RSS, and the biggest constructors by self size and count. `--hold=S`
 * has the connections heartbeat every second for S seconds first and prints what that left on the heap
 * with and without a full GC; `--spaces` prints V8's heap spaces. `--bare` measures a bare
 * `Deno.serve` + `upgradeWebSocket` relay instead (what Deno itself keeps per WebSocket, as the bench's
 * baseline relay does), so the two outputs side by side show imserver's own share.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc tests/bench/conn_heap.ts --conns=5000 [--top=25] [--bare] [--keep] \
 *   [--hold=S] [--spaces]
 * ```
 * @module
 */
import v8 from "node:v8";
import { defaultConfig } from "../../src/config/load.ts";
import { startServer } from "../../src/server.ts";

const arg = (name: string, d: number) =>
  Number(Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? d);
const CONNS = arg("conns", 5000), TOP = arg("top", 25), HOLD = arg("hold", 0);

/** Self size and count per "type:name" of a snapshot file. */
function census(file: string): Map<string, { size: number; count: number }> {
  const snap = JSON.parse(Deno.readTextFileSync(file));
  const fields: string[] = snap.snapshot.meta.node_fields;
  const types: string[] = snap.snapshot.meta.node_types[0];
  const [t, n, s] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const out = new Map<string, { size: number; count: number }>();
  const nodes: number[] = snap.nodes;
  for (let i = 0; i < nodes.length; i += fields.length) {
    const type = types[nodes[i + t]];
    const name = type === "object" || type === "closure" || type === "native"
      ? snap.strings[nodes[i + n]]
      : `(${type})`;
    const key = `${type}:${name}`;
    const c = out.get(key) ?? { size: 0, count: 0 };
    c.size += nodes[i + s];
    c.count++;
    out.set(key, c);
  }
  return out;
}

function snapshot(tag: string): { file: string; heap: number; heapTotal: number; rss: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, heapTotal, rss } = Deno.memoryUsage();
  if (Deno.args.includes("--spaces")) {
    console.log(
      tag,
      v8.getHeapSpaceStatistics().map((s) =>
        `${s.space_name} ${(s.space_size / 1048576).toFixed(1)}/${
          (s.space_used_size / 1048576).toFixed(1)
        } MB`
      ).join(", "),
    );
  }
  const file = v8.writeHeapSnapshot(`/tmp/conn_heap_${tag}_${Deno.pid}.heapsnapshot`);
  return { file, heap: heapUsed, heapTotal, rss };
}

/** The bench baseline's per-connection state: the socket and its user. */
function bareRelay(): { wsPort: number; shutdown(): Promise<void> } {
  const conns = new Set<{ socket: WebSocket; user?: string }>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    const conn: { socket: WebSocket; user?: string } = { socket };
    conns.add(conn);
    socket.onmessage = (e) => {
      const f = JSON.parse(e.data);
      conn.user = f.data?.userId;
      socket.send(JSON.stringify({ seq: f.seq, cmd: f.cmd, response: { code: 200, codeMsg: "Success" } }));
    };
    socket.onclose = () => conns.delete(conn);
    return response;
  });
  return { wsPort: server.addr.port, shutdown: () => server.shutdown() };
}

const dir = await Deno.makeTempDir({ prefix: "conn-heap-" });
const config = defaultConfig();
config.app.hostname = "127.0.0.1";
config.app.httpPort = 0;
config.app.webSocketPort = 0;
config.app.logFile = "";
config.store.path = `${dir}/im.db`;
const server = Deno.args.includes("--bare") ? bareRelay() : await startServer(config);
const loader = `
const [port, n, hold] = Deno.args.map(Number);
const sockets = [];
let ok = 0;
await Promise.all(Array.from({ length: n }, (_, i) => new Promise((resolve) => {
  const ws = new WebSocket("ws://127.0.0.1:" + port + "/acc");
  sockets.push(ws);
  ws.onopen = () => ws.send(JSON.stringify({ seq: "l", cmd: "login", data: { userId: "u" + i, appId: 101 } }));
  ws.onmessage = (e) => { if (JSON.parse(e.data).cmd === "login") { ok++; resolve(); } };
  ws.onerror = () => resolve();
})));
console.log(ok);
for (let s = 0; s < hold; s++) {
  await new Promise((r) => setTimeout(r, 1000));
  for (const ws of sockets) if (ws.readyState === 1) ws.send('{"seq":"h","cmd":"heartbeat","data":{}}');
}
if (hold > 0) console.log("held");
await Deno.stdin.read(new Uint8Array(1));
`;
try {
  const before = snapshot("before");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", loader, String(server.wsPort), String(CONNS), String(HOLD)],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const line = new TextDecoder().decode((await reader.read()).value);
  const logged = Number(line.trim().split("\n")[0]);
  const per = (a: number, b: number) => ((a - b) / logged).toFixed(0);
  if (HOLD > 0) {
    // Heartbeats every second for --hold seconds: what stays on the heap without a full GC (floating
    // garbage the scavenges promoted) against what a full GC leaves (a leak).
    const { heapUsed: start } = Deno.memoryUsage();
    while (!new TextDecoder().decode((await reader.read()).value).includes("held"));
    const { heapUsed: end } = Deno.memoryUsage();
    (globalThis as { gc?: () => void }).gc?.();
    const { heapUsed: collected } = Deno.memoryUsage();
    console.log(
      `hold ${HOLD} s, a heartbeat a second: heap used +${per(end, start)} B/conn without a full GC, ${
        per(collected, start)
      } after one`,
    );
  } else await new Promise((r) => setTimeout(r, 1000));
  const after = snapshot("after");
  console.log(
    `${logged} of ${CONNS} logged in; heap used +${per(after.heap, before.heap)} B/conn, heap committed +${
      per(after.heapTotal, before.heapTotal)
    }, RSS +${per(after.rss, before.rss)} (after a full GC, before the snapshot)`,
  );
  const a = census(before.file), b = census(after.file);
  const rows = [...b].map(([k, v]) => ({
    k,
    size: (v.size - (a.get(k)?.size ?? 0)) / logged,
    count: (v.count - (a.get(k)?.count ?? 0)) / logged,
  })).sort((x, y) => y.size - x.size).slice(0, TOP);
  let total = 0;
  for (const [k, v] of b) total += v.size - (a.get(k)?.size ?? 0);
  console.log(`snapshot self sizes: +${(total / logged).toFixed(0)} B/conn`);
  for (const r of rows) {
    console.log(`${r.size.toFixed(0).padStart(6)} B  ${r.count.toFixed(2).padStart(6)} ×  ${r.k}`);
  }
  await child.stdin.close();
  reader.releaseLock();
  await child.stdout.cancel();
  await child.status;
  if (Deno.args.includes("--keep")) console.log(`snapshots: ${before.file} ${after.file}`);
  else await Promise.all([Deno.remove(before.file), Deno.remove(after.file)]);
} finally {
  await server.shutdown();
  await Deno.remove(dir, { recursive: true });
}
