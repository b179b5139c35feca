/**
 * A server on the SQLite store (a real file in a temporary directory): sends over WebSocket and HTTP
 * are acknowledged once stored; a full disk (a tiny `PRAGMA max_page_count`) answers 1024 with retryMs,
 * keeps reads and the connection working, says why on `/readyz`, and recovers without a restart; the
 * backup endpoint is for unrestricted API keys only and writes a file the store opens; store metrics.
 * @module
 */
import assert from "node:assert/strict";
import { requestBackup } from "../../src/ops/backup.ts";
import { Code } from "../../src/protocol/codes.ts";
import type { SqliteStore } from "../../src/store/sqlite/store.ts";
import { TestClient, testPolicy, withServer } from "../support/helpers.ts";

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "im-sqlite-server-" });
}

const post = (port: number, path: string, body: Record<string, unknown>, key?: string) =>
  fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, json: await r.json() }));

Deno.test("sqlite server: a full disk answers 1024 + retryMs, /readyz says why, reads work, then it recovers", async () => {
  const dir = await tempDir();
  try {
    await withServer({
      store: { engine: "sqlite", path: `${dir}/im.db`, sync: "full", backupDir: `${dir}/b` },
    }, async (server) => {
      assert.equal(server.store.kind, "sqlite");
      const store = server.store as SqliteStore;
      const bob = await TestClient.connect(server.wsPort);
      await bob.login("bob");
      const alice = await TestClient.connect(server.wsPort);
      await alice.login("alice");
      const ok = await alice.request("sendMsg", { to: "bob", msg: "before" });
      assert.equal(ok.response.code, 200);
      assert.equal((await bob.push("msg")).response.data.msg, "before");
      const pages = (store.pragma("page_count") as { page_count: number }).page_count;
      store.pragma(`max_page_count = ${pages}`);
      const big = "x".repeat(15_000);
      const failed = await alice.request("sendMsg", { to: "bob", msg: big });
      assert.equal(failed.response.code, Code.Unavailable);
      assert.equal(typeof failed.response.data.retryMs, "number");
      const http = await post(server.httpPort, "/api/v1/messages", { appId: 101, to: "bob", msg: big });
      assert.deepEqual([http.status, http.json.code, typeof http.json.data.retryMs], [503, 1024, "number"]);
      const ready = await fetch(`http://127.0.0.1:${server.httpPort}/readyz`);
      assert.equal(ready.status, 503);
      assert.deepEqual(await ready.json(), { status: "unready", reason: "store: disk full" });
      // reads keep working and nothing of the failed sends is there
      const history = await bob.request("history", { peer: "alice" });
      assert.deepEqual(history.response.data.messages.map((m: { msg: string }) => m.msg), ["before"]);
      const inbox = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/inbox?appId=101&userId=bob`);
      assert.equal((await inbox.json()).data.inboxSeq, 1);
      // room on the disk again: the retry goes through, readiness returns
      store.pragma("max_page_count = 1073741823");
      const retried = await alice.request("sendMsg", { to: "bob", msg: big });
      assert.equal(retried.response.code, 200);
      assert.equal(retried.response.data.seq, 2);
      assert.equal((await bob.push("msg")).response.data.seq, 2);
      assert.equal(
        (await fetch(`http://127.0.0.1:${server.httpPort}/readyz`).then((r) => r.json())).status,
        "ready",
      );
      const metrics = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`).then((r) => r.text());
      for (
        const series of [
          "im_store_commit_ms_count",
          "im_store_batch_rows_bucket",
          "im_store_db_bytes",
          "im_store_write_errors_total 2",
          "im_inbox_entries",
        ]
      ) {
        assert.ok(metrics.includes(series), series);
      }
      await alice.close();
      await bob.close();
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite server: POST /api/v1/store/backup needs an unrestricted key and writes a restorable copy", async () => {
  const dir = await tempDir();
  try {
    await withServer({
      store: { engine: "sqlite", path: `${dir}/im.db`, backupDir: `${dir}/backups` },
      api: { keys: ["admin", "tenant:101"], open: false },
    }, async (server) => {
      const sent = await post(
        server.httpPort,
        "/api/v1/messages",
        { appId: 101, to: "bob", msg: "keep me" },
        "admin",
      );
      assert.equal(sent.json.code, 200);
      const refused = await post(server.httpPort, "/api/v1/store/backup", {}, "tenant");
      assert.equal(refused.status, 403);
      assert.equal((await post(server.httpPort, "/api/v1/store/backup", {})).status, 401);
      const result = await requestBackup({ url: `http://127.0.0.1:${server.httpPort}`, key: "admin" });
      assert.match(String(result.path), new RegExp(`^${dir}/backups/imserver-.*\\.db$`));
      assert.equal(result.bytes, (await Deno.stat(String(result.path))).size);
      assert.equal(typeof result.durationMs, "number");
      // the copy is a store with the message
      const { SqliteStore } = await import("../../src/store/sqlite/store.ts");
      const copy = SqliteStore.open({ path: String(result.path), policy: testPolicy(), maintenanceMs: 0 });
      assert.deepEqual((await copy.range(101, "bob", 0, 10)).map((e) => e.msg), ["keep me"]);
      await copy.close();
    });
    await withServer({}, async (server) => {
      const memory = await post(server.httpPort, "/api/v1/store/backup", {});
      assert.deepEqual([memory.status, memory.json.code], [400, Code.OperationFailure]);
      assert.match(memory.json.msg, /store\.engine: sqlite/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
