import assert from "node:assert/strict";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { TestClient, testConfig, withServer } from "../support/helpers.ts";
import { JwtAuthenticator } from "../../src/auth/jwt.ts";
import { ReplyError } from "../../src/protocol/errors.ts";
import { childEnv } from "../support/node_process.ts";

const SECRET = "test-secret-of-enough-length-0123456789";
const nowS = () => Math.floor(Date.now() / 1000);

interface TokenOptions {
  sub?: string;
  app?: unknown;
  exp?: number;
  nbf?: number;
  iss?: string;
  aud?: string;
  secret?: string;
}

function hsToken(o: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ app: "app" in o ? o.app : 101 })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(o.sub ?? "alice")
    .setExpirationTime(o.exp ?? nowS() + 600);
  if (o.nbf !== undefined) jwt.setNotBefore(o.nbf);
  if (o.iss) jwt.setIssuer(o.iss);
  if (o.aud) jwt.setAudience(o.aud);
  return jwt.sign(new TextEncoder().encode(o.secret ?? SECRET));
}

const jwtAuth = { mode: "jwt" as const, secret: SECRET, clockSkew: 0 };

Deno.test("jwt: valid, missing, expired, wrong signature, wrong sub, wrong app, nbf", async () => {
  await withServer({ auth: jwtAuth }, async (server) => {
    const c = await TestClient.connect(server.wsPort);
    const cases: Array<[string, Record<string, unknown>, number]> = [
      ["no token", { userId: "alice", appId: 101 }, 1003],
      ["expired", { token: await hsToken({ exp: nowS() - 5 }) }, 1014],
      ["wrong signature", { token: await hsToken({ secret: "another-secret-another-secret" }) }, 1003],
      ["garbage token", { token: "not.a.jwt" }, 1003],
      ["other userId", { userId: "mallory", token: await hsToken() }, 1003],
      ["app not allowed", { token: await hsToken({ app: 999 }) }, 1003],
      ["no app claim", { token: await hsToken({ app: undefined }) }, 1003],
      ["appId differs from claim", { appId: 102, token: await hsToken() }, 1003],
      ["not yet valid", { token: await hsToken({ nbf: nowS() + 300 }) }, 1003],
    ];
    for (const [what, data, code] of cases) {
      const reply = await c.request("login", data);
      assert.equal(reply.response.code, code, what);
      assert.ok(!JSON.stringify(reply).includes(String(data.token ?? "\u0000")), `${what}: token echoed`);
    }
    const ok = await c.request("login", { token: await hsToken({ app: "101" }) });
    assert.equal(ok.response.code, 200);
    assert.equal(ok.response.data.userId, "alice");
    assert.equal(ok.response.data.appId, 101);
    assert.ok(ok.response.data.expiresAt > Date.now());
    await c.close();
  });
});

Deno.test("jwt: issuer and audience are enforced when configured", async () => {
  await withServer({ auth: { ...jwtAuth, issuer: "https://idp", audience: "im" } }, async (server) => {
    const c = await TestClient.connect(server.wsPort);
    const bad = await c.request("login", { token: await hsToken({ iss: "https://evil", aud: "im" }) });
    assert.equal(bad.response.code, 1003);
    const noAud = await c.request("login", { token: await hsToken({ iss: "https://idp" }) });
    assert.equal(noAud.response.code, 1003);
    const ok = await c.request("login", { token: await hsToken({ iss: "https://idp", aud: "im" }) });
    assert.equal(ok.response.code, 200);
    await c.close();
  });
});

Deno.test("jwt: RS256 PEM public key (inline and file) and ES256 JWKS file", async () => {
  const rsa = await generateKeyPair("RS256");
  const ec = await generateKeyPair("ES256");
  const pem = await exportSPKI(rsa.publicKey);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/rsa.pem`, pem);
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: "k1", alg: "ES256" };
    await Deno.writeTextFile(`${dir}/jwks.json`, JSON.stringify({ keys: [jwk] }));
    const sign = (alg: string, key: CryptoKey, kid?: string) =>
      new SignJWT({ app: 102 }).setProtectedHeader(kid ? { alg, kid } : { alg }).setSubject("bob")
        .setExpirationTime("5m").sign(key);
    const rsToken = await sign("RS256", rsa.privateKey);
    const esToken = await sign("ES256", ec.privateKey, "k1");
    for (const publicKey of [pem, `${dir}/rsa.pem`]) {
      const auth = await JwtAuthenticator.create(testConfig({ auth: { mode: "jwt", publicKey } }));
      assert.equal((await auth.authenticate({ token: rsToken })).userId, "bob");
      // An ES256 token must not verify against the RSA key.
      await assert.rejects(
        auth.authenticate({ token: esToken }),
        (e) => e instanceof ReplyError && e.code === 1003,
      );
    }
    const jwks = await JwtAuthenticator.create(
      testConfig({ auth: { mode: "jwt", jwksUrl: `${dir}/jwks.json` } }),
    );
    const who = await jwks.authenticate({ token: esToken });
    assert.deepEqual([who.userId, who.appId], ["bob", 102]);
    await assert.rejects(
      jwks.authenticate({ token: rsToken }),
      (e) => e instanceof ReplyError && e.code === 1003,
    );
    // HS256 tokens must never be accepted by a public-key configuration (algorithm confusion).
    const hs = await new SignJWT({ app: 102 }).setProtectedHeader({ alg: "HS256" }).setSubject("bob")
      .setExpirationTime("5m").sign(new TextEncoder().encode(pem));
    const rsAuth = await JwtAuthenticator.create(testConfig({ auth: { mode: "jwt", publicKey: pem } }));
    await assert.rejects(
      rsAuth.authenticate({ token: hs }),
      (e) => e instanceof ReplyError && e.code === 1003,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jwt: refresh before expiry keeps the connection, expiry closes with 4002", async () => {
  await withServer({ auth: jwtAuth }, async (server) => {
    const keeper = await TestClient.connect(server.wsPort);
    const lapser = await TestClient.connect(server.wsPort);
    const short = nowS() + 3;
    assert.equal(
      (await keeper.request("login", { token: await hsToken({ exp: short }) })).response.code,
      200,
    );
    assert.equal(
      (await lapser.request("login", { token: await hsToken({ sub: "bob", exp: short }) })).response.code,
      200,
    );
    const wrong = await keeper.request("refresh", { token: await hsToken({ sub: "bob" }) });
    assert.equal(wrong.response.code, 1003);
    const refreshed = await keeper.request("refresh", { token: await hsToken({ exp: nowS() + 600 }) });
    assert.equal(refreshed.response.code, 200);
    assert.ok(refreshed.response.data.expiresAt > short * 1000);

    const push = await lapser.push("tokenExpired", 15_000);
    assert.equal(push.response.data.code, 1014);
    const closed = await lapser.closed;
    assert.equal(closed.code, 4002);
    assert.equal((await keeper.request("ping")).response.data, "pong");
    assert.equal(keeper.socket.readyState, WebSocket.OPEN);
    await keeper.close();
  });
});

Deno.test("jwt: refresh needs a login; auth.mode none keeps working without tokens", async () => {
  await withServer({}, async (server) => {
    const c = await TestClient.connect(server.wsPort);
    assert.equal((await c.request("refresh", { token: "x" })).response.code, 1000);
    await c.login("carol");
    const r = await c.request("refresh", { token: "x" });
    assert.equal(r.response.code, 200);
    assert.equal(r.response.data.expiresAt, null);
    await c.close();
  });
});

Deno.test("logs never contain tokens or API keys (console and file, real process)", async () => {
  const dir = await Deno.makeTempDir();
  const apiKey = "k3y-never-in-logs-77";
  await Deno.writeTextFile(
    `${dir}/app.yaml`,
    [
      "app:",
      "  hostname: 127.0.0.1",
      "  httpPort: 0",
      "  webSocketPort: 0",
      `  logFile: ${dir}/im.log`,
      "  logLevel: trace",
      "auth:",
      "  mode: jwt",
      `  secret: ${SECRET}`,
      "api:",
      `  keys: [${apiKey}]`,
    ].join("\n"),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../src/main.ts", import.meta.url).pathname,
      "--config",
      `${dir}/app.yaml`,
    ],
    env: childEnv({ IM_STORE_ENGINE: "memory" }), // many servers, one data/ directory
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout: string[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let ports: RegExpMatchArray | null = null;
    for (let i = 0; i < 200 && !ports; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout.push(value);
      ports = stdout.join("").match(/listening http=(\d+) ws=(\d+)/);
    }
    assert.ok(ports, "server did not start");
    const token = await hsToken();
    const c = await TestClient.connect(Number(ports[2]));
    assert.equal((await c.request("login", { userId: "mallory", token })).response.code, 1003);
    assert.equal((await c.request("login", { token })).response.code, 200);
    assert.equal((await c.request("refresh", { token })).response.code, 200);
    await c.close();
    for (const key of [apiKey, "wrong-key-also-secret"]) {
      const res = await fetch(`http://127.0.0.1:${ports[1]}/api/v1/users?appId=101`, {
        headers: { authorization: `Bearer ${key}` },
      });
      await res.body?.cancel();
    }
    child.kill("SIGTERM");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout.push(value);
    }
    const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
    await child.status;
    const file = await Deno.readTextFile(`${dir}/im.log`);
    assert.match(file, /login/, "the log file should record the login");
    for (const [where, text] of [["console", stdout.join("") + stderr], ["file", file]]) {
      for (const secret of [token, token.split(".")[2], apiKey, "wrong-key-also-secret", SECRET]) {
        assert.ok(!text.includes(secret), `${where} log contains a secret`);
      }
    }
  } finally {
    reader.releaseLock();
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jwt: JWKS fetched from a URL", async () => {
  const ec = await generateKeyPair("ES256");
  const jwks = { keys: [{ ...(await exportJWK(ec.publicKey)), kid: "remote", alg: "ES256" }] };
  let fetched = 0;
  const idp = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    fetched++;
    return Response.json(jwks);
  });
  try {
    const jwksUrl = `http://127.0.0.1:${idp.addr.port}/.well-known/jwks.json`;
    const auth = await JwtAuthenticator.create(testConfig({ auth: { mode: "jwt", jwksUrl } }));
    const token = await new SignJWT({ app: 101 }).setProtectedHeader({ alg: "ES256", kid: "remote" })
      .setSubject("erin").setExpirationTime("5m").sign(ec.privateKey);
    assert.equal((await auth.authenticate({ token })).userId, "erin");
    assert.equal((await auth.authenticate({ token })).userId, "erin");
    assert.equal(fetched, 1, "the key set is cached");
  } finally {
    await idp.shutdown();
  }
});

Deno.test("jwt: hostile tokens are refused with 1003/1014, never another error", async () => {
  const { Gen } = await import("../fuzz/gen.ts");
  const gen = new Gen(99);
  const auth = await JwtAuthenticator.create(testConfig({ auth: { mode: "jwt", secret: SECRET } }));
  const good = await hsToken();
  const b64 = (o: unknown) =>
    btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const forged = [
    `${b64({ alg: "none" })}.${b64({ sub: "admin", app: 101 })}.`,
    `${b64({ alg: "HS256", crit: ["x"] })}.${b64({ sub: "admin", app: 101 })}.${good.split(".")[2]}`,
    `${b64({ alg: "RS256" })}.${good.split(".")[1]}.${good.split(".")[2]}`,
  ];
  let refused = 0;
  for (let i = 0; i < 2000; i++) {
    const token = i < forged.length ? forged[i] : i % 2 ? gen.mutate(good) : gen.text(gen.int(0, 300));
    try {
      const who = await auth.authenticate({ token });
      // A mutation may leave the signed parts intact (e.g. trailing junk jose ignores); then it must be alice.
      assert.equal(who.userId, "alice", `token ${JSON.stringify(token)} verified as ${who.userId}`);
    } catch (error) {
      assert.ok(error instanceof ReplyError && [1003, 1014].includes(error.code), `${token}: ${error}`);
      refused++;
    }
  }
  assert.ok(refused >= 1990, `only ${refused} of 2000 hostile tokens refused`);
});
