/**
 * `deno task backup` (src/ops/backup.ts): the command line and environment, and a refused request.
 * @module
 */
import assert from "node:assert/strict";
import { backupRequest, requestBackup } from "../../src/ops/backup.ts";

Deno.test("backup cli: --url and IMSERVER_* environment, unknown arguments refused", () => {
  assert.deepEqual(backupRequest([], {}), { url: "http://127.0.0.1:8080", key: undefined });
  assert.deepEqual(backupRequest(["--url", "http://h:1/"], { IMSERVER_API_KEY: "k" }), {
    url: "http://h:1",
    key: "k",
  });
  assert.deepEqual(backupRequest(["--url=http://x:2"], { IMSERVER_URL: "http://y:3" }).url, "http://x:2");
  assert.equal(backupRequest([], { IMSERVER_URL: "http://y:3" }).url, "http://y:3");
  assert.throws(() => backupRequest(["--key", "secret"], {}), /unknown argument "--key"/);
});

Deno.test("backup cli: a refusal is one line with the status and the server's message", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ code: 1003, msg: "Unauthorized", data: null }, { status: 401 }),
  );
  try {
    await assert.rejects(
      () => requestBackup({ url: `http://127.0.0.1:${server.addr.port}`, key: undefined }),
      /HTTP 401, code 1003: Unauthorized/,
    );
  } finally {
    await server.shutdown();
  }
});
