/**
 * Protocol fuzzer: `deno task fuzz [--frames N] [--seconds S] [--seed N] [--sockets N]`.
 *
 * Starts a server in this process (so any uncaught server error kills the run) and throws random
 * and mutated frames at it over real sockets: valid envelopes with wrong types, deep nesting, huge
 * strings, prototype keys, random text, binary frames with invalid UTF-8, oversize frames and raw
 * TCP garbage (invalid UTF-8 in text frames, bad opcodes, unmasked frames). Every text reply must
 * be JSON with a known code (never 1004), every close must use an expected close code, and a valid
 * login plus message must still work at the end. Bounded by frame count and time.
 * @module
 */
import { parseArgs } from "node:util";
import { testConfig } from "../support/helpers.ts";
import { startServer } from "../../src/server.ts";
import { Code } from "../../src/protocol/codes.ts";
import { encodeFrame, rawConnect, readUntilClosed, writeAll } from "./raw_ws.ts";
import { Gen, USERS } from "./gen.ts";
import { SignJWT } from "jose";

const JWT_SECRET = "fuzz-secret-fuzz-secret-fuzz-secret";

/** One HS256 token per user and app (apps 101 and 102), valid for an hour. */
async function signTokens(users: string[]): Promise<Map<string, string>> {
  const key = new TextEncoder().encode(JWT_SECRET);
  const out = new Map<string, string>();
  for (const user of users) {
    for (const app of [101, 102]) {
      const token = await new SignJWT({ app }).setProtectedHeader({ alg: "HS256" }).setSubject(user)
        .setExpirationTime("1h").sign(key);
      out.set(`${user}:${app}`, token);
    }
  }
  return out;
}

/** Options of {@linkcode runFuzz}. */
export interface FuzzOptions {
  frames: number;
  seconds: number;
  seed?: number;
  sockets?: number;
  /** Run the server with auth.mode jwt (valid logins carry signed tokens). */
  jwt?: boolean;
  /** Print progress every this many frames (0 = quiet). */
  progressEvery?: number;
}

/** What a run saw. */
export interface FuzzReport {
  framesSent: number;
  replies: number;
  reconnects: number;
  rawProbes: number;
  closeCodes: Record<string, number>;
  replyCodes: Record<string, number>;
  violations: string[];
  finalLoginOk: boolean;
  elapsedMs: number;
  seed: number;
}

const KNOWN_CODES = new Set<number>(Object.values(Code));
const BATCH = 50;
const REPLY_TIMEOUT_MS = 30_000;

/** Run the fuzzer against a fresh in-process server. */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const seed = o.seed ?? (Date.now() % 2 ** 31);
  const server = await startServer(
    testConfig({
      limits: { messagesPerSecond: 1e9, messageBurst: 1e9, loginsPerIpPerMinute: 1e9 },
      inbox: { maxEntries: 50 },
      ...(o.jwt ? { auth: { mode: "jwt" as const, secret: JWT_SECRET } } : {}),
    }),
  );
  const report: FuzzReport = {
    framesSent: 0,
    replies: 0,
    reconnects: 0,
    rawProbes: 0,
    closeCodes: {},
    replyCodes: {},
    violations: [],
    finalLoginOk: false,
    elapsedMs: 0,
    seed,
  };
  if (o.progressEvery) {
    const push = report.violations.push.bind(report.violations);
    report.violations.push = (...v: string[]) => (console.error("fuzz violation:", ...v), push(...v));
  }
  const tokens = o.jwt ? await signTokens([...USERS, "final-a", "final-b"]) : undefined;
  const started = Date.now();
  const deadline = started + o.seconds * 1000;
  const more = () => report.framesSent < o.frames && Date.now() < deadline && report.violations.length < 20;
  try {
    const workers = Array.from(
      { length: o.sockets ?? 4 },
      (_, i) => worker(server.wsPort, new Gen(seed + i * 7919, tokens), report, more, o.progressEvery ?? 0),
    );
    await Promise.all(workers);
    if (o.progressEvery) console.error("fuzz: workers done, final check");
    report.finalLoginOk = await finalCheck(server.wsPort, report, tokens);
    const serverErrors = server.counters.errors.get({ code: "1004" });
    if (serverErrors > 0) {
      report.violations.push(`server answered 1004 (internal error) ${serverErrors} times`);
    }
  } finally {
    if (o.progressEvery) console.error("fuzz: shutting down");
    await server.shutdown();
  }
  report.elapsedMs = Date.now() - started;
  return report;
}

/** A WebSocket whose every reply is checked; resolves waiters by seq. */
class Probe {
  readonly socket: WebSocket;
  readonly closed: Promise<CloseEvent>;
  readonly #waiters = new Map<string, () => void>();
  /** The last frames sent (to name the culprit of a 1004). */
  readonly recent: string[] = [];
  /** Send a text frame, remembering it. */
  send(text: string): void {
    this.recent.push(text);
    if (this.recent.length > 2 * BATCH) this.recent.shift();
    this.socket.send(text);
  }
  /** The close code a closing frame sent on this socket must produce. */
  expectClose: number | undefined;
  constructor(port: number, readonly report: FuzzReport) {
    this.socket = new WebSocket(`ws://127.0.0.1:${port}/im`);
    this.closed = new Promise((r) => this.socket.addEventListener("close", (e) => r(e)));
    this.#opened = new Promise((resolve) => {
      this.socket.addEventListener("open", () => resolve(true));
      this.closed.then(() => resolve(false));
    });
    this.socket.onerror = () => {};
    this.socket.onmessage = (e) => this.#check(e.data);
  }
  /** Resolves true once open, false if it closed first (created eagerly: open may fire early). */
  readonly #opened: Promise<boolean>;
  opened(): Promise<boolean> {
    return this.#opened;
  }
  #check(data: unknown): void {
    const r = this.report;
    r.replies++;
    if (typeof data !== "string") return void r.violations.push("binary frame from server");
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return void r.violations.push(`reply is not JSON: ${data.slice(0, 200)}`);
    }
    const code = frame?.response?.code;
    if (typeof frame?.seq !== "string" || typeof frame?.cmd !== "string" || !KNOWN_CODES.has(code)) {
      return void r.violations.push(`bad envelope: ${data.slice(0, 200)}`);
    }
    r.replyCodes[code] = (r.replyCodes[code] ?? 0) + 1;
    if (code === Code.ServerError) {
      const suspects = this.recent.filter((f) => f.includes(`"seq":${JSON.stringify(frame.seq)}`));
      r.violations.push(`1004 reply ${data.slice(0, 300)} to one of: ${suspects.join(" | ").slice(0, 2000)}`);
    }
    this.#waiters.get(frame.seq)?.();
  }
  /** Wait for the reply to `seq`, or the close; false on close. */
  waitReply(seq: string): Promise<"reply" | "closed" | "timeout"> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done("timeout"), REPLY_TIMEOUT_MS);
      const done = (v: "reply" | "closed" | "timeout") => {
        clearTimeout(timer);
        this.#waiters.delete(seq);
        resolve(v);
      };
      this.#waiters.set(seq, () => done("reply"));
      this.closed.then(() => done("closed"));
    });
  }
}

async function worker(
  port: number,
  gen: Gen,
  report: FuzzReport,
  more: () => boolean,
  progressEvery: number,
): Promise<void> {
  let batchNo = 0;
  while (more()) {
    const probe = new Probe(port, report);
    if (!(await probe.opened())) {
      report.violations.push("connect refused");
      return;
    }
    let alive = true;
    while (alive && more()) {
      for (let i = 0; i < BATCH; i++) {
        probe.send(gen.frame());
        report.framesSent++;
        if (progressEvery && report.framesSent % progressEvery === 0) {
          console.error(`fuzz: ${report.framesSent} frames, ${report.violations.length} violations`);
        }
      }
      // Closing frames go last in a batch, and nothing follows them: a client that keeps
      // sending after the server's close frame sees an unclean close (Deno client behaviour).
      const closer = gen.closingFrame();
      if (closer !== undefined) {
        probe.socket.send(closer);
        report.framesSent++;
        probe.expectClose = typeof closer === "string" ? 1009 : 1003;
      }
      if (closer === undefined && gen.chance(0.05)) await rawProbe(port, gen, report);
      const seq = `sync-${++batchNo}`;
      if (closer === undefined) probe.socket.send(JSON.stringify({ seq, cmd: "ping" }));
      const got = await probe.waitReply(seq);
      if (got === "timeout") {
        report.violations.push("no reply to ping within 30 s");
        probe.socket.close(1000);
      }
      alive = got === "reply";
    }
    if (probe.socket.readyState < WebSocket.CLOSING) probe.socket.close(1000);
    const ev = await probe.closed;
    report.closeCodes[ev.code] = (report.closeCodes[ev.code] ?? 0) + 1;
    const expected = probe.expectClose ?? 1000;
    if (ev.code !== expected) report.violations.push(`close ${ev.code} ${ev.reason}, expected ${expected}`);
    report.reconnects++;
  }
}

/** Raw TCP: a malformed frame after a real handshake; the server must close, not hang or die. */
async function rawProbe(port: number, gen: Gen, report: FuzzReport): Promise<void> {
  report.rawProbes++;
  const ws = await rawConnect(port);
  const enc = new TextEncoder();
  const invalidUtf8 = new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80, 0x22, 0x7d]);
  const variants = [
    () => encodeFrame(1, invalidUtf8),
    () => encodeFrame(1, enc.encode('{"seq":"1","cmd":"ping"}'), { mask: false }),
    () => encodeFrame(gen.int(3, 7), enc.encode("x")),
    () => encodeFrame(1, enc.encode("{}"), { rsv: gen.int(1, 7) }),
    () => encodeFrame(9, new Uint8Array(200)),
    () => encodeFrame(1, enc.encode('{"seq":'), { fin: false }),
    // seeded, so that a failing seed fails again (crypto.getRandomValues made this probe unrepeatable)
    () => Uint8Array.from({ length: gen.int(1, 512) }, () => gen.int(0, 255)),
  ];
  // Then a valid ping and a close frame: a server that tolerated the probe must still answer
  // and close, so every probe ends in EOF quickly and a hang is a finding (raw_probe_test.ts).
  const tail = [
    encodeFrame(1, enc.encode('{"seq":"r","cmd":"ping"}')),
    encodeFrame(8, new Uint8Array([3, 232])),
  ];
  try {
    for (const bytes of [gen.pick(variants)(), ...tail]) await writeAll(ws.conn, bytes);
    // Then stop sending: random bytes can announce a longer frame than follows, which a server rightly
    // waits for (until heartbeat.loginTimeout). After EOF from the client, waiting is a hang.
    await ws.conn.closeWrite();
  } catch {
    // the server may already have closed; that is fine
  }
  const result = await readUntilClosed(ws, 10_000);
  const key = `raw:${result.closeCode ?? (result.eof ? "eof" : "timeout")}`;
  report.closeCodes[key] = (report.closeCodes[key] ?? 0) + 1;
  if (!result.eof) report.violations.push("raw probe: server kept a malformed connection open for 10 s");
}

/** After the storm: two fresh clients log in and exchange a message. */
async function finalCheck(
  port: number,
  report: FuzzReport,
  tokens: ReadonlyMap<string, string> | undefined,
): Promise<boolean> {
  const a = new Probe(port, report);
  const b = new Probe(port, report);
  try {
    if (!(await a.opened()) || !(await b.opened())) return false;
    let pushed = false;
    b.socket.addEventListener("message", (e) => {
      if (String(e.data).includes('"cmd":"msg"') && String(e.data).includes("after-fuzz")) pushed = true;
    });
    for (const [p, user] of [[a, "final-a"], [b, "final-b"]] as const) {
      const token = tokens?.get(`${user}:101`);
      p.socket.send(JSON.stringify({ seq: "L", cmd: "login", data: { userId: user, appId: 101, token } }));
      if ((await p.waitReply("L")) !== "reply") return false;
    }
    a.socket.send(JSON.stringify({ seq: "M", cmd: "sendMsg", data: { to: "final-b", msg: "after-fuzz" } }));
    if ((await a.waitReply("M")) !== "reply") return false;
    for (let i = 0; i < 100 && !pushed; i++) await new Promise((r) => setTimeout(r, 20));
    return pushed;
  } finally {
    a.socket.close(1000);
    b.socket.close(1000);
    await Promise.all([a.closed, b.closed]);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      frames: { type: "string", default: "100000" },
      seconds: { type: "string", default: "60" },
      seed: { type: "string" },
      sockets: { type: "string", default: "4" },
      jwt: { type: "boolean", default: false },
    },
  });
  const report = await runFuzz({
    frames: Number(values.frames),
    seconds: Number(values.seconds),
    seed: values.seed === undefined ? undefined : Number(values.seed),
    sockets: Number(values.sockets),
    jwt: values.jwt,
    progressEvery: 100_000,
  });
  console.log(JSON.stringify(report, null, 2));
  Deno.exit(report.violations.length === 0 && report.finalLoginOk ? 0 : 1);
}
