/**
 * Load-generator process. The runner drives it with JSON lines on stdin (`{id, op, ...}`) and
 * reads replies (`{id, ...}`) and events (`{event, ...}`) on stdout. One loader holds up to
 * ~19k sockets (the per-process fd cap), so big runs use several.
 *
 * Bench messages carry `#B#kind|stream|n|sentAtMs#E` in `msg`: receivers find it with one
 * `indexOf` instead of parsing every push, so the loader stays cheap next to the server.
 * `connect` with `proto: "socket.io"` opens Socket.IO connections instead (the Socket.IO peer of the `cluster`
 * scenario): the same WebSocket client, Engine.IO v4 / Socket.IO v5 text packets (loader_state.ts), the same
 * `#B#…#E` markers found with one `indexOf` and acks counted without parsing, so the loader's CPU per message
 * stays comparable to imserver's.
 * Run: `deno run --allow-net=127.0.0.1[,127.0.0.2…] tests/bench/loader.ts --client=deno|ws`.
 * @module
 */
import * as hdr from "hdr-histogram-js";
import { type ClientImpl, openSocket } from "./ws_client.ts";
import {
  closes,
  type Conn,
  counted,
  counters,
  countFromHere,
  emit,
  newHistogram,
  now,
  request,
  send,
  sendReceipt,
  sioReply,
} from "./loader_state.ts";
import { readLines } from "./proc.ts";
import type { Json } from "./proc.ts";

const impl = (Deno.args.find((a) => a.startsWith("--client="))?.slice(9) ?? "deno") as ClientImpl;
const conns = new Map<string, Conn>();
let hist = newHistogram();

// ---- frames ------------------------------------------------------------------------------

/** rtt streams: expected next n and next n to send, per stream (pair*2 + direction). */
let expect: number[] = [];
let nextN: number[] = [];
let streamConn: Conn[] = [];
let rttClosed = false;
/** rtt with receipts: every recipient acks and reads each message (PROTOCOL.md C.3). */
let rttReceipts = false;
/**
 * 0: an `ack` and a `read` per message. N > 0: each recipient acks and reads at most every N ms, up to the
 * newest seq it got (marks are cumulative, so every message is still acked and read) — as a chat client
 * does (the bundled client.js acks once per burst).
 */
let receiptsEveryMs = 0;
/** Recipients with receipts to send at the next tick: conn → [seq, conversation]. */
const pendingReceipts = new Map<Conn, [number, string]>();
let running = false;
let lastRecvAt = 0;

/** fanout: per message k, receipts in this loader and the worst latency. */
const fan = new Map<number, { n: number; maxUs: number; last: number }>();
let fanMembers = 0;

function onText(conn: Conn, text: string): void {
  if (conn.sio) return onSioText(conn, text);
  const m = text.indexOf("#B#");
  if (m >= 0) return onBench(conn, text, m);
  // Fire-and-forget replies (seq "m…") are only counted: skip JSON.parse on the common success.
  if (text.startsWith('{"seq":"m') && text.includes('"response":{"code":200,')) {
    if (counted(parseInt(text.slice(9), 10))) counters.replies++;
    return;
  }
  if (text.startsWith('{"seq":"k') && text.includes('"response":{"code":200,')) {
    counters.receiptReplies++;
    return;
  }
  let f: Json;
  try {
    f = JSON.parse(text);
  } catch {
    counters.badFrames++;
    return;
  }
  const waiter = conn.pending.get(f.seq);
  if (waiter) {
    conn.pending.delete(f.seq);
    return waiter(f);
  }
  if (typeof f.seq === "string" && f.seq.startsWith("m") && !counted(parseInt(f.seq.slice(1), 10))) return;
  if (f.response?.code !== 200) {
    counters.replyErrors++;
    counters.firstError ??= `${f.cmd}: ${JSON.stringify(f.response)}`.slice(0, 300);
  } else if (f.cmd === "sendMsg" || f.cmd === "roomMsg" || f.cmd === "heartbeat") counters.replies++;
  else if (f.cmd === "read" || f.cmd === "delivered") counters.receiptsIn++;
  else counters.otherFrames++;
}

/** Socket.IO connections waiting for their namespace CONNECT (`40{…}`): resolve(undefined) or the error. */
const sioConnecting = new Map<Conn, (error?: string) => void>();

/**
 * A Socket.IO peer's text packet: `42["msg",{…"#B#…#E…"}]` pushes go to `onBench` like imserver's; acks
 * `43<id>[…]` resolve a request or, for the fire-and-forget sends, are only counted (no `JSON.parse` when
 * `[{"ok":1`); Engine.IO pings (`2`) get their pong (`3`).
 */
function onSioText(conn: Conn, text: string): void {
  if (text.startsWith("42")) {
    const m = text.indexOf("#B#");
    if (m >= 0) return onBench(conn, text, m);
    counters.otherFrames++;
    return;
  }
  if (text.startsWith("43")) {
    const b = text.indexOf("[");
    const waiter = conn.pending.size ? conn.pending.get(text.slice(2, b)) : undefined;
    if (waiter) {
      conn.pending.delete(text.slice(2, b));
      let ack: Json;
      try {
        ack = JSON.parse(text.slice(b))[0];
      } catch {
        counters.badFrames++;
      }
      return waiter(sioReply(ack));
    }
    if (text.startsWith('[{"ok":1', b)) counters.replies++;
    else {
      counters.replyErrors++;
      counters.firstError ??= `socket.io ack: ${text}`.slice(0, 300);
    }
    return;
  }
  if (text === "2") return conn.socket.send("3");
  // Engine.IO's open packet (sid, pingInterval, …): CONNECT to the main namespace, as socket.io-client does. A
  // CONNECT sent as soon as the WebSocket opens is sometimes lost on Deno's node:http upgrade (measured: 2–5 of
  // 200 sockets never got the server's `40`), so it waits for this packet.
  // (npm ws may deliver it in the tick of its open event, before openSocket's caller has the socket.)
  if (text.startsWith("0")) {
    if (conn.socket) return conn.socket.send("40");
    return void setTimeout(() => conn.socket?.send("40"), 0);
  }
  if (text.startsWith("40")) return sioConnecting.get(conn)?.();
  if (text.startsWith("44")) return sioConnecting.get(conn)?.(`socket.io connect_error ${text.slice(2)}`);
  if (text.startsWith("41")) {
    counters.firstError ??= `socket.io disconnect from the server at ${new Date().toISOString()}`;
  }
  counters.otherFrames++;
}

function onBench(conn: Conn, text: string, m: number): void {
  const t = now();
  const parts = text.slice(m + 3, text.indexOf("#E", m)).split("|");
  if (parts[0] === "p") return onPush(conn, text, parts, t);
  const stream = Number(parts[1]), n = Number(parts[2]);
  const us = Math.max(1, Math.round((t - Number(parts[3])) * 1000));
  counters.received++;
  lastRecvAt = t;
  hist.recordValue(us);
  if (parts[0] === "f") {
    if (n <= conn.lastK) counters.duplicates++;
    else if (n !== conn.lastK + 1) counters.gaps += n - conn.lastK - 1;
    conn.lastK = Math.max(conn.lastK, n);
    let e = fan.get(n);
    if (!e) fan.set(n, e = { n: 0, maxUs: 0, last: 0 });
    e.n++;
    e.maxUs = Math.max(e.maxUs, us);
    e.last = t;
    if (e.n === fanMembers) emit({ event: "fan", k: n, n: e.n, maxUs: e.maxUs, last: e.last });
    return;
  }
  if (n < expect[stream]) counters.duplicates++;
  else {
    if (n > expect[stream]) counters.gaps += n - expect[stream];
    expect[stream] = n + 1;
  }
  // The answer first, then the receipts (as a chat client shows the message, then marks it read).
  if (running && rttClosed) sendRtt(stream ^ 1, 0);
  if (rttReceipts) {
    // the push ends with the recipient's inbox seq: `…,"seq":<n>}}}`
    const seq = Number(text.slice(text.lastIndexOf('"seq":') + 6, -3));
    const conversation = `u:${streamConn[stream].user}`;
    if (receiptsEveryMs > 0) pendingReceipts.set(conn, [seq, conversation]);
    else sendReceipts(conn, seq, conversation);
  }
}

// ---- push: backend sends (POST /user/sendMessage) counted on arrival -----------------------

/** The phase being counted; pushes of another phase (a late warm-up one) are only counted as stale. */
let pushPhase = -1;
/** Ids (`<w>.<n>`) of the pushes of this phase received: a second arrival is a duplicate. */
const pushSeen = new Set<string>();
/** Highest inbox seq pushed to each connection (fresh users: starts at 0). */
const pushSeq = new Map<Conn, number>();
const pushStats = {
  wrongUser: 0,
  stale: 0,
  /** A push whose inbox seq is not the connection's previous + 1 (MESSAGING.md §3: in order, gapless). */
  seqGaps: 0,
  seqBack: 0,
  firstSeqIssue: undefined as string | undefined,
};

function onPush(conn: Conn, text: string, parts: string[], t: number): void {
  // the push ends with the recipient's inbox seq: `…,"seq":<n>}}}`
  const seq = Number(text.slice(text.lastIndexOf('"seq":') + 6, -3));
  const last = pushSeq.get(conn) ?? 0;
  if (seq !== last + 1) {
    if (seq <= last) pushStats.seqBack++;
    else pushStats.seqGaps++;
    pushStats.firstSeqIssue ??= `${conn.user}: seq ${seq} after ${last} at ${new Date().toISOString()}`;
  }
  pushSeq.set(conn, Math.max(last, seq));
  if (Number(parts[1]) !== pushPhase) {
    pushStats.stale++;
    return;
  }
  if (parts[4] !== conn.user) pushStats.wrongUser++;
  if (pushSeen.has(parts[2])) {
    counters.duplicates++;
    return;
  }
  pushSeen.add(parts[2]);
  counters.received++;
  lastRecvAt = t;
  hist.recordValue(Math.max(1, Math.round((t - Number(parts[3])) * 1000)));
}

/** Start counting the pushes of `phase`. */
function pushListen(a: Json): Json {
  pushPhase = Number(a.phase);
  pushSeen.clear();
  resetCounters();
  pushStats.wrongUser =
    pushStats.stale =
    pushStats.seqGaps =
    pushStats.seqBack =
      0;
  pushStats.firstSeqIssue = undefined;
  return { conns: conns.size };
}

/** The pushes counted so far, once `expect` have arrived or after `maxMs`. */
async function pushCount(a: Json): Promise<Json> {
  await settle(() => counters.received >= Number(a.expect), Number(a.maxMs ?? 10_000));
  return result({ ...pushStats, unique: pushSeen.size });
}

function sendReceipts(conn: Conn, seq: number, conversation: string): void {
  sendReceipt(conn, "ack", { seq });
  sendReceipt(conn, "read", { conversation, seq });
  counters.receiptsSent += 2;
}

function flushReceipts(): void {
  for (const [conn, [seq, conversation]] of pendingReceipts) sendReceipts(conn, seq, conversation);
  pendingReceipts.clear();
}

function sendRtt(stream: number, padding: number): void {
  const from = streamConn[stream], to = streamConn[stream ^ 1];
  const n = nextN[stream]++;
  const msg = `#B#r|${stream}|${n}|${now().toFixed(3)}#E${"x".repeat(padding)}`;
  // The Socket.IO peer's `send` carries a client message id (imserver's sendMsg reply carries the msgId).
  send(from, "sendMsg", from.sio ? { to: to.user, msg, id: n } : { to: to.user, msg });
  counters.sent++;
}

// ---- operations --------------------------------------------------------------------------

async function pool<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]);
  }));
}

/** Open a connection to `url` (imserver's envelope, or with `sio` the Socket.IO peer's, connected to `/`). */
async function openConn(url: string, user: string, sio = false): Promise<Conn> {
  const conn: Conn = {
    user,
    socket: undefined!,
    next: 0,
    pending: new Map(),
    lastK: 0,
    closedByUs: false,
    sio,
    sentAt: now(),
  };
  // Registered before the socket opens: the server's packets may arrive as soon as it does.
  const connected = sio ? sioConnected(conn) : undefined;
  conn.socket = await openSocket(impl, url, {
    onText: (t) => onText(conn, t),
    onClose: (code, reason) => {
      conn.closed = true;
      if (!conn.closedByUs) {
        counters.unexpectedCloses++;
        if (closes.length < 10_000) closes.push({ at: now(), silentMs: Math.round(now() - conn.sentAt) });
        const silent = ((now() - conn.sentAt) / 1000).toFixed(1);
        counters.firstError ??= `unexpected close ${code} "${reason}" at ${
          new Date().toISOString()
        }, ${silent} s after this connection last sent a frame`;
      }
      for (const w of conn.pending.values()) w({ response: { code: -1, codeMsg: "closed" } });
      conn.pending.clear();
      sioConnecting.get(conn)?.("closed before the socket.io connect");
    },
  }).catch((e) => {
    sioConnecting.get(conn)?.("not opened");
    throw e;
  });
  const error = await connected;
  if (error) {
    conn.closedByUs = true;
    conn.socket.close();
    throw new Error(error);
  }
  return conn;
}

/**
 * Socket.IO: resolves once the server has answered the CONNECT (sent on Engine.IO's open packet) with
 * `40{"sid":…}` (events sent before it would close the connection), or with the error.
 */
function sioConnected(conn: Conn, timeoutMs = 30_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done("socket.io connect timeout"), timeoutMs);
    const done = (error?: string) => {
      clearTimeout(timer);
      sioConnecting.delete(conn);
      resolve(error);
    };
    sioConnecting.set(conn, done);
  });
}

/** `url` with its host 127.0.0.1 replaced by the `k`-th of `spread` loopback addresses. */
function spreadUrl(url: string, k: number, spread: number): string {
  return spread > 1 ? url.replace("//127.0.0.1:", `//127.0.0.${1 + (k % spread)}:`) : url;
}

/**
 * Open and log in `users`: all sockets first, then every login at once (a login storm), or with
 * `loginOnOpen` each as soon as its socket is open.
 */
async function connect(a: Json): Promise<Json> {
  const t0 = now();
  let failed = 0, opened = 0;
  const failedBy: Record<string, number> = {};
  const spread = Number(a.spread ?? 1);
  const sio = a.proto === "socket.io";
  const fresh: Conn[] = [];
  // With `heartbeatMs`, a connection heartbeats from its own login reply on, like a real client: in a storm
  // that takes minutes, one that waited for every other login would be silent past the server's idle timeout.
  if (a.heartbeatMs && !heartbeats.running) heartbeats.start(a.heartbeatMs);
  const login = async (c: Conn): Promise<Json> => {
    const reply = await request(
      c,
      "login",
      sio ? { userId: c.user } : { userId: c.user, appId: a.appId ?? 101 },
      // A storm of 250,000 logins over 14 nodes takes minutes: the reply, not the harness, decides.
      600_000,
    );
    if (a.heartbeatMs && reply.response?.code === 200) heartbeats.add(c);
    return reply;
  };
  const early: Promise<Json>[] = [];
  // `urls` (several nodes): users are spread round-robin so every node gets its share.
  const urls: string[] = a.urls ?? [a.url];
  const index = new Map((a.users as string[]).map((u, i) => [u, i]));
  await pool(a.users as string[], a.parallel ?? 200, async (user) => {
    try {
      const k = index.get(user)!;
      // Round-robin over the nodes, then over the addresses: every (address, port) pair gets its share.
      const conn = await openConn(
        spreadUrl(urls[k % urls.length], Math.floor(k / urls.length), spread),
        user,
        sio,
      );
      conns.set(user, conn);
      if (++opened % 1000 === 0) emit({ event: "progress", what: "open", n: opened });
      if (a.loginOnOpen) early.push(login(conn));
      else fresh.push(conn);
    } catch (e) {
      failed++;
      const cause = (e as Error).message;
      failedBy[cause] = (failedBy[cause] ?? 0) + 1;
      counters.firstError ??= `open: ${cause}`;
    }
  });
  // logins on open started with the first socket: their phase begins there
  const allOpen = now();
  const t1 = a.loginOnOpen ? t0 : allOpen;
  const replies = [...await Promise.all(early), ...await Promise.all(fresh.map(login))];
  const t2 = now();
  const loginFailed = replies.filter((r) => r.response?.code !== 200);
  for (const r of loginFailed) {
    const cause = `login ${r.response?.code} ${r.response?.codeMsg ?? ""}`.trim();
    failedBy[cause] = (failedBy[cause] ?? 0) + 1;
  }
  if (loginFailed.length) counters.firstError ??= `login: ${JSON.stringify(loginFailed[0].response)}`;
  return {
    opened,
    failed,
    failedBy,
    loginFailed: loginFailed.length,
    connectMs: allOpen - t0,
    loginMs: t2 - t1,
    t1,
    t2,
  };
}

/** Join `users` to `room` with a few short-lived setup connections (login, joinRoom, logout). */
async function joinSetup(a: Json): Promise<Json> {
  const t0 = now();
  const users = a.users as string[];
  const parallel = Math.min(a.parallel ?? 20, users.length);
  const setup = await Promise.all(Array.from({ length: parallel }, (_, i) => openConn(a.url, `setup${i}`)));
  let errors = 0;
  await Promise.all(setup.map(async (conn, i) => {
    for (let j = i; j < users.length; j += parallel) {
      const r1 = await request(conn, "login", { userId: users[j], appId: a.appId ?? 101 }, 30_000);
      const r2 = await request(conn, "joinRoom", { room: a.room }, 30_000);
      const r3 = await request(conn, "logout", {}, 30_000);
      if (r1.response.code !== 200 || r2.response.code !== 200 || r3.response.code !== 200) {
        errors++;
        counters.firstError ??= `join: ${JSON.stringify([r1.response, r2.response, r3.response])}`;
      }
    }
  }));
  await closeConns(setup);
  return { ms: now() - t0, errors };
}

/** 1:1 pairs (both ends in this loader), closed loop or at a fixed total rate, for `durationMs`. */
async function rtt(a: Json): Promise<Json> {
  const pairs = a.pairs as [string, string][];
  streamConn = pairs.flatMap(([x, y]) => [conns.get(x)!, conns.get(y)!]);
  expect = streamConn.map(() => 1);
  nextN = streamConn.map(() => 1);
  rttClosed = a.mode === "closed";
  rttReceipts = a.receipts === true;
  receiptsEveryMs = rttReceipts ? a.receiptsEveryMs ?? 0 : 0;
  pendingReceipts.clear();
  resetCounters();
  const receiptTimer = receiptsEveryMs > 0 ? setInterval(flushReceipts, receiptsEveryMs) : undefined;
  running = true;
  const t0 = now();
  let timer: ReturnType<typeof setInterval> | undefined;
  if (rttClosed) {
    for (let w = 0; w < (a.window ?? 1); w++) {
      for (let p = 0; p < pairs.length; p++) sendRtt(p * 2, a.padding);
    }
  } else {
    let p = 0;
    timer = setInterval(() => {
      const due = Math.min(Math.floor((now() - t0) / 1000 * a.rate) - counters.sent, Math.ceil(a.rate / 20));
      for (let i = 0; i < due; i++, p = (p + 1) % pairs.length) sendRtt(p * 2, a.padding);
    }, 2);
  }
  await sleep(a.durationMs);
  running = false;
  clearInterval(timer);
  const stoppedAt = now();
  await settle(() => counters.received + counters.gaps >= counters.sent, 10_000);
  await settle(() => counters.replies + counters.replyErrors >= counters.sent, 5_000);
  clearInterval(receiptTimer);
  flushReceipts();
  if (rttReceipts) {
    await settle(() => counters.receiptReplies + counters.replyErrors >= counters.receiptsSent, 5_000);
  }
  return result({ elapsedMs: stoppedAt - t0, recvMs: lastRecvAt - t0 });
}

/** Start listening for fanout messages on every connection of this loader except `sender`. */
function fanListen(a: Json): Json {
  fanMembers = [...conns.keys()].filter((u) => u !== a.sender).length;
  fan.clear();
  for (const c of conns.values()) c.lastK = 0;
  resetCounters();
  return { members: fanMembers };
}

/** Send fanout message `k` to `room` from `sender` (the runner keeps the window). */
function fanSend(a: Json): Json {
  const conn = conns.get(a.sender)!;
  const t = now();
  send(conn, "roomMsg", { room: a.room, msg: `#B#f|0|${a.k}|${t.toFixed(3)}#E${"x".repeat(a.padding)}` });
  counters.sent++;
  return { t };
}

/** Keep every connection open for `durationMs`, each sending heartbeats every `heartbeatMs`. */
async function hold(a: Json): Promise<Json> {
  resetCounters();
  const t0 = now();
  // connections logged in by `connect` with heartbeats already beat; the others start now
  if (!heartbeats.running) {
    heartbeats.start(a.heartbeatMs);
    for (const c of conns.values()) heartbeats.add(c);
  }
  await sleep(a.durationMs);
  heartbeats.stop();
  await settle(() => counters.replies + counters.replyErrors >= counters.sent, 10_000);
  return result({ elapsedMs: now() - t0 });
}

/** Every connection added heartbeats once per `heartbeatMs`, spread over 50 ms ticks. */
class Heartbeats {
  #list: Conn[] = [];
  #next = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  get running(): boolean {
    return this.#timer !== undefined;
  }

  start(heartbeatMs: number): void {
    this.stop();
    this.#timer = setInterval(() => {
      const list = this.#list;
      if (list.length === 0) return;
      const perTick = Math.max(1, Math.ceil(list.length / (heartbeatMs / 50)));
      for (let j = 0; j < perTick; j++, this.#next = (this.#next + 1) % list.length) {
        send(list[this.#next], "heartbeat", {});
        counters.sent++;
      }
    }, 50);
  }

  add(conn: Conn): void {
    this.#list.push(conn);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#list = [];
    this.#next = 0;
  }
}

const heartbeats = new Heartbeats();

function resetCounters(): void {
  countFromHere();
  for (const k of Object.keys(counters) as (keyof typeof counters)[]) {
    if (k !== "firstError" && k !== "unexpectedCloses") (counters[k] as number) = 0;
  }
  hist = newHistogram();
}

function result(extra: Json): Json {
  return { ...counters, closes, hist: hdr.encodeIntoCompressedBase64(hist), fanPending: fan.size, ...extra };
}

async function closeConns(list: Conn[]): Promise<void> {
  for (const c of list) {
    c.closedByUs = true;
    c.socket.close();
  }
  await Promise.race([Promise.all(list.map((c) => c.socket.closed)), sleep(10_000)]);
}

async function settle(done: () => boolean, maxMs: number): Promise<void> {
  for (let waited = 0; !done() && waited < maxMs; waited += 20) await sleep(20);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const ops: Record<string, (a: Json) => Json | Promise<Json>> = {
  connect,
  joinSetup,
  rtt,
  fanListen,
  fanSend,
  hold,
  pushListen,
  pushCount,
  counters: async () => {
    await settle(() => counters.replies + counters.replyErrors >= counters.sent, 5_000);
    return result({});
  },
  close: async () => {
    await closeConns([...conns.values()]);
    conns.clear();
    pushSeq.clear();
    return { closed: true };
  },
};

for await (const line of readLines(Deno.stdin.readable)) {
  if (!line.trim()) continue;
  const a = JSON.parse(line);
  Promise.resolve()
    .then(() => ops[a.op](a))
    .then((r) => a.id !== undefined && emit({ id: a.id, ...r }))
    .catch((e) => emit({ id: a.id, error: String(e?.message ?? e) }));
}

// stdin closed: the runner is done with us (exit even if a stray socket or timer lingers).
Deno.exit(0);
