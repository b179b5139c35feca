/**
 * The entry point as a user runs it: `deno run <start task flags> src/main.ts --config x.yaml` in a
 * subprocess, with the start task's exact permissions (so a missing --allow-* shows up here).
 */
import assert from "node:assert/strict";
import { CloseCode } from "../../src/protocol/codes.ts";
import { TestClient } from "../support/helpers.ts";
import { childEnv, quietEnv, START_FLAGS } from "../support/node_process.ts";

const YAML = [
  "app:",
  "  hostname: 127.0.0.1",
  "  httpPort: 0",
  "  webSocketPort: 0",
  '  logFile: ""',
  "  logLevel: warning",
  "drain:",
  "  window: 0.2",
  "  deadline: 10",
  // The working directory is the repository: keep its data/ out of these tests (sqlite_process_test.ts
  // runs the default store in a directory of its own).
  "store:",
  "  engine: memory",
].join("\n");

/** A running `src/main.ts` and its output so far. */
interface Child {
  process: Deno.ChildProcess;
  httpPort: number;
  wsPort: number;
  /** Resolves with all of stdout and stderr once the process has exited. */
  output: Promise<{ stdout: string; stderr: string; code: number }>;
}

async function writeConfig(text: string): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "imserver-main-" });
  const path = `${dir}/app.yaml`;
  await Deno.writeTextFile(path, text);
  return { dir, path };
}

/** Start main.ts and wait (at most 60 s) for its "imserver listening" line. */
async function spawn(configPath: string): Promise<Child> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", ...START_FLAGS, "src/main.ts", "--config", configPath],
    stdout: "piped",
    stderr: "piped",
    env: childEnv({ NO_COLOR: "1" }),
    clearEnv: true,
  }).spawn();
  const stderr = new Response(process.stderr).text();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  let match: RegExpMatchArray | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no listening line in 60 s; stdout: ${stdout}`)), 60_000);
  });
  try {
    while (!match) {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) break;
      stdout += value;
      match = stdout.match(/imserver listening http=(\d+) ws=(\d+) node=\S+/);
    }
  } finally {
    clearTimeout(timer);
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return stdout;
      stdout += value;
    }
  })();
  const output = Promise.all([rest, stderr, process.status]).then(([stdout, stderr, status]) => ({
    stdout,
    stderr,
    code: status.code,
  }));
  if (!match) {
    const out = await output;
    throw new Error(`main.ts exited ${out.code} without listening: ${out.stdout} ${out.stderr}`);
  }
  return { process, httpPort: Number(match[1]), wsPort: Number(match[2]), output };
}

Deno.test("main: the start task grants least privilege (write only log/ and data/, scoped sys, no run/ffi/all)", () => {
  assert.ok(
    START_FLAGS.includes("--allow-net") && START_FLAGS.includes("--allow-read"),
    START_FLAGS.join(" "),
  );
  // log/: app.logFile; data/: the SQLite store (store.path, store.backupDir) and nothing else.
  assert.ok(START_FLAGS.includes("--allow-write=log,data"), "writes only to log/ and data/");
  assert.ok(START_FLAGS.some((f) => /^--allow-sys=./.test(f)), "sys access is scoped");
  for (const f of START_FLAGS) assert.doesNotMatch(f, /^--allow-(all|run|ffi|write$|sys$)/, f);
});

Deno.test("main: --config with ports 0 serves; SIGINT closes clients with 1001 and exits 0", async () => {
  const { dir, path } = await writeConfig(YAML);
  try {
    const child = await spawn(path);
    assert.ok(child.httpPort > 0 && child.wsPort > 0);
    assert.notEqual(child.httpPort, child.wsPort);
    const client = await TestClient.connect(child.wsPort);
    assert.equal((await client.login("alice")).userId, "alice");
    const health = await fetch(`http://127.0.0.1:${child.httpPort}/healthz`);
    assert.deepEqual(await health.json(), { status: "ok" });
    child.process.kill("SIGINT");
    const closed = await client.closed;
    assert.equal(closed.code, CloseCode.GoingAway);
    assert.match(closed.reason, /shutting down/);
    const out = await child.output;
    assert.equal(out.code, 0, out.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main: the disconnect log line names the user also when the server closed the connection", async () => {
  const yaml = YAML.replace("logLevel: warning", "logLevel: info") + "\nim:\n  multiDevice: single\n";
  const { dir, path } = await writeConfig(yaml);
  try {
    const child = await spawn(path);
    const first = await TestClient.connect(child.wsPort);
    await first.login("alice");
    const second = await TestClient.connect(child.wsPort);
    await second.login("alice"); // multiDevice single: the first is kicked (4000) by the server
    assert.equal((await first.closed).code, CloseCode.Kicked);
    await second.close();
    // The client has the server's close frame before the server has logged the disconnect: wait for the
    // server to see alice gone, or SIGINT may come first (then the line says "server shutting down").
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`http://127.0.0.1:${child.httpPort}/user/online?userId=alice&appId=101`);
      if ((await res.json()).data?.online === false) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.process.kill("SIGINT");
    const { stdout } = await child.output;
    const lines = stdout.split("\n").filter((l) => /\bdisconnect\b/.test(l));
    assert.equal(lines.length, 2, stdout);
    assert.match(lines.find((l) => / 4000 /.test(l)) ?? "", /disconnect \S+ "?alice"? 4000 "?kicked/, stdout);
    assert.match(
      lines.find((l) => /client closed/.test(l)) ?? "",
      /disconnect \S+ "?alice"? \d+ "?client closed/,
      stdout,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main: SIGTERM drains (reconnect push, close 1012 with a retry hint) and exits 0", async () => {
  const { dir, path } = await writeConfig(YAML);
  try {
    const child = await spawn(path);
    const client = await TestClient.connect(child.wsPort);
    await client.login("alice");
    child.process.kill("SIGTERM");
    const hint = await client.push("reconnect", 20_000);
    assert.equal(typeof hint.response.data.retryMs, "number");
    const closed = await client.closed;
    assert.equal(closed.code, CloseCode.ServiceRestart);
    assert.match(closed.reason, /retry in \d+ ms/);
    const out = await child.output;
    assert.equal(out.code, 0, out.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Run main.ts with `args` and `env` until it exits by itself; a server that starts instead is killed
 * after 30 s (on free loopback ports, so a wrongly started server never takes 8080).
 */
async function runToExit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...START_FLAGS, "src/main.ts", ...args],
    stdout: "piped",
    stderr: "piped",
    env: childEnv({ NO_COLOR: "1", ...quietEnv(), ...env }),
    clearEnv: true,
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("main: an invalid config exits non-zero naming the key and the line", async () => {
  const { dir, path } = await writeConfig("app:\n  httpPort: 0\n  webSocketPort: 70000\n");
  try {
    const out = await runToExit(["--config", path]);
    assert.notEqual(out.code, 0);
    assert.ok(out.stderr.includes(`${path}:3: app.webSocketPort`), out.stderr);
    assert.equal(out.stderr.trim().split("\n").length, 1, `one clear line: ${out.stderr}`);
    await Deno.writeTextFile(path, "app:\n  httpPort: 0\nim:\n  nope: 1\n");
    const unknown = await runToExit([`--config=${path}`]);
    assert.notEqual(unknown.code, 0);
    assert.ok(unknown.stderr.includes(`${path}:4: unknown key "im.nope"`), unknown.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main: a named config file that does not exist is an error", async () => {
  const out = await runToExit(["--config", "/nonexistent/imserver.yaml"]);
  assert.notEqual(out.code, 0);
  assert.ok(out.stderr.includes("/nonexistent/imserver.yaml"), out.stderr);
});

Deno.test("main: the test harness's own switches (IM_REQUIRE_*, IM_TEST_*) never reach a server process", () => {
  // CI exports IM_REQUIRE_REDIS=1 / IM_REQUIRE_BROWSER=1; the server would reject them as unknown settings.
  Deno.env.set("IM_TEST_PROBE", "1");
  Deno.env.set("IM_REQUIRE_PROBE", "1");
  try {
    const env = childEnv({ IM_APP_HTTPPORT: "0" });
    assert.equal(env.IM_TEST_PROBE, undefined);
    assert.equal(env.IM_REQUIRE_PROBE, undefined);
    assert.equal(env.IM_APP_HTTPPORT, "0");
    assert.equal(env.PATH, Deno.env.get("PATH"));
  } finally {
    Deno.env.delete("IM_TEST_PROBE");
    Deno.env.delete("IM_REQUIRE_PROBE");
  }
});

Deno.test("main: --help and -h print the usage and exit 0 without starting anything", async () => {
  for (const flag of ["--help", "-h"]) {
    const out = await runToExit([flag]);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.doesNotMatch(out.stdout, /imserver listening/);
    for (
      const part of [
        "--config <path>",
        "--help",
        "--version",
        "config/app.yaml",
        "IM_<SECTION>_<KEY>",
        "README",
      ]
    ) {
      assert.ok(out.stdout.includes(part), `usage mentions ${part}: ${out.stdout}`);
    }
    assert.equal(out.stderr, "");
  }
  // Help wins over a mistake next to it (the user is asking how to fix it).
  assert.equal((await runToExit(["--confg", "x", "--help"])).code, 0);
  const version = await runToExit(["--version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^imserver \d+\.\d+\.\d+/);
});

Deno.test("main: an unknown option or a stray argument exits 2 with one line, nothing started", async () => {
  const typo = await runToExit(["--confg", "x.yaml"]);
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr, 'imserver: unknown option "--confg" (see --help)\n');
  assert.doesNotMatch(typo.stdout, /listening/);
  const stray = await runToExit(["serve"]);
  assert.equal(stray.code, 2);
  assert.equal(stray.stderr, 'imserver: unexpected argument "serve" (see --help)\n');
  const bare = await runToExit(["--config"]);
  assert.equal(bare.code, 2);
  assert.equal(bare.stderr, "imserver: option --config needs a path (see --help)\n");
});

Deno.test("main: an unknown IM_* variable or an unparsable value exits 2 naming it", async () => {
  const typo = await runToExit([], { IM_APP_HTTPPROT: "9000" });
  assert.equal(typo.code, 2);
  assert.equal(
    typo.stderr,
    "imserver: config error: environment IM_APP_HTTPPROT is not a setting; did you mean IM_APP_HTTPPORT?\n",
  );
  const bad = await runToExit([], { IM_APP_HTTPPORT: "abc" });
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr,
    'imserver: config error: environment IM_APP_HTTPPORT="abc" (app.httpPort): expected an integer, got "abc"\n',
  );
});

Deno.test("main: a port in use exits 4 with one line naming address, port and setting, no stack trace", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    for (
      const [env, setting] of [
        [{ IM_APP_HTTPPORT: String(port) }, "app.httpPort"],
        // The HTTP listener is already open when the WebSocket one fails: it must not keep the process up.
        [{ IM_APP_WEBSOCKETPORT: String(port) }, "app.webSocketPort"],
        [{ IM_APP_HTTPPORT: String(port), IM_APP_WEBSOCKETPORT: String(port) }, "app.httpPort"],
      ] as const
    ) {
      const out = await runToExit([], env);
      assert.equal(out.code, 4, `${JSON.stringify(env)}: ${out.stderr}`);
      assert.equal(
        out.stderr,
        `imserver: cannot listen on 127.0.0.1:${port} (${setting}): address already in use\n`,
      );
      assert.doesNotMatch(out.stderr, /Uncaught|^\s+at /m);
      assert.doesNotMatch(out.stdout, /imserver listening/);
    }
  } finally {
    taken.close();
  }
});

Deno.test("README quick start: the curl example delivers every time it is run, and msgId is explained", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const quickStart = readme.slice(
    readme.indexOf("## Quick start"),
    readme.indexOf("\n## ", readme.indexOf("## Quick start") + 1),
  );
  const curl = quickStart.match(/^curl (.*) http:\/\/localhost:8080(\/user\/sendMessage)$/m);
  assert.ok(curl, "the quick start has a curl example for /user/sendMessage");
  const form = new URLSearchParams([...curl[1].matchAll(/-d (\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
  // The sentence next to the example says what msgId is for, since a copied fixed msgId is de-duplicated.
  const near = quickStart.slice(quickStart.indexOf(curl[0]) - 400, quickStart.indexOf(curl[0]) + 800);
  for (const part of ["msgId", "duplicate: true", "im.msgIdDedupTtl"]) {
    assert.ok(near.includes(part), `the quick start explains ${part} next to the curl example`);
  }
  const { dir, path } = await writeConfig(YAML);
  try {
    const child = await spawn(path);
    const bob = await TestClient.connect(child.wsPort);
    await bob.login(form.get("userId")!, Number(form.get("appId")));
    // A first-time user runs the example, then runs it again: both must arrive.
    for (let run = 1; run <= 2; run++) {
      const reply: Response = await fetch(`http://127.0.0.1:${child.httpPort}${curl[2]}`, {
        method: "POST",
        body: form,
      });
      const json: { code: number; data: { duplicate?: boolean } } = await reply.json();
      assert.equal(json.code, 200, JSON.stringify(json));
      assert.notEqual(json.data.duplicate, true, `run ${run}: ${JSON.stringify(json)}`);
      assert.equal((await bob.push("msg")).response.data.msg, form.get("message"));
    }
    child.process.kill("SIGINT");
    await bob.closed;
    assert.equal((await child.output).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
