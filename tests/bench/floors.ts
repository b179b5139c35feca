/**
 * What the storage alone costs per 1:1 message, below everything imserver adds (docs/PERFORMANCE.md, "The Redis
 * floor"): the least a durable per-user inbox asks of Redis (a seq and an entry in each of the two inboxes and one
 * publish, in one Lua loop, so no call, network or parsing cost) and of SQLite (the five rows the default store
 * writes for a 1:1 message, in batched WAL transactions with prepared statements, no reads, no fsync). Compare
 * with the same machine's bench rows of the same hour: the targets of issues 15 and 16 sit below these floors.
 *
 * ```sh
 * deno run -A tests/bench/floors.ts [--messages=20000] [--rounds=3]
 * ```
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { connectLink } from "../../src/store/redis/link.ts";
import { RedisServer } from "../support/redis_helper.ts";

const arg = (name: string, fallback: number) =>
  Number(Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const MESSAGES = arg("messages", 20_000), ROUNDS = arg("rounds", 3);

const ENTRY = JSON.stringify({
  kind: "msg",
  msgId: "m-8a7d6c5b4a39-00001",
  from: "user-0001",
  to: "user-0002",
  type: "text",
  time: 1796216543846,
  msg: "hello there, this is a message of ordinary length #B#x|1|2|3#E",
});

/** HINCRBY + XADD into each of the two inboxes, one PUBLISH: per message, 100 pairs of inboxes in turn. */
const REDIS_FLOOR = `
local n, e = tonumber(ARGV[1]), ARGV[2]
for i = 1, n do
  local a = redis.call('HINCRBY', 'm:a' .. (i % 100), 'last', 1)
  redis.call('XADD', 'i:a' .. (i % 100), a .. '-0', 'e', e)
  local b = redis.call('HINCRBY', 'm:b' .. (i % 100), 'last', 1)
  redis.call('XADD', 'i:b' .. (i % 100), b .. '-0', 'e', e)
  redis.call('PUBLISH', 'node:2', e)
end
return n`;

async function redisFloor(): Promise<number[]> {
  const redis = await RedisServer.start();
  const link = await connectLink({ urls: [redis.url], cluster: false });
  try {
    const out: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await link.send(undefined, ["FLUSHALL"]);
      await link.send(undefined, ["CONFIG", "RESETSTAT"]);
      await link.send(undefined, ["EVAL", REDIS_FLOOR, "0", String(MESSAGES), ENTRY]);
      const stats = String(await link.send(undefined, ["INFO", "commandstats"]));
      out.push(Number(/cmdstat_eval:calls=\d+,usec=(\d+)/.exec(stats)?.[1] ?? NaN) / MESSAGES);
    }
    return out;
  } finally {
    await link.close();
    await redis.dispose();
  }
}

function sqliteFloor(): number[] {
  const dir = Deno.makeTempDirSync({ prefix: "floors-" });
  const db = new DatabaseSync(`${dir}/floor.db`);
  try {
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE");
    db.exec(
      `CREATE TABLE entries (id INTEGER PRIMARY KEY, gen INTEGER NOT NULL, time INTEGER NOT NULL, mid TEXT,
      body TEXT NOT NULL)`,
    );
    db.exec(
      "CREATE TABLE conversations (id INTEGER PRIMARY KEY, gen INTEGER NOT NULL, conv TEXT, body TEXT)",
    );
    db.exec(
      "CREATE TABLE messages (id INTEGER PRIMARY KEY, app INTEGER, msg_id TEXT, time INTEGER, body TEXT)",
    );
    db.exec("CREATE UNIQUE INDEX messages_by_id ON messages (app, msg_id)");
    const entry = db.prepare("INSERT INTO entries (gen, time, mid, body) VALUES (?, ?, NULL, ?)");
    const conv = db.prepare("INSERT INTO conversations (gen, conv, body) VALUES (?, ?, ?)");
    const kept = db.prepare("INSERT INTO messages (app, msg_id, time, body) VALUES (101, ?, ?, ?)");
    const summary = JSON.stringify({
      time: 1796216543846,
      seq: 1,
      readSeq: 0,
      unread: 3,
      last: JSON.parse(ENTRY),
    });
    const perTx = 7; // 35 rows a transaction, about what the writer commits under the rtt loop
    const out: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const start = performance.now();
      for (let i = 0; i < MESSAGES; i += perTx) {
        db.exec("BEGIN");
        for (let j = i; j < i + perTx; j++) {
          const time = 1796216543846 + j;
          entry.run(j % 200, time, ENTRY);
          entry.run((j + 1) % 200, time, ENTRY);
          conv.run(j % 200, `u:x${j % 100}`, summary);
          conv.run((j + 1) % 200, `u:y${j % 100}`, summary);
          kept.run(`m${round}-${j}`, time, ENTRY);
        }
        db.exec("COMMIT");
      }
      out.push((performance.now() - start) * 1000 / MESSAGES);
    }
    return out;
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

const fmt = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(", ");
console.log(
  `redis-server time per 1:1 message, the least a durable inbox asks: ${fmt(await redisFloor())} µs`,
);
console.log(`SQLite time per 1:1 message, its five rows alone:               ${fmt(sqliteFloor())} µs`);
