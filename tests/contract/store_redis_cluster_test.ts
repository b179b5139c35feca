/**
 * RedisStore and RedisPresence on a real Redis Cluster (3 masters started by the test): the shared store
 * contracts, batches whose users live on every shard, per-slot write counters, rooms whose keys are in
 * other slots than their members', and presence.
 * @module
 */
import assert from "node:assert/strict";
import { RedisKeys } from "../../src/store/redis/keys.ts";
import { connectLink } from "../../src/store/redis/link.ts";
import { keySlot } from "../../src/store/redis/slots.ts";
import { RedisStore } from "../../src/store/redis/store.ts";
import type { NewEntry, StorePolicy } from "../../src/store/store.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { redisAvailable } from "../support/redis_helper.ts";
import { RedisClusterServer, redisClusterTest } from "../support/redis_cluster.ts";
import { loginStormScenario, presenceScenario } from "./redis_presence_scenario.ts";
import { storeImSuite } from "./store_im_suite.ts";
import { storeSuite, SUITE_POLICY, type SuiteStore } from "./store_suite.ts";

const urlsOf = (cluster: RedisClusterServer) => cluster.seeds.split(",").map((a) => `redis://${a}`);

const freshStore = async (policy: StorePolicy): Promise<SuiteStore> => {
  if (!redisAvailable) throw new Error("redis-server not installed and IM_REQUIRE_REDIS=1");
  const cluster = await RedisClusterServer.start();
  const clock = new FakeClock(1_700_000_000_000);
  try {
    const store = await RedisStore.open({ urls: urlsOf(cluster), cluster: true }, {
      keys: new RedisKeys("im:"),
      policy,
      clock,
    });
    return {
      store,
      clock,
      cleanup: async () => {
        await store.close();
        await cluster.dispose();
      },
    };
  } catch (error) {
    await cluster.dispose();
    throw error;
  }
};
const suiteOptions = {
  ignore: !redisAvailable && Deno.env.get("IM_REQUIRE_REDIS") !== "1" ? "redis-server not installed" : false,
};
storeSuite("redis cluster store", freshStore, suiteOptions);
storeImSuite("redis cluster store", freshStore, suiteOptions);

const entry = (id: string, to: string): NewEntry => ({
  msgId: id,
  from: "alice",
  to,
  target: "",
  type: "text",
  msg: id,
  time: Date.now(),
});

redisClusterTest("redis cluster store: one batch over every shard keeps per-inbox order", async (cluster) => {
  const store = await RedisStore.open({ urls: urlsOf(cluster), cluster: true }, {
    keys: new RedisKeys("b:"),
    policy: SUITE_POLICY,
  });
  try {
    const users = Array.from({ length: 60 }, (_, i) => `u${i}`);
    const masters = new Set(await Promise.all(users.map((u) => cluster.masterOf(keySlot(`b:{101:${u}}:m`)))));
    assert.equal(masters.size, 3, "the users' inboxes are on all three masters");
    // issued together: they leave as one batch, split into one script call per slot
    const rounds = await Promise.all(
      [1, 2, 3].map((r) => store.appendMany(101, users, entry(`m${r}`, "room"))),
    );
    for (const seqs of rounds) assert.equal(seqs.length, users.length);
    for (const u of users) {
      const got = await store.range(101, u, 0, 10);
      assert.deepEqual(got.map((e) => e.seq), [1, 2, 3], u);
      assert.deepEqual(got.map((e) => e.msgId), ["m1", "m2", "m3"], u);
    }
    // idempotent appends repeat on every shard
    const again = await store.appendOnce(101, users, entry("m1x", "room"));
    const twice = await store.appendOnce(101, users, entry("m1x", "room"));
    assert.deepEqual(twice.map((a) => a.seq), again.map((a) => a.seq));
    assert(twice.every((a) => a.repeated));
  } finally {
    await store.close();
  }
});

redisClusterTest(
  "redis cluster store: a slot's write counter that goes back is a rollback",
  async (cluster) => {
    const keys = new RedisKeys("w:");
    const store = await RedisStore.open({ urls: urlsOf(cluster), cluster: true }, {
      keys,
      policy: SUITE_POLICY,
    });
    const rollbacks: string[] = [];
    store.listen({ rollback: (why) => rollbacks.push(why), epochChanged: () => {} });
    try {
      for (let i = 0; i < 4; i++) await store.append(101, "bob", entry(`b${i}`, "bob"));
      for (let i = 0; i < 2; i++) await store.append(101, "carol", entry(`c${i}`, "carol"));
      await store.checkWrites();
      assert.deepEqual(rollbacks, []);
      // bob's shard loses its last writes (as a failover to a lagging replica would): only its slot says so
      const slot = keySlot(keys.marks(101, "bob"));
      const port = await cluster.masterOf(slot);
      const counters = (await cluster.command(port, "--scan", "--pattern", "w:{*}:wc")).split("\n");
      const bobs = counters.find((k) => keySlot(k) === slot);
      assert(bobs, `a counter key in slot ${slot}: ${counters}`);
      await cluster.command(port, "SET", bobs, "1");
      await store.checkWrites();
      assert.equal(rollbacks.length, 1);
      assert.match(rollbacks[0], new RegExp(`slot ${slot} went back from 4 to 1`));
    } finally {
      await store.close();
    }
  },
);

redisClusterTest(
  "redis cluster store: concurrent message saves on every shard, one call per slot",
  async (cluster) => {
    const store = await RedisStore.open({ urls: urlsOf(cluster), cluster: true }, {
      keys: new RedisKeys("sv:"),
      policy: SUITE_POLICY,
    });
    try {
      const ids = Array.from({ length: 60 }, (_, i) => `k${i}`);
      const masters = new Set(
        await Promise.all(ids.map((id) => cluster.masterOf(keySlot(`sv:{101:${id}}:msg`)))),
      );
      assert.equal(masters.size, 3, "the kept messages are on all three masters");
      // issued together: one batch, split by slot (one call naming keys of two slots would be refused)
      await Promise.all(ids.map((id) => store.saveMessage(101, { ...entry(id, ""), msg: `text ${id}` })));
      const found = await store.messages(101, ids);
      assert.deepEqual(ids.filter((id) => found.get(id)?.msg !== `text ${id}`), []);
    } finally {
      await store.close();
    }
  },
);

redisClusterTest(
  "redis cluster store: concurrent inbox reads on every shard, one call per slot",
  async (cluster) => {
    const store = await RedisStore.open({ urls: urlsOf(cluster), cluster: true }, {
      keys: new RedisKeys("lr:"),
      policy: SUITE_POLICY,
    });
    try {
      const users = Array.from({ length: 60 }, (_, i) => `u${i}`);
      const masters = new Set(
        await Promise.all(users.map((u) => cluster.masterOf(keySlot(`lr:{101:${u}}:m`)))),
      );
      assert.equal(masters.size, 3, "the users' inboxes are on all three masters");
      await Promise.all(users.map((u) => store.append(101, u, entry(`m-${u}`, u))));
      const [heads, ranges, unread] = await Promise.all([
        Promise.all(users.map((u) => store.head(101, u))),
        Promise.all(users.map((u) => store.range(101, u, 0, 10))),
        Promise.all(users.map((u) => store.unreadTotal(101, u))),
      ]);
      assert.deepEqual(heads.map((h) => h.lastSeq), users.map(() => 1));
      assert.deepEqual(ranges.map((r) => r.map((e) => e.msgId)), users.map((u) => [`m-${u}`]));
      assert.deepEqual(unread, users.map(() => 1));
    } finally {
      await store.close();
    }
  },
);

redisClusterTest("redis cluster store: rooms and their members on different shards", async (cluster) => {
  const keys = new RedisKeys("r:");
  const store = await RedisStore.open({ urls: urlsOf(cluster), cluster: true }, {
    keys,
    policy: { ...SUITE_POLICY, maxRoomsPerUser: 2, maxRoomMembers: 3 },
  });
  try {
    assert.notEqual(keySlot(keys.room(101, "lobby")), keySlot(keys.userRooms(101, "ann")));
    assert.equal(await store.joinRoom(101, "lobby", "ann"), "joined");
    assert.equal(await store.joinRoom(101, "lobby", "ann"), "already");
    assert.equal(await store.joinRoom(101, "games", "ann"), "joined");
    // the user's list refuses: the room's member set is put back as it was
    assert.equal(await store.joinRoom(101, "music", "ann"), "tooManyRooms");
    assert.deepEqual(await store.roomMembers(101, "music"), []);
    for (const u of ["bo", "cy"]) assert.equal(await store.joinRoom(101, "lobby", u), "joined");
    assert.equal(await store.joinRoom(101, "lobby", "di"), "roomFull");
    assert.deepEqual(await store.userRooms(101, "di"), []);
    assert.deepEqual((await store.userRooms(101, "ann")).sort(), ["games", "lobby"]);
    assert.equal(await store.leaveRoom(101, "lobby", "ann"), true);
    assert.equal(await store.leaveRoom(101, "lobby", "ann"), false);
    assert.deepEqual(await store.userRooms(101, "ann"), ["games"]);
    assert.deepEqual((await store.roomMembers(101, "lobby")).sort(), ["bo", "cy"]);
    // a half-done join (listed, not a member): leaving cleans the list anyway
    const list = keys.userRooms(101, "eve");
    await cluster.command(await cluster.masterOf(keySlot(list)), "SADD", list, "ghost");
    assert.equal(await store.leaveRoom(101, "ghost", "eve"), false);
    assert.deepEqual(await store.userRooms(101, "eve"), []);
    // a member whose list lost the room (and is full): the re-join lists it again, membership is the truth
    const annList = keys.userRooms(101, "ann");
    assert.equal(await store.joinRoom(101, "lobby", "ann"), "joined");
    await cluster.command(await cluster.masterOf(keySlot(annList)), "SREM", annList, "lobby");
    assert.equal(await store.joinRoom(101, "chess", "ann"), "joined");
    assert.equal(await store.joinRoom(101, "lobby", "ann"), "already");
    assert.deepEqual((await store.userRooms(101, "ann")).sort(), ["chess", "games", "lobby"]);
  } finally {
    await store.close();
  }
});

redisClusterTest(
  "redis cluster presence: windows, first connection, expiry and node reaping",
  async (cluster) => {
    const link = await connectLink({ urls: urlsOf(cluster), cluster: true });
    try {
      await presenceScenario(link);
    } finally {
      await link.close();
    }
  },
);

redisClusterTest("redis cluster: one sharded publish reaches its subscriber only", async (cluster) => {
  const link = await connectLink({ urls: urlsOf(cluster), cluster: true });
  try {
    const got: string[] = [];
    await link.subscribe("im:node:n1", (m) => got.push(m));
    assert.equal(await link.publish("im:node:n1", "hello"), 1);
    assert.equal(await link.publish("im:node:n2", "nobody"), 0);
    for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got, ["hello"]);
    await link.unsubscribe("im:node:n1");
  } finally {
    await link.close();
  }
});

redisClusterTest("redis cluster presence: a login storm, one first connection per user", async (cluster) => {
  const link = await connectLink({ urls: urlsOf(cluster), cluster: true });
  // on a cluster the batch splits by slot: count the calls over every master
  const evalCalls = async () => {
    let total = 0;
    for (const port of await cluster.masters()) {
      const info = await cluster.command(port, "INFO", "commandstats");
      for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) total += Number(m[1]);
    }
    return total;
  };
  try {
    // the first storm fills every master's script cache (EVALSHA misses, EVAL); the second is measured:
    // a batch splits by slot, one call per user slot of the batch (both connections of a user share it)
    await loginStormScenario(link, evalCalls, 200, "warm:");
    await loginStormScenario(link, evalCalls, 60);
  } finally {
    await link.close();
  }
});

redisClusterTest(
  "redis cluster link: onReady after a master's connections drop and come back in place",
  async (cluster) => {
    const link = await connectLink({ urls: urlsOf(cluster), cluster: true });
    try {
      let ready = 0;
      link.onReady(() => ready++);
      const channel = "im:node:x1";
      const got: string[] = [];
      await link.subscribe(channel, (m) => got.push(m));
      // a first channel on another master makes a new sharded client: not a reason to recover
      const home = await cluster.masterOf(keySlot(channel));
      let other = "";
      for (let i = 0; other === ""; i++) {
        if (await cluster.masterOf(keySlot(`im:app:${i}`)) !== home) other = `im:app:${i}`;
      }
      await link.subscribe(other, () => {});
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(ready, 0, "a new subscription is not a recovery");
      // a network blip on the channel's master: node-redis reconnects the same clients
      await cluster.command(home, "CLIENT", "KILL", "TYPE", "normal");
      await cluster.command(home, "CLIENT", "KILL", "TYPE", "pubsub");
      for (let i = 0; i < 100 && (ready === 0 || !link.isReady); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert(ready >= 1, "the reconnect in place was reported (before: never)");
      // the subscriber reconnects and subscribes again on its own schedule (bounded wait)
      let receivers = 0;
      for (let i = 0; i < 100 && receivers === 0; i++) {
        receivers = await link.publish(channel, "hello");
        if (receivers === 0) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(receivers, 1, "the subscription is back");
      for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got, ["hello"]);
    } finally {
      await link.close();
    }
  },
);

redisClusterTest(
  "redis cluster store: a batch's slots succeed or fail on their own (WAIT short on one shard only)",
  async (cluster) => {
    const masters = await cluster.masters();
    const weak = masters[0];
    // the weak master loses its replica: WAIT 1 cannot be met there
    for (const port of cluster.ports) {
      if (masters.includes(port)) continue;
      if ((await cluster.command(port, "ROLE")).split("\n")[2] === String(weak)) await cluster.kill(port);
    }
    const keys = new RedisKeys("im:");
    let onWeak = "", onHealthy = "";
    for (let i = 0; onWeak === "" || onHealthy === ""; i++) {
      const port = await cluster.masterOf(keySlot(keys.marks(101, `u${i}`)));
      if (port === weak && onWeak === "") onWeak = `u${i}`;
      if (port !== weak && onHealthy === "") onHealthy = `u${i}`;
    }
    const store = await RedisStore.open({ urls: urlsOf(cluster), cluster: true }, {
      keys,
      policy: SUITE_POLICY,
      waitReplicas: 1,
      waitTimeoutMs: 300,
    });
    try {
      // issued together: one batch, two slots
      const [weakOne, healthyOne] = await Promise.allSettled([
        store.append(101, onWeak, entry("w1", onWeak)),
        store.append(101, onHealthy, entry("h1", onHealthy)),
      ]);
      assert.equal(weakOne.status, "rejected", "no replica acknowledged: 1024");
      assert.equal(healthyOne.status, "fulfilled", "the healthy shard's append is not failed with it");
      assert.equal((await store.head(101, onHealthy)).lastSeq, 1);
    } finally {
      await store.close();
    }
  },
  { masters: 3, replicas: 1 },
);

redisClusterTest(
  "redis cluster store: one rollback seen by two nodes rotates the epoch once",
  async (cluster) => {
    const keys = new RedisKeys("im:");
    const open = async () => {
      const store = await RedisStore.open({ urls: urlsOf(cluster), cluster: true }, {
        keys,
        policy: SUITE_POLICY,
      });
      const rotations: string[] = [];
      // what ClusterNode does with the events
      store.listen({
        rollback: () => void store.rotateEpoch().then((e) => rotations.push(e)),
        epochChanged: () => {},
      });
      return { store, rotations };
    };
    const [a, b] = [await open(), await open()];
    try {
      for (let i = 0; i < 5; i++) {
        await a.store.append(101, "bob", entry(`a${i}`, "bob"));
        await b.store.append(101, "bob", entry(`b${i}`, "bob"));
      }
      // bob's shard lost its last writes (a failover to a lagging replica): its slot counter went back
      const slot = keySlot(keys.marks(101, "bob"));
      const port = await cluster.masterOf(slot);
      const counter = (await cluster.command(port, "--scan", "--pattern", "im:{*}:wc")).split("\n")
        .find((k) => keySlot(k) === slot)!;
      await cluster.command(port, "SET", counter, "3");
      await a.store.append(101, "bob", entry("a-late", "bob")); // a notices and rotates
      for (let i = 0; i < 50 && a.rotations.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      // b's refresh: epoch and counters (ClusterNode runs both at once), then its next send there
      await Promise.all([b.store.loadEpoch(), b.store.checkWrites()]);
      await b.store.append(101, "bob", entry("b-late", "bob"));
      await b.store.checkWrites();
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(a.rotations.length, 1);
      // b may still report the loss when its counter reply comes before its epoch reply: its
      // compare-and-set rotation then only adopts a's epoch. A second, different epoch must not appear.
      assert.deepEqual(
        [...new Set([...a.rotations, ...b.rotations])],
        [a.store.epoch],
        "one rotation in all",
      );
      assert.equal(b.store.epoch, a.store.epoch);
    } finally {
      await a.store.close();
      await b.store.close();
    }
  },
);
