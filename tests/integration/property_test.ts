/**
 * Property test: random interleavings of 1:1 sends, room sends, HTTP sends, disconnects and
 * reconnects (with lastSeq = the highest seq the device saw) across 20 users, some with two
 * devices. At the end every device's raw received sequence — all its connections, concatenated,
 * not de-duplicated — must equal its user's inbox exactly: no loss, no duplicate, in order.
 * Runs embedded (one node) and as a 2-node Redis cluster where every reconnect picks a random node.
 *
 * Seeded: set IM_TEST_SEED to repeat a run; the seed is printed on failure.
 * @module
 */
import assert from "node:assert/strict";
import { type Frame, TestClient, withClusterNodes, withServer } from "../support/helpers.ts";
import { redisClusterTest } from "../support/redis_cluster.ts";
import { redisTest } from "../support/redis_helper.ts";
import { prng, seeded, slowStore } from "../support/seeded.ts";

const USERS = 20;
const STEPS = 300;
const ROOMS = ["r0", "r1", "r2"];
const FAST = { messagesPerSecond: 100_000, messageBurst: 100_000 };
/** Small replay pages: resumes cross page boundaries often. */
const INBOX = { syncPageSize: 4 };

/** One device of a user: a sequence of connections that each resume where the last stopped. */
interface Device {
  user: string;
  name: string;
  rooms: string[];
  conn?: TestClient;
  frames: Frame[];
  /** Pending requests of the current connection (awaited before it closes). */
  inflight: Promise<unknown>[];
  /** Every msg push received, all connections, in order: [seq, msgId]. */
  received: Array<[number, string]>;
  /**
   * This device's own sends: the sending connection gets the reply (`senderSeq`/`seq`)
   * instead of a push for its inbox copy, so those seqs count as received by it.
   */
  own: Array<[number, string]>;
}

const lastSeq = (d: Device) => Math.max(0, ...d.received.map(([s]) => s), ...d.own.map(([s]) => s));

async function connect(port: number, d: Device) {
  const c = await TestClient.connect(port);
  const frames: Frame[] = [];
  c.socket.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string)));
  d.frames = frames;
  d.conn = c;
  await c.login(d.user, 101, { lastSeq: lastSeq(d) });
}

async function disconnect(d: Device) {
  await Promise.allSettled(d.inflight);
  d.inflight = [];
  await d.conn!.close();
  d.conn = undefined;
  for (const f of d.frames) {
    if (f.cmd === "msg") d.received.push([f.response.data.seq, f.response.data.msgId]);
  }
  d.frames = [];
}

async function inbox(http: number, userId: string) {
  const entries: Array<[number, string]> = [];
  let head = 0;
  for (let since = 0, page = 0; page < 100; page++) {
    const url = `http://127.0.0.1:${http}/api/v1/inbox?appId=101&userId=${userId}&since=${since}&limit=100`;
    const r = await (await fetch(url)).json();
    head = r.data.inboxSeq;
    for (const e of r.data.entries) entries.push([e.seq, e.msgId]);
    if (r.data.entries.length < 100) break;
    since = entries[entries.length - 1][0];
  }
  return { head, entries };
}

/** The scenario against nodes listening on `wsPorts` (one per node) sharing one store. */
async function scenario(seed: number, wsPorts: number[], http: number): Promise<void> {
  const rand = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const port = () => pick(wsPorts);
  const devices: Device[] = [];
  for (let i = 0; i < USERS; i++) {
    const user = `u${String(i).padStart(2, "0")}`;
    const rooms = ROOMS.filter(() => rand() < 0.4);
    for (let k = 0; k < (i < 5 ? 2 : 1); k++) {
      devices.push({ user, name: `${user}/${k}`, rooms, frames: [], inflight: [], received: [], own: [] });
    }
  }
  for (const d of devices) {
    await connect(port(), d);
    for (const room of d.rooms) {
      assert.equal((await d.conn!.request("joinRoom", { room })).response.code, 200);
    }
  }
  const users = [...new Set(devices.map((d) => d.user))];
  const check = (d: Device, p: Promise<Frame>) =>
    p.then((r) => {
      assert.equal(r.response.code, 200, JSON.stringify(r.response));
      const data = r.response.data;
      d.own.push([r.cmd === "sendMsg" ? data.senderSeq : data.seq, data.msgId]);
    });
  const httpSends: Promise<unknown>[] = [];
  for (let step = 0; step < STEPS; step++) {
    const online = devices.filter((d) => d.conn);
    const offline = devices.filter((d) => !d.conn);
    const r = rand();
    if (r < 0.45 && online.length) {
      const from = pick(online);
      const to = pick(users.filter((u) => u !== from.user));
      from.inflight.push(check(from, from.conn!.request("sendMsg", { to, msg: `d${step}` })));
    } else if (r < 0.6) {
      const members = online.filter((d) => d.rooms.length);
      if (members.length) {
        const from = pick(members);
        from.inflight.push(
          check(from, from.conn!.request("roomMsg", { room: pick(from.rooms), msg: `r${step}` })),
        );
      }
    } else if (r < 0.65) {
      httpSends.push(
        fetch(`http://127.0.0.1:${http}/api/v1/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ appId: 101, to: pick(users), msg: `h${step}` }),
        }).then((res) => res.json()).then((b) => assert.equal(b.code, 200)),
      );
    } else if (r < 0.82 && online.length) {
      await disconnect(pick(online));
    } else if (offline.length) {
      await connect(port(), pick(offline));
    }
    // let the event loop run now and then, so interleavings vary
    if (rand() < 0.2) await new Promise((res) => setTimeout(res, rand() * 5));
  }
  for (const d of devices) await Promise.all(d.inflight);
  await Promise.all(httpSends);
  for (const d of devices) if (!d.conn) await connect(port(), d);
  // wait (bounded) until every connection has caught up with its inbox head
  const heads = new Map<string, number>();
  for (const u of users) heads.set(u, (await inbox(http, u)).head);
  const seen = (d: Device) =>
    Math.max(lastSeq(d), ...d.frames.filter((f) => f.cmd === "msg").map((f) => f.response.data.seq));
  for (let i = 0; i < 500 && devices.some((d) => seen(d) < heads.get(d.user)!); i++) {
    await new Promise((res) => setTimeout(res, 10));
  }
  for (const d of devices) await disconnect(d);
  let total = 0;
  for (const d of devices) {
    const { entries } = await inbox(http, d.user);
    // pushes (replay and live, all connections) come strictly in seq order: no duplicate
    const pushed = d.received.map(([s]) => s);
    assert.deepEqual(pushed, [...new Set(pushed)].sort((a, b) => a - b), `${d.name}: push order`);
    // with the own-send replies they are exactly the inbox: no loss, nothing extra
    const got = [...d.received, ...d.own].sort((a, b) => a[0] - b[0]);
    assert.deepEqual(got, entries, d.name);
    total += entries.length;
  }
  assert.ok(total > STEPS / 2, `only ${total} inbox entries`);
}

Deno.test("property: random sends, disconnects and reconnects — each device receives its inbox exactly", async () => {
  await seeded(
    "property (embedded)",
    (seed) =>
      withServer(
        { limits: FAST, inbox: INBOX },
        (server) => scenario(seed, [server.wsPort], server.httpPort),
      ),
  );
});

redisTest("property: the same on a 2-node Redis cluster, reconnecting to random nodes", async (redis) => {
  await seeded("property (cluster)", async (seed) => {
    await withClusterNodes(
      redis.port,
      ["p1", "p2"],
      { limits: FAST, inbox: INBOX },
      (nodes) => scenario(seed, nodes.map((n) => n.wsPort), nodes[0].httpPort),
    );
  });
});

Deno.test("property: the same with store latency injected (embedded)", async () => {
  await seeded("property (slow store)", (seed) =>
    withServer(
      { limits: FAST, inbox: INBOX },
      (server) => scenario(seed, [server.wsPort], server.httpPort),
      { store: slowStore(prng(seed + 1)) },
    ));
});

redisClusterTest(
  "property: the same on a 3-master Redis Cluster, 2 nodes, reconnecting to random nodes",
  async (cluster) => {
    await seeded("property (redis cluster)", async (seed) => {
      await withClusterNodes(
        cluster,
        ["c1", "c2"],
        { limits: FAST, inbox: INBOX },
        (nodes) => scenario(seed, nodes.map((n) => n.wsPort), nodes[0].httpPort),
      );
    });
  },
);
