/**
 * Scenario `durability`: the SQLite store under `kill -9`. A database is filled with `--stored`
 * messages (default 1,000,000; written with the store's own code, in this process), the server is
 * started on it (restart time: spawn → `/readyz` 200), senders stream `POST /api/v1/messages` and keep
 * what was acknowledged, the server is killed with SIGKILL at a random moment, started again (restart
 * time again), and every recipient's inbox is read back: acknowledged / recovered (same seq, same text)
 * / lost / duplicated. Targets: lost 0, dup 0, restart ≤ 5 s with 1M stored messages.
 * @module
 */
import { SqliteStore } from "../../src/store/sqlite/store.ts";
import { type BenchOptions, progress, type Row, sleep, verdict } from "./common.ts";
import { rssBytes } from "./proc.ts";
import { startImserver, type Target } from "./targets.ts";

const POLICY = {
  maxEntries: 1000,
  maxConversations: 1000,
  maxAgeMs: 7 * 86_400_000,
  dedupTtlMs: 43_200_000,
  maxRoomsPerUser: 100,
  maxRoomMembers: 10_000,
};

/** Fill `path` with `count` messages over `users` inboxes (the server's own store code, sync normal). */
async function prefill(path: string, count: number, users: number): Promise<number> {
  const start = performance.now();
  const store = SqliteStore.open({ path, policy: POLICY, sync: "normal", maintenanceMs: 0 });
  try {
    const batch = 2000;
    for (let done = 0; done < count; done += batch) {
      const n = Math.min(batch, count - done);
      const to = Array.from({ length: n }, (_, i) => `p${(done + i) % users}`);
      const time = Date.now();
      await store.appendMany(101, to, {
        msgId: `pre${done}`,
        from: "prefill",
        to: "",
        target: "",
        type: "text",
        msg: `stored message ${done} ${"x".repeat(64)}`,
        time,
      });
      if (done % 200_000 === 0 && done > 0) progress(`durability: prefilled ${done}`);
    }
    await store.maintain();
  } finally {
    await store.close();
  }
  return performance.now() - start;
}

/** Start the server on `path` and wait until `/readyz` answers 200; resolves to the target and ms. */
async function startTimed(path: string): Promise<{ target: Target; ms: number }> {
  const t0 = performance.now();
  // No trimming: every acknowledged message must still be there to be counted as recovered.
  const target = await startImserver({
    engine: "sqlite",
    storePath: path,
    label: "imserver",
    maxInboxEntries: 1_000_000,
  });
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`http://127.0.0.1:${target.httpPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) return { target, ms: performance.now() - t0 };
    await sleep(10);
  }
  await target.stop();
  throw new Error("the server never became ready");
}

async function post(port: number, to: string, msg: string): Promise<{ seq: number } | undefined> {
  const r = await fetch(`http://127.0.0.1:${port}/api/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ appId: 101, to, msg }),
  });
  const body = await r.json();
  return body.code === 200 ? { seq: body.data.seq } : undefined;
}

/** Every entry of an inbox: seq → msg. */
async function readInbox(port: number, user: string): Promise<Map<number, string>[]> {
  const seen = new Map<number, string>();
  const dups = new Map<number, string>();
  for (let since = 0, page = 0; page < 200; page++) {
    const r = await fetch(
      `http://127.0.0.1:${port}/api/v1/inbox?appId=101&userId=${user}&since=${since}&limit=100`,
    );
    const entries: { seq: number; msg: string }[] = (await r.json()).data.entries;
    if (entries.length === 0) break;
    for (const e of entries) (seen.has(e.seq) ? dups : seen).set(e.seq, e.msg);
    since = entries[entries.length - 1].seq;
  }
  return [seen, dups];
}

/** Run the durability scenario. */
export async function runDurability(o: BenchOptions): Promise<Row> {
  const stored = o.stored;
  const dir = await Deno.makeTempDir({ prefix: "imbench-durability-" });
  const path = `${dir}/imserver.db`;
  try {
    progress(`durability: writing ${stored} messages`);
    const fillMs = await prefill(path, stored, Math.max(100, Math.round(stored / 100)));
    const first = await startTimed(path);
    const rss = rssBytes(first.target.pid);
    progress(
      `durability: ready ${Math.round(first.ms)} ms after start with ${stored} stored, RSS ${
        Math.round(rss / 2 ** 20)
      } MB`,
    );
    const recipients = Array.from({ length: o.quick ? 20 : 200 }, (_, i) => `d${i}`);
    const acked = new Map<string, { to: string; seq: number }>();
    let attempted = 0;
    let stopped = false;
    const t0 = performance.now();
    const senders = Array.from({ length: o.quick ? 4 : 16 }, async (_, s) => {
      for (let n = 0; !stopped && n < 1_000_000; n++) {
        const to = recipients[(s * 7 + n) % recipients.length];
        const msg = `dur ${s}-${n}`;
        attempted++;
        try {
          const r = await post(first.target.httpPort, to, msg);
          if (r) acked.set(msg, { to, seq: r.seq });
        } catch {
          return; // the server is gone
        }
      }
    });
    const killAfter = o.durationMs * (0.3 + Math.random() * 0.7);
    await sleep(killAfter);
    await first.target.kill();
    stopped = true;
    const ackedMs = performance.now() - t0;
    await Promise.all(senders);
    await first.target.stop(); // already dead: only removes its config directory
    progress(`durability: SIGKILL after ${Math.round(killAfter)} ms, ${acked.size} acknowledged`);
    const second = await startTimed(path);
    let recovered = 0, lost = 0, duplicates = 0, inFlight = 0;
    try {
      for (const user of recipients) {
        const [seen, dups] = await readInbox(second.target.httpPort, user);
        duplicates += dups.size;
        const texts = [...seen.values()];
        duplicates += texts.length - new Set(texts).size;
        const mine = [...acked].filter(([, a]) => a.to === user);
        for (const [msg, a] of mine) seen.get(a.seq) === msg ? recovered++ : lost++;
        inFlight += seen.size - mine.length;
      }
    } finally {
      await second.target.stop();
    }
    const row: Row = {
      scenario: "durability",
      target: "imserver",
      params: `${stored} stored, ${recipients.length} recipients, SIGKILL after ${
        (killAfter / 1000).toFixed(1)
      } s`,
      metric: "restart s",
      value: Math.round(second.ms) / 1000,
      sent: acked.size,
      received: recovered,
      lost,
      duplicates,
      errors: 0,
      serverCpu: 0,
      loaderCpu: [],
      status: verdict({ lost, duplicates, errors: 0 }),
      extra: {
        acknowledged: acked.size,
        recovered,
        attempted,
        unacknowledgedButStored: inFlight,
        ackedPerSec: Math.round(acked.size / (ackedMs / 1000)),
        firstStartMs: Math.round(first.ms),
        restartAfterKillMs: Math.round(second.ms),
        prefillMs: Math.round(fillMs),
        rssAfterLoadMB: Math.round(rss / 2 ** 20),
        dbBytes: (await Deno.stat(path)).size,
      },
    };
    progress(
      `durability: acknowledged ${acked.size}, recovered ${recovered}, lost ${lost}, dup ${duplicates}; ` +
        `restart ${row.value} s ${row.status}`,
    );
    return row;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
