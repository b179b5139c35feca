/**
 * What an inbox append costs inside Redis (docs/CLUSTER.md "Cost of an append"): runs appends through
 * `RedisStore` against a throw-away redis-server and reads `INFO commandstats` (commands a script runs
 * are counted there one by one) after each scenario: Redis commands per appended entry, by command, and
 * the server time of the append script per entry.
 *
 * ```sh
 * deno run -A tests/bench/append_cost.ts                       # this checkout
 * git archive <commit> src | tar -x -C /tmp/base               # an older version of the store …
 * deno run -A tests/bench/append_cost.ts --root=/tmp/base      # … measured the same way
 * ```
 * @module
 */
import type { NewEntry, StorePolicy } from "../../src/store/store.ts";
import { connectLink } from "../../src/store/redis/link.ts";
import { RedisServer } from "../support/redis_helper.ts";

const root = Deno.args.find((a) => a.startsWith("--root="))?.slice(7);
const base = root ? `file://${root.replace(/\/$/, "")}/src/` : new URL("../../src/", import.meta.url).href;
const { RedisStore } = await import(`${base}store/redis/store.ts`);
const { RedisKeys } = await import(`${base}store/redis/keys.ts`);

const APP = 101;
const policy: StorePolicy = {
  maxEntries: 1000,
  maxConversations: 1000,
  maxAgeMs: 7 * 86_400_000,
  dedupTtlMs: 60_000,
  maxRoomsPerUser: 10,
  maxRoomMembers: 1000,
};

let n = 0;
const message = (from: string, to: string, target = ""): NewEntry => ({
  msgId: `m${++n}`,
  from,
  to,
  target,
  type: "text",
  msg: "a message of a typical length, some forty bytes",
  time: Date.now(),
});
const event = (kind: "edit" | "recall" | "delete", ref: NewEntry): NewEntry => ({
  ...ref,
  msgId: `e${++n}`,
  type: kind,
  msg: kind === "edit" ? "edited" : "",
  time: Date.now(),
  kind,
  ref: ref.msgId,
  by: kind === "delete" ? ref.to : ref.from,
});

interface Stats {
  calls: Map<string, number>;
  usec: Map<string, number>;
}

/** Server-wide commands (INFO, CONFIG) on a connection of this checkout, whatever store is measured. */
type Admin = { send(key: string | undefined, a: string[]): Promise<unknown> };

async function stats(admin: Admin): Promise<Stats> {
  const text = String(await admin.send(undefined, ["INFO", "commandstats"]));
  const calls = new Map<string, number>(), usec = new Map<string, number>();
  for (const m of text.matchAll(/cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/g)) {
    calls.set(m[1], Number(m[2]));
    usec.set(m[1], Number(m[3]));
  }
  return { calls, usec };
}

async function scenario(
  admin: Admin,
  name: string,
  entries: number,
  run: () => Promise<void>,
): Promise<void> {
  await admin.send(undefined, ["CONFIG", "RESETSTAT"]);
  await run();
  const s = await stats(admin);
  const script = ["evalsha", "eval"].reduce((t, c) => t + (s.usec.get(c) ?? 0), 0);
  const inner = [...s.calls].filter(([c]) => !["evalsha", "eval", "config|resetstat", "info"].includes(c));
  const total = inner.reduce((t, [, v]) => t + v, 0);
  const by = inner.sort((a, b) => b[1] - a[1]).map(([c, v]) => `${c} ${(v / entries).toFixed(2)}`).join(", ");
  console.log(
    `${name.padEnd(34)} ${(total / entries).toFixed(2).padStart(6)} commands/entry  ` +
      `${(script / entries).toFixed(1).padStart(6)} µs/entry   (${by})`,
  );
}

const redis = await RedisServer.start();
// `url` for stores before the Redis Cluster mode (0.x, --root), `urls` since
const store = await RedisStore.open({ url: redis.url, urls: [redis.url], cluster: false }, {
  keys: new RedisKeys("b:"),
  policy,
});
const admin = await connectLink({ urls: [redis.url], cluster: false });
try {
  console.log(`store code: ${base}`);
  // Warm up: conversations exist, scripts are cached.
  for (let i = 0; i < 10; i++) await store.append(APP, "bob", message("alice", "bob"));
  await scenario(admin, "1:1 message, inbox not full", 500, async () => {
    for (let i = 0; i < 500; i++) await store.append(APP, "bob", message("alice", "bob"));
  });
  for (let i = 0; i < 1000; i++) await store.append(APP, "bob", message("alice", "bob"));
  await scenario(admin, "1:1 message, full inbox (trims)", 500, async () => {
    for (let i = 0; i < 500; i++) await store.append(APP, "bob", message("alice", "bob"));
  });
  // As under load (`deno task bench cluster`): concurrent 1:1 sends between 100 pairs leave in one batch,
  // each message in the receiver's and the sender's inbox.
  const pairs = Array.from({ length: 100 }, (_, i) => [`a${i}`, `b${i}`] as const);
  const burst = (from: number) =>
    Promise.all(
      pairs.slice(from, from + 21).flatMap(([a, b]) => {
        const m = message(a, b);
        return [store.append(APP, b, m), store.append(APP, a, m)];
      }),
    );
  for (let i = 0; i < 300; i++) await burst((i * 21) % 100);
  await scenario(admin, "1:1 messages, 100 pairs, batches of 42", 200 * 42, async () => {
    for (let i = 0; i < 200; i++) await burst((i * 21) % 100);
  });
  const members = Array.from({ length: 100 }, (_, i) => `u${i}`);
  await scenario(admin, "room message, 100 members", 20 * 100, async () => {
    for (let i = 0; i < 20; i++) await store.appendMany(APP, members, message("u0", "lobby", "lobby"));
  });
  const last = () => {
    const m = message("alice", "bob");
    return store.append(APP, "bob", m).then(() => m);
  };
  for (const kind of ["edit", "recall", "delete"] as const) {
    const refs: NewEntry[] = [];
    for (let i = 0; i < 100; i++) refs.push(await last());
    await scenario(admin, `${kind} (100 newest, newest first)`, 100, async () => {
      for (const ref of refs.reverse()) await store.append(APP, "bob", event(kind, ref));
    });
  }
} finally {
  await admin.close();
  await store.close();
  await redis.dispose();
}
