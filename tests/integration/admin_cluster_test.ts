/**
 * The admin API in cluster mode: 3 nodes (in this process) on a real redis-server. The overview from
 * any node lists every node with its connections (snapshots published to Redis at each refresh); the
 * user view shows connections held by other nodes with their node and IP; kick and disconnect reach the
 * nodes that hold the user (close 4010); a stopped node leaves the overview; with Redis down the
 * overview still answers, with this node alone and Redis marked unreachable. Prints the overview's
 * latency with 3 nodes.
 * @module
 */
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../../src/server.ts";
import { TestClient, testConfig } from "../support/helpers.ts";
import { type RedisServer, redisTest } from "../support/redis_helper.ts";

const ADMIN_KEY = "cluster-admin-key-000001";

/** A cluster node on `redis` with the admin console on; presence refreshes every ~0.7 s. */
const nodeConfig = (redis: RedisServer, nodeId: string) =>
  testConfig({
    cluster: { enabled: true, nodeId },
    presence: { ttl: 2 },
    redis: { addr: `127.0.0.1:${redis.port}` },
    admin: { keys: [ADMIN_KEY] },
  });

// deno-lint-ignore no-explicit-any
type Json = any;

async function call(
  node: RunningServer,
  method: string,
  path: string,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  return { status: res.status, body: await res.json() };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function login(node: RunningServer, userId: string) {
  const client = await TestClient.connect(node.wsPort);
  const { connId } = await client.login(userId);
  return { client, connId: connId as string };
}

redisTest(
  "admin cluster: overview of every node, cross-node user view, kick and disconnect (4010)",
  async (redis) => {
    const nodes: RunningServer[] = [];
    for (const id of ["a1", "a2", "a3"]) {
      nodes.push(await startServer(nodeConfig(redis, id)));
    }
    const [n1, n2, n3] = nodes;
    const clients: TestClient[] = [];
    try {
      const bob2 = await login(n2, "bob");
      const bob3 = await login(n3, "bob");
      const alice3 = await login(n3, "alice");
      clients.push(bob2.client, bob3.client, alice3.client);

      // Snapshots are published at each refresh (presence.ttl / 3 ≈ 0.7 s here).
      const overview = await until("3 nodes with their connections", async () => {
        const o = (await call(n1, "GET", "/overview")).body.data;
        const by = new Map<string, Json>(o.nodes.map((n: Json) => [n.nodeId, n]));
        return by.get("a2")?.connections === 1 && by.get("a3")?.connections === 2 ? o : undefined;
      });
      assert.equal(overview.mode, "cluster");
      assert.equal(overview.nodes[0].nodeId, "a1");
      assert.equal(overview.nodes[0].self, true);
      assert.deepEqual(overview.nodes.map((n: Json) => n.nodeId).sort(), ["a1", "a2", "a3"]);
      assert.equal(overview.totals.connections, 3);
      assert.equal(overview.redis.ok, true);
      assert.ok(overview.redis.pingMs >= 0);
      const a3 = overview.nodes.find((n: Json) => n.nodeId === "a3");
      assert.equal(a3.store.kind, "redis");
      assert.equal(a3.store.healthy, true);
      assert.ok(a3.ageMs < 5000, `snapshot age ${a3.ageMs}`);
      assert.deepEqual(a3.apps, [{ appId: 101, connections: 2, users: 2 }]);

      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const start = performance.now();
        assert.equal((await call(n1, "GET", "/overview")).status, 200);
        times.push(performance.now() - start);
      }
      times.sort((a, b) => a - b);
      console.log(
        `overview with 3 nodes: p50 ${times[10].toFixed(2)} ms, max ${times[19].toFixed(2)} ms, ` +
          `${JSON.stringify(overview).length} bytes`,
      );

      const user = (await call(n1, "GET", "/users/bob?appId=101")).body.data;
      assert.deepEqual(user.connections.map((c: Json) => [c.nodeId, c.local]).sort(), [["a2", false], [
        "a3",
        false,
      ]]);
      assert.ok(user.connections.every((c: Json) => c.ip === "127.0.0.1"));
      const apps = (await call(n1, "GET", "/apps")).body.data.apps.find((a: Json) => a.appId === 101);
      assert.equal(apps.onlineUsers, 2);
      assert.equal(apps.connections, 3);

      const kicked =
        (await call(n1, "POST", `/connections/${alice3.connId}/kick?appId=101&userId=alice`)).body.data;
      assert.deepEqual([kicked.closed, kicked.nodes], [0, 1]);
      assert.equal((await alice3.client.closed).code, 4010);
      assert.equal(bob3.client.socket.readyState, WebSocket.OPEN, "only the kicked connection");

      const gone = (await call(n1, "POST", "/users/bob/disconnect?appId=101")).body.data;
      assert.deepEqual([gone.closed, gone.nodes], [0, 2]);
      assert.equal((await bob2.client.closed).code, 4010);
      assert.equal((await bob3.client.closed).code, 4010);
      await until("bob offline", async () => {
        const u = (await call(n1, "GET", "/users/bob?appId=101")).body.data;
        return u.online ? undefined : true;
      });

      await n3.shutdown();
      await until("a3 gone from the overview", async () => {
        const o = (await call(n1, "GET", "/overview")).body.data;
        return o.nodes.some((n: Json) => n.nodeId === "a3") ? undefined : true;
      });

      await redis.stop();
      const down = await call(n1, "GET", "/overview");
      assert.equal(down.status, 200);
      assert.equal(down.body.data.redis.ok, false);
      assert.deepEqual(down.body.data.nodes.map((n: Json) => n.nodeId), ["a1"]);
      assert.equal(down.body.data.nodes[0].store.healthy, false);
      await redis.restart(); // the nodes stop cleanly once they are connected again
      await until(
        "redis back",
        async () => (await call(n1, "GET", "/overview")).body.data.redis.ok || undefined,
      );
      await until("a2 reconnected", async () => {
        const res = await fetch(`http://127.0.0.1:${n2.httpPort}/readyz`);
        await res.body?.cancel();
        return res.ok || undefined;
      });
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      for (const n of nodes) await n.shutdown();
    }
  },
);
