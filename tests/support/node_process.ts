/**
 * Test helper: run the server as a real process (`deno run src/main.ts`, the bundle, or a compiled
 * binary), wait for its "imserver listening" line, stop it with a signal and collect the exit code.
 * @module
 */

/**
 * Exactly the permission flags of `deno task start`, as written in deno.json (so a test that runs the
 * server as a process runs it with the permissions an operator gets).
 */
export const START_FLAGS: readonly string[] = (() => {
  const deno = JSON.parse(Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)));
  return (deno.tasks.start as string).split(/\s+/).filter((a) => a.startsWith("--allow-"));
})();

/** Path of src/main.ts. */
export const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/**
 * Test-harness switches (`IM_REQUIRE_REDIS`, `IM_REQUIRE_BROWSER` from .ci/run, `IM_TEST_SEED`): they
 * share the `IM_` prefix with the settings, and the server rejects an `IM_*` variable that names no
 * setting, so they must not reach a server subprocess.
 */
const HARNESS_SWITCH = /^IM_(REQUIRE|TEST)_/i;

/**
 * The environment for a server subprocess: this process's environment without the test-harness
 * switches, plus `extra`. Pass it with `clearEnv: true` — Deno.Command otherwise adds `env` to the
 * inherited environment and the switches leak through.
 *
 * @example
 * ```ts
 * new Deno.Command(Deno.execPath(), { args: ["run", ...START_FLAGS, MAIN], env: childEnv(), clearEnv: true });
 * ```
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !HARNESS_SWITCH.test(k)),
  );
  return { ...env, ...extra };
}

/** Environment of a cluster node subprocess: quiet, free ports, Redis at `redisPort`. */
export function clusterEnv(
  redisPort: number,
  nodeId: string,
  ttlSeconds: number,
  extra: Record<string, string> = {},
): Record<string, string> {
  return quietEnv({
    IM_CLUSTER_ENABLED: "true",
    IM_CLUSTER_NODEID: nodeId,
    IM_PRESENCE_TTL: String(ttlSeconds),
    IM_REDIS_ADDR: `127.0.0.1:${redisPort}`,
    ...extra,
  });
}

/**
 * Embedded-mode environment on loopback and free ports, quiet logs, the memory store: server processes
 * started side by side must not share data/imserver.db (the second would be refused). Tests of the
 * SQLite store pass `IM_STORE_ENGINE: "sqlite"` and a working directory or `IM_STORE_PATH` of their own.
 */
export function quietEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    IM_STORE_ENGINE: "memory",
    IM_APP_HOSTNAME: "127.0.0.1",
    IM_APP_HTTPPORT: "0",
    IM_APP_WEBSOCKETPORT: "0",
    IM_APP_LOGFILE: "",
    IM_APP_LOGLEVEL: "error",
    ...extra,
  };
}

/** A running server process and the ports it printed. */
export interface ServerProcess {
  child: Deno.ChildProcess;
  httpPort: number;
  wsPort: number;
  nodeId: string;
  /** Everything the process printed on stdout so far (grows until it exits). */
  readonly output: () => string;
  /** Resolves when stdout is fully read (after the process ends). */
  drained: Promise<void>;
}

/**
 * Spawn `cmd args` in `cwd` with `env` added to the inherited environment (minus the harness
 * switches, see {@linkcode childEnv}) and wait up to `startMs` for the listening line.
 *
 * @example
 * ```ts
 * const proc = await spawnServer(Deno.execPath(), ["run", ...START_FLAGS, MAIN], quietEnv());
 * await stopServer(proc);
 * ```
 */
export async function spawnServer(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  startMs = 60_000,
  cwd?: string,
): Promise<ServerProcess> {
  const child = new Deno.Command(cmd, {
    args,
    env: childEnv(env),
    clearEnv: true,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errText = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, startMs);
  try {
    for (let i = 0; i < 10_000; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      const m = text.match(/imserver listening http=(\d+) ws=(\d+) node=(\S+)/);
      if (!m) continue;
      const drained = (async () => {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          text += r.value;
        }
        await errText;
      })();
      return {
        child,
        httpPort: Number(m[1]),
        wsPort: Number(m[2]),
        nodeId: m[3],
        output: () => text,
        drained,
      };
    }
  } finally {
    clearTimeout(timer);
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // exited by itself
  }
  await child.status;
  await reader.cancel();
  throw new Error(`server did not start: ${text}\n${await errText}`);
}

/** Send `signal` and wait for the exit; returns the exit code. */
export async function stopServer(proc: ServerProcess, signal: Deno.Signal = "SIGTERM"): Promise<number> {
  try {
    proc.child.kill(signal);
  } catch {
    // already exited
  }
  const status = await proc.child.status;
  await proc.drained;
  return status.code;
}

/** Wait for the process to exit by itself; returns the exit code. */
export async function exitCode(proc: ServerProcess): Promise<number> {
  const status = await proc.child.status;
  await proc.drained;
  return status.code;
}
