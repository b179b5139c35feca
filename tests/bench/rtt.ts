/**
 * Scenario `rtt`: N pairs of logged-in users exchange 1:1 `sendMsg`, first in a closed loop
 * (each delivery triggers the answer: the maximum rate) and then at a fixed offered rate
 * (latency under a known load). Latency is one-way, sender → recipient's push. Against imserver a third
 * phase, `rtt-receipts`, runs the closed loop with receipts on: every recipient `ack`s and `read`s each
 * message (PROTOCOL.md C.3), so each message also moves two marks, recounts a conversation and sends the
 * sender a `delivered` and a `read` receipt; its row gives msgs/s and the ratio to the plain closed loop.
 * @module
 */
import {
  type BenchOptions,
  mergeHistograms,
  percentiles,
  progress,
  type Row,
  sleep,
  split,
  sum,
  verdict,
} from "./common.ts";
import { CpuMeter, type Json, type LineProcess } from "./proc.ts";
import { startLoaders, stopLoaders, storeFigures, type Target } from "./targets.ts";

/**
 * Log in the pairs' users on `loaders` (both ends of a pair on the same loader); `proto: "socket.io"` for the
 * Socket.IO peer.
 */
export async function connectPairs(
  loaders: LineProcess[],
  urls: string[],
  pairs: number,
  proto?: "socket.io",
): Promise<[string, string][][]> {
  const all = Array.from({ length: pairs }, (_, p) => [`a${p}`, `b${p}`] as [string, string]);
  const slices = split(all, loaders.length);
  await Promise.all(loaders.map(async (l, i) => {
    // With several nodes, the two ends of a pair sit on different nodes.
    const [ua, ub] = [urls[i % urls.length], urls[(i + 1) % urls.length]];
    const r1 = await l.call("connect", { url: ua, users: slices[i].map((p) => p[0]), proto }, 300_000);
    const r2 = await l.call("connect", { url: ub, users: slices[i].map((p) => p[1]), proto }, 300_000);
    if (r1.failed || r1.loginFailed || r2.failed || r2.loginFailed) {
      throw new Error(`rtt connect failed: ${JSON.stringify([r1, r2])}`);
    }
  }));
  return slices;
}

/** One measured rtt phase on already connected loaders. */
export async function rttPhase(
  o: BenchOptions,
  label: { scenario: string; target: string; params: string },
  serverPids: number[],
  loaders: LineProcess[],
  slices: [string, string][][],
  mode: { closed: true; receipts?: boolean; receiptsEveryMs?: number } | { closed: false; rate: number },
  cpuGroups: Record<string, number[]> = {},
): Promise<Row> {
  const receipts = mode.closed && mode.receipts === true;
  const receiptsEveryMs = mode.closed ? mode.receiptsEveryMs ?? 0 : 0;
  const cpu = new CpuMeter([...serverPids, ...loaders.map((l) => l.pid)]);
  const results: Json[] = await Promise.all(loaders.map((l, i) =>
    l.call("rtt", {
      pairs: slices[i],
      mode: mode.closed ? "closed" : "rate",
      rate: mode.closed ? 0 : mode.rate / loaders.length,
      durationMs: o.durationMs,
      padding: o.padding,
      receipts,
      receiptsEveryMs,
    }, o.durationMs + 60_000)
  ));
  const usage = cpu.read();
  const cpuSeconds = cpu.seconds();
  const serverSeconds = cpuSeconds.slice(0, serverPids.length).reduce((a, b) => a + b, 0);
  const loaderSeconds = cpuSeconds.slice(serverPids.length).reduce((a, b) => a + b, 0);
  const h = mergeHistograms(results.map((r) => r.hist));
  const received = sum(results, "received"), sent = sum(results, "sent");
  const seconds = Math.max(...results.map((r) => r.recvMs)) / 1000;
  const rate = seconds > 0 ? Math.round(received / seconds) : 0;
  const duplicates = sum(results, "duplicates");
  const lost = sent - received + duplicates;
  const receiptsMissing = receipts && sum(results, "receiptReplies") !== sum(results, "receiptsSent") ? 1 : 0;
  const errors = sum(results, "replyErrors") + (sum(results, "replies") === sent ? 0 : 1) + receiptsMissing;
  const row: Row = {
    ...label,
    metric: mode.closed ? "msgs/s" : "p99 ms",
    value: 0,
    ...percentiles(h),
    sent,
    received,
    lost,
    duplicates,
    errors,
    serverCpu: usage.slice(0, serverPids.length).reduce((a, b) => a + b, 0),
    loaderCpu: usage.slice(serverPids.length),
    status: "",
    extra: {
      msgsPerSec: rate,
      serverUsPerMsg: received ? Math.round(serverSeconds * 1e6 / received) : undefined,
      loaderUsPerMsg: received ? Math.round(loaderSeconds * 1e6 / received) : undefined,
      offered: mode.closed ? undefined : mode.rate,
      receiptsIn: receipts ? sum(results, "receiptsIn") : undefined,
      receiptRequests: receipts ? sum(results, "receiptsSent") : undefined,
      firstError: results.find((r) => r.firstError)?.firstError,
    },
  };
  // CPU µs per message of named groups of the server pids (cluster: `node`, `redis`).
  for (const [name, pids] of Object.entries(cpuGroups)) {
    const seconds = pids.reduce((a, p) => a + (cpuSeconds[serverPids.indexOf(p)] ?? 0), 0);
    row.extra[`${name}CpuUsPerMsg`] = received ? Math.round(seconds * 1e6 / received) : undefined;
  }
  row.value = mode.closed ? rate : row.p99Ms ?? 0;
  row.status = verdict({ lost, duplicates, errors, closes: sum(results, "unexpectedCloses") });
  progress(
    `${label.scenario} ${label.target} ${label.params}: ${rate} msgs/s p99 ${row.p99Ms} ms ${row.status}`,
  );
  return row;
}

/** Run closed loop, then a fixed rate (`rate`, or half of the closed-loop rate) against one target. */
export async function runRtt(
  o: BenchOptions,
  start: () => Promise<Target>,
  rate?: number,
): Promise<Row[]> {
  const target = await start();
  const nLoaders = o.loaders ?? 1;
  const loaders = startLoaders(nLoaders, o.client, o.loaderProfDir);
  try {
    progress(`rtt ${target.kind}: logging in ${o.pairs * 2} users on ${nLoaders} loader(s)`);
    const slices = await connectPairs(loaders, [target.url], o.pairs);
    const warm = { ...o, durationMs: Math.min(1000, o.durationMs / 2) };
    const label = { scenario: "rtt", target: target.kind, params: `${o.pairs} pairs, closed loop` };
    await rttPhase(warm, { ...label, params: "warm-up" }, [target.pid], loaders, slices, { closed: true });
    await sleep(200);
    const closed = await rttPhase(o, label, [target.pid], loaders, slices, { closed: true });
    const offered = Math.max(10, Math.round(rate ?? closed.value / 2));
    const fixed = await rttPhase(
      o,
      { ...label, scenario: "rtt-rate", params: `${o.pairs} pairs, ${offered} msgs/s offered` },
      [target.pid],
      loaders,
      slices,
      { closed: false, rate: offered },
    );
    // Commit latency and batching of the SQLite store over both phases (on the closed-loop row).
    const store = await storeFigures(target);
    if (store) closed.extra.store = store;
    if (target.kind !== "imserver") return [closed, fixed];
    // Receipts on: every message acked and read — one ack and one read per message (the worst case), and
    // as a chat client sends them, at most every 50 ms per recipient up to the newest seq (cumulative marks).
    const rows = [closed, fixed];
    for (const everyMs of [0, 50]) {
      const how = everyMs === 0
        ? "an ack and a read per message"
        : `ack and read every ${everyMs} ms per recipient`;
      // Unmeasured first: each recipient's first ack and read after the receipt-less phases catch up on
      // every message so far (delivered/read receipts for up to inbox.maxEntries entries, the summaries'
      // working state read back from the file) — once per user, not the steady state the row is about.
      await rttPhase(warm, { ...label, params: "receipts warm-up" }, [target.pid], loaders, slices, {
        closed: true,
        receipts: true,
        receiptsEveryMs: everyMs,
      });
      await sleep(200);
      const row = await rttPhase(
        o,
        { ...label, scenario: "rtt-receipts", params: `${o.pairs} pairs, closed loop, ${how}` },
        [target.pid],
        loaders,
        slices,
        { closed: true, receipts: true, receiptsEveryMs: everyMs },
      );
      const ratio = closed.value > 0 ? row.value / closed.value : 0;
      row.params += ` (${ratio.toFixed(2)} × rtt)`;
      row.extra.ratioToRtt = Number(ratio.toFixed(3));
      rows.push(row);
    }
    return rows;
  } finally {
    await stopLoaders(loaders);
    await target.stop();
  }
}
