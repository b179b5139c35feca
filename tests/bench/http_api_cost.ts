/**
 * What the connection guard costs on the HTTP API (docs/SECURITY.md "Timeouts and connection
 * caps"): starts `src/main.ts` with `http.guard` set as asked, then measures
 *
 * - server CPU per request: keep-alive `POST /user/sendMessage` from 32 concurrent `fetch` calls in
 *   a separate process for `--seconds` (default 8, after a 2 s warm-up), CPU from /proc;
 * - RSS per idle keep-alive connection: 1000 raw sockets, one request each, then held 1.5 s.
 *
 * ```sh
 * deno run -A tests/bench/http_api_cost.ts off          # Deno.serve, no guard
 * deno run -A tests/bench/http_api_cost.ts http         # the default: native guard on the HTTP listener
 * deno run -A tests/bench/http_api_cost.ts all --shared # one listener for both, behind the relay
 * ```
 *
 * `--root=DIR` runs another checkout's `src/main.ts` (e.g. the code before the guard). Linux only
 * (/proc). Run the variants interleaved a few times on a shared machine and compare medians.
 * @module
 */
import { readLines } from "./proc.ts";

const CONCURRENCY = 32;
const IDLE_CONNS = 1000;

async function load(port: number, seconds: number): Promise<{ count: number; errors: number }> {
  let count = 0, errors = 0;
  const end = performance.now() + seconds * 1000;
  const body = "appId=101&userId=bob&message=hello";
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < end) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/user/sendMessage`, {
          method: "POST",
          body,
          headers: { "content-type": "application/x-www-form-urlencoded" },
        });
        await r.text();
        count++;
      } catch {
        errors++;
      }
    }
  }));
  return { count, errors };
}

async function runLoader(port: number, seconds: number) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      new URL(import.meta.url).pathname,
      "--load",
      String(port),
      String(seconds),
    ],
    stdout: "piped",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)) as { count: number; errors: number };
}

async function main(args: string[]): Promise<void> {
  const guard = args.find((a) => !a.startsWith("--")) ?? "http";
  const shared = args.includes("--shared");
  const seconds = Number(args.find((a) => a.startsWith("--seconds="))?.slice(10) ?? 8);
  const root = args.find((a) => a.startsWith("--root="))?.slice(7) ??
    new URL("../../", import.meta.url).pathname;
  let port = 0;
  if (shared) {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    port = (l.addr as Deno.NetAddr).port;
    l.close();
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}/src/main.ts`],
    env: {
      IM_APP_HOSTNAME: "127.0.0.1",
      IM_APP_HTTPPORT: String(port),
      IM_APP_WEBSOCKETPORT: String(port),
      IM_APP_LOGFILE: "",
      IM_APP_LOGLEVEL: "warning",
      IM_IM_ENTEREXITPUSHES: "false",
      IM_HTTP_GUARD: guard,
      IM_HTTP_MAXCONNECTIONS: "5000",
      IM_STORE_ENGINE: "memory",
    },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const lines = readLines(child.stdout)[Symbol.asyncIterator]();
    let httpPort = 0;
    for (let i = 0; i < 100 && !httpPort; i++) {
      const { value, done } = await lines.next();
      if (done) throw new Error("the server did not start");
      httpPort = Number(value.match(/listening http=(\d+)/)?.[1] ?? 0);
    }
    (async () => {
      for (;;) if ((await lines.next()).done) break;
    })();
    const cpuMs = () => {
      const f = Deno.readTextFileSync(`/proc/${child.pid}/stat`).split(") ")[1].split(" ");
      return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
    };
    const rss = () =>
      Number(Deno.readTextFileSync(`/proc/${child.pid}/status`).match(/VmRSS:\s+(\d+)/)![1]) * 1024;
    await runLoader(httpPort, 2); // warm-up
    const c0 = cpuMs();
    const { count, errors } = await runLoader(httpPort, seconds);
    const c1 = cpuMs();
    await new Promise((r) => setTimeout(r, 500));
    const r0 = rss();
    const conns: Deno.TcpConn[] = [];
    const req = new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const buf = new Uint8Array(1024);
    for (let i = 0; i < IDLE_CONNS; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: httpPort });
      await c.write(req);
      await c.read(buf);
      conns.push(c);
    }
    await new Promise((r) => setTimeout(r, 1500));
    const r1 = rss();
    for (const c of conns) c.close();
    const label = `${guard}${shared ? " (shared listener)" : ""}${
      root.includes("/tmp/") ? ` @ ${root}` : ""
    }`;
    console.log(
      `${label}: ${count} requests (${errors} errors), ${Math.round(count / seconds)} req/s, ` +
        `server ${((c1 - c0) * 1000 / count).toFixed(1)} µs/request, idle keep-alive ${
          Math.round((r1 - r0) / IDLE_CONNS)
        } B RSS/connection`,
    );
  } finally {
    child.kill("SIGINT");
    await child.status;
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--load") {
    console.log(JSON.stringify(await load(Number(Deno.args[1]), Number(Deno.args[2]))));
  } else await main(Deno.args);
}
