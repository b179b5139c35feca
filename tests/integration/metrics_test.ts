/**
 * `/metrics` (src/http/metrics.ts) and `/healthz` / `/readyz` with the readiness hook.
 * @module
 */
import assert from "node:assert/strict";
import { startServer } from "../../src/server.ts";
import { TestClient, testConfig, tick, withServer } from "../support/helpers.ts";
import { redisTest } from "../support/redis_helper.ts";

/** Parse Prometheus text into series → value (comments skipped). */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

Deno.test("metrics: Prometheus text with connections, logins, messages, process memory", async () => {
  await withServer({}, async (server) => {
    const base = `http://127.0.0.1:${server.httpPort}`;
    const alice = await TestClient.connect(server.wsPort);
    const bob = await TestClient.connect(server.wsPort);
    await alice.login("alice");
    await bob.login("bob");
    assert.equal((await alice.request("sendMsg", { to: "bob", msg: "hi" })).response.code, 200);
    await bob.push("msg");
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    // every series has HELP and TYPE
    for (const name of new Set([...parse(text).keys()].map((k) => k.split("{")[0]))) {
      assert.match(text, new RegExp(`# TYPE ${name} (counter|gauge)\\n`), name);
    }
    const m = parse(text);
    assert.equal(m.get("im_connections"), 2);
    assert.equal(m.get("im_logged_in_connections"), 2);
    assert.equal(m.get('im_logins_total{result="ok"}'), 2);
    assert.equal(m.get('im_messages_total{kind="direct"}'), 1);
    assert.equal(m.get("im_draining"), 0);
    assert.equal(m.get("im_inboxes"), 2); // alice's and bob's
    // bob's message plus alice's own copy (multi-device sync), as the inbox appends counter says
    assert.equal(m.get("im_inbox_entries"), m.get("im_inbox_appends_total"));
    assert.ok(m.get("im_inbox_entries")! >= 1);
    assert.equal(m.get("im_event_queue_length"), 0);
    assert.ok(m.get("im_process_rss_bytes")! > 1_000_000);
    assert.ok(m.get("im_process_heap_used_bytes")! > 0);
    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    await alice.close();
    await bob.close();
  });
});

Deno.test("health: /healthz alive; /readyz follows the readiness hook and draining", async () => {
  let readiness: () => string | undefined = () => undefined;
  await withServer({}, async (server) => {
    const base = `http://127.0.0.1:${server.httpPort}`;
    const get = async (path: string) => {
      const res = await fetch(base + path);
      return { status: res.status, body: await res.json() };
    };
    assert.deepEqual(await get("/healthz"), { status: 200, body: { status: "ok" } });
    assert.deepEqual(await get("/readyz"), { status: 200, body: { status: "ready" } });
    readiness = () => "redis unreachable";
    assert.deepEqual(await get("/readyz"), {
      status: 503,
      body: { status: "unready", reason: "redis unreachable" },
    });
    readiness = () => {
      throw new Error("boom");
    };
    assert.equal((await get("/readyz")).status, 503);
    readiness = () => undefined;
    assert.equal((await get("/readyz")).status, 200);
    assert.equal((await get("/healthz")).status, 200);
  }, { readiness: () => readiness() });
});

Deno.test("metrics: with api.keys only an unrestricted key may scrape", async () => {
  await withServer({ api: { keys: ["s3cret", "tenant:101"] } }, async (server) => {
    const url = `http://127.0.0.1:${server.httpPort}/metrics`;
    const scrape = async (key?: string) => {
      const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
      await res.body?.cancel();
      return res.status;
    };
    assert.equal(await scrape(), 401);
    assert.equal(await scrape("wrong"), 401);
    assert.equal(await scrape("tenant"), 403); // limited to app 101: not node-wide
    assert.equal(await scrape("s3cret"), 200);
  });
});

redisTest(
  "readyz in cluster mode: 503 while Redis is unreachable, 200 again after it returns",
  async (redis) => {
    const config = testConfig({
      cluster: { enabled: true, nodeId: "ready-1" },
      presence: { ttl: 2 },
      redis: { addr: `127.0.0.1:${redis.port}` },
    });
    const server = await startServer(config);
    try {
      const readyz = async () => {
        const res = await fetch(`http://127.0.0.1:${server.httpPort}/readyz`);
        return { status: res.status, body: await res.json() };
      };
      assert.equal((await readyz()).status, 200);
      await redis.stop();
      let seen = await readyz();
      for (let i = 0; i < 100 && seen.status === 200; i++) seen = (await tick(50), await readyz());
      assert.deepEqual(seen, { status: 503, body: { status: "unready", reason: "redis unreachable" } });
      await redis.restart();
      for (let i = 0; i < 100 && seen.status !== 200; i++) seen = (await tick(50), await readyz());
      assert.equal(seen.status, 200);
    } finally {
      await server.shutdown();
    }
  },
);
