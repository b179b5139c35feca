/**
 * The admin key guard (src/admin/keys.ts) and the `admin` config section: admin keys are their own
 * set, an API key is never an admin key, and only a key's fingerprint is ever shown.
 * @module
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { AdminGuard, keyFingerprint } from "../../src/admin/keys.ts";
import { ReplyError } from "../../src/protocol/errors.ts";

const req = (auth?: string) =>
  new Request("http://x/api/v1/admin/overview", { headers: auth ? { authorization: auth } : {} });

function refusal(fn: () => unknown): ReplyError & { status?: number } {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ReplyError, String(error));
    return error;
  }
  assert.fail("expected a refusal");
}

Deno.test("config: admin.keys from YAML and IM_ADMIN_KEYS; disabled by default", async () => {
  const defaults = await loadConfig({ text: "" });
  assert.deepEqual(defaults.admin.keys, []);
  assert.equal(defaults.admin.history, 600);
  const fromEnv = await loadConfig({ text: "", env: { IM_ADMIN_KEYS: "a-long-admin-key-1,second-key-22" } });
  assert.deepEqual(fromEnv.admin.keys, ["a-long-admin-key-1", "second-key-22"]);
  const fromYaml = await loadConfig({ text: "admin:\n  keys: [k1]\n  history: 120\n" });
  assert.deepEqual(fromYaml.admin.keys, ["k1"]);
  assert.equal(fromYaml.admin.history, 120);
});

Deno.test("AdminGuard: no key or an unknown key → 401 (1003); an API key → 403; an admin key → its fingerprint", () => {
  const guard = new AdminGuard(["admin-secret-0001"], ["api-secret-0001", "tenant:101"]);
  assert.equal(guard.enabled, true);
  for (const auth of [undefined, "Bearer nope", "Basic admin-secret-0001", "Bearer "]) {
    const e = refusal(() => guard.check(req(auth)));
    assert.equal(e.code, 1003);
    assert.equal(e.status, 401, String(auth));
  }
  for (const key of ["api-secret-0001", "tenant"]) {
    const e = refusal(() => guard.check(req(`Bearer ${key}`)));
    assert.equal(e.status, 403);
    assert.match(e.message, /not an admin key/);
  }
  const caller = guard.check(req("Bearer admin-secret-0001"));
  assert.equal(caller.fingerprint, keyFingerprint("admin-secret-0001"));
  assert.match(caller.fingerprint, /^[0-9a-f]{12}$/);
  assert.ok(!caller.fingerprint.includes("admin-secret"));
});

Deno.test("AdminGuard: without admin.keys the console is disabled and says how to enable it", () => {
  const guard = new AdminGuard([], []);
  assert.equal(guard.enabled, false);
  const e = refusal(() => guard.check(req("Bearer anything")));
  assert.equal(e.status, 404);
  assert.match(e.message, /admin\.keys/);
});

Deno.test("AdminGuard: a key in both lists is an admin key; short keys are reported", () => {
  const guard = new AdminGuard(["shared-key-000001", "short"], ["shared-key-000001"]);
  assert.equal(guard.check(req("Bearer shared-key-000001")).fingerprint, keyFingerprint("shared-key-000001"));
  assert.deepEqual(guard.weakKeys, [keyFingerprint("short")]);
});
