/**
 * What a kill -9 of the server process must not undo (PROTOCOL.md C.1, C.3), on the SQLite store and on
 * Redis (cluster mode, one node; Redis outlives the node):
 *
 * - a login without `lastSeq` after the crash gets nothing again that a connection of the user was written
 *   before it, once the delivered flush interval (`heartbeat.deliveredFlush`, default 1 s) has passed;
 * - a `read` (and an `ack`) that answered 200 has committed its receipt: the offline sender gets it on
 *   resume although the server died right after the reply.
 * @module
 */
import assert from "node:assert/strict";
import { TestClient } from "../support/helpers.ts";
import { redisTest } from "../support/redis_helper.ts";
import {
  clusterEnv,
  MAIN,
  quietEnv,
  type ServerProcess,
  spawnServer,
  START_FLAGS,
  stopServer,
} from "../support/node_process.ts";

/** Starts the server (again) on the same data; the sweep never runs during a test. */
type Start = () => Promise<ServerProcess>;

const NO_SWEEP = { IM_HEARTBEAT_FIRSTSWEEP: "600" };

async function kill9(proc: ServerProcess): Promise<void> {
  proc.child.kill("SIGKILL");
  const status = await proc.child.status;
  await proc.drained;
  assert.equal(status.signal, "SIGKILL");
}

async function sqlite(fn: (start: Start) => Promise<void>): Promise<void> {
  const cwd = await Deno.makeTempDir({ prefix: "im-crash-marks-" });
  try {
    await fn(() =>
      spawnServer(
        Deno.execPath(),
        ["run", ...START_FLAGS, MAIN],
        quietEnv({ IM_STORE_ENGINE: "sqlite", ...NO_SWEEP }),
        60_000,
        cwd,
      )
    );
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

const redis = (port: number) => (fn: (start: Start) => Promise<void>) =>
  fn(() => spawnServer(Deno.execPath(), ["run", "-A", MAIN], clusterEnv(port, "node-a", 2, NO_SWEEP)));

/** C.1: entries written to gus's connection are not replayed to his plain login after kill -9. */
async function deliveredSurvives(start: Start): Promise<void> {
  let proc = await start();
  const gus = await TestClient.connect(proc.wsPort);
  const alice = await TestClient.connect(proc.wsPort);
  try {
    await gus.login("gus");
    await alice.login("alice");
    for (let i = 0; i < 3; i++) {
      assert.equal((await alice.request("sendMsg", { to: "gus", msg: `live-${i}` })).response.code, 200);
    }
    for (let i = 0; i < 3; i++) assert.equal((await gus.push("msg")).response.data.msg, `live-${i}`);
    // Past the delivered flush interval (1 s by default), well inside the sweep (600 s here).
    await new Promise((r) => setTimeout(r, 2500));
    await kill9(proc);
    await gus.closed;
    await alice.closed;

    proc = await start();
    const again = await TestClient.connect(proc.wsPort);
    try {
      await again.login("gus");
      assert.deepEqual(
        (await again.drain("msg", 600)).map((f) => f.response.data.msg),
        [],
        "nothing already written to gus's connection is pushed again",
      );
      // and what arrives while he is offline still comes on a plain login (the mark did not run ahead)
      await again.close();
      const sender = await TestClient.connect(proc.wsPort);
      await sender.login("alice");
      assert.equal((await sender.request("sendMsg", { to: "gus", msg: "later" })).response.code, 200);
      await sender.close();
      const third = await TestClient.connect(proc.wsPort);
      await third.login("gus");
      assert.equal((await third.push("msg")).response.data.msg, "later");
      await third.close();
    } finally {
      await again.close();
    }
  } finally {
    await stopServer(proc, "SIGKILL");
  }
}

/** C.3: a `read` / `ack` reply 200, kill -9 at once: the offline sender still gets its receipt. */
async function receiptSurvives(start: Start, cmd: "read" | "ack"): Promise<void> {
  let proc = await start();
  const carol = await TestClient.connect(proc.wsPort);
  const bob = await TestClient.connect(proc.wsPort);
  let sent: { seq: number; senderSeq: number; msgId: string };
  try {
    await carol.login("carol");
    await bob.login("bob");
    sent = (await carol.request("sendMsg", { to: "bob", msg: "please read" })).response.data;
    await bob.push("msg");
    await carol.close();
    await new Promise((r) => setTimeout(r, 300)); // carol is offline: the receipt is an inbox entry
    const data = cmd === "read" ? { conversation: "u:carol", seq: sent.seq } : { seq: sent.seq };
    assert.equal((await bob.request(cmd, data)).response.code, 200);
    await kill9(proc);
    await bob.closed;
  } catch (error) {
    await stopServer(proc, "SIGKILL");
    throw error;
  }

  proc = await start();
  const back = await TestClient.connect(proc.wsPort);
  try {
    await back.login("carol", 101, { lastSeq: sent.senderSeq });
    const receipt = await back.push(cmd === "read" ? "read" : "delivered", 3000);
    assert.equal(receipt.response.data.by, "bob");
    assert.deepEqual(receipt.response.data.msgIds, [sent.msgId]);
  } finally {
    await back.close();
    await stopServer(proc, "SIGKILL");
  }
}

Deno.test("crash (sqlite): a plain login after kill -9 gets nothing already written to the user", () =>
  sqlite(deliveredSurvives));
Deno.test("crash (sqlite): a read answered 200 keeps its receipt across kill -9", () =>
  sqlite((start) => receiptSurvives(start, "read")));
Deno.test("crash (sqlite): an ack answered 200 keeps its delivered receipt across kill -9", () =>
  sqlite((start) => receiptSurvives(start, "ack")));

redisTest(
  "crash (redis): a plain login after kill -9 gets nothing already written to the user",
  (r) => redis(r.port)(deliveredSurvives),
);
redisTest(
  "crash (redis): a read answered 200 keeps its receipt across kill -9",
  (r) => redis(r.port)((start) => receiptSurvives(start, "read")),
);
redisTest(
  "crash (redis): an ack answered 200 keeps its delivered receipt across kill -9",
  (r) => redis(r.port)((start) => receiptSurvives(start, "ack")),
);
