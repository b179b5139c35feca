/**
 * Packaging: `deno task bundle` → `dist/imserver.js` runs with `deno run` and exactly the server's
 * permissions, from another working directory (the shipped config and web client are found next to
 * the bundle); `deno task compile` → `dist/imserver` the same way, only when `DENORT_BIN` names a
 * local denort (it cannot be downloaded here).
 * @module
 */
import assert from "node:assert/strict";
import { TestClient } from "../support/helpers.ts";
import { quietEnv, spawnServer, START_FLAGS, stopServer } from "../support/node_process.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

async function task(name: string, env: Record<string, string> = {}): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["task", name], cwd: ROOT, env }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `deno task ${name} failed:\n${text}`);
}

/** Start `cmd args` in an empty directory, log in, fetch the web page, then SIGTERM → exit 0. */
async function exercise(cmd: string, args: string[], appId: number): Promise<void> {
  const cwd = await Deno.makeTempDir({ prefix: "im-pkg-" });
  try {
    const proc = await spawnServer(cmd, args, quietEnv(), 60_000, cwd);
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
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    const closing = client.closed;
    assert.equal(await stopServer(proc, "SIGTERM"), 0);
    assert.equal((await closing).code, 1012);
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
