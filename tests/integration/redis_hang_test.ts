/**
 * A Redis that hangs (SIGSTOP: connections stay open, nothing is answered — a stall or a partition) must
 * not hang the server: a command fails after `redis.commandTimeout`, a send answers 1024 with retryMs, a
 * link closes anyway; once Redis answers again, the retried send is stored and delivered once.
 * @module
 */
import assert from "node:assert/strict";
import { StorageError } from "../../src/protocol/errors.ts";
import { startServer } from "../../src/server.ts";
import { RedisKeys } from "../../src/store/redis/keys.ts";
import { RedisStore } from "../../src/store/redis/store.ts";
import { clusterConfig } from "../support/cluster_config.ts";
import { type Frame, TestClient } from "../support/helpers.ts";
import { redisClusterTest } from "../support/redis_cluster.ts";
import { redisTest } from "../support/redis_helper.ts";
import { keySlot } from "../../src/store/redis/slots.ts";
import { SUITE_POLICY } from "../contract/store_suite.ts";

/** `p`'s outcome and how long it took, or "hung" after `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; ms: number }> {
  const t0 = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error("hung")), ms));
  try {
    return { value: await Promise.race([p, hung]), ms: Date.now() - t0 };
  } catch (error) {
    if ((error as Error).message === "hung") throw new Error(`still waiting after ${ms} ms`);
    return { error, ms: Date.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

redisTest(
  "redis store: a hung Redis fails commands after commandTimeout and closes anyway",
  async (redis) => {
    const store = await RedisStore.open(
      { urls: [redis.url], cluster: false, commandTimeoutMs: 400 },
      { keys: new RedisKeys("hang:"), policy: SUITE_POLICY },
    );
    const message = (msgId: string) => ({
      msgId,
      from: "alice",
      to: "bob",
      target: "",
      type: "text",
      msg: "x",
      time: 1,
    });
    let closed = false;
    try {
      assert.equal((await store.append(101, "bob", message("m1"))).seq, 1);
      redis.pause();
      const append = await within(store.append(101, "bob", message("m2")), 5000);
      assert.ok(
        append.error instanceof StorageError,
        `expected a StorageError, got ${append.error ?? "a reply"}`,
      );
      assert.ok(append.ms >= 350 && append.ms < 2000, `failed after ${append.ms} ms (timeout 400)`);
      const close = await within(store.close(), 5000);
      closed = true;
      assert.ok(close.ms < 2000, `close took ${close.ms} ms`);
    } finally {
      redis.resume();
      if (!closed) await store.close();
    }
  },
);

redisTest(
  "redis store: a busy Redis that keeps answering is slow, not hung — nothing times out",
  async (redis) => {
    const store = await RedisStore.open(
      { urls: [redis.url], cluster: false, commandTimeoutMs: 300 },
      { keys: new RedisKeys("busy:"), policy: SUITE_POLICY },
    );
    // 40 scripts of ~25 ms each, sent at once: the last answer comes ~1 s later, 3 × the timeout, while
    // Redis answers one every 25 ms (each carries 20 KB, more than Redis reads per turn, so it answers each
    // before reading the next — as the many batched calls of a storm do)
    const busy = "local t = redis.call('TIME') repeat local n = redis.call('TIME') " +
      "until (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 25000 return 1";
    try {
      const t0 = Date.now();
      const replies = await Promise.all(
        Array.from({ length: 40 }, () => store.link.send(undefined, ["EVAL", busy, "0", "x".repeat(20_000)])),
      );
      assert.deepEqual(replies, Array(40).fill(1));
      assert.ok(Date.now() - t0 > 600, "the scripts took longer than the timeout in all");
    } finally {
      await store.close();
    }
  },
);

redisClusterTest(
  "redis store on a Redis Cluster: a hung master fails and delays its slots' commands only, and the link closes",
  async (cluster) => {
    const keys = new RedisKeys("hangc:");
    const store = await RedisStore.open(
      { urls: cluster.seeds.split(",").map((a) => `redis://${a}`), cluster: true, commandTimeoutMs: 1000 },
      { keys, policy: SUITE_POLICY },
    );
    const message = (msgId: string) => ({
      msgId,
      from: "a",
      to: "b",
      target: "",
      type: "text",
      msg: "x",
      time: 1,
    });
    // two users whose inboxes live on different masters
    const users = Array.from({ length: 50 }, (_, i) => `u${i}`);
    const masterOf = (u: string) => cluster.masterOf(keySlot(keys.inbox(101, u)));
    const hung = users[0];
    const hungMaster = await masterOf(hung);
    let other = "";
    for (const u of users) if (await masterOf(u) !== hungMaster) other ||= u;
    let closed = false;
    try {
      await store.append(101, hung, message("m1"));
      cluster.pause(hungMaster);
      const [stuck, fine] = await Promise.all([
        within(store.append(101, hung, message("m2")), 5000),
        within(store.append(101, other, message("m3")), 5000),
      ]);
      assert.ok(
        stuck.error instanceof StorageError,
        `expected a StorageError, got ${stuck.error ?? "a reply"}`,
      );
      assert.ok(stuck.ms < 2500, `failed after ${stuck.ms} ms (timeout 1000)`);
      assert.equal(fine.error, undefined, `the other master's append failed: ${fine.error}`);
      // and did not wait for the hung one (a batch shared by all slots would have held it until the timeout)
      assert.ok(fine.ms < 500, `the other master's append took ${fine.ms} ms`);
      const close = await within(store.close(), 5000);
      closed = true;
      assert.ok(close.ms < 2500, `close took ${close.ms} ms`);
    } finally {
      cluster.pause(hungMaster, false);
      if (!closed) await store.close();
    }
  },
);

redisTest(
  "cluster: a send while Redis hangs answers 1024 with retryMs; the retry is delivered once",
  async (redis) => {
    const config = (id: string) => clusterConfig(redis, id, { redis: { commandTimeout: 500 } });
    const n1 = await startServer(config("h1"));
    const n2 = await startServer(config("h2"));
    const sender = await TestClient.connect(n1.wsPort);
    const receiver = await TestClient.connect(n2.wsPort);
    const got: string[] = [];
    receiver.socket.addEventListener("message", (e) => {
      const f: Frame = JSON.parse(e.data as string);
      if (f.cmd === "msg" && !f.seq.startsWith("t")) got.push(f.response.data.msg);
    });
    try {
      await sender.login("sender");
      await receiver.login("receiver");
      const send = () =>
        sender.request("sendMsg", { to: "receiver", msg: "during", clientMsgId: "c1" }, 10_000);
      redis.pause();
      const t0 = Date.now();
      const refused = await send();
      const ms = Date.now() - t0;
      assert.equal(refused.response.code, 1024, JSON.stringify(refused.response));
      assert.ok(Number(refused.response.data?.retryMs) > 0, JSON.stringify(refused.response));
      assert.ok(ms < 5000, `answered after ${ms} ms (timeout 500 per command)`);
      redis.resume();
      // the refused send may have run once Redis woke up: the retry with the same clientMsgId is acknowledged
      // and the receiver holds the message exactly once (live, or from the replay the nodes run on ready)
      let reply: Frame | undefined;
      for (let i = 0; i < 50 && reply?.response.code !== 200; i++) {
        reply = await send();
        if (reply.response.code !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(reply?.response.code, 200, JSON.stringify(reply?.response));
      const deadline = Date.now() + 5000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(got, ["during"]);
    } finally {
      redis.resume();
      await sender.close();
      await receiver.close();
      await n1.shutdown();
      await n2.shutdown();
    }
  },
);

/** Commands redis-server has processed so far (INFO stats, through redis-cli), with the INFO itself. */
async function commandsProcessed(redis: { port: number }): Promise<number> {
  const out = await new Deno.Command("redis-cli", { args: ["-p", String(redis.port), "INFO", "stats"] })
    .output();
  const count = /total_commands_processed:(\d+)/.exec(new TextDecoder().decode(out.stdout))?.[1];
  assert.ok(count !== undefined, "INFO stats has total_commands_processed");
  return Number(count);
}

redisTest(
  "cluster: while Redis hangs, the node's ticks do not pile presence refreshes up behind it",
  async (redis) => {
    // a tick every 200 ms; Redis stopped for 3 s = 15 ticks, each a refresh of the node's registry, every
    // local connection's presence, its stats and the rollback checks
    const node = await startServer(clusterConfig(redis, "t1", { presence: { ttl: 0.6 } }));
    const client = await TestClient.connect(node.wsPort);
    try {
      await client.login("ticker");
      // what one tick costs here: the commands of a second of normal ticks (5), per tick
      await new Promise((r) => setTimeout(r, 300));
      const start = await commandsProcessed(redis);
      await new Promise((r) => setTimeout(r, 1000));
      const before = await commandsProcessed(redis);
      const perTick = Math.max(1, (before - start) / 5);
      redis.pause();
      await new Promise((r) => setTimeout(r, 3000));
      redis.resume();
      // what was queued while Redis slept is answered at once; less than a tick later, count it
      await new Promise((r) => setTimeout(r, 120));
      const during = await commandsProcessed(redis) - before;
      // the refresh in flight and at most one tick after the resume; 15 queued ticks would be ~15 × perTick
      assert.ok(
        during <= 4 * perTick,
        `${during} commands queued behind a hung Redis in 3 s (${
          perTick.toFixed(1)
        } per tick when it answers)`,
      );
      // and the refreshes go on once Redis answers: the user is still online
      await new Promise((r) => setTimeout(r, 700));
      const online = await fetch(`http://127.0.0.1:${node.httpPort}/user/online?userId=ticker&appId=101`);
      const body = await online.json();
      assert.equal(body.data?.online, true, JSON.stringify(body));
    } finally {
      redis.resume();
      await client.close();
      await node.shutdown();
    }
  },
);

/** `im_cluster_reaped_users_total` of a node (0 when nothing was reaped yet). */
async function reapedUsers(node: { httpPort: number }): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text();
  return Number(/^im_cluster_reaped_users_total(?:\{\})? (\d+)/m.exec(text)?.[1] ?? 0);
}

redisTest(
  "cluster: a Redis outage longer than the presence TTL reaps no live node — their users stay online",
  async (redis) => {
    // presence ttl 0.6 s: every registration has expired after the 1.5 s outage. The first node whose
    // heartbeat lands after it must not take the others for dead: they have had no chance to renew.
    const config = (id: string) => clusterConfig(redis, id, { presence: { ttl: 0.6 } });
    const [n1, n2] = [await startServer(config("r1")), await startServer(config("r2"))];
    const [a, b] = [await TestClient.connect(n1.wsPort), await TestClient.connect(n2.wsPort)];
    try {
      await a.login("alice");
      await b.login("bob");
      redis.pause();
      await new Promise((r) => setTimeout(r, 1500));
      redis.resume();
      // a few ticks of both nodes after the outage
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(
        [await reapedUsers(n1), await reapedUsers(n2)],
        [0, 0],
        "users made offline by a reap",
      );
    } finally {
      redis.resume();
      await a.close();
      await b.close();
      await n1.shutdown();
      await n2.shutdown();
    }
  },
);
