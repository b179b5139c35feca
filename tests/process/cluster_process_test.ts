/**
 * Cluster nodes as real processes (`src/main.ts`): start-up without Redis exits non-zero with a
 * clear error; kill -9 of a node (on one Redis and on a 3-master Redis Cluster) → its users go offline
 * within 2 × presence.ttl and a client that moves to another node and logs in with lastSeq receives
 * everything it missed.
 * @module
 */
import assert from "node:assert/strict";
import { TestClient } from "../support/helpers.ts";
import { redisClusterTest } from "../support/redis_cluster.ts";
import { freePort, redisTest } from "../support/redis_helper.ts";
import { childEnv, clusterEnv, MAIN } from "../support/node_process.ts";

const TTL_S = 2;

/** Environment of a cluster node subprocess. */
export function nodeEnv(redisPort: number, nodeId: string, extra: Record<string, string> = {}) {
  return clusterEnv(redisPort, nodeId, TTL_S, extra);
}

/** A node process and the ports it printed. */
export interface NodeProcess {
  child: Deno.ChildProcess;
  httpPort: number;
  wsPort: number;
  /** Resolves when stdout is fully drained (after the process ends). */
  drained: Promise<void>;
}

/** Spawn `src/main.ts` and wait for its "imserver listening" line. */
export async function spawnNode(env: Record<string, string>, args: string[] = []): Promise<NodeProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args, MAIN],
    env: childEnv(env),
    clearEnv: true,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    const m = text.match(/imserver listening http=(\d+) ws=(\d+)/);
    if (m) {
      const drained = (async () => {
        while (!(await reader.read()).done) { /* discard */ }
      })();
      return { child, httpPort: Number(m[1]), wsPort: Number(m[2]), drained };
    }
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // exited by itself
  }
  await child.status;
  await reader.cancel();
  throw new Error(`node did not start: ${text}`);
}

/** Stop a node (SIGKILL = crash, SIGTERM = graceful) and wait for it. */
export async function stopNode(node: NodeProcess, signal: Deno.Signal = "SIGTERM"): Promise<void> {
  try {
    node.child.kill(signal);
  } catch {
    // already exited
  }
  await node.child.status;
  await node.drained;
}

Deno.test({
  name: "cluster: start-up without Redis exits non-zero with a clear error",
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN],
      env: childEnv(nodeEnv(freePort(), "lonely")),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.notEqual(out.code, 0);
    assert.match(stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/);
    assert.doesNotMatch(new TextDecoder().decode(out.stdout), /imserver listening/);
  },
});

const online = async (port: number, userId: string) =>
  (await (await fetch(`http://127.0.0.1:${port}/user/online?userId=${userId}&appId=101`)).json()).data.online;

/** kill -9 of a node: offline within 2 × TTL, exit pushed, the client moves with zero loss. */
async function killNine(env: (nodeId: string) => Record<string, string>): Promise<void> {
  const a = await spawnNode(env("node-a"));
  const b = await spawnNode(env("node-b"));
  const alice = await TestClient.connect(b.wsPort);
  let bob = await TestClient.connect(a.wsPort);
  try {
    await alice.login("alice");
    const first = await bob.login("bob");
    // enter travels node A → node B over the app channel
    assert.equal(
      (await alice.waitFor((f) => f.cmd === "enter" && f.response.data.from === "bob")).cmd,
      "enter",
    );
    for (let i = 1; i <= 5; i++) {
      assert.equal(
        (await alice.request("sendMsg", { to: "bob", msg: `m${i}` })).response.code,
        200,
      );
    }
    let lastSeq = 0;
    for (let i = 1; i <= 5; i++) lastSeq = (await bob.push("msg")).response.data.seq;
    assert.equal(await online(b.httpPort, "bob"), true);

    await stopNode(a, "SIGKILL");
    const killedAt = Date.now();
    await bob.closed;
    // sent while bob has no connection: kept in his inbox
    for (let i = 6; i <= 10; i++) {
      assert.equal(
        (await alice.request("sendMsg", { to: "bob", msg: `m${i}` })).response.code,
        200,
      );
    }
    // bounded poll: presence must go within 2 × TTL (plus slack for a loaded machine)
    let offlineAfter = -1;
    while (Date.now() - killedAt < 2 * TTL_S * 1000 + 2000) {
      if (!(await online(b.httpPort, "bob"))) {
        offlineAfter = Date.now() - killedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(offlineAfter >= 0, "bob still online after the bound");
    // the node that reaped the dead one tells the app bob left
    assert.equal(
      (await alice.waitFor((f) => f.cmd === "exit" && f.response.data.from === "bob")).cmd,
      "exit",
    );

    bob = await TestClient.connect(b.wsPort);
    const data = await bob.login("bob", 101, { lastSeq, epoch: first.inboxEpoch });
    assert.equal(data.inboxReset, undefined);
    const got: string[] = [];
    for (let i = 6; i <= 10; i++) {
      const p = await bob.push("msg");
      assert.equal(p.response.data.seq, lastSeq + i - 5);
      got.push(p.response.data.msg);
    }
    assert.deepEqual(got, ["m6", "m7", "m8", "m9", "m10"]);
  } finally {
    await alice.close();
    await bob.close();
    await stopNode(a, "SIGKILL");
    await stopNode(b);
  }
}

redisTest(
  "cluster: kill -9 a node → its users offline within 2 × TTL, client moves with zero loss",
  (redis) => killNine((id) => nodeEnv(redis.port, id)),
);

redisClusterTest(
  "cluster: kill -9 a node on a 3-master Redis Cluster → offline within 2 × TTL, client moves with zero loss",
  (cluster) => killNine((id) => nodeEnv(0, id, { IM_REDIS_ADDR: cluster.seeds, IM_REDIS_CLUSTER: "true" })),
);

redisTest("cluster: two node processes share one port with reusePort", async (redis) => {
  const port = freePort();
  const shared = {
    IM_APP_HTTPPORT: String(port),
    IM_APP_WEBSOCKETPORT: String(port),
    IM_APP_REUSEPORT: "true",
  };
  // Deno.serve({ reusePort }) needs --unstable-net on Linux
  const n1 = await spawnNode(nodeEnv(redis.port, "", shared), ["--unstable-net"]);
  const n2 = await spawnNode(nodeEnv(redis.port, "", shared), ["--unstable-net"]);
  const clients: TestClient[] = [];
  try {
    assert.equal(n1.wsPort, port);
    assert.equal(n2.wsPort, port);
    const nodes = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const c = await TestClient.connect(port);
      clients.push(c);
      nodes.add((await c.login(`u${i}`)).nodeId);
    }
    // wherever each user landed, everyone sees everyone and messages cross nodes
    const list = await (await fetch(`http://127.0.0.1:${port}/user/list?appId=101`)).json();
    assert.equal(list.data.userCount, 8);
    for (let i = 0; i < 8; i++) {
      const to = `u${(i + 1) % 8}`;
      assert.equal((await clients[i].request("sendMsg", { to, msg: `from u${i}` })).response.code, 200);
    }
    for (let i = 0; i < 8; i++) {
      assert.equal((await clients[i].push("msg")).response.data.msg, `from u${(i + 7) % 8}`);
    }
    assert.ok(nodes.size >= 1);
  } finally {
    for (const c of clients) await c.close();
    await stopNode(n1);
    await stopNode(n2);
  }
});
