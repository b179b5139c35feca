/**
 * Property test of the IM semantics (PROTOCOL.md C): random interleavings of 1:1 and room sends, edits,
 * recalls, deletions, per-conversation reads, acks, blocks, disconnects and resumes, across 8 users (3 with
 * two devices), requests pipelined. Each device keeps the view a client builds from what it is told — its
 * pushes, its replies, and `conversations` once per login — and at the end, after every device has resumed,
 * that view must equal what the server says: per conversation, the messages (`history`: the order, the text
 * after edits, the tombstones, the deletions) and the read position and unread count (`conversations`).
 * Runs on one node and on a 2-node Redis cluster where every resume picks a random node.
 *
 * Seeded: set IM_TEST_SEED to repeat a run; the seed is printed on failure.
 * @module
 */
import assert from "node:assert/strict";
import { type Frame, TestClient, withClusterNodes, withServer } from "../support/helpers.ts";
import { prng, seeded, slowStore } from "../support/seeded.ts";
import { redisClusterTest } from "../support/redis_cluster.ts";
import { redisTest } from "../support/redis_helper.ts";

const STEPS = 250;
const ROOMS = ["r0", "r1"];
const FAST = { messagesPerSecond: 100_000, messageBurst: 100_000 };
const INBOX = { syncPageSize: 4 };

/** What one message looks like to a device. */
interface Seen {
  seq: number;
  /** How the conversation orders it: the roomSeq in a room (the same for every member), else the seq. */
  order: number;
  conv: string;
  from: string;
  text: string;
}

/** One device and the view it built. */
interface Device {
  user: string;
  name: string;
  rooms: string[];
  conn?: TestClient;
  inflight: Promise<unknown>[];
  lastSeq: number;
  messages: Map<string, Seen>;
  /** msgId → the highest edit version seen and its text. */
  edits: Map<string, { editedAt: number; text: string }>;
  recalled: Set<string>;
  deleted: Set<string>;
  readSeq: Map<string, number>;
}

const convOf = (d: Device, m: { target: string; from: string; to: string }) =>
  m.target !== "" ? `r:${m.target}` : m.from === d.user ? `u:${m.to}` : `u:${m.from}`;

function edit(d: Device, msgId: string, editedAt: number, text: string) {
  const held = d.edits.get(msgId);
  if (!held || editedAt > held.editedAt) d.edits.set(msgId, { editedAt, text });
}

function readTo(d: Device, conv: string, seq: number) {
  d.readSeq.set(conv, Math.max(d.readSeq.get(conv) ?? 0, seq));
}

/** Fold one push into the device's view. */
function onPush(d: Device, f: Frame) {
  if (/^t\d+$/.test(f.seq)) return; // a reply (TestClient's request seqs), handled where it was asked
  const data = f.response?.data;
  if (f.cmd === "readState") return readTo(d, data.conversation, data.readSeq); // live only, no seq
  if (!data || typeof data.seq !== "number") return; // a live receipt: no inbox entry
  d.lastSeq = Math.max(d.lastSeq, data.seq);
  if (f.cmd === "msg") {
    const order = data.roomSeq ?? data.seq;
    d.messages.set(data.msgId, {
      seq: data.seq,
      order,
      conv: convOf(d, data),
      from: data.from,
      text: data.msg,
    });
  } else if (f.cmd === "msgEdited") edit(d, data.msgId, data.editedAt, data.msg);
  else if (f.cmd === "msgRecalled") d.recalled.add(data.msgId);
  else if (f.cmd === "msgDeleted") d.deleted.add(data.msgId);
}

/** The device's messages of `conv`, newest first, as history shows them. */
function shown(d: Device, conv: string): string[] {
  return [...d.messages].filter(([id, m]) => m.conv === conv && !d.deleted.has(id))
    .sort((a, b) => b[1].order - a[1].order)
    .map(([id, m]) => d.recalled.has(id) ? `${id}:recalled` : `${id}:${d.edits.get(id)?.text ?? m.text}`);
}

function unread(d: Device, conv: string): number {
  const read = d.readSeq.get(conv) ?? 0;
  return [...d.messages].filter(([id, m]) =>
    m.conv === conv && m.from !== d.user && m.seq > read && !d.recalled.has(id) && !d.deleted.has(id)
  ).length;
}

async function ok(c: TestClient, cmd: string, data: Record<string, unknown>) {
  const r = await c.request(cmd, data);
  assert.equal(r.response.code, 200, `${cmd}: ${JSON.stringify(r.response)}`);
  return r.response.data;
}

/** Every conversation of the device's user, all pages. */
async function conversations(c: TestClient) {
  const all = [];
  let before: number | undefined;
  for (let page = 0; page < 50; page++) {
    const r = await ok(c, "conversations", { limit: 10, ...(before ? { before } : {}) });
    all.push(...r.conversations);
    if (!r.more) break;
    before = r.conversations.at(-1).seq;
  }
  return all;
}

async function connect(port: number, d: Device) {
  const c = await TestClient.connect(port);
  c.socket.addEventListener("message", (e) => onPush(d, JSON.parse(e.data as string)));
  d.conn = c;
  await c.login(d.user, 101, { lastSeq: d.lastSeq });
  for (const conv of await conversations(c)) readTo(d, conv.id, conv.readSeq);
}

async function disconnect(d: Device) {
  await Promise.allSettled(d.inflight);
  d.inflight = [];
  await d.conn!.close();
  d.conn = undefined;
}

/** Send `cmd` on the device's connection without waiting; `then` sees the reply. */
function pipeline(
  d: Device,
  cmd: string,
  data: Record<string, unknown>,
  then: (r: Frame["response"]) => void,
) {
  d.inflight.push(d.conn!.request(cmd, data).then((f) => then(f.response)));
}

function expectCode(r: Frame["response"], codes: number[], what: string) {
  assert.ok(codes.includes(r.code), `${what}: ${JSON.stringify(r)}`);
}

/** The scenario against nodes listening on `wsPorts` sharing one store; `http` is one node's HTTP port. */
async function scenario(seed: number, wsPorts: number[], http: number): Promise<void> {
  const rand = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const port = () => pick(wsPorts);
  const devices: Device[] = [];
  for (let i = 0; i < 8; i++) {
    const user = `u${i}`;
    const rooms = ROOMS.filter(() => rand() < 0.5);
    for (let k = 0; k < (i < 3 ? 2 : 1); k++) {
      devices.push({
        user,
        name: `${user}/${k}`,
        rooms,
        inflight: [],
        lastSeq: 0,
        messages: new Map(),
        edits: new Map(),
        recalled: new Set(),
        deleted: new Set(),
        readSeq: new Map(),
      });
    }
  }
  for (const d of devices) {
    await connect(port(), d);
    for (const room of d.rooms) await ok(d.conn!, "joinRoom", { room });
  }
  const users = [...new Set(devices.map((d) => d.user))];
  const counts = { sent: 0, edits: 0, recalls: 0, deletes: 0, reads: 0, blocked: 0 };
  for (let step = 0; step < STEPS; step++) {
    const online = devices.filter((d) => d.conn);
    const offline = devices.filter((d) => !d.conn);
    const r = rand();
    const d = online.length ? pick(online) : undefined;
    const own = d ? [...d.messages].filter(([id, m]) => m.from === d.user && !d.recalled.has(id)) : [];
    if (d && r < 0.3) {
      const to = pick(users.filter((u) => u !== d.user));
      pipeline(d, "sendMsg", { to, msg: `d${step}` }, (res) => {
        expectCode(res, [200, 1029], "sendMsg");
        if (res.code === 1029) return void counts.blocked++;
        counts.sent++;
        d.lastSeq = Math.max(d.lastSeq, res.data.senderSeq);
        d.messages.set(res.data.msgId, {
          seq: res.data.senderSeq,
          order: res.data.senderSeq,
          conv: `u:${to}`,
          from: d.user,
          text: `d${step}`,
        });
      });
    } else if (d && r < 0.4 && d.rooms.length) {
      const room = pick(d.rooms);
      pipeline(d, "roomMsg", { room, msg: `r${step}` }, (res) => {
        expectCode(res, [200], "roomMsg");
        counts.sent++;
        d.lastSeq = Math.max(d.lastSeq, res.data.seq);
        d.messages.set(res.data.msgId, {
          seq: res.data.seq,
          order: res.data.roomSeq,
          conv: `r:${room}`,
          from: d.user,
          text: `r${step}`,
        });
      });
    } else if (d && r < 0.5 && own.length) {
      const [msgId] = pick(own);
      pipeline(d, "editMsg", { msgId, msg: `e${step}` }, (res) => {
        expectCode(res, [200, 1026], "editMsg"); // 1026: recalled meanwhile
        if (res.code === 200) edit(d, msgId, res.data.editedAt, `e${step}`), counts.edits++;
      });
    } else if (d && r < 0.55 && own.length) {
      const [msgId] = pick(own);
      pipeline(d, "recallMsg", { msgId }, (res) => {
        expectCode(res, [200], "recallMsg");
        d.recalled.add(msgId), counts.recalls++;
      });
    } else if (d && r < 0.6 && d.messages.size) {
      const [msgId] = pick([...d.messages]);
      pipeline(d, "deleteMsg", { msgId }, (res) => {
        expectCode(res, [200], "deleteMsg");
        d.deleted.add(msgId), counts.deletes++;
      });
    } else if (d && r < 0.7 && d.messages.size) {
      const [, m] = pick([...d.messages]);
      pipeline(d, "read", { conversation: m.conv, seq: m.seq }, (res) => {
        expectCode(res, [200], "read");
        readTo(d, res.data.conversation, res.data.readSeq), counts.reads++;
      });
    } else if (d && r < 0.73) {
      pipeline(d, "ack", { seq: d.lastSeq }, (res) => expectCode(res, [200], "ack"));
    } else if (d && r < 0.76) {
      const other = pick(users.filter((u) => u !== d.user));
      await ok(d.conn!, rand() < 0.5 ? "block" : "unblock", { userId: other });
    } else if (d && r < 0.88) {
      await disconnect(d);
    } else if (offline.length) {
      await connect(port(), pick(offline));
    }
    if (rand() < 0.2) await new Promise((res) => setTimeout(res, rand() * 5));
  }
  for (const d of devices) await Promise.all(d.inflight);
  // the offline devices resume (on a random node); the others keep the view they built live
  for (const d of devices) if (!d.conn) await connect(port(), d);
  for (const d of devices) {
    const url = `http://127.0.0.1:${http}/api/v1/inbox?appId=101&userId=${d.user}&limit=1`;
    const head = (await (await fetch(url)).json()).data.inboxSeq;
    // bounded wait for the pushes still on their way; a device's own last changes came as replies, not
    // pushes, so its lastSeq may stay below the head: stop once nothing arrived for 200 ms
    let quiet = 0;
    for (let i = 0; i < 300 && d.lastSeq < head && quiet < 20; i++) {
      const before = d.lastSeq;
      await new Promise((res) => setTimeout(res, 10));
      quiet = d.lastSeq === before ? quiet + 1 : 0;
    }
  }
  for (const d of devices) {
    const convs = await conversations(d.conn!);
    for (const c of convs) {
      const history: string[] = [];
      let before: number | undefined;
      for (let page = 0; page < 50; page++) {
        const which = c.kind === "room" ? { room: c.room } : { peer: c.peer };
        const h = await ok(d.conn!, "history", { ...which, limit: 20, ...(before ? { before } : {}) });
        history.push(
          ...h.messages.map((m: Frame["response"]["data"]) =>
            m.recalled ? `${m.msgId}:recalled` : `${m.msgId}:${m.msg}`
          ),
        );
        if (!h.more) break;
        before = h.before;
      }
      assert.deepEqual(shown(d, c.id), history, `${d.name} ${c.id}: messages`);
      assert.equal(d.readSeq.get(c.id) ?? 0, c.readSeq, `${d.name} ${c.id}: readSeq`);
      assert.equal(unread(d, c.id), c.unread, `${d.name} ${c.id}: unread`);
    }
    const known = new Set(convs.map((c) => c.id));
    for (const m of d.messages.values()) assert.ok(known.has(m.conv), `${d.name}: ${m.conv} missing`);
  }
  for (const d of devices) await disconnect(d);
  assert.ok(counts.sent > 40 && counts.edits > 5 && counts.reads > 5, JSON.stringify(counts));
}

Deno.test("property (IM): every device's view equals the server's after resume (embedded)", async () => {
  await seeded(
    "property IM (embedded)",
    (seed) =>
      withServer(
        { limits: FAST, inbox: INBOX },
        (server) => scenario(seed, [server.wsPort], server.httpPort),
      ),
  );
});

Deno.test("property (IM): the same on the SQLite store (the embedded default)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "im-property-sqlite-" });
  try {
    await seeded("property IM (sqlite)", (seed) =>
      withServer(
        { limits: FAST, inbox: INBOX, store: { engine: "sqlite", path: `${dir}/im-${seed}.db` } },
        (server) => scenario(seed, [server.wsPort], server.httpPort),
      ));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("property (IM): the same with store latency injected (embedded)", async () => {
  await seeded("property IM (slow store)", (seed) =>
    withServer(
      { limits: FAST, inbox: INBOX },
      (server) => scenario(seed, [server.wsPort], server.httpPort),
      { store: slowStore(prng(seed + 1)) },
    ));
});

redisTest("property (IM): the same on a 2-node Redis cluster, resuming on random nodes", async (redis) => {
  await seeded("property IM (cluster)", async (seed) => {
    await withClusterNodes(
      redis.port,
      ["q1", "q2"],
      { limits: FAST, inbox: INBOX },
      (nodes) => scenario(seed, nodes.map((n) => n.wsPort), nodes[0].httpPort),
    );
  });
});

redisClusterTest(
  "property (IM): the same on a 3-master Redis Cluster, 2 nodes, resuming on random nodes",
  async (cluster) => {
    await seeded("property IM (redis cluster)", async (seed) => {
      await withClusterNodes(
        cluster,
        ["d1", "d2"],
        { limits: FAST, inbox: INBOX },
        (nodes) => scenario(seed, nodes.map((n) => n.wsPort), nodes[0].httpPort),
      );
    });
  },
);
