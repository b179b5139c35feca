/**
 * Audit regressions, security at start-up (item 10): `auth.mode: jwt` without `api.keys` leaves
 * the HTTP API open. The server runs as `deno run <start flags> src/main.ts` with env overrides
 * (keys the fix adds, like `IM_API_OPEN`, are silently ignored by today's loader).
 *
 * These tests describe the fixed behaviour; each fails on the code the audit looked at.
 * @module
 */
import assert from "node:assert/strict";
import { childEnv, MAIN, quietEnv, START_FLAGS } from "../support/node_process.ts";

const SECRET = "audit-secret-of-enough-length-0123456789";

/** What a server process did: exited by itself (with its code) or printed its listening line. */
interface Outcome {
  listening: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run main.ts with `env` until it exits or prints its listening line (then stop it with SIGINT
 * after `holdMs`, so start-up warnings have been written), at most 30 s.
 */
async function run(env: Record<string, string>, holdMs = 300): Promise<Outcome> {
  // An empty config file: only the defaults and `env` apply, whatever ./config/app.yaml says.
  const dir = await Deno.makeTempDir({ prefix: "im-audit-" });
  await Deno.writeTextFile(`${dir}/app.yaml`, "# defaults only\n");
  try {
    return await runWith(["--config", `${dir}/app.yaml`], env, holdMs);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function runWith(extraArgs: string[], env: Record<string, string>, holdMs: number): Promise<Outcome> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...START_FLAGS, MAIN, ...extraArgs],
    // Without the harness switches (IM_REQUIRE_*, set by .ci/run): the server refuses unknown IM_* names.
    env: childEnv({ NO_COLOR: "1", ...env }),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "", stderr = "";
  const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) add(chunk);
  };
  const pumps = Promise.all([pump(child.stdout, (s) => stdout += s), pump(child.stderr, (s) => stderr += s)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = Date.now() + 30_000;
  while (!exited && !/imserver listening/.test(stdout) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const listening = /imserver listening/.test(stdout);
  if (!exited) {
    if (listening) await new Promise((r) => setTimeout(r, holdMs));
    child.kill(listening ? "SIGINT" : "SIGKILL");
  }
  const { code } = await status;
  await pumps;
  return { listening, code, stdout, stderr };
}

Deno.test("audit #10: auth.mode jwt without api.keys (and without api.open) refuses to start: exit 2, names api.keys", async () => {
  // The explicit opt-out starts (today too: IM_API_OPEN is ignored).
  const open = await run(quietEnv({ IM_AUTH_MODE: "jwt", IM_AUTH_SECRET: SECRET, IM_API_OPEN: "true" }));
  assert.ok(open.listening, `with IM_API_OPEN=true the server must start: ${open.stdout} ${open.stderr}`);
  // With keys it starts.
  const keyed = await run(quietEnv({ IM_AUTH_MODE: "jwt", IM_AUTH_SECRET: SECRET, IM_API_KEYS: "k1" }));
  assert.ok(keyed.listening, `with api.keys the server must start: ${keyed.stdout} ${keyed.stderr}`);

  const refused = await run(quietEnv({ IM_AUTH_MODE: "jwt", IM_AUTH_SECRET: SECRET }));
  assert.equal(
    refused.listening,
    false,
    "auth.mode jwt started with an open HTTP API (no api.keys, no api.open)",
  );
  assert.equal(refused.code, 2, `exit code ${refused.code}; stderr: ${refused.stderr}`);
  assert.match(refused.stderr, /api\.keys/, `stderr must name api.keys: ${refused.stderr}`);
});

Deno.test("audit #10: an HTTP API without keys on a non-loopback address warns at start-up", async () => {
  const out = await run(quietEnv({ IM_APP_HOSTNAME: "0.0.0.0", IM_APP_LOGLEVEL: "info" }));
  assert.ok(out.listening, `the server must start: ${out.stdout} ${out.stderr}`);
  const lines = `${out.stdout}\n${out.stderr}`.split("\n");
  const warning = lines.find((l) =>
    /http api/i.test(l) && /open|unauth|unprotected|anyone|(no|without) (api )?keys|api\.keys/i.test(l)
  );
  assert.ok(
    warning,
    `no start-up warning about the open HTTP API on 0.0.0.0; output:\n${lines.join("\n").slice(0, 2000)}`,
  );
});
