/**
 * Moving a slot between Redis Cluster masters under traffic (what `redis-cli --cluster reshard` does,
 * one slot by hand: IMPORTING / MIGRATING, MIGRATE of its keys 10 at a time, SETSLOT NODE): the slot
 * holding the receiver's inbox moves while messages flow; every acknowledged message reaches the
 * receiver, no seq twice, sends succeed on the new master afterwards, and the moment a call's keys are
 * split between the two masters (TRYAGAIN) is absorbed by retries instead of answering 1024.
 * @module
 */
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../../src/server.ts";
import { keySlot } from "../../src/store/redis/slots.ts";
import { type Frame, TestClient, testConfig } from "../support/helpers.ts";
import { type RedisClusterServer, redisClusterTest } from "../support/redis_cluster.ts";

const myId = async (cluster: RedisClusterServer, port: number) =>
  (await cluster.command(port, "CLUSTER", "MYID")).trim();

/** Move `slot` from its master to `to`, 10 keys per MIGRATE (redis-cli's default pipeline). */
async function moveSlot(cluster: RedisClusterServer, slot: number, to: number) {
  const from = await cluster.masterOf(slot);
  const [fromId, toId] = [await myId(cluster, from), await myId(cluster, to)];
  await cluster.command(to, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", fromId);
  await cluster.command(from, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", toId);
  for (let round = 0; round < 1000; round++) {
    const keys = (await cluster.command(from, "CLUSTER", "GETKEYSINSLOT", String(slot), "10"))
      .split("\n").map((k) => k.trim()).filter((k) => k !== "");
    if (keys.length === 0) break;
    await cluster.command(from, "MIGRATE", "127.0.0.1", String(to), "", "0", "5000", "KEYS", ...keys);
  }
  for (const port of await cluster.masters()) {
    await cluster.command(port, "CLUSTER", "SETSLOT", String(slot), "NODE", toId);
  }
}

redisClusterTest(
  "redis cluster: a slot moves to another master mid-traffic; 200 or 1024+retryMs, nothing acknowledged is lost",
  async (cluster) => {
    const nodes: RunningServer[] = [];
    const clients: TestClient[] = [];
    try {
      for (const nodeId of ["m1", "m2"]) {
        nodes.push(
          await startServer(testConfig({
            cluster: { enabled: true, nodeId },
            presence: { ttl: 2 },
            redis: { addr: cluster.seeds, cluster: true },
          })),
        );
      }
      const sender = await TestClient.connect(nodes[0].wsPort);
      await sender.login("sender");
      const receiver = await TestClient.connect(nodes[1].wsPort);
      await receiver.login("receiver");
      clients.push(sender, receiver);
      const received = new Map<string, number>();
      receiver.socket.addEventListener("message", (e) => {
        const f = JSON.parse(e.data as string) as Frame;
        if (f.cmd === "msg") received.set(f.response.data.msg, f.response.data.seq);
      });
      const acked: string[] = [];
      const failures: Frame["response"][] = [];
      let k = 0;
      const send = async () => {
        const n = k++;
        const r = await sender.request(
          "sendMsg",
          { to: "receiver", msg: `m${n}`, clientMsgId: `c${n}` },
          10_000,
        );
        if (r.response.code === 200) acked.push(`m${n}`);
        else failures.push(r.response);
      };
      for (let i = 0; i < 30; i++) await send(); // the inbox has keys worth moving
      const slot = keySlot("im:{101:receiver}:m");
      const from = await cluster.masterOf(slot);
      const to = (await cluster.masters()).find((p) => p !== from)!;
      // sends keep flowing (one after another) while the slot moves
      let moving = true;
      const traffic = (async () => {
        while (moving) await send();
      })();
      await new Promise((r) => setTimeout(r, 100));
      await moveSlot(cluster, slot, to);
      await new Promise((r) => setTimeout(r, 100));
      moving = false;
      await traffic;
      assert.equal(await cluster.masterOf(slot), to);
      // afterwards: five sends in a row succeed on the new master (bounded)
      for (let streak = 0, i = 0; streak < 5 && i < 100; i++) {
        const before = acked.length;
        await send();
        streak = acked.length > before ? streak + 1 : 0;
        if (streak === 0) await new Promise((r) => setTimeout(r, 50));
      }
      for (const f of failures) {
        assert.equal(f.code, 1024, JSON.stringify(f));
        assert(typeof f.data?.retryMs === "number", JSON.stringify(f));
      }
      for (let i = 0; i < 100 && acked.some((m) => !received.has(m)); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(acked.filter((m) => !received.has(m)), [], "acknowledged but never delivered");
      const seqs = [...received.values()];
      assert.equal(new Set(seqs).size, seqs.length, "no seq delivered for two messages");
      // TRYAGAIN (keys of one call split between the masters for a moment) is retried by the link:
      // without that about a third of these sends answered 1024; with it none (a margin of 2)
      assert(failures.length <= 2, `${failures.length} of ${k} sends answered 1024 while the slot moved`);
      console.log(`reshard: ${k} sends, ${acked.length} acknowledged, ${failures.length} answered 1024`);
    } finally {
      for (const c of clients) await c.close();
      for (const n of nodes) await n.shutdown();
    }
  },
);
