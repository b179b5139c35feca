/**
 * Test helper: a throw-away Redis Cluster of `redis-server` subprocesses on free loopback ports,
 * for tests of the server's Redis Cluster mode. Members can be killed (SIGKILL, like a crash) and
 * restarted on the same port with the same cluster config file, so failover can be tested.
 *
 * Like {@linkcode redisTest} in `redis_helper.ts`: when `redis-server` is missing,
 * {@linkcode redisClusterTest} registers tests with `ignore: true` and the reason in the name —
 * unless `IM_REQUIRE_REDIS=1`, in which case they run and fail.
 *
 * Nothing is persisted (no AOF, no RDB saves): a restarted member comes back empty and gets its
 * data again from its master by replication, as a rejoining node in production would.
 *
 * @example
 * ```ts
 * redisClusterTest("cluster store works", async (cluster) => {
 *   const urls = cluster.seeds.split(",").map((a) => `redis://${a}`);
 *   const store = await RedisStore.open({ urls, cluster: true }, { keys, policy });
 * }, { masters: 3, replicas: 1 });
 * ```
 * @module
 */
import { freePort, redisAvailable } from "./redis_helper.ts";

const required = Deno.env.get("IM_REQUIRE_REDIS") === "1";

/** Number of hash slots of every Redis Cluster. */
const SLOTS = 16384;
/** The cluster bus of a member listens on its port + 10000 (fixed by Redis). */
const BUS_OFFSET = 10000;
/** Highest client port whose bus port (port + 10000) is still a valid port. */
const MAX_PORT = 65535 - BUS_OFFSET;
/** Bound of one `redis-cli` call, so that a hung member cannot hang a test. */
const CLI_TIMEOUT_MS = 5000;
/** Bound of `redis-cli --cluster create` (it polls once a second until the nodes agree). */
const CREATE_TIMEOUT_MS = 30_000;
/** Bound of a member's start (until it answers PING). */
const SPAWN_TIMEOUT_MS = 5000;
/** Poll interval of the waits. */
const POLL_MS = 100;

/**
 * Options of {@linkcode RedisClusterServer.start}.
 *
 * @example
 * ```ts
 * const options: RedisClusterOptions = { masters: 3, replicas: 1, nodeTimeoutMs: 1000 };
 * const cluster = await RedisClusterServer.start(options);
 * ```
 */
export interface RedisClusterOptions {
  /** Masters (default 3; `redis-cli --cluster create` needs at least 3). */
  masters?: number;
  /** Replicas per master (default 0; 1 for failover tests). */
  replicas?: number;
  /** cluster-node-timeout in ms (default 1000, so a failover takes ~2-3 s). */
  nodeTimeoutMs?: number;
}

/**
 * One member of the cluster, named by its client port (its cluster bus is on port + 10000).
 *
 * @example
 * ```ts
 * const members: ClusterMember[] = cluster.ports.map((port) => ({ port }));
 * ```
 */
export interface ClusterMember {
  /** Client port on 127.0.0.1. */
  port: number;
}

/** A member's process while it runs; `exited` is set as soon as it ends (e.g. it could not bind). */
interface Running {
  child: Deno.ChildProcess;
  status: Promise<Deno.CommandStatus>;
  exited: boolean;
}

/** One line of `CLUSTER NODES`. */
interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  linkState: string;
  /** Slot count owned (ranges only; importing/migrating markers ignored). */
  slots: number;
}

/** What one `redis-cli` run gave. */
interface CliResult {
  success: boolean;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * A Redis Cluster of `redis-server` subprocesses on 127.0.0.1, in a temp directory of its own.
 *
 * @example
 * ```ts
 * const cluster = await RedisClusterServer.start({ masters: 3, replicas: 1 });
 * try {
 *   const port = await cluster.masterOf(Number(await cluster.command(cluster.ports[0], "CLUSTER", "KEYSLOT", "k")));
 *   await cluster.kill(port);
 *   await cluster.waitHealthy(); // a replica took over
 * } finally {
 *   await cluster.dispose();
 * }
 * ```
 */
export class RedisClusterServer {
  #seeds = "";
  /** Every member started, by port; undefined while killed. Insertion order is start order. */
  readonly #members = new Map<number, Running | undefined>();
  readonly #dir: string;
  readonly #nodeTimeoutMs: number;
  #disposed = false;

  private constructor(dir: string, nodeTimeoutMs: number) {
    this.#dir = dir;
    this.#nodeTimeoutMs = nodeTimeoutMs;
  }

  /**
   * Start `masters * (1 + replicas)` members on free ports, join them with
   * `redis-cli --cluster create`, and return once every slot is served and every replica is
   * attached and in sync (so that a failover test can rely on the replicas at once).
   *
   * @example
   * ```ts
   * const cluster = await RedisClusterServer.start({ masters: 3, replicas: 1 });
   * ```
   */
  static async start(options: RedisClusterOptions = {}): Promise<RedisClusterServer> {
    const masters = options.masters ?? 3;
    const replicas = options.replicas ?? 0;
    const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
    if (!Number.isInteger(masters) || masters < 3) {
      throw new RangeError(`masters must be an integer >= 3 (redis-cli --cluster create), got ${masters}`);
    }
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new RangeError(`replicas must be an integer >= 0, got ${replicas}`);
    }
    if (!Number.isInteger(nodeTimeoutMs) || nodeTimeoutMs < 100) {
      throw new RangeError(`nodeTimeoutMs must be an integer >= 100, got ${nodeTimeoutMs}`);
    }
    const dir = await Deno.makeTempDir({ prefix: "im-redis-cluster-" });
    const cluster = new RedisClusterServer(dir, nodeTimeoutMs);
    try {
      const total = masters * (1 + replicas);
      // One at a time: the port picker must see the ports already taken by earlier members.
      for (let i = 0; i < total; i++) await cluster.#startNewMember();
      const create = await runCli([
        "--cluster",
        "create",
        ...cluster.ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        String(replicas),
        "--cluster-yes",
      ], CREATE_TIMEOUT_MS);
      if (!create.success) {
        throw new Error(
          `redis-cli --cluster create failed${create.timedOut ? " (timed out)" : ""}:\n` +
            stripAnsi(create.stdout + create.stderr),
        );
      }
      await cluster.waitHealthy();
      await cluster.#waitReplicasAttached(masters, replicas, 20_000);
      // redis-cli picks which nodes become masters; ask the cluster rather than assume.
      const view = await cluster.#nodes(cluster.ports[0]);
      cluster.#seeds = view
        .filter((n) => n.flags.includes("master") && n.slots > 0)
        .sort((a, b) => a.port - b.port)
        .map((n) => `127.0.0.1:${n.port}`)
        .join(",");
      return cluster;
    } catch (e) {
      await cluster.dispose();
      throw e;
    }
  }

  /**
   * `"127.0.0.1:p1,127.0.0.1:p2,..."` of the masters at start — the value for the server's
   * `redis.addr`. It does not change after a failover (clients discover the new topology).
   *
   * @example
   * ```ts
   * const config = { redis: { mode: "cluster", addr: cluster.seeds } };
   * ```
   */
  get seeds(): string {
    return this.#seeds;
  }

  /**
   * Ports of every member started (masters and replicas), killed ones included, in start order.
   *
   * @example
   * ```ts
   * for (const port of cluster.ports) console.log(await cluster.command(port, "ROLE"));
   * ```
   */
  get ports(): number[] {
    return [...this.#members.keys()];
  }

  /**
   * Send one command to a member via `redis-cli -e -p port ...args` and return its stdout
   * trimmed. `-e` makes an error reply (e.g. `CLUSTERDOWN`, `MOVED` without `-c`) a non-zero exit,
   * so it throws instead of coming back as if it were a value. Leading redis-cli options may be
   * given in `args`, e.g. `-c` to follow redirects. Bounded: throws after 5 s.
   *
   * @example
   * ```ts
   * await cluster.command(cluster.ports[0], "-c", "SET", "k", "v"); // "OK", via the right master
   * await cluster.command(cluster.ports[0], "CLUSTER", "INFO");
   * ```
   */
  async command(port: number, ...args: string[]): Promise<string> {
    const out = await runCli(["-e", "-p", String(port), ...args], CLI_TIMEOUT_MS);
    if (!out.success) {
      throw new Error(
        `redis-cli -p ${port} ${args.join(" ")} failed${out.timedOut ? " (timed out)" : ""}: ` +
          (out.stdout + out.stderr).trim(),
      );
    }
    return out.stdout.trim();
  }

  /**
   * Port of the member currently serving `slot` as master, per `CLUSTER SLOTS` of the first live
   * member that answers. Right after a kill that view may still name the dead master; call
   * {@linkcode waitHealthy} first for the settled answer.
   *
   * @example
   * ```ts
   * const slot = Number(await cluster.command(cluster.ports[0], "CLUSTER", "KEYSLOT", "k"));
   * const port = await cluster.masterOf(slot);
   * ```
   */
  async masterOf(slot: number): Promise<number> {
    if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) {
      throw new RangeError(`slot must be an integer in 0..${SLOTS - 1}, got ${slot}`);
    }
    const errors: string[] = [];
    for (const port of this.#livePorts()) {
      try {
        const ranges = await this.#slots(port);
        const range = ranges.find((r) => r.start <= slot && slot <= r.end);
        if (!range) throw new Error(`slot ${slot} is not served in the view of ${port}`);
        return range.master;
      } catch (e) {
        errors.push(`${port}: ${(e as Error).message}`);
      }
    }
    throw new Error(`no live member told the master of slot ${slot}:\n${errors.join("\n")}`);
  }

  /**
   * Ports of current masters that are alive (process running, not flagged failed), per
   * `CLUSTER NODES` of the first live member that answers; sorted. Settled after
   * {@linkcode waitHealthy}.
   *
   * @example
   * ```ts
   * const [first] = await cluster.masters();
   * await cluster.kill(first);
   * ```
   */
  async masters(): Promise<number[]> {
    const live = new Set(this.#livePorts());
    const errors: string[] = [];
    for (const port of live) {
      try {
        const view = await this.#nodes(port);
        return view
          .filter((n) =>
            n.flags.includes("master") && !n.flags.includes("fail") && !n.flags.includes("fail?") &&
            live.has(n.port)
          )
          .map((n) => n.port)
          .sort((a, b) => a - b);
      } catch (e) {
        errors.push(`${port}: ${(e as Error).message}`);
      }
    }
    throw new Error(`no live member told the masters:\n${errors.join("\n")}`);
  }

  /**
   * SIGKILL one member (like a crash: no shutdown, no goodbye to the cluster) and wait for the
   * process to exit. Does nothing when it is already killed.
   *
   * @example
   * ```ts
   * await cluster.kill(await cluster.masterOf(0));
   * ```
   */
  async kill(port: number): Promise<void> {
    this.#member(port);
    const running = this.#members.get(port);
    this.#members.set(port, undefined);
    if (running) await stopProcess(running);
  }

  /** SIGSTOP (`stop: true`) or SIGCONT a member: a hung master keeps its connections and answers nothing. */
  pause(port: number, stop = true): void {
    this.#member(port)?.child.kill(stop ? "SIGSTOP" : "SIGCONT");
  }

  /**
   * Start a killed member again on the same port with the same cluster config file: it keeps its
   * node id, so the cluster takes it back (an old master comes back as a replica of the one that
   * replaced it). Returns once it answers PING; call {@linkcode waitHealthy} to wait for the rejoin.
   *
   * @example
   * ```ts
   * await cluster.kill(port);
   * await cluster.restart(port);
   * await cluster.waitHealthy();
   * ```
   */
  async restart(port: number): Promise<void> {
    if (this.#member(port)) throw new Error(`member ${port} is still running; kill() it first`);
    const running = await this.#spawn(port);
    if (typeof running === "string") throw new Error(`member ${port} did not restart: ${running}`);
    this.#members.set(port, running);
  }

  /**
   * Wait until every live member reports `cluster_state:ok` and, in its own `CLUSTER SLOTS`, all
   * 16384 slots are served by a live master — the same one in every member's view, so that
   * {@linkcode masterOf} then gives the same answer whichever member it asks. Polls; throws with
   * the last CLUSTER INFO of a member that was not there yet on timeout.
   *
   * @example
   * ```ts
   * await cluster.kill(await cluster.masterOf(0));
   * await cluster.waitHealthy(10_000); // a replica was promoted and everyone knows
   * ```
   */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no live member";
    for (;;) {
      const problem = await this.#healthProblem();
      if (problem === undefined) return;
      last = problem;
      if (Date.now() >= deadline) {
        throw new Error(`Redis Cluster not healthy after ${timeoutMs} ms: ${last}`);
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * Kill every member and remove the temp directory. Safe to call twice.
   *
   * @example
   * ```ts
   * const cluster = await RedisClusterServer.start();
   * try {
   *   // ... the test ...
   * } finally {
   *   await cluster.dispose();
   * }
   * ```
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const running = [...this.#members.values()].filter((r): r is Running => r !== undefined);
    for (const port of this.#members.keys()) this.#members.set(port, undefined);
    await Promise.all(running.map(stopProcess));
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  /**
   * `await using cluster = await RedisClusterServer.start()` disposes it at the end of the scope.
   *
   * @example
   * ```ts
   * await using cluster = await RedisClusterServer.start();
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** The running process of a known member (undefined when killed); throws on an unknown port. */
  #member(port: number): Running | undefined {
    if (!this.#members.has(port)) throw new Error(`port ${port} is not a member of this cluster`);
    const running = this.#members.get(port);
    // A member that died by itself counts as killed, so it can be restarted.
    return running && !running.exited ? running : undefined;
  }

  #livePorts(): number[] {
    return this.ports.filter((p) => this.#member(p) !== undefined);
  }

  /**
   * Pick a port and start a member on it. A free port can be taken by someone else before the
   * member binds it (other tests run in parallel), so a failed start is retried on another port.
   */
  async #startNewMember(): Promise<void> {
    const errors: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = this.#pickPort();
      await Deno.mkdir(`${this.#dir}/${port}`);
      const running = await this.#spawn(port);
      if (typeof running !== "string") {
        this.#members.set(port, running);
        return;
      }
      errors.push(`${port}: ${running}`);
    }
    throw new Error(`could not start a cluster member:\n${errors.join("\n")}`);
  }

  /**
   * A free port ≤ 55535 whose bus port (port + 10000) is free too, and that clashes with no
   * member's port or bus port.
   */
  #pickPort(): number {
    const taken = new Set<number>();
    for (const p of this.#members.keys()) taken.add(p).add(p + BUS_OFFSET);
    for (let i = 0; i < 1000; i++) {
      const port = freePort();
      if (port > MAX_PORT || taken.has(port) || taken.has(port + BUS_OFFSET)) continue;
      if (canBind(port + BUS_OFFSET)) return port;
    }
    throw new Error("no free port pair (port, port + 10000) found on 127.0.0.1");
  }

  /**
   * Start redis-server on `port` and wait until it answers PING and is really ours (its
   * process_id is our child's pid, not another test's server that took the port). Returns the
   * reason when it did not come up, after having stopped it.
   */
  async #spawn(port: number): Promise<Running | string> {
    const dir = `${this.#dir}/${port}`;
    const args = [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--cluster-enabled",
      "yes",
      // Absolute path outside --dir so that restart() finds it whatever the cwd.
      "--cluster-config-file",
      `${this.#dir}/nodes-${port}.conf`,
      "--cluster-node-timeout",
      String(this.#nodeTimeoutMs),
      // cluster-require-full-coverage stays yes (the default): while a master is down and not
      // yet replaced, the whole cluster refuses commands, as in production.
      "--dir",
      dir,
      "--appendonly",
      "no",
      "--save",
      "",
      // The default delay of 5 s before a diskless full sync would make every replica (and a
      // restarted member) wait 5 s for its data.
      "--repl-diskless-sync-delay",
      "0",
    ];
    const child = new Deno.Command("redis-server", { args, stdin: "null", stdout: "null", stderr: "null" })
      .spawn();
    const running: Running = { child, status: child.status, exited: false };
    running.status.then(() => {
      running.exited = true;
    });
    const deadline = Date.now() + SPAWN_TIMEOUT_MS;
    let reason = `did not answer PING within ${SPAWN_TIMEOUT_MS} ms`;
    while (Date.now() < deadline) {
      if (running.exited) {
        reason = "exited at start (port taken?)";
        break;
      }
      if (await ping(port)) {
        const info = await runCli(["-p", String(port), "INFO", "server"], CLI_TIMEOUT_MS);
        const pid = /process_id:(\d+)/.exec(info.stdout)?.[1];
        if (pid === String(child.pid) && !running.exited) return running;
        reason = `port ${port} is answered by another process (pid ${pid})`;
        break;
      }
      await sleep(25);
    }
    await stopProcess(running);
    return reason;
  }

  /** Undefined when healthy, else what is wrong (with that member's CLUSTER INFO). */
  async #healthProblem(): Promise<string | undefined> {
    const live = this.#livePorts();
    if (live.length === 0) return "no live member";
    const liveSet = new Set(live);
    const views = await Promise.all(live.map(async (port) => {
      try {
        const info = await this.command(port, "CLUSTER", "INFO");
        if (!info.includes("cluster_state:ok")) return { port, problem: `member ${port}:\n${info}` };
        const owner = new Array<number>(SLOTS).fill(0);
        for (const r of await this.#slots(port)) owner.fill(r.master, r.start, r.end + 1);
        const bad = owner.findIndex((m) => !liveSet.has(m));
        if (bad >= 0) {
          const who = owner[bad] ? `dead master ${owner[bad]}` : "no master";
          return { port, problem: `member ${port} sees slot ${bad} served by ${who}:\n${info}` };
        }
        return { port, owner };
      } catch (e) {
        return { port, problem: `member ${port}: ${(e as Error).message}` };
      }
    }));
    for (const v of views) if ("problem" in v) return v.problem;
    const [first, ...rest] = views as { port: number; owner: number[] }[];
    for (const v of rest) {
      const slot = v.owner.findIndex((m, i) => m !== first.owner[i]);
      if (slot >= 0) {
        return `members disagree on slot ${slot}: ${first.port} says ${first.owner[slot]}, ` +
          `${v.port} says ${v.owner[slot]}`;
      }
    }
    return undefined;
  }

  /**
   * Wait until every member's CLUSTER NODES shows `masters` masters with `replicas` replicas
   * each, all connected and none failed, every master's INFO replication has `replicas` online
   * replicas and every replica's link to its master is up. `--cluster create` returns before the
   * replicas have synced, and until every master knows a replica it would not vote for it.
   */
  async #waitReplicasAttached(masters: number, replicas: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      last = await this.#replicationProblem(masters, replicas).catch((e) => (e as Error).message) ?? "";
      if (last === "") return;
      if (Date.now() >= deadline) {
        throw new Error(`replicas not attached after ${timeoutMs} ms: ${last}`);
      }
      await sleep(POLL_MS);
    }
  }

  async #replicationProblem(masters: number, replicas: number): Promise<string | undefined> {
    const total = masters * (1 + replicas);
    for (const port of this.ports) {
      const view = await this.#nodes(port);
      if (view.length !== total) return `member ${port} knows ${view.length} of ${total} nodes`;
      const bad = view.find((n) =>
        n.linkState !== "connected" || n.flags.some((f) => f === "fail" || f === "fail?" || f === "handshake")
      );
      if (bad) return `member ${port} sees ${bad.port} as ${bad.flags.join(",")} ${bad.linkState}`;
      const masterIds = new Map(view.filter((n) => n.flags.includes("master")).map((n) => [n.id, n]));
      if (masterIds.size !== masters) return `member ${port} sees ${masterIds.size} masters`;
      for (const m of masterIds.values()) {
        const count = view.filter((n) => n.flags.includes("slave") && n.masterId === m.id).length;
        if (count !== replicas) return `member ${port} sees ${count} replicas of ${m.port}`;
      }
    }
    for (const port of this.ports) {
      const info = await this.command(port, "INFO", "replication");
      if (info.includes("role:master")) {
        const connected = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? -1);
        const online = (info.match(/^slave\d+:.*state=online/gm) ?? []).length;
        if (connected !== replicas || online !== replicas) {
          return `master ${port}: connected_slaves ${connected}, online ${online}, want ${replicas}`;
        }
      } else if (!info.includes("master_link_status:up")) {
        return `replica ${port} not in sync:\n${info}`;
      }
    }
    return undefined;
  }

  /** `CLUSTER NODES` of one member, parsed. */
  async #nodes(port: number): Promise<NodeLine[]> {
    const text = await this.command(port, "CLUSTER", "NODES");
    return text.split("\n").filter((l) => l.trim() !== "").map((line) => {
      // <id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <epoch> <link> <slot>...
      const [id, addr, flags, masterId, , , , linkState, ...slots] = line.trim().split(" ");
      const portText = /:(\d+)@/.exec(addr)?.[1];
      let count = 0;
      for (const s of slots) {
        if (s.startsWith("[")) continue; // importing/migrating marker, not an owned slot
        const [a, b = a] = s.split("-").map(Number);
        count += b - a + 1;
      }
      return {
        id,
        port: Number(portText),
        flags: flags.split(","),
        masterId,
        linkState,
        slots: count,
      };
    });
  }

  /** `CLUSTER SLOTS` of one member as slot ranges and their master's port. */
  async #slots(port: number): Promise<{ start: number; end: number; master: number }[]> {
    // --json turns the nested reply into JSON: [[start, end, [ip, port, id, meta], replicas...], ...]
    const json = await this.command(port, "--json", "CLUSTER", "SLOTS");
    const reply = JSON.parse(json) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
    return reply.map(([start, end, master]) => ({ start, end, master: master[1] }));
  }
}

/**
 * Register a test that gets its own Redis Cluster (disposed afterwards). Ignored with a clear
 * name when redis-server is missing, unless IM_REQUIRE_REDIS=1.
 *
 * @example
 * ```ts
 * redisClusterTest("survives a master crash", async (cluster) => {
 *   await cluster.kill(await cluster.masterOf(0));
 *   await cluster.waitHealthy();
 * }, { masters: 3, replicas: 1 });
 * ```
 */
export function redisClusterTest(
  name: string,
  fn: (cluster: RedisClusterServer) => Promise<void>,
  options: RedisClusterOptions = {},
): void {
  const skip = !redisAvailable && !required;
  Deno.test({
    name: skip ? `${name} [IGNORED: redis-server not installed]` : name,
    ignore: skip,
    async fn() {
      if (!redisAvailable) throw new Error("redis-server not installed and IM_REQUIRE_REDIS=1");
      const cluster = await RedisClusterServer.start(options);
      try {
        await fn(cluster);
      } finally {
        await cluster.dispose();
      }
    },
  });
}

/** Run redis-cli with a time bound; the whole output is read, so nothing is left open. */
async function runCli(args: string[], timeoutMs: number): Promise<CliResult> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const out = await new Deno.Command("redis-cli", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).output();
    const decoder = new TextDecoder();
    return {
      success: out.success,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      timedOut: abort.signal.aborted,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** SIGKILL and wait for the exit (so the test sanitizer sees the child reaped). */
async function stopProcess(running: Running): Promise<void> {
  try {
    running.child.kill("SIGKILL");
  } catch {
    // already gone
  }
  await running.status;
}

/** True when 127.0.0.1:port can be bound right now. */
function canBind(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** One raw PING over TCP; true on +PONG (cheaper than spawning redis-cli every 25 ms). */
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `redis-cli --cluster` colours its output even into a pipe. */
function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}
