/**
 * Scenario `idle`: open K connections (several loader processes: ~19.9k fds per process),
 * log them all in at once (a login storm), then hold them with heartbeats. Reports the
 * server's RSS per connection, the login rate and unexpected disconnects.
 * @module
 */
import { type BenchOptions, progress, type Row, sleep, split, sum, verdict } from "./common.ts";
import { CpuMeter, type Json, rssBytes } from "./proc.ts";
import { startLoaders, stopLoaders, type Target } from "./targets.ts";

/** Connections one loader process takes (below the per-process fd cap, with room to spare). */
export const PER_LOADER = 7000;

/**
 * The address idle targets listen on: 0.0.0.0 when connections are spread over several loopback
 * destination addresses (only there do 127.0.0.2… reach them), else 127.0.0.1.
 */
export function idleHostname(o: BenchOptions): string | undefined {
  return o.spread > 1 ? "0.0.0.0" : undefined;
}

/**
 * Run the idle scenario against one target, or against several cluster nodes (connections
 * spread round-robin; RSS and CPU summed over the nodes).
 */
export async function runIdle(
  o: BenchOptions,
  start: () => Promise<Target | Target[]>,
  scenario = "idle",
): Promise<Row> {
  const started = await start();
  const nodes = Array.isArray(started) ? started : [started];
  const target = { kind: nodes.length > 1 ? `imserver x${nodes.length}` : nodes[0].kind };
  const pids = nodes.map((n) => n.pid);
  const nLoaders = o.loaders ?? Math.max(1, Math.ceil(o.conns / PER_LOADER));
  const loaders = startLoaders(nLoaders, o.client, o.loaderProfDir, o.spread);
  try {
    await sleep(1000);
    const rss0 = sumRss(pids);
    const users = Array.from({ length: o.conns }, (_, i) => `i${i}`);
    const slices = split(users, nLoaders);
    progress(
      `idle ${target.kind}: opening ${o.conns} connections on ${nLoaders} loader(s), RSS ${mb(rss0)} MB`,
    );
    for (const l of loaders) {
      l.onEvent = (m: Json) =>
        m.event === "progress" && progress(`idle ${target.kind}: ${l.name} opened ${m.n}`);
    }
    const holdMs = o.holdMs ?? o.durationMs;
    // Heartbeat like a real client (every 30 s), or faster so short holds still see a few — each connection
    // from its own login reply on (a storm of minutes would otherwise leave the first ones silent for minutes).
    const heartbeatMs = Math.max(1000, Math.min(30_000, Math.round(holdMs / 3)));
    const cpu = new CpuMeter([...pids, ...loaders.map((l) => l.pid)]);
    const logins: Json[] = await Promise.all(
      loaders.map((l, i) =>
        l.call("connect", {
          urls: nodes.map((n) => n.url),
          users: slices[i],
          parallel: 100,
          spread: o.spread,
          heartbeatMs,
          loginOnOpen: o.loginOnOpen,
        }, 900_000)
      ),
    );
    const loginSeconds = (Math.max(...logins.map((r) => r.t2)) - Math.min(...logins.map((r) => r.t1))) / 1000;
    const connectSeconds = Math.max(...logins.map((r) => r.connectMs)) / 1000;
    const loginUsage = cpu.read();
    const loginServerSeconds = cpu.seconds().slice(0, pids.length).reduce((a, b) => a + b, 0);
    const loginsOk = o.conns - sum(logins, "failed") - sum(logins, "loginFailed");
    progress(
      `idle ${target.kind}: ${loginsOk} logged in; connect ${connectSeconds.toFixed(1)} s, logins ${
        loginSeconds.toFixed(2)
      } s; holding ${holdMs / 1000} s`,
    );
    const holdStart = Date.now();
    const held: Json[] = await Promise.all(
      loaders.map((l) => l.call("hold", { durationMs: holdMs, heartbeatMs }, holdMs + 120_000)),
    );
    await sleep(500);
    const rss1 = sumRss(pids);
    const perConn = Math.round((rss1 - rss0) / Math.max(1, o.conns));
    const heartbeats = sum(held, "sent"), replies = sum(held, "replies");
    const errors = sum(held, "replyErrors") + sum(logins, "failed") + sum(logins, "loginFailed");
    const closes = sum(held, "unexpectedCloses");
    const row: Row = {
      scenario,
      target: target.kind,
      params: `${o.conns} conns, ${holdMs / 1000} s hold`,
      metric: "RSS B/conn",
      value: perConn,
      sent: heartbeats,
      received: replies,
      lost: heartbeats - replies - sum(held, "replyErrors"),
      duplicates: 0,
      errors,
      serverCpu: loginUsage.slice(0, pids.length).reduce((a, b) => a + b, 0),
      loaderCpu: loginUsage.slice(pids.length),
      status: verdict({
        lost: heartbeats - replies - sum(held, "replyErrors"),
        duplicates: 0,
        errors,
        closes,
      }),
      extra: {
        serverUsPerMsg: Math.round(loginServerSeconds * 1e6 / Math.max(1, o.conns)),
        rssBeforeMB: mb(rss0),
        rssAfterMB: mb(rss1),
        rssByProcessMB: pids.map((p) => mb(rssBytes(p))),
        connectSeconds: round(connectSeconds),
        loginSeconds: round(loginSeconds),
        loginsPerSec: Math.round(loginsOk / Math.max(loginSeconds, 1e-3)),
        connectsPerSec: Math.round(o.conns / Math.max(connectSeconds, 1e-3)),
        cpuNote: "server/loader CPU measured over connect + login",
        spread: o.spread,
        connectErrors: causes(logins),
        firstError: [...logins, ...held].find((r) => r.firstError)?.firstError,
        closes: closeTimes(held, holdStart),
      },
    };
    progress(`idle ${target.kind}: ${perConn} B/conn, ${row.extra.loginsPerSec} logins/s ${row.status}`);
    return row;
  } finally {
    for (const l of loaders) l.onEvent = undefined;
    await stopLoaders(loaders);
    for (const n of nodes) await n.stop();
  }
}

/**
 * Unexpected closes before and during the hold (its start on the runner's clock, which the loaders share),
 * and the longest a closed connection had been silent (s).
 */
function closeTimes(
  held: Json[],
  holdStart: number,
): { beforeHold: number; inHold: number; maxSilentS: number } {
  const all: Array<{ at: number; silentMs: number }> = held.flatMap((r) => r.closes ?? []);
  return {
    beforeHold: all.filter((c) => c.at < holdStart).length,
    inHold: all.filter((c) => c.at >= holdStart).length,
    // reduce, not Math.max(...): 36 loaders × 10,000 closes overflow the call stack as arguments
    maxSilentS: Math.round(all.reduce((m, c) => Math.max(m, c.silentMs), 0) / 100) / 10,
  };
}

/** Failed connects by cause, summed over the loaders. */
function causes(results: Json[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    for (const [k, n] of Object.entries(r.failedBy ?? {})) out[k] = (out[k] ?? 0) + Number(n);
  }
  return out;
}

function sumRss(pids: number[]): number {
  return pids.reduce((a, p) => a + rssBytes(p), 0);
}

function mb(bytes: number): number {
  return Math.round(bytes / 1024 / 1024 * 10) / 10;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
