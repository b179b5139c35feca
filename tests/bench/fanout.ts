/**
 * Scenario `fanout`: one sender, a room of M members. Members join first (login, joinRoom,
 * logout on a few setup connections, so join pushes do not turn the setup into M² frames),
 * then all log in; the sender posts `roomMsg` with a window of messages in flight, each
 * message counted complete when every member has it. Reports deliveries/s and the latency
 * to the last member.
 * @module
 */
import * as hdr from "hdr-histogram-js";
import {
  type BenchOptions,
  mergeHistograms,
  percentiles,
  progress,
  type Row,
  split,
  sum,
  verdict,
} from "./common.ts";
import { CpuMeter, type Json } from "./proc.ts";
import { startLoaders, stopLoaders, storeFigures, type Target } from "./targets.ts";

const ROOM = "bench-room";

/** Run the fanout scenario against one target. */
export async function runFanout(o: BenchOptions, start: (maxRoom: number) => Promise<Target>): Promise<Row> {
  const target = await start(o.members + 1);
  const nLoaders = o.loaders ?? Math.max(1, Math.ceil((o.members + 1) / 9000));
  const loaders = startLoaders(nLoaders, o.client, o.loaderProfDir);
  try {
    const members = Array.from({ length: o.members }, (_, i) => `m${i}`);
    const sender = "sender";
    progress(`fanout ${target.kind}: ${o.members} members join ${ROOM}`);
    const join = await loaders[0].call("joinSetup", {
      url: target.url,
      room: ROOM,
      users: [sender, ...members],
    }, 600_000);
    if (join.errors) throw new Error(`joinRoom failed: ${JSON.stringify(join)}`);
    progress(`fanout ${target.kind}: joined in ${(join.ms / 1000).toFixed(1)} s; logging in`);
    const slices = split(members, nLoaders);
    slices[0].push(sender);
    const logins = await Promise.all(
      loaders.map((l, i) => l.call("connect", { url: target.url, users: slices[i] }, 600_000)),
    );
    if (logins.some((r) => r.failed || r.loginFailed)) {
      throw new Error(`fanout login failed: ${JSON.stringify(logins)}`);
    }
    await Promise.all(loaders.map((l) => l.call("fanListen", { sender }, 10_000)));

    const done = new Map<number, { n: number; maxUs: number; last: number }>();
    let wake: (() => void) | undefined;
    for (const l of loaders) {
      l.onEvent = (m: Json) => {
        if (m.event !== "fan") return;
        const e = done.get(m.k) ?? { n: 0, maxUs: 0, last: 0 };
        e.n += m.n;
        e.maxUs = Math.max(e.maxUs, m.maxUs);
        e.last = Math.max(e.last, m.last);
        done.set(m.k, e);
        wake?.();
      };
    }
    const lastMember = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 600_000_000,
      numberOfSignificantValueDigits: 3,
    });
    const cpu = new CpuMeter([target.pid, ...loaders.map((l) => l.pid)]);
    const t0 = performance.timeOrigin + performance.now();
    let sent = 0, completed = 0, stalled = false;
    const complete = () => {
      while (done.get(completed + 1)?.n === o.members) completed++;
    };
    while (sent < o.fanMessages && performance.timeOrigin + performance.now() - t0 < o.durationMs * 3) {
      complete();
      if (sent - completed < o.fanWindow) {
        await loaders[0].call("fanSend", { sender, room: ROOM, k: ++sent, padding: o.padding }, 30_000);
        continue;
      }
      const woke = await new Promise<boolean>((r) => {
        const timer = setTimeout(() => r(false), 30_000);
        wake = () => {
          clearTimeout(timer);
          r(true);
        };
      });
      if (!woke) {
        stalled = true;
        break;
      }
    }
    for (let waited = 0; completed < sent && waited < 30_000 && !stalled; waited += 20) {
      await new Promise((r) => setTimeout(r, 20));
      complete();
    }
    const usage = cpu.read();
    const cpuSeconds = cpu.seconds();
    const serverSeconds = cpuSeconds[0];
    const loaderSeconds = cpuSeconds.slice(1).reduce((a, b) => a + b, 0);
    for (const e of done.values()) if (e.n === o.members) lastMember.recordValue(e.maxUs);
    const results: Json[] = await Promise.all(loaders.map((l) => l.call("counters", {}, 30_000)));
    const all = mergeHistograms(results.map((r) => r.hist));
    const received = sum(results, "received");
    const duplicates = sum(results, "duplicates");
    const lastRecv = Math.max(0, ...[...done.values()].map((e) => e.last));
    const seconds = (lastRecv - t0) / 1000;
    const rate = seconds > 0 ? Math.round(received / seconds) : 0;
    const lost = sent * o.members - received + duplicates;
    const errors = sum(results, "replyErrors") + (sum(results, "replies") === sent ? 0 : 1);
    const row: Row = {
      scenario: "fanout",
      target: target.kind,
      params: `${o.members} members, ${sent} msgs, window ${o.fanWindow}`,
      metric: "deliveries/s",
      value: rate,
      ...percentiles(lastMember),
      sent: sent * o.members,
      received,
      lost,
      duplicates,
      errors,
      serverCpu: usage[0],
      loaderCpu: usage.slice(1),
      status: verdict({
        lost,
        duplicates,
        errors,
        closes: sum(results, "unexpectedCloses"),
        note: stalled ? "stalled" : undefined,
      }),
      extra: {
        serverUsPerMsg: received ? Math.round(serverSeconds * 1e7 / received) / 10 : undefined,
        loaderUsPerMsg: received ? Math.round(loaderSeconds * 1e7 / received) / 10 : undefined,
        joinMs: Math.round(join.ms),
        loginMs: Math.round(Math.max(...logins.map((r) => r.loginMs))),
        perDelivery: percentiles(all),
        messagesPerSec: seconds > 0 ? Math.round(sent / seconds) : 0,
        firstError: results.find((r) => r.firstError)?.firstError,
      },
    };
    const store = await storeFigures(target);
    if (store) row.extra.store = store;
    progress(`fanout ${target.kind}: ${rate} deliveries/s, last member p99 ${row.p99Ms} ms ${row.status}`);
    return row;
  } finally {
    for (const l of loaders) l.onEvent = undefined;
    await stopLoaders(loaders);
    await target.stop();
  }
}
