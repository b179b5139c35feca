/**
 * Running out of file descriptors must not end the process: a server with `ulimit -n 128` gets
 * 200 idle TCP connections on each port (more than it has descriptors), and once they go it
 * serves WebSocket logins and HTTP requests again. Deno.serve alone exits the process here
 * (its serve loop rejects with EMFILE and nothing handles it; src/transport/resilient_serve.ts).
 * @module
 */
import assert from "node:assert/strict";
import { TestClient } from "../support/helpers.ts";
import { MAIN, quietEnv, spawnServer, START_FLAGS, stopServer } from "../support/node_process.ts";

/** Open up to `n` TCP connections (the kernel completes them from the backlog even unaccepted). */
async function flood(port: number, n: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) {
    try {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    } catch {
      break; // refused: the listener is gone for now
    }
  }
  return conns;
}

Deno.test({
  name:
    "fd exhaustion: 200 idle connections per port under ulimit -n 128 — the process lives and serves again",
  // A Unix shell sets the limit; Deno.Command has no rlimit option.
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const proc = await spawnServer(
      "bash",
      ["-c", 'ulimit -n 128 && exec "$0" run "$@"', Deno.execPath(), ...START_FLAGS, MAIN],
      quietEnv({ IM_APP_LOGLEVEL: "error" }),
    );
    let exited = false;
    proc.child.status.then(() => exited = true);
    try {
      for (const port of [proc.wsPort, proc.httpPort]) {
        const conns = await flood(port, 200);
        await new Promise((r) => setTimeout(r, 500)); // the server runs into EMFILE meanwhile
        for (const c of conns) c.close();
      }
      // released; the listeners come back (the WebSocket one after RELISTEN_DELAY_MS = 1 s)
      let ok = false;
      for (let i = 0; i < 40 && !ok && !exited; i++) {
        await new Promise((r) => setTimeout(r, 100));
        try {
          const client = await TestClient.connect(proc.wsPort);
          try {
            ok = (await client.login("survivor")).userId === "survivor";
          } finally {
            await client.close();
          }
        } catch {
          // not listening yet
        }
      }
      assert.ok(!exited, `the server exited: ${proc.output()}`);
      assert.ok(ok, "no WebSocket login after the descriptors were released");
      const res = await fetch(`http://127.0.0.1:${proc.httpPort}/healthz`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    } finally {
      if (!exited) await stopServer(proc, "SIGINT");
      else await proc.drained;
    }
  },
});
