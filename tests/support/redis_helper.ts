/**
 * Test helper: a throw-away `redis-server` on a free loopback port, started as a subprocess,
 * stopped by pid and restartable on the same port (failover tests).
 *
 * When `redis-server` is missing, {@linkcode redisTest} registers tests with `ignore: true` and
 * the reason in the name — unless `IM_REQUIRE_REDIS=1`, in which case they run and fail.
 *
 * @example
 * ```ts
 * redisTest("store works", async (redis) => {
 *   const store = await RedisStore.connect({ url: redis.url });
 * });
 * ```
 * @module
 */

/** True when `redis-server` can be run here. */
export const redisAvailable: boolean = (() => {
  try {
    const out = new Deno.Command("redis-server", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return out.success;
  } catch {
    return false;
  }
})();

const required = Deno.env.get("IM_REQUIRE_REDIS") === "1";

/** Options of {@linkcode RedisServer.start}. */
export interface RedisServerOptions {
  /** Keep data across restarts (append-only file, fsync always) in a temp dir. */
  persistent?: boolean;
  /**
   * RDB snapshots only (no AOF, no automatic saves) in a temp dir: a restart loads the data as of
   * the last `SAVE` (see {@linkcode RedisServer.command}), i.e. it rolls back what came after.
   */
  snapshots?: boolean;
}

/** A redis-server subprocess. */
export class RedisServer {
  #child: Deno.ChildProcess | undefined;
  #dir: string | undefined;

  private constructor(readonly port: number, readonly options: RedisServerOptions) {}

  /** `redis://127.0.0.1:<port>` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Start on a free port and wait until it answers PING. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(freePort(), options);
    if (options.persistent || options.snapshots) {
      server.#dir = await Deno.makeTempDir({ prefix: "im-redis-" });
    }
    await server.#spawn();
    return server;
  }

  async #spawn(): Promise<void> {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--save", ""];
    if (this.#dir && this.options.snapshots) {
      args.push("--dir", this.#dir, "--dbfilename", "dump.rdb", "--appendonly", "no");
    } else if (this.#dir) args.push("--dir", this.#dir, "--appendonly", "yes", "--appendfsync", "always");
    else args.push("--appendonly", "no");
    this.#child = new Deno.Command("redis-server", { args, stdout: "null", stderr: "null" }).spawn();
    for (let i = 0; i < 200; i++) {
      if (await ping(this.port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    await this.stop();
    throw new Error(`redis-server on port ${this.port} did not answer PING`);
  }

  /** Kill the server (SIGKILL: like a crash) and wait for it to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
  }

  /** SIGSTOP: the server hangs — connections stay open, nothing is answered (a partition, a stall). */
  pause(): void {
    this.#child?.kill("SIGSTOP");
  }

  /** SIGCONT after {@linkcode pause}. */
  resume(): void {
    this.#child?.kill("SIGCONT");
  }

  /**
   * Send one command (inline protocol: arguments without spaces) and return the first reply
   * line, e.g. `await redis.command("SAVE")` → `"+OK"`.
   */
  async command(...args: string[]): Promise<string> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
    try {
      await conn.write(new TextEncoder().encode(args.join(" ") + "\r\n"));
      let reply = "";
      const buf = new Uint8Array(4096);
      while (!reply.includes("\r\n")) {
        const n = await conn.read(buf);
        if (n === null) break;
        reply += new TextDecoder().decode(buf.subarray(0, n));
      }
      return reply.split("\r\n")[0];
    } finally {
      conn.close();
    }
  }

  /** Stop, then start again on the same port (same data dir when persistent). */
  async restart(): Promise<void> {
    await this.stop();
    await this.#spawn();
  }

  /** Stop and remove the data directory. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.#dir) await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** One raw PING over TCP; true on +PONG. */
async function ping(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(16);
    const n = await conn.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/**
 * Register a test that gets its own redis-server (killed afterwards). Ignored with a clear
 * name when redis-server is missing, unless IM_REQUIRE_REDIS=1.
 */
export function redisTest(
  name: string,
  fn: (redis: RedisServer) => Promise<void>,
  options: RedisServerOptions = {},
): void {
  const skip = !redisAvailable && !required;
  Deno.test({
    name: skip ? `${name} [IGNORED: redis-server not installed]` : name,
    ignore: skip,
    async fn() {
      if (!redisAvailable) throw new Error("redis-server not installed and IM_REQUIRE_REDIS=1");
      const redis = await RedisServer.start(options);
      try {
        await fn(redis);
      } finally {
        await redis.dispose();
      }
    },
  });
}
