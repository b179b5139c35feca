/**
 * Backend sender process of the `push` scenario: keep-alive HTTP `POST /user/sendMessage` from
 * `concurrency` concurrent `fetch` loops (each waits for its reply before the next request), worker `w` on
 * `ports[w % ports.length]`, its i-th request to `users[(w * 7 + i) % users.length]` — with two nodes and
 * the users round-robin over them, half of the pushes cross nodes. Bounded in time (`durationMs`) and
 * count (`maxRequests`); every request times out after 10 s.
 *
 * Driven like the loader, with JSON lines on stdin (`{id, op: "run", ...}`) and replies on stdout.
 * Message bodies carry `#B#p|<phase>|<w>.<n>|<sentAtMs>|<user>#E`, which the loader's `pushListen`
 * counts. Run: `deno run --allow-net=127.0.0.1 tests/bench/push_sender.ts`.
 * @module
 */
import * as hdr from "hdr-histogram-js";
import { emit, newHistogram, now } from "./loader_state.ts";
import { type Json, readLines } from "./proc.ts";

const REQUEST_TIMEOUT_MS = 10_000;

/** One sending phase; returns the accounting and an encoded histogram of the HTTP reply latency (µs). */
async function run(a: Json): Promise<Json> {
  const ports = a.ports as number[];
  const users = a.users as string[];
  const concurrency = Number(a.concurrency ?? 32);
  const maxRequests = Number(a.maxRequests ?? 1_000_000);
  const padding = "x".repeat(Number(a.padding ?? 0));
  const hist = newHistogram();
  let sent = 0, acked = 0, notAcked = 0, httpErrors = 0, fetchErrors = 0, deliveredFalse = 0;
  let firstError: string | undefined;
  const t0 = now();
  const end = performance.now() + Number(a.durationMs);
  let lastDone = t0;
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    const url = `http://127.0.0.1:${ports[w % ports.length]}/user/sendMessage`;
    for (let i = 0; performance.now() < end && sent < maxRequests; i++) {
      const user = users[(w * 7 + i) % users.length];
      const t = now();
      const body = new URLSearchParams({
        appId: "101",
        userId: user,
        message: `#B#p|${a.phase}|${w}.${i}|${t.toFixed(3)}|${user}#E${padding}`,
      });
      sent++;
      try {
        const r = await fetch(url, { method: "POST", body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        const text = await r.text();
        lastDone = now();
        hist.recordValue(Math.max(1, Math.round((lastDone - t) * 1000)));
        let reply: Json;
        try {
          reply = JSON.parse(text);
        } catch {
          reply = undefined;
        }
        if (r.status !== 200) {
          httpErrors++;
          firstError ??= `HTTP ${r.status}: ${text.slice(0, 200)}`;
        } else if (reply?.code !== 200) {
          notAcked++;
          firstError ??= `code ${reply?.code}: ${text.slice(0, 200)}`;
        } else {
          acked++;
          if (reply.data?.delivered === false) deliveredFalse++;
        }
      } catch (e) {
        fetchErrors++;
        firstError ??= `fetch: ${(e as Error).message}`.slice(0, 200);
      }
    }
  }));
  return {
    sent,
    acked,
    notAcked,
    httpErrors,
    fetchErrors,
    deliveredFalse,
    firstError,
    elapsedMs: lastDone - t0,
    hist: hdr.encodeIntoCompressedBase64(hist),
  };
}

const ops: Record<string, (a: Json) => Promise<Json>> = { run };

for await (const line of readLines(Deno.stdin.readable)) {
  if (!line.trim()) continue;
  const a = JSON.parse(line);
  Promise.resolve()
    .then(() => ops[a.op](a))
    .then((r) => emit({ id: a.id, ...r }))
    .catch((e) => emit({ id: a.id, error: String(e?.message ?? e) }));
}

// stdin closed: the runner is done with us.
Deno.exit(0);
