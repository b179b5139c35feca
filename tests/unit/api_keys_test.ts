import assert from "node:assert/strict";
import { withServer } from "../support/helpers.ts";
import { createApiAuthorizer, parseApiKeys } from "../../src/http/api_keys.ts";
import { ReplyError } from "../../src/protocol/errors.ts";
import { loadConfig } from "../../src/config/load.ts";

const codeOf = (fn: () => void): number | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof ReplyError ? e.code : -1;
  }
};
const req = (auth?: string) => new Request("http://x/", auth ? { headers: { authorization: auth } } : {});

Deno.test("api keys unit: parsing (also the comma-split env form) and authorizing", async () => {
  const config = await loadConfig({ env: { IM_API_KEYS: "ops-key, tenant-a:101,102, tenant-b:103" } });
  const keys = parseApiKeys(config.api.keys);
  assert.equal(keys.length, 3);
  assert.equal(keys[0].appIds, undefined);
  assert.deepEqual([...keys[1].appIds!], [101, 102]);
  assert.deepEqual([...keys[2].appIds!], [103]);
  const authorize = createApiAuthorizer(keys);
  assert.equal(codeOf(() => authorize(req(), 101)), 1003);
  assert.equal(codeOf(() => authorize(req("Bearer nope"), 101)), 1003);
  assert.equal(codeOf(() => authorize(req("Basic ops-key"), 101)), 1003);
  assert.equal(codeOf(() => authorize(req("Bearer ops-key"), undefined)), undefined);
  assert.equal(codeOf(() => authorize(req("bearer  tenant-a "), 102)), undefined);
  assert.equal(codeOf(() => authorize(req("Bearer tenant-a"), 103)), 1020);
  assert.equal(codeOf(() => authorize(req("Bearer tenant-a"), undefined)), 1020);
  assert.equal(codeOf(() => authorize(req("Bearer tenant-b"), 103)), undefined);
  // A prefix or extension of a key is not the key.
  assert.equal(codeOf(() => authorize(req("Bearer ops-ke"), 101)), 1003);
  assert.equal(codeOf(() => authorize(req("Bearer ops-keyy"), 101)), 1003);
  // No keys configured: open, like the Go servers.
  assert.equal(codeOf(() => createApiAuthorizer([])(req(), undefined)), undefined);
});

Deno.test("api keys: missing, wrong, right and app-limited keys over HTTP; health stays open", async () => {
  await withServer({ api: { keys: ["admin-key", "t101:101"] } }, async (server) => {
    const base = `http://127.0.0.1:${server.httpPort}`;
    const call = async (path: string, key?: string, init: RequestInit = {}) => {
      const headers = key ? { authorization: `Bearer ${key}` } : undefined;
      const res = await fetch(base + path, { ...init, headers: { ...headers, ...init.headers } });
      return { status: res.status, body: await res.json() };
    };
    assert.equal((await call("/healthz")).status, 200);
    assert.equal((await call("/readyz")).status, 200);
    // Compat endpoint: HTTP 200 with code in the body; /api/v1: matching HTTP status.
    assert.equal((await call("/user/list?appId=101")).body.code, 1003);
    assert.equal((await call("/user/list?appId=101", "wrong")).body.code, 1003);
    assert.equal((await call("/user/list?appId=101", "admin-key")).body.code, 200);
    assert.equal((await call("/api/v1/users?appId=101")).status, 401);
    assert.equal((await call("/api/v1/users?appId=101", "t101")).status, 200);
    const other = await call("/api/v1/users?appId=102", "t101");
    assert.deepEqual([other.status, other.body.code], [403, 1020]);
    const all = await call("/api/v1/users", "t101");
    assert.deepEqual([all.status, all.body.code], [403, 1020]);
    assert.equal((await call("/system/state", "admin-key")).body.code, 200);
    assert.equal((await call("/system/state", "t101")).body.code, 1020);
    const send = (key: string, appId: number) =>
      call("/api/v1/messages", key, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ appId, to: "bob", msg: "hi" }),
      });
    assert.equal((await send("t101", 101)).status, 200);
    assert.equal((await send("t101", 102)).status, 403);
    assert.equal((await send("admin-key", 102)).status, 200);
  });
});
