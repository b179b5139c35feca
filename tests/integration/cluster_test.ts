/**
 * Cluster mode with 3 nodes (in this process) on a real redis-server and on a real 3-master Redis
 * Cluster: cross-node 1:1 and room delivery, presence across nodes, routing only to interested nodes,
 * seq uniqueness under parallel senders, kicks across nodes; a Redis restart mid-traffic and data loss
 * (one redis-server; failover of a Redis Cluster master: redis_cluster_failover_test.ts).
 * @module
 */
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../../src/server.ts";
import { clusterConfig, type RedisTarget } from "../support/cluster_config.ts";
import { type Frame, TestClient } from "../support/helpers.ts";
import { redisClusterTest } from "../support/redis_cluster.ts";
import { redisTest } from "../support/redis_helper.ts";

/** Register `fn` on one redis-server and on a 3-master Redis Cluster. */
function onBoth(name: string, fn: (redis: RedisTarget) => Promise<void>): void {
  redisTest(name, fn);
  redisClusterTest(`${name} (Redis Cluster, 3 masters)`, fn);
}

async function startNodes(redis: RedisTarget, n: number): Promise<RunningServer[]> {
  const nodes: RunningServer[] = [];
  for (let i = 1; i <= n; i++) nodes.push(await startServer(clusterConfig(redis, `n${i}`)));
  return nodes;
}

async function stopAll(nodes: RunningServer[], clients: TestClient[]): Promise<void> {
  for (const c of clients) await c.close();
  for (const n of nodes) await n.shutdown();
}

async function login(port: number, userId: string): Promise<TestClient> {
  const c = await TestClient.connect(port);
  await c.login(userId);
  return c;
}

const getJson = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).json();
const counter = (node: RunningServer, name: string) =>
  node.metrics.counter(name, "", ["channel"]).get({ channel: "node" });

onBoth("cluster: cross-node 1:1, room delivery and presence across 3 nodes", async (redis) => {
  const nodes = await startNodes(redis, 3);
  const [n1, n2, n3] = nodes;
  const alice = await login(n1.wsPort, "alice");
  const bob = await login(n2.wsPort, "bob");
  const carol = await login(n3.wsPort, "carol");
  try {
    const reply = await alice.request("sendMsg", { to: "bob", msg: "hi bob" });
    assert.equal(reply.response.code, 200);
    const push = await bob.push("msg");
    assert.equal(push.response.data.msg, "hi bob");
    assert.equal(push.response.data.seq, reply.response.data.seq);
    // n3 holds neither alice nor bob: it received nothing on its node channel
    assert.equal(counter(n3, "im_cluster_received_total"), 0);

    for (const c of [alice, bob, carol]) {
      assert.equal((await c.request("joinRoom", { room: "r" })).response.code, 200);
    }
    const members = await carol.request("roomMembers", { room: "r" });
    assert.deepEqual(members.response.data.members.sort(), ["alice", "bob", "carol"]);
    assert.deepEqual(members.response.data.online.sort(), ["alice", "bob", "carol"]);
    assert.equal((await bob.request("roomMsg", { room: "r", msg: "hello room" })).response.code, 200);
    for (const c of [alice, carol]) {
      const p = await c.waitFor((f) => f.cmd === "msg" && f.response.data.target === "r", 5000, "room msg");
      assert.equal(p.response.data.msg, "hello room");
    }

    const users = await alice.request("users");
    assert.deepEqual(users.response.data.userList.sort(), ["alice", "bob", "carol"]);
    const list = await getJson(n2.httpPort, "/user/list?appId=101");
    assert.deepEqual(list.data.userList.sort(), ["alice", "bob", "carol"]);
    assert.equal((await getJson(n1.httpPort, "/user/online?userId=carol&appId=101")).data.online, true);

    await carol.close();
    for (let i = 0; i < 100; i++) {
      if (!(await getJson(n1.httpPort, "/user/online?userId=carol&appId=101")).data.online) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await getJson(n1.httpPort, "/user/online?userId=carol&appId=101")).data.online, false);
    assert.equal(counter(n1, "im_cluster_unneeded_total"), 0);
  } finally {
    await stopAll(nodes, [alice, bob, carol]);
  }
});

onBoth("cluster: parallel senders on 3 nodes to one user get unique, gap-free seqs", async (redis) => {
  const nodes = await startNodes(redis, 3);
  const target = await login(nodes[0].wsPort, "target");
  const senders: TestClient[] = [];
  try {
    for (let i = 0; i < 9; i++) senders.push(await login(nodes[i % 3].wsPort, `s${i}`));
    const perSender = 20;
    const replies = await Promise.all(senders.map(async (s, i) => {
      const seqs: number[] = [];
      for (let k = 0; k < perSender; k++) {
        const r = await s.request("sendMsg", { to: "target", msg: `${i}:${k}` }, 15_000);
        assert.equal(r.response.code, 200);
        seqs.push(r.response.data.seq);
      }
      return seqs;
    }));
    const all = replies.flat().sort((a, b) => a - b);
    const total = senders.length * perSender;
    assert.deepEqual(all, Array.from({ length: total }, (_, i) => i + 1));
    // the target got every message exactly once, in seq order
    const got: number[] = [];
    for (let i = 0; i < total; i++) got.push((await target.push("msg", 10_000)).response.data.seq);
    assert.deepEqual(got, all);
  } finally {
    await stopAll(nodes, [target, ...senders]);
  }
});

redisTest(
  "cluster: Redis restart mid-traffic; sends fail with 1024 or succeed, nothing acknowledged is lost",
  async (redis) => {
    const nodes = await startNodes(redis, 2);
    const sender = await login(nodes[0].wsPort, "sender");
    const receiver = await login(nodes[1].wsPort, "receiver");
    const received = new Map<string, number>();
    const collect = (f: Frame) => {
      if (f.cmd === "msg" && !f.seq.startsWith("t")) received.set(f.response.data.msg, f.response.data.seq);
      return false;
    };
    receiver.socket.addEventListener("message", (e) => collect(JSON.parse(e.data as string)));
    const acked: string[] = [];
    const codes = new Set<number>();
    try {
      const send = async (k: number) => {
        const r = await sender.request(
          "sendMsg",
          { to: "receiver", msg: `m${k}`, clientMsgId: `c${k}` },
          10_000,
        );
        codes.add(r.response.code);
        if (r.response.code === 200) acked.push(`m${k}`);
        else assert.equal(r.response.code, 1024, JSON.stringify(r.response));
      };
      for (let k = 0; k < 20; k++) await send(k);
      const restarting = redis.restart();
      for (let k = 20; k < 60; k++) {
        await send(k);
        await new Promise((r) => setTimeout(r, 10));
      }
      await restarting;
      // after recovery sends succeed again (bounded wait for the reconnect)
      for (let k = 60, ok = 0; k < 200 && ok < 5; k++) {
        const before = acked.length;
        await send(k);
        if (acked.length > before) ok++;
        else await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(codes.has(200));
      assert.ok(acked.includes("m0") && acked.length >= 25, `acked ${acked.length}`);
      // every acknowledged message reaches the receiver (live or via the reconnect replay)
      for (let i = 0; i < 100 && acked.some((m) => !received.has(m)); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(acked.filter((m) => !received.has(m)), []);
      const seqs = [...received.values()];
      assert.equal(new Set(seqs).size, seqs.length, "no seq delivered twice");
    } finally {
      await stopAll(nodes, [sender, receiver]);
    }
  },
  { persistent: true },
);

/** `p`, or null after `ms` (the timer is always cleared). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<null>((r) => timer = setTimeout(() => r(null), ms))]);
  } finally {
    clearTimeout(timer);
  }
}

redisTest(
  "cluster: Redis loses its data → epoch changes, clients are closed with 1012 and resync",
  async (redis) => {
    const nodes = await startNodes(redis, 1);
    let bob = await login(nodes[0].wsPort, "bob");
    const alice = await login(nodes[0].wsPort, "alice");
    try {
      assert.equal((await alice.request("sendMsg", { to: "bob", msg: "before" })).response.code, 200);
      const lastSeq = (await bob.push("msg")).response.data.seq;
      const { epoch } = await nodes[0].store.head(101, "bob");
      await redis.restart(); // not persistent: every key is gone
      assert.equal((await within(bob.closed, 10_000))?.code, 1012);
      await bob.close();
      bob = await TestClient.connect(nodes[0].wsPort);
      const reply = await bob.request("login", { userId: "bob", appId: 101, lastSeq, epoch });
      assert.equal(reply.response.code, 200, JSON.stringify(reply.response));
      assert.notEqual(reply.response.data.inboxEpoch, epoch);
      assert.equal(reply.response.data.inboxReset, true);
    } finally {
      await stopAll(nodes, [alice, bob]);
    }
  },
);

onBoth(
  "cluster: devices of one user on two nodes; multiDevice single kicks across nodes",
  async (redis) => {
    const nodes = await startNodes(redis, 2);
    const phone = await login(nodes[0].wsPort, "alice");
    const laptop = await login(nodes[1].wsPort, "alice");
    const bob = await login(nodes[1].wsPort, "bob");
    const single = [
      await startServer(clusterConfig(redis, "s1", { im: { multiDevice: "single" } })),
      await startServer(clusterConfig(redis, "s2", { im: { multiDevice: "single" } })),
    ];
    const first = await TestClient.connect(single[0].wsPort);
    const second = await TestClient.connect(single[1].wsPort);
    try {
      const reply = await phone.request("sendMsg", { to: "bob", msg: "from phone" });
      assert.equal(reply.response.code, 200);
      assert.equal((await bob.push("msg")).response.data.msg, "from phone");
      // the laptop (other node) gets the sender's copy; the phone got the reply instead
      const copy = await laptop.push("msg");
      assert.equal(copy.response.data.msg, "from phone");
      assert.equal(copy.response.data.seq, reply.response.data.senderSeq);
      assert.equal(copy.response.data.msgId, reply.response.data.msgId);
      assert.deepEqual(await phone.drain("msg", 200), []);

      await first.login("carol", 102);
      await second.login("carol", 102);
      assert.equal((await first.push("kick")).cmd, "kick");
      assert.equal((await first.closed).code, 4000);
    } finally {
      await stopAll(nodes, [phone, laptop, bob]);
      await stopAll(single, [first, second]);
    }
  },
);
