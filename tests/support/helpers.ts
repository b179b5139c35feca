/**
 * Test helpers: a server on free ports with quiet defaults, and a WebSocket test client
 * that matches replies to requests and queues pushes.
 * @module
 */
import { type Config, defaultConfig } from "../../src/config/load.ts";
import { type RunningServer, type StartOptions, startServer } from "../../src/server.ts";
import { type StorePolicy, storePolicy } from "../../src/store/store.ts";

/** Deep partial of the config for overrides. */
export type ConfigOverrides = { [S in keyof Config]?: Partial<Config[S]> };

/**
 * Defaults for tests: loopback, port 0, no log file, sweeps only when a test asks for them, and the
 * memory store — tests start many servers at once, and SQLite's default file (data/imserver.db) takes
 * one process at a time. A test that wants SQLite sets `store: { engine: "sqlite", path: <temp> }`.
 */
export function testConfig(overrides: ConfigOverrides = {}): Config {
  const config = defaultConfig();
  config.store.engine = "memory";
  config.app.hostname = "127.0.0.1";
  config.app.httpPort = 0;
  config.app.webSocketPort = 0;
  config.app.logFile = "";
  config.heartbeat.firstSweep = 3600;
  config.heartbeat.idleTimeout = 0;
  for (const [section, values] of Object.entries(overrides)) {
    Object.assign((config as unknown as Record<string, object>)[section], values);
  }
  return config;
}

/** The store policy of {@linkcode testConfig} (for stores a test builds itself). */
export function testPolicy(overrides: ConfigOverrides = {}): StorePolicy {
  return storePolicy(testConfig(overrides));
}

/** Start a server, run `fn`, always shut it down. */
export async function withServer(
  overrides: ConfigOverrides,
  fn: (server: RunningServer) => Promise<void>,
  options: StartOptions = {},
): Promise<void> {
  const server = await startServer(testConfig(overrides), options);
  try {
    await fn(server);
  } finally {
    await server.shutdown();
  }
}

/**
 * Start cluster nodes `nodeIds` on the Redis at port `redis` or on a Redis Cluster (its `seeds`)
 * (presence.ttl 2 s), run `fn`, always shut them down.
 */
export async function withClusterNodes(
  redis: number | { seeds: string },
  nodeIds: string[],
  overrides: ConfigOverrides,
  fn: (nodes: RunningServer[]) => Promise<void>,
): Promise<void> {
  const nodes: RunningServer[] = [];
  const target = typeof redis === "number"
    ? { addr: `127.0.0.1:${redis}` }
    : { addr: redis.seeds, cluster: true };
  try {
    for (const nodeId of nodeIds) {
      nodes.push(
        await startServer(testConfig({
          ...overrides,
          cluster: { enabled: true, nodeId },
          presence: { ttl: 2 },
          redis: target,
        })),
      );
    }
    await fn(nodes);
  } finally {
    for (const n of nodes) await n.shutdown();
  }
}

// Frames are arbitrary JSON from the server under test; tests assert on their shape.
// deno-lint-ignore no-explicit-any
type Json = any;

/** A parsed server frame. */
export interface Frame {
  seq: string;
  cmd: string;
  response: { code: number; codeMsg: string; data: Json };
}

/** A WebSocket client for tests. */
export class TestClient {
  readonly socket: WebSocket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<CloseEvent>;
  #waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  #next = 0;

  private constructor(url: string) {
    this.socket = new WebSocket(url);
    this.closed = new Promise((resolve) => this.socket.addEventListener("close", (e) => resolve(e)));
    this.socket.onmessage = (e) => {
      const frame = JSON.parse(e.data as string) as Frame;
      const i = this.#waiters.findIndex((w) => w.match(frame));
      if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(frame);
      else this.frames.push(frame);
    };
  }

  /** Connect to `ws://127.0.0.1:<port><path>` and wait for open. */
  static async connect(port: number, path = "/im"): Promise<TestClient> {
    const client = new TestClient(`ws://127.0.0.1:${port}${path}`);
    await new Promise<void>((resolve, reject) => {
      client.socket.onopen = () => resolve();
      client.socket.onerror = () => reject(new Error("connect failed"));
    });
    return client;
  }

  /** Send a request and wait for the reply with the same seq. */
  request(cmd: string, data?: unknown, timeoutMs = 5000): Promise<Frame> {
    const seq = `t${++this.#next}`;
    const reply = this.waitFor((f) => f.seq === seq && f.cmd === cmd, timeoutMs, `reply to ${cmd}`);
    this.socket.send(JSON.stringify(data === undefined ? { seq, cmd } : { seq, cmd, data }));
    return reply;
  }

  /** Send a raw text frame. */
  send(text: string): void {
    this.socket.send(text);
  }

  /** Login and assert success; returns the reply data. */
  async login(userId: string, appId = 101, extra: Record<string, unknown> = {}): Promise<Json> {
    const reply = await this.request("login", { userId, appId, ...extra });
    if (reply.response.code !== 200) throw new Error(`login failed: ${JSON.stringify(reply.response)}`);
    return reply.response.data;
  }

  /** The first queued or future frame matching `match` (removed from the queue). */
  waitFor(match: (f: Frame) => boolean, timeoutMs = 5000, what = "frame"): Promise<Frame> {
    const i = this.frames.findIndex(match);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Next push with `cmd`. */
  push(cmd: string, timeoutMs = 5000): Promise<Frame> {
    return this.waitFor((f) => f.cmd === cmd && !f.seq.startsWith("t"), timeoutMs, `${cmd} push`);
  }

  /** Wait `ms`, then return and clear the queued frames with `cmd`. */
  async drain(cmd: string, ms = 100): Promise<Frame[]> {
    await new Promise((r) => setTimeout(r, ms));
    const out = this.frames.filter((f) => f.cmd === cmd);
    this.frames.splice(0, this.frames.length, ...this.frames.filter((f) => f.cmd !== cmd));
    return out;
  }

  /** Close and wait for the close handshake. */
  async close(): Promise<void> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close();
    await this.closed;
  }
}

/** Let queued events run. */
export function tick(ms = 20): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
