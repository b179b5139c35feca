/**
 * Audit regressions, security: an app-limited API key reading node-wide `/system/state`
 * (item 11) and a JWT `sub` that is not a valid userId (item 12). Item 10 (start-up checks of
 * `auth.mode: jwt` with an open HTTP API) runs the server as a process: tests/process/audit_security_test.ts.
 *
 * These tests describe the fixed behaviour; each fails on the code the audit looked at.
 * @module
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { TestClient, withServer } from "../support/helpers.ts";

const SECRET = "audit-secret-of-enough-length-0123456789";

/** An HS256 token for `sub` in app 101, valid for 10 minutes. */
function token(sub: string): Promise<string> {
  return new SignJWT({ app: 101 })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
    .sign(new TextEncoder().encode(SECRET));
}

Deno.test("audit #11: an app-limited API key cannot read node-wide /system/state", async () => {
  await withServer({ api: { keys: ["adminkey", "appkey:101"] } }, async (server) => {
    const get = async (key: string, query: string) => {
      const res = await fetch(`http://127.0.0.1:${server.httpPort}/system/state${query}`, {
        headers: { authorization: `Bearer ${key}` },
      });
      return await res.json();
    };
    // The unrestricted key reads it (this already holds today).
    const admin = await get("adminkey", "?isDebug=true");
    assert.equal(admin.code, 200, JSON.stringify(admin));
    assert.equal(admin.data.nodeId, server.nodeId);

    const limited = await get("appkey", "?appId=101&isDebug=true");
    assert.equal(
      limited.code,
      1020,
      `an app-limited key read the node's state: ${JSON.stringify(limited).slice(0, 200)}`,
    );
    assert.ok(!JSON.stringify(limited).includes(server.nodeId), "no node data in the refusal");
    assert.equal(limited.data?.memory, undefined);
  });
});

Deno.test("audit #12: a JWT whose sub is not a valid userId (too long, control characters) is refused with 1002", async () => {
  await withServer({ auth: { mode: "jwt", secret: SECRET, clockSkew: 0 } }, async (server) => {
    const c = await TestClient.connect(server.wsPort);
    try {
      const cases: Array<[string, string]> = [
        ["a 322-byte sub", "u".repeat(322)],
        ["a sub with a newline", "ali\nce"],
        ["a sub with a NUL", "bob\u0000"],
      ];
      for (const [what, sub] of cases) {
        const reply = await c.request("login", { appId: 101, token: await token(sub) });
        if (reply.response.code === 200) await c.request("logout");
        assert.equal(
          reply.response.code,
          1002,
          `${what} logged in: ${JSON.stringify(reply.response).slice(0, 160)}`,
        );
      }
      // A valid sub still logs in.
      const ok = await c.request("login", { appId: 101, token: await token("alice") });
      assert.equal(ok.response.code, 200, JSON.stringify(ok.response));
      assert.equal(ok.response.data.userId, "alice");
    } finally {
      await c.close();
    }
  });
});

Deno.test("audit C1: a lone surrogate in any string is refused with 1001/1002 and never reaches the SQLite store", async () => {
  const dir = await Deno.makeTempDir({ prefix: "im-surrogate-" });
  try {
    await withServer({ store: { engine: "sqlite", path: `${dir}/im.db` } }, async (server) => {
      // "\ud800x" and "\udbffx" differ in JavaScript and are the same bytes in SQLite (both become U+FFFD)
      const a = await TestClient.connect(server.wsPort), b = await TestClient.connect(server.wsPort);
      const honest = await TestClient.connect(server.wsPort), peer = await TestClient.connect(server.wsPort);
      try {
        for (const [c, id] of [[a, "\ud800x"], [b, "\udbffx"]] as const) {
          const reply = await c.request("login", { appId: 101, userId: id });
          assert.equal(
            reply.response.code,
            1001,
            `login as a lone surrogate: ${JSON.stringify(reply.response)}`,
          );
          assert.match(reply.response.codeMsg + JSON.stringify(reply.response.data), /Unicode/);
        }
        assert.equal((await honest.request("login", { appId: 101, userId: "hon" })).response.code, 200);
        assert.equal((await peer.request("login", { appId: 101, userId: "peer" })).response.code, 200);
        for (const data of [{ to: "\udbffy", msg: "x" }, { to: "peer", msg: "half \udc00 a pair" }]) {
          const reply = await honest.request("sendMsg", data);
          assert.equal(
            reply.response.code,
            1001,
            `sendMsg ${JSON.stringify(data)}: ${JSON.stringify(reply.response)}`,
          );
        }
        assert.equal((await honest.request("joinRoom", { room: "\ud83dR" })).response.code, 1001);
        // a well-formed pair (an emoji) is fine
        const ok = await honest.request("sendMsg", { to: "peer", msg: "ok \ud83d\ude00" });
        assert.equal(ok.response.code, 200, JSON.stringify(ok.response));
        // the HTTP API: a client mistake (400 with 1001), not the store failing (503 with 1024)
        for (const to of ["\ud800z", "\udbffz"]) {
          const res = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/messages`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ appId: 101, to, msg: "x" }),
          });
          const body = await res.json();
          assert.equal(
            body.code,
            1001,
            `POST /api/v1/messages to a lone surrogate: ${res.status} ${JSON.stringify(body)}`,
          );
          assert.equal(res.status, 400);
        }
      } finally {
        await Promise.all([a.close(), b.close(), honest.close(), peer.close()]);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
