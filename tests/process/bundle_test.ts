/**
 * Packaging: `deno task bundle` → `dist/imserver.js` runs with `deno run` and exactly the server's
 * permissions, from another working directory (the shipped config and web client are found next to
 * the bundle); `deno task compile` → `dist/imserver` the same way, only when `DENORT_BIN` names a
 * local denort (it cannot be downloaded here); without one, `deno task compile` fails with one
 * paragraph that says what to do, not a DNS error and a backtrace. Both serve the admin console with uPlot.
 * @module
 */
import assert from "node:assert/strict";
import { explainCompileFailure } from "../../src/ops/compile.ts";
import { TestClient } from "../support/helpers.ts";
import { childEnv, quietEnv, spawnServer, START_FLAGS, stopServer } from "../support/node_process.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const ADMIN_KEY = "bundle-admin-key-0000001";

async function task(name: string, env: Record<string, string> = {}): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["task", name], cwd: ROOT, env }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `deno task ${name} failed:\n${text}`);
}

/**
 * Start `cmd args` in an empty directory on the default SQLite store (node:sqlite from the package), log
 * in, send, fetch the web page, SIGTERM → exit 0; start again: the message is still in the inbox.
 */
async function exercise(cmd: string, args: string[], appId: number): Promise<void> {
  const cwd = await Deno.makeTempDir({ prefix: "im-pkg-" });
  const env = quietEnv({ IM_STORE_ENGINE: "sqlite" });
  try {
    const proc = await spawnServer(cmd, args, { ...env, IM_ADMIN_KEYS: ADMIN_KEY }, 60_000, cwd);
    const base = `http://127.0.0.1:${proc.httpPort}`;
    const client = await TestClient.connect(proc.wsPort);
    await client.login("alice", appId);
    const sent = await client.request("sendMsg", { to: "bob", msg: "hi" });
    assert.equal(sent.response.code, 200);
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const js = await fetch(`${base}/web/client.js`);
    assert.equal(js.status, 200);
    await js.body?.cancel();
    // The admin console and its chart library (a text import of uPlot's npm file) travel with the build.
    const admin = await fetch(`${base}/admin`);
    assert.equal(admin.status, 200);
    assert.match(await admin.text(), /admin\.js/);
    const uplot = await fetch(`${base}/admin/uplot.js`);
    assert.match(await uplot.text(), /uPlot/);
    const overview = await fetch(`${base}/api/v1/admin/overview`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    assert.equal((await overview.json()).data.nodes[0].connections, 1);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    const closing = client.closed;
    assert.equal(await stopServer(proc, "SIGTERM"), 0);
    assert.equal((await closing).code, 1012);
    assert.ok((await Deno.stat(`${cwd}/data/imserver.db`)).isFile, "the store is data/imserver.db");
    const again = await spawnServer(cmd, args, env, 60_000, cwd);
    const inbox = await fetch(`http://127.0.0.1:${again.httpPort}/api/v1/inbox?appId=${appId}&userId=bob`);
    assert.deepEqual((await inbox.json()).data.entries.map((e: { msg: string }) => e.msg), ["hi"]);
    assert.equal(await stopServer(again, "SIGTERM"), 0);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

Deno.test("bundle: deno task bundle → dist/imserver.js runs with deno run and the start permissions", async () => {
  await task("bundle");
  const bundle = `${ROOT}dist/imserver.js`;
  const text = await Deno.readTextFile(bundle);
  console.log(`bundle size: ${(await Deno.stat(bundle)).size} bytes`);
  assert.ok(!text.includes("playwright-core"), "no unrelated npm packages in the bundle");
  // Ship the bundle elsewhere (dist/ copied) with its own config: it is read from next to the
  // bundle even though the working directory is another one — only appId 555 is allowed there.
  const shipped = await Deno.makeTempDir({ prefix: "im-dist-" });
  try {
    await Deno.copyFile(bundle, `${shipped}/imserver.js`);
    await Deno.mkdir(`${shipped}/web`);
    for await (const f of Deno.readDir(`${ROOT}dist/web`)) {
      await Deno.copyFile(`${ROOT}dist/web/${f.name}`, `${shipped}/web/${f.name}`);
    }
    await Deno.mkdir(`${shipped}/config`);
    await Deno.writeTextFile(`${shipped}/config/app.yaml`, "im:\n  appIds: [555]\n");
    await exercise(Deno.execPath(), ["run", ...START_FLAGS, `${shipped}/imserver.js`], 555);
  } finally {
    await Deno.remove(shipped, { recursive: true });
  }
});

const denort = Deno.env.get("DENORT_BIN");
Deno.test({
  name: denort
    ? "compile: deno task compile → dist/imserver runs with the embedded config and web client"
    : "compile: skipped — set DENORT_BIN to a local denort binary (deno compile cannot download it here)",
  ignore: !denort,
  fn: async () => {
    await task("compile", { DENORT_BIN: denort! });
    const info = await Deno.stat(`${ROOT}dist/imserver`);
    console.log(`binary size: ${info.size} bytes`);
    await exercise(`${ROOT}dist/imserver`, [], 101);
  },
});

/** Run `deno task compile` with exactly `env` (plus the inherited environment without DENORT_BIN). */
async function compileOutput(env: Record<string, string>): Promise<{ code: number; text: string }> {
  const base = childEnv({ NO_COLOR: "1" });
  // Proxy settings of the caller would decide the download instead of the test.
  for (const name of Object.keys(base)) {
    if (name === "DENORT_BIN" || /^(https?|all|no)_proxy$/i.test(name)) delete base[name];
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile"],
    cwd: ROOT,
    env: { ...base, ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout),
  };
}

/** Whether this host resolves the denort download host (then the test routes it to a closed port). */
async function online(): Promise<boolean> {
  try {
    return (await Deno.resolveDns("dl.deno.land", "A")).length > 0;
  } catch {
    return false;
  }
}

/** A denort that an earlier `deno compile` downloaded: Deno then needs no network and no DENORT_BIN. */
async function cachedDenort(): Promise<boolean> {
  const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output();
  const { denoDir } = JSON.parse(new TextDecoder().decode(info.stdout));
  const zip = `${denoDir}/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
  return await Deno.stat(zip).then(() => true, () => false);
}

Deno.test("compile: the task runs src/ops/compile.ts with only run=deno and env=DENORT_BIN, and today's flags", async () => {
  const deno = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const task: string = deno.tasks.compile;
  assert.ok(task.startsWith("deno run --allow-run=deno --allow-env=DENORT_BIN src/ops/compile.ts "), task);
  // The binary keeps the start task's permissions; the embedded files and the output stay as they were.
  const compileArgs = task.slice(task.indexOf("src/ops/compile.ts ") + "src/ops/compile.ts ".length).split(
    " ",
  );
  for (const flag of START_FLAGS) assert.ok(compileArgs.includes(flag), flag);
  assert.deepEqual(
    compileArgs.filter((a) => !START_FLAGS.includes(a)),
    [
      "--exclude-unused-npm",
      "--node-modules-dir=none",
      "--unstable-net",
      "--unstable-no-legacy-abort",
      "--include",
      "src/web",
      "--include",
      "config/app.yaml",
      "--output",
      "dist/imserver",
      "src/main.ts",
    ],
  );
});

const cached = await cachedDenort();
Deno.test({
  name: cached
    ? "compile: no-download message skipped — a denort is cached in DENO_DIR, deno compile needs no download"
    : "compile: no DENORT_BIN and dl.deno.land unreachable → one paragraph saying what to do, no backtrace",
  ignore: cached,
  fn: async () => {
    // Offline (CI) this is the real DNS failure; online, a proxy on a closed port makes it the same.
    const out = await compileOutput(await online() ? { HTTPS_PROXY: "http://127.0.0.1:1" } : {});
    assert.notEqual(out.code, 0, out.text);
    for (
      const part of [
        `denort base binary for Deno ${Deno.version.deno}`,
        "could not be fetched",
        "dl.deno.land",
        `denort-${Deno.build.target}.zip`,
        "DENORT_BIN=/path/to/denort deno task compile",
      ]
    ) {
      // The paragraph is wrapped for the terminal: compare with line breaks as spaces.
      assert.ok(out.text.replace(/\s+/g, " ").includes(part), `mentions ${part}:\n${out.text}`);
    }
    assert.doesNotMatch(out.text, /Stack backtrace|Caused by/);
  },
});

Deno.test("compile: DENORT_BIN naming a missing file → one paragraph saying so, no backtrace", async () => {
  const out = await compileOutput({ DENORT_BIN: "/nonexistent/denort" });
  assert.notEqual(out.code, 0, out.text);
  const flat = out.text.replace(/\s+/g, " ");
  for (const part of ["DENORT_BIN=/nonexistent/denort does not exist", `denort-${Deno.build.target}.zip`]) {
    assert.ok(flat.includes(part), `mentions ${part}:\n${out.text}`);
  }
  assert.doesNotMatch(out.text, /Stack backtrace|Caused by/);
});

Deno.test("compile: other deno compile failures keep deno's own output", () => {
  // What deno 2.9.6 printed offline here, verbatim but for the temporary file name.
  const offline = [
    "error: Writing deno compile executable to temporary file 'dist/imserver.tmp-31b62236e671504f'",
    "",
    "Caused by:",
    "    0: Setting up base binary.",
    "    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): dns error: failed to lookup address information: Name or service not known",
    "    2: client error (Connect)",
    "    3: dns error",
    "    4: failed to lookup address information: Name or service not known",
    "",
    "Stack backtrace:",
    "   0: <unknown>",
  ].join("\n");
  const text = explainCompileFailure(offline, undefined) ?? "";
  assert.ok(text.includes("(failed to lookup address information: Name or service not known)"), text);
  assert.ok(text.split("\n").every((line) => line.length <= 100), text);
  // With DENORT_BIN set the download was not the problem; a type error or an npm fetch is deno's to explain.
  assert.equal(explainCompileFailure(offline, "/opt/denort"), undefined);
  const empty = "error: Writing …\n\nCaused by:\n    0: Could not find denort at ''\n    1: No such file";
  assert.match(explainCompileFailure(empty, "") ?? "", /^imserver compile: DENORT_BIN is set but empty\./);
  assert.equal(
    explainCompileFailure("error: TS2322 [ERROR]: Type 'string' is not assignable", undefined),
    undefined,
  );
  assert.equal(
    explainCompileFailure(
      "error: error sending request for url (https://registry.npmjs.org/yaml): dns error",
      undefined,
    ),
    undefined,
  );
});
