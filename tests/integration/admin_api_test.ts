/**
 * The admin API (`/api/v1/admin/...`, src/admin/) on a real server with real WebSocket clients: the
 * console off without `admin.keys`; 401 / 403 / 200 by key; the overview, series, apps, user and room
 * views; the actions (send, kick one connection, disconnect every device with close 4010), each one
 * written as an audit line with the key's fingerprint (never the key) and counted.
 * @module
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { keyFingerprint } from "../../src/admin/keys.ts";
import type { RunningServer } from "../../src/server.ts";
import { TestClient, tick, withServer } from "../support/helpers.ts";

const ADMIN_KEY = "admin-key-for-tests-0001";
const API_KEY = "api-key-for-tests-00001";
const enabled = { admin: { keys: [ADMIN_KEY] }, api: { keys: [API_KEY] } };

// deno-lint-ignore no-explicit-any
type Json = any;

async function call(
  server: RunningServer,
  method: string,
  path: string,
  key = ADMIN_KEY,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

async function connect(server: RunningServer, userId: string, extra = {}): Promise<TestClient> {
  const c = await TestClient.connect(server.wsPort);
  await c.login(userId, 101, extra);
  return c;
}

async function connectWithId(server: RunningServer, userId: string) {
  const client = await TestClient.connect(server.wsPort);
  const { connId } = await client.login(userId);
  return { client, connId: connId as string };
}

/** Capture the audit logger's records while `fn` runs. */
async function withAudit(fn: (records: LogRecord[]) => Promise<void>): Promise<void> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { mem: (r) => records.push(r) },
    loggers: [
      { category: ["imserver", "audit"], lowestLevel: "info", sinks: ["mem"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  try {
    await fn(records);
  } finally {
    await reset();
  }
}

Deno.test("admin API: without admin.keys the console is off and says how to turn it on", async () => {
  await withServer({}, async (server) => {
    const r = await call(server, "GET", "/api/v1/admin/overview");
    assert.equal(r.status, 404);
    assert.match(r.body.msg, /admin\.keys/);
    const page = await fetch(`http://127.0.0.1:${server.httpPort}/admin`);
    assert.equal(page.status, 404);
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.match(await page.text(), /admin console is disabled.*admin\.keys/s);
  });
});

Deno.test("admin API: 401 without or with a wrong key, 403 for an API key, and an admin key is no API key", async () => {
  await withServer(enabled, async (server) => {
    assert.equal((await call(server, "GET", "/api/v1/admin/overview", "")).status, 401);
    const wrong = await call(server, "GET", "/api/v1/admin/overview", "not-the-key");
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, 1003);
    const api = await call(server, "GET", "/api/v1/admin/overview", API_KEY);
    assert.equal(api.status, 403);
    assert.match(api.body.msg, /not an admin key/);
    assert.equal((await call(server, "GET", "/api/v1/admin/overview")).status, 200);
    assert.equal((await call(server, "GET", "/api/v1/users?appId=101", ADMIN_KEY)).status, 401);
    assert.equal((await call(server, "GET", "/api/v1/users?appId=101", API_KEY)).status, 200);
    const page = await fetch(`http://127.0.0.1:${server.httpPort}/admin`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/);
    for (const asset of ["/admin/uplot.js", "/admin/uplot.css", "/web/admin.js", "/web/admin.css"]) {
      const res = await fetch(`http://127.0.0.1:${server.httpPort}${asset}`);
      assert.equal(res.status, 200, asset);
      assert.ok((await res.text()).length > 100, asset);
    }
  });
});

Deno.test("admin API: overview and series follow connections and traffic", async () => {
  await withServer(enabled, async (server) => {
    let o = (await call(server, "GET", "/api/v1/admin/overview")).body.data;
    assert.equal(o.mode, "embedded");
    assert.equal(o.nodes.length, 1);
    assert.equal(o.nodes[0].nodeId, server.nodeId);
    assert.equal(o.nodes[0].connections, 0);
    assert.equal(o.nodes[0].self, true);
    assert.equal(o.nodes[0].store.kind, "memory");
    const alice = await connect(server, "alice");
    const bob = await connect(server, "bob");
    for (let i = 0; i < 5; i++) await alice.request("sendMsg", { to: "bob", msg: `m${i}` });
    o = (await call(server, "GET", "/api/v1/admin/overview")).body.data;
    assert.equal(o.nodes[0].connections, 2);
    assert.equal(o.nodes[0].users, 2);
    assert.equal(o.totals.connections, 2);
    assert.ok(o.nodes[0].memory.rss > 1_000_000);
    await tick(1200); // one sample
    const s = (await call(server, "GET", "/api/v1/admin/series?since=0")).body.data;
    assert.ok(s.t.length >= 1, "a sample a second");
    assert.equal(s.capacity, 600);
    assert.equal(s.series.connections.at(-1), 2);
    // Rates per second: 5 messages over a sample of a little more than a second.
    assert.ok(s.series.msgsIn.reduce((a: number, b: number) => a + b, 0) > 4);
    assert.ok(s.series.msgsOut.reduce((a: number, b: number) => a + b, 0) > 4);
    const later = (await call(server, "GET", `/api/v1/admin/series?since=${s.t.at(-1)}`)).body.data;
    assert.ok(later.t.every((t: number) => t > s.t.at(-1)));
    await alice.close();
    await bob.close();
  });
});

Deno.test("admin API: user view — connections with node and IP, inbox marks, rooms, recent messages", async () => {
  await withServer(enabled, async (server) => {
    const alice = await connect(server, "alice", { deviceId: "phone", platform: "ios" });
    const alice2 = await connect(server, "alice");
    const bob = await connect(server, "bob");
    assert.equal((await alice.request("joinRoom", { room: "lobby" })).response.code, 200);
    assert.equal((await bob.request("joinRoom", { room: "lobby" })).response.code, 200);
    for (let i = 1; i <= 3; i++) await bob.request("sendMsg", { to: "alice", msg: `hi ${i}` });
    await bob.request("roomMsg", { room: "lobby", msg: "room hello" });
    const last = await alice.waitFor((f) => f.response.data?.msg === "room hello");
    await alice.request("ack", { seq: last.response.data.seq });
    const u = (await call(server, "GET", "/api/v1/admin/users/alice?appId=101")).body.data;
    assert.equal(u.online, true);
    assert.equal(u.connections.length, 2);
    const phone = u.connections.find((c: Json) => c.deviceId === "phone");
    assert.equal(phone.nodeId, server.nodeId);
    assert.equal(phone.ip, "127.0.0.1");
    assert.equal(phone.platform, "ios");
    assert.ok(phone.since > 0);
    assert.equal(u.inbox.lastSeq, 4);
    assert.equal(u.inbox.acked, 4);
    assert.ok(u.inbox.epoch);
    assert.deepEqual(u.rooms, ["lobby"]);
    assert.deepEqual(u.recent.map((e: Json) => e.msg), ["room hello", "hi 3", "hi 2", "hi 1"]);
    const offline = (await call(server, "GET", "/api/v1/admin/users/nobody?appId=101")).body.data;
    assert.equal(offline.online, false);
    assert.deepEqual(offline.connections, []);
    const bad = await call(server, "GET", "/api/v1/admin/users/alice");
    assert.equal(bad.status, 400, "appId is required");
    const r = (await call(server, "GET", "/api/v1/admin/rooms/lobby?appId=101")).body.data;
    assert.equal(r.membersTotal, 2);
    assert.deepEqual(r.members.map((m: Json) => [m.userId, m.online]).sort(), [["alice", true], [
      "bob",
      true,
    ]]);
    assert.deepEqual(r.timeline.entries.map((e: Json) => e.msg), ["room hello"]);
    const apps = (await call(server, "GET", "/api/v1/admin/apps")).body.data;
    const app = apps.apps.find((a: Json) => a.appId === 101);
    assert.equal(app.onlineUsers, 2);
    assert.equal(app.connections, 3);
    assert.deepEqual(app.topRooms, [{ room: "lobby", messages: 1, members: 2 }]);
    assert.equal((await call(server, "GET", "/api/v1/admin/rooms/empty?appId=101")).status, 404);
    for (const c of [alice, alice2, bob]) await c.close();
  });
});

Deno.test("admin API: send, kick and disconnect — close 4010, audit lines with the fingerprint, counted", async () => {
  await withAudit(async (records) => {
    await withServer(enabled, async (server) => {
      const alice = await connect(server, "alice");
      const bob1 = await connectWithId(server, "bob");
      const bob2 = await connectWithId(server, "bob");
      const sent = await call(server, "POST", "/api/v1/admin/users/alice/messages?appId=101", ADMIN_KEY, {
        msg: "from the operator",
      });
      assert.equal(sent.status, 200);
      assert.equal(sent.body.data.delivered, true);
      const push = await alice.push("msg");
      assert.equal(push.response.data.msg, "from the operator");
      assert.equal(push.response.data.from, "");

      const connId = bob1.connId;
      const kicked = await call(
        server,
        "POST",
        `/api/v1/admin/connections/${connId}/kick?appId=101&userId=bob`,
      );
      assert.equal(kicked.status, 200);
      assert.equal(kicked.body.data.closed, 1);
      assert.equal((await bob1.client.closed).code, 4010);
      assert.equal(bob2.client.socket.readyState, WebSocket.OPEN);
      const survivor = (await call(server, "GET", "/api/v1/admin/users/bob?appId=101")).body.data;
      assert.equal(survivor.connections.length, 1);

      const gone = await call(server, "POST", "/api/v1/admin/users/bob/disconnect?appId=101");
      assert.equal(gone.status, 200);
      assert.equal(gone.body.data.closed, 1);
      assert.equal((await bob2.client.closed).code, 4010);
      assert.match((await bob2.client.closed).reason, /operator/);
      await tick(50);
      const after = (await call(server, "GET", "/api/v1/admin/users/bob?appId=101")).body.data;
      assert.equal(after.online, false);
      const counter = server.metrics.counter("im_admin_actions_total", "", ["action"]);
      assert.equal(counter.get({ action: "send" }), 1);
      assert.equal(counter.get({ action: "kick" }), 1);
      assert.equal(counter.get({ action: "disconnect" }), 1);
      await alice.close();
    });
    const lines = records.map((r) => ({ text: r.message.map(String).join(""), props: r.properties }));
    assert.equal(lines.length, 3, JSON.stringify(lines));
    for (const line of lines) {
      assert.ok(line.text.includes(keyFingerprint(ADMIN_KEY)), line.text);
      assert.ok(!JSON.stringify(line).includes(ADMIN_KEY), "never the key itself");
    }
    assert.deepEqual(lines.map((l) => l.props.action), ["send", "kick", "disconnect"]);
  });
});
