/**
 * Property test: random interleavings of 1:1 sends, room sends, HTTP sends, disconnects and
 * reconnects (with lastSeq = the highest seq the client saw) across 20 users. At the end every
 * user's raw received sequence — all its connections, concatenated, not de-duplicated — must
 * equal its inbox exactly: no loss, no duplicate, in order.
 *
 * Seeded: set IM_TEST_SEED to repeat a run; the seed is printed on failure.
 * @module
 */
import assert from "node:assert/strict";
import { type Frame, TestClient, withServer } from "./helpers.ts";

const USERS = 20;
const STEPS = 300;
const ROOMS = ["r0", "r1", "r2"];

/** mulberry32 */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface User {
  id: string;
  rooms: string[];
  conn?: TestClient;
  frames: Frame[];
  /** Pending requests of the current connection (awaited before it closes). */
  inflight: Promise<unknown>[];
  /** Every msg push received, all connections, in order: [seq, msgId]. */
  received: Array<[number, string]>;
  /**
   * The user's own sends: the sending connection gets the reply (`senderSeq`/`seq`) instead
   * of a push for its inbox copy, so those seqs count as received by it.
   */
  own: Array<[number, string]>;
}

const lastSeq = (u: User) => Math.max(0, ...u.received.map(([seq]) => seq), ...u.own.map(([seq]) => seq));

/** Move the current connection's msg pushes into `received` (call only once it is closed). */
function harvest(u: User) {
  for (const f of u.frames) {
    if (f.cmd === "msg") u.received.push([f.response.data.seq, f.response.data.msgId]);
  }
  u.frames = [];
}

async function connect(port: number, u: User) {
  const c = await TestClient.connect(port);
  const frames: Frame[] = [];
  c.socket.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string)));
  u.frames = frames;
  u.conn = c;
  await c.login(u.id, 101, { lastSeq: lastSeq(u) });
}

async function disconnect(u: User) {
  await Promise.allSettled(u.inflight);
  u.inflight = [];
  await u.conn!.close();
  u.conn = undefined;
  harvest(u);
}

async function inbox(
  base: string,
  userId: string,
): Promise<{ head: number; entries: Array<[number, string]> }> {
  const entries: Array<[number, string]> = [];
  let head = 0;
  for (let since = 0, page = 0; page < 100; page++) {
    const r = await (await fetch(`${base}/api/v1/inbox?appId=101&userId=${userId}&since=${since}&limit=100`))
      .json();
    head = r.data.inboxSeq;
    for (const e of r.data.entries) entries.push([e.seq, e.msgId]);
    if (r.data.entries.length < 100) break;
    since = entries[entries.length - 1][0];
  }
  return { head, entries };
}

Deno.test("property: random sends, disconnects and reconnects — each user receives its inbox exactly", async () => {
  const seed = Number(Deno.env.get("IM_TEST_SEED") ?? Date.now() % 1_000_000);
  const rand = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const config = {
    limits: { messagesPerSecond: 100_000, messageBurst: 100_000 },
    inbox: { syncPageSize: 4 }, // small pages: replays cross page boundaries often
  };
  try {
    await withServer(config, async (server) => {
      const base = `http://127.0.0.1:${server.httpPort}`;
      const users: User[] = Array.from({ length: USERS }, (_, i) => ({
        id: `u${String(i).padStart(2, "0")}`,
        rooms: ROOMS.filter(() => rand() < 0.4),
        frames: [],
        inflight: [],
        received: [],
        own: [],
      }));
      for (const u of users) {
        await connect(server.wsPort, u);
        for (const room of u.rooms) {
          assert.equal((await u.conn!.request("joinRoom", { room })).response.code, 200);
        }
      }
      const check = (u: User, p: Promise<Frame>) =>
        p.then((r) => {
          assert.equal(r.response.code, 200, JSON.stringify(r.response));
          const d = r.response.data;
          u.own.push([r.cmd === "sendMsg" ? d.senderSeq : d.seq, d.msgId]);
        });
      const httpSends: Promise<unknown>[] = [];
      for (let step = 0; step < STEPS; step++) {
        const online = users.filter((u) => u.conn);
        const offline = users.filter((u) => !u.conn);
        const r = rand();
        if (r < 0.45 && online.length) {
          const from = pick(online);
          const to = pick(users.filter((u) => u !== from));
          from.inflight.push(check(from, from.conn!.request("sendMsg", { to: to.id, msg: `d${step}` })));
        } else if (r < 0.6) {
          const members = online.filter((u) => u.rooms.length);
          if (members.length) {
            const from = pick(members);
            const room = pick(from.rooms);
            from.inflight.push(check(from, from.conn!.request("roomMsg", { room, msg: `r${step}` })));
          }
        } else if (r < 0.65) {
          const to = pick(users);
          httpSends.push(
            fetch(`${base}/api/v1/messages`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ appId: 101, to: to.id, msg: `h${step}` }),
            }).then((res) => res.json()).then((b) => assert.equal(b.code, 200)),
          );
        } else if (r < 0.82 && online.length) {
          await disconnect(pick(online));
        } else if (offline.length) {
          await connect(server.wsPort, pick(offline));
        }
        // let the event loop run now and then, so interleavings vary
        if (rand() < 0.2) await new Promise((res) => setTimeout(res, rand() * 5));
      }
      for (const u of users) await Promise.all(u.inflight);
      await Promise.all(httpSends);
      for (const u of users) if (!u.conn) await connect(server.wsPort, u);
      // wait (bounded) until every connection has caught up with its inbox head
      const heads = new Map<string, number>();
      for (const u of users) heads.set(u.id, (await inbox(base, u.id)).head);
      const seen = (u: User) => {
        const msgs = u.frames.filter((f) => f.cmd === "msg");
        return Math.max(lastSeq(u), ...msgs.map((f) => f.response.data.seq));
      };
      for (let i = 0; i < 500 && users.some((u) => seen(u) < heads.get(u.id)!); i++) {
        await new Promise((res) => setTimeout(res, 10));
      }
      for (const u of users) await disconnect(u);
      let total = 0;
      for (const u of users) {
        const { entries } = await inbox(base, u.id);
        // pushes (replay and live, all connections) come strictly in seq order: no duplicate
        const pushed = u.received.map(([seq]) => seq);
        assert.deepEqual(pushed, [...new Set(pushed)].sort((a, b) => a - b), `user ${u.id} push order`);
        // with the own-send replies they are exactly the inbox: no loss, nothing extra
        const got = [...u.received, ...u.own].sort((a, b) => a[0] - b[0]);
        assert.deepEqual(got, entries, `user ${u.id}`);
        total += entries.length;
      }
      assert.ok(total > STEPS / 2, `only ${total} messages were delivered`);
    });
  } catch (error) {
    console.error(`property test failed; repeat with IM_TEST_SEED=${seed}`);
    throw error;
  }
});
