/**
 * Redis Cluster failover under traffic (3 masters, 1 replica each, started by the test): the master
 * holding the receiver's inbox is killed while messages flow; its replica takes over, the nodes follow
 * the new topology without a restart, sends during the switch answer 200 or 1024 with `retryMs` — and
 * with `redis.waitReplicas: 1` every acknowledged message reaches the receiver. Without a replica to
 * acknowledge, WAIT turns sends into 1024 instead of acknowledging what a failover could lose.
 * @module
 */
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../../src/server.ts";
import { keySlot } from "../../src/store/redis/slots.ts";
import { type Frame, TestClient, testConfig } from "../support/helpers.ts";
import { type RedisClusterServer, redisClusterTest } from "../support/redis_cluster.ts";

const nodeConfig = (cluster: RedisClusterServer, nodeId: string, waitReplicas = 1, waitTimeout = 1000) =>
  testConfig({
    cluster: { enabled: true, nodeId },
    presence: { ttl: 2 },
    redis: { addr: cluster.seeds, cluster: true, waitReplicas, waitTimeout },
  });

async function login(port: number, userId: string): Promise<TestClient> {
  const c = await TestClient.connect(port);
  await c.login(userId);
  return c;
}

/** The master serving a user's inbox (default key prefix "im:"). */
const inboxMaster = (cluster: RedisClusterServer, userId: string) =>
  cluster.masterOf(keySlot(`im:{101:${userId}}:m`));

/** The port of the replica of master `master`. */
async function replicaOf(cluster: RedisClusterServer, master: number): Promise<number> {
  for (const port of cluster.ports) {
    if (port === master) continue;
    const info = await cluster.command(port, "INFO", "replication");
    if (Number(/master_port:(\d+)/.exec(info)?.[1]) === master) return port;
  }
  throw new Error(`no replica of ${master}`);
}

/**
 * A user's connection that, like a real client, logs in again when the server closes it: a detected
 * rollback rotates the epoch and closes every connection with 1012 so that every client resyncs. Logins
 * after the first resume from the epoch and last seq seen (`inboxReset` then starts the seqs seen over).
 */
class Peer {
  client!: TestClient;
  readonly clients: TestClient[] = [];
  /** Per inbox epoch (a new one at each `inboxReset`): msg → seq received. */
  readonly epochs: Array<Map<string, number>> = [new Map()];
  #next = 0;
  /** The inbox epoch of the last login (a real client keeps it with its last seq). */
  #epoch: string | undefined;

  constructor(readonly port: number, readonly userId: string) {}

  get received(): Map<string, number> {
    return this.epochs[this.epochs.length - 1];
  }

  get closed(): boolean {
    return this.client.socket.readyState >= WebSocket.CLOSING;
  }

  async connect(): Promise<void> {
    this.client = await TestClient.connect(this.port);
    this.clients.push(this.client);
    this.client.socket.addEventListener("message", (e) => {
      const f = JSON.parse(e.data as string) as Frame;
      if (f.cmd === "msg") this.received.set(f.response.data.msg, f.response.data.seq);
      if (f.cmd === "login" && f.response.data?.inboxReset) this.epochs.push(new Map());
    });
    const lastSeq = Math.max(0, ...this.received.values());
    const resume = this.#epoch === undefined ? {} : { lastSeq, epoch: this.#epoch };
    this.#epoch = (await this.client.login(this.userId, 101, resume)).inboxEpoch;
  }

  /** The reply to `cmd`, or "closed" when the connection closed before it came. */
  request(cmd: string, data: unknown, timeoutMs: number): Promise<Frame | "closed"> {
    const socket = this.client.socket;
    const seq = `p${++this.#next}`;
    return new Promise((resolve, reject) => {
      const done = (outcome: Frame | "closed" | Error) => {
        clearTimeout(timer);
        socket.removeEventListener("message", onMessage);
        socket.removeEventListener("close", onClose);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const onMessage = (e: MessageEvent) => {
        const f = JSON.parse(e.data as string) as Frame;
        if (f.seq === seq && f.cmd === cmd) done(f);
      };
      const onClose = () => done("closed");
      const timer = setTimeout(
        () => done(new Error(`no reply to ${cmd} ${JSON.stringify(data)} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      socket.addEventListener("message", onMessage);
      socket.addEventListener("close", onClose);
      if (socket.readyState !== WebSocket.OPEN) done("closed");
      else socket.send(JSON.stringify({ seq, cmd, data }));
    });
  }

  async close(): Promise<void> {
    for (const c of this.clients) await c.close();
  }
}

/**
 * Sender on one node, receiver on another; the master of the receiver's inbox is killed mid-traffic.
 * `loseTail`: its replica stops receiving just before the last acknowledged message, so the failover
 * loses it — asynchronous replication's documented loss, which the nodes must detect (the shard's write
 * counter went back) and answer with an epoch rotation and a resync, never with seqs handed out twice.
 */
async function failover(cluster: RedisClusterServer, waitReplicas: number, loseTail = false): Promise<void> {
  const nodes: RunningServer[] = [];
  const peers: Peer[] = [];
  try {
    for (const id of ["f1", "f2"]) nodes.push(await startServer(nodeConfig(cluster, id, waitReplicas)));
    const sender = new Peer(nodes[0].wsPort, "sender");
    const receiver = new Peer(nodes[1].wsPort, "receiver");
    peers.push(sender, receiver);
    await sender.connect();
    await receiver.connect();
    const acked: string[] = [];
    const failures: Frame["response"][] = [];
    let senderClosed = 0;
    // a send closed before its reply is retried with the same clientMsgId: its first result (or a 1024)
    const send = async (k: number) => {
      for (let attempt = 0; attempt < 5; attempt++) {
        if (sender.closed) await sender.connect();
        const r = await sender.request(
          "sendMsg",
          { to: "receiver", msg: `m${k}`, clientMsgId: `c${k}` },
          15_000,
        );
        if (r === "closed") {
          senderClosed++;
          continue;
        }
        if (r.response.code === 200) acked.push(`m${k}`);
        else failures.push(r.response);
        return r.response.code;
      }
      throw new Error(`m${k}: the sender's connection closed at every attempt`);
    };
    for (let k = 0; k < 19; k++) await send(k);
    const victim = await inboxMaster(cluster, "receiver");
    const replica = await replicaOf(cluster, victim);
    if (loseTail) {
      // stopped, the replica cannot reconnect; killed, its link from the master takes nothing more
      cluster.pause(replica);
      await cluster.command(victim, "CLIENT", "KILL", "TYPE", "replica");
    }
    await send(19);
    assert.equal(acked.length, 20, JSON.stringify(failures));
    await cluster.kill(victim);
    if (loseTail) setTimeout(() => cluster.pause(replica, false), 300);
    const killedAt = Date.now();
    let k = 20, restarted = false;
    // keep sending through the switch until five in a row succeed (bounded). With WAIT the promoted
    // replica has no replica of its own: sends fail until the old master is back (as its replica).
    for (let streak = 0; streak < 5 && Date.now() - killedAt < 40_000; k++) {
      streak = await send(k) === 200 ? streak + 1 : 0;
      if (streak > 0) continue;
      if (
        waitReplicas > 0 && !restarted &&
        (await inboxMaster(cluster, "receiver").catch(() => victim)) !== victim
      ) {
        await cluster.restart(victim);
        restarted = true;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.notEqual(await inboxMaster(cluster, "receiver"), victim, "the replica took over");
    assert(acked.length >= 25, `only ${acked.length} acknowledged: ${JSON.stringify(failures.slice(-2))}`);
    for (const f of failures) {
      assert.equal(f.code, 1024, JSON.stringify(f));
      assert(typeof f.data?.retryMs === "number", JSON.stringify(f));
    }
    // What the receiver holds in the inbox's current epoch, once it has caught up (bounded wait): a
    // rollback detected closes it with 1012 — possibly a little later, at a node's next refresh.
    const expectLost = loseTail ? ["m19"] : [];
    const missing = () => acked.filter((m) => !receiver.received.has(m));
    const caughtUp = () => missing().length <= expectLost.length && (!loseTail || receiver.epochs.length > 1);
    for (let i = 0; i < 200 && !caughtUp(); i++) {
      if (receiver.closed) await receiver.connect();
      await new Promise((r) => setTimeout(r, 50));
    }
    const resets = receiver.epochs.length - 1;
    if (loseTail) {
      // the loss was seen: the epoch rotated, both users were told to resync, and only the write the
      // replica never had is missing from the inbox
      assert(resets >= 1, `the receiver was told to resync (inboxReset; ${receiver.clients.length} logins)`);
      // the sender's node learns of the new epoch at its next refresh at the latest — and a refresh that was
      // waiting on the killed master ends only with the command timeout (COMMAND_TIMEOUT_MS, 5 s): a CI run
      // under load saw the sender still open after the 5 s this loop allowed before
      for (let i = 0; i < 300 && senderClosed === 0 && !sender.closed; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert(senderClosed >= 1 || sender.closed, "the sender was closed to resync too");
      assert.deepEqual(missing(), expectLost, "acknowledged and lost: only what the replica never had");
    } else if (waitReplicas > 0 || resets === 0) {
      // WAIT: nothing acknowledged is lost. Without it a failover may lose the newest writes, never
      // silently: the shard's write counter went back and the receiver was told to resync.
      assert.deepEqual(missing(), [], "acknowledged but never delivered");
    }
    const seqs = [...receiver.received.values()];
    assert.equal(new Set(seqs).size, seqs.length, "no seq delivered for two messages in one epoch");
  } finally {
    for (const p of peers) await p.close();
    for (const n of nodes) await n.shutdown();
  }
}

redisClusterTest(
  "redis cluster failover: a master killed mid-traffic; the nodes follow the replica, 200 or 1024+retryMs",
  (cluster) => failover(cluster, 0),
  { masters: 3, replicas: 1 },
);

redisClusterTest(
  "redis cluster failover with waitReplicas 1: every acknowledged message reaches the receiver",
  (cluster) => failover(cluster, 1),
  { masters: 3, replicas: 1 },
);

redisClusterTest(
  "redis cluster failover to a replica that missed the last write: the loss is detected, every client resyncs",
  (cluster) => failover(cluster, 0, true),
  { masters: 3, replicas: 1 },
);

redisClusterTest(
  "redis cluster: with waitReplicas 1 and the replica gone, sends answer 1024 instead of an unreplicated 200",
  async (cluster) => {
    const nodes: RunningServer[] = [];
    const clients: TestClient[] = [];
    try {
      nodes.push(await startServer(nodeConfig(cluster, "w1", 1, 300)));
      const sender = await login(nodes[0].wsPort, "sender");
      clients.push(sender);
      const send = async (msg: string) =>
        (await sender.request("sendMsg", { to: "receiver", msg }, 10_000)).response;
      assert.equal((await send("replicated")).code, 200);
      // kill the replica of every master the two inboxes live on: no replica can acknowledge
      const masters = new Set([await inboxMaster(cluster, "receiver"), await inboxMaster(cluster, "sender")]);
      const replicas = [];
      for (const port of cluster.ports) {
        if (masters.has(port)) continue;
        const info = await cluster.command(port, "INFO", "replication");
        const masterPort = Number(/master_port:(\d+)/.exec(info)?.[1]);
        if (masters.has(masterPort)) replicas.push(port);
      }
      assert(replicas.length >= 1, "a replica to kill");
      for (const port of replicas) await cluster.kill(port);
      const refused = await send("not replicated");
      assert.equal(refused.code, 1024, JSON.stringify(refused));
      assert(typeof refused.data?.retryMs === "number");
      // the replicas come back: acknowledged sends again
      for (const port of replicas) await cluster.restart(port);
      await cluster.waitHealthy();
      let code = 0;
      for (let i = 0; i < 100 && code !== 200; i++) {
        code = (await send(`again ${i}`)).code;
        if (code !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(code, 200);
    } finally {
      for (const c of clients) await c.close();
      for (const n of nodes) await n.shutdown();
    }
  },
  { masters: 3, replicas: 1 },
);

redisClusterTest(
  "redis cluster: a master restarted in place (no replica) → the nodes replay: every acknowledged message arrives live",
  async (cluster) => {
    const masterOf = (key: string) => cluster.masterOf(keySlot(key));
    // M holds the receiving node's channel and none of epoch, nodes, the two inboxes
    const avoid = new Set([await masterOf("im:epoch"), await masterOf("im:nodes")]);
    let rx = "", m = 0;
    for (let i = 0; rx === ""; i++) {
      const port = await masterOf(`im:node:rx${i}`);
      if (!avoid.has(port)) [rx, m] = [`rx${i}`, port];
    }
    const userOff = async (prefix: string) => {
      for (let i = 0;; i++) if (await masterOf(`im:{101:${prefix}${i}}:m`) !== m) return `${prefix}${i}`;
    };
    const [sender, receiver] = [await userOff("s"), await userOff("r")];
    const nodes: RunningServer[] = [];
    const clients: TestClient[] = [];
    try {
      for (const id of ["tx", rx]) nodes.push(await startServer(nodeConfig(cluster, id, 0)));
      const s = await login(nodes[0].wsPort, sender);
      const r = await login(nodes[1].wsPort, receiver);
      clients.push(s, r);
      const live = new Set<string>();
      r.socket.addEventListener("message", (e) => {
        const f = JSON.parse(e.data as string) as Frame;
        if (f.cmd === "msg") live.add(String(f.response.data.msg));
      });
      assert.equal((await s.request("sendMsg", { to: receiver, msg: "warm" })).response.code, 200);
      for (let i = 0; i < 50 && !live.has("warm"); i++) await new Promise((r) => setTimeout(r, 20));
      await cluster.kill(m);
      const acked: string[] = [];
      for (let k = 0; k < 6; k++) {
        const reply = await s.request("sendMsg", { to: receiver, msg: `m${k}` }, 10_000);
        if (reply.response.code === 200) acked.push(`m${k}`);
      }
      // one shard down affects every node alike: they stay ready (a load balancer taking them all out
      // would turn the shard's outage into everyone's)
      for (const n of nodes) {
        const ready = await fetch(`http://127.0.0.1:${n.httpPort}/readyz`);
        assert.deepEqual(
          [ready.status, await ready.json()],
          [200, { status: "ready" }],
          "with one master down",
        );
      }
      await cluster.restart(m);
      await cluster.waitHealthy();
      // the nodes notice the master is back and replay their connections (bounded wait)
      for (let i = 0; i < 100 && acked.some((x) => !live.has(x)); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert(acked.length > 0, "some sends were acknowledged while the channel's master was down");
      assert.deepEqual(acked.filter((x) => !live.has(x)), [], "acknowledged, in the inbox, never pushed");
    } finally {
      for (const c of clients) await c.close();
      for (const n of nodes) await n.shutdown();
    }
  },
  { masters: 3, replicas: 0, nodeTimeoutMs: 15_000 },
);

redisClusterTest(
  "redis cluster: a node's subscriber connection dropped and back in place → its connections replay",
  async (cluster) => {
    const nodes: RunningServer[] = [];
    const clients: TestClient[] = [];
    try {
      for (const id of ["k1", "k2"]) nodes.push(await startServer(nodeConfig(cluster, id, 0)));
      const s = await login(nodes[0].wsPort, "sender");
      const r = await login(nodes[1].wsPort, "receiver");
      clients.push(s, r);
      const live = new Set<string>();
      r.socket.addEventListener("message", (e) => {
        const f = JSON.parse(e.data as string) as Frame;
        if (f.cmd === "msg") live.add(String(f.response.data.msg));
      });
      assert.equal((await s.request("sendMsg", { to: "receiver", msg: "warm" })).response.code, 200);
      for (let i = 0; i < 50 && !live.has("warm"); i++) await new Promise((r) => setTimeout(r, 20));
      // the master of k2's channel drops its subscriber connections (a network blip): publishes made
      // before the subscriber is back reach nobody, yet the sends are stored and answered 200
      const m = await cluster.masterOf(keySlot("im:node:k2"));
      await cluster.command(m, "CLIENT", "KILL", "TYPE", "pubsub");
      const acked: string[] = [];
      for (let k = 0; k < 5; k++) {
        const reply = await s.request("sendMsg", { to: "receiver", msg: `m${k}` }, 10_000);
        if (reply.response.code === 200) acked.push(`m${k}`);
      }
      for (let i = 0; i < 100 && acked.some((x) => !live.has(x)); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(acked.length, 5);
      assert.deepEqual(acked.filter((x) => !live.has(x)), [], "acknowledged, in the inbox, never pushed");
    } finally {
      for (const c of clients) await c.close();
      for (const n of nodes) await n.shutdown();
    }
  },
);
