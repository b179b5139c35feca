/**
 * The default store as an operator runs it: `deno run <start task flags> src/main.ts` in a directory of
 * its own (so `data/imserver.db` is created there with exactly the start task's permissions). Killed
 * with SIGKILL in the middle of traffic, restarted: every acknowledged message is there exactly once
 * with its seq. SIGTERM restart: seqs, epoch, claims, rooms and marks carry over and a client resuming
 * with lastSeq + epoch gets exactly what it missed. A second process on the file, and a corrupt file,
 * exit 5 with one line.
 * @module
 */
import assert from "node:assert/strict";
import { TestClient } from "../support/helpers.ts";
import {
  childEnv,
  MAIN,
  quietEnv,
  type ServerProcess,
  spawnServer,
  START_FLAGS,
  stopServer,
} from "../support/node_process.ts";

const ENV = quietEnv({ IM_STORE_ENGINE: "sqlite", IM_DRAIN_WINDOW: "0.2" });
const start = (cwd: string, env: Record<string, string> = {}) =>
  spawnServer(Deno.execPath(), ["run", ...START_FLAGS, MAIN], { ...ENV, ...env }, 60_000, cwd);

async function inTempDir(fn: (cwd: string) => Promise<void>): Promise<void> {
  const cwd = await Deno.makeTempDir({ prefix: "im-sqlite-proc-" });
  try {
    await fn(cwd);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

interface Entry {
  seq: number;
  msgId: string;
  msg: string;
}

/** Every entry of `user`'s inbox, paged through GET /api/v1/inbox. */
async function inbox(proc: ServerProcess, user: string): Promise<{ epoch: string; entries: Entry[] }> {
  const entries: Entry[] = [];
  let epoch = "";
  for (let since = 0, page = 0; page < 1000; page++) {
    const r = await fetch(
      `http://127.0.0.1:${proc.httpPort}/api/v1/inbox?appId=101&userId=${user}&since=${since}&limit=100`,
    );
    const data = (await r.json()).data;
    epoch = data.epoch;
    if (data.entries.length === 0) break;
    entries.push(...data.entries);
    since = data.entries[data.entries.length - 1].seq;
  }
  return { epoch, entries };
}

async function send(proc: ServerProcess, body: Record<string, unknown>) {
  const r = await fetch(`http://127.0.0.1:${proc.httpPort}/api/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ appId: 101, ...body }),
  });
  return { status: r.status, json: await r.json() };
}

Deno.test("sqlite process: kill -9 mid-traffic loses no acknowledged message and duplicates none", async () => {
  await inTempDir(async (cwd) => {
    // No trimming: every acknowledged message must still be there (a fast run exceeds 1000 per inbox).
    const proc = await start(cwd, { IM_INBOX_MAXENTRIES: "1000000" });
    assert.ok(
      (await Deno.stat(`${cwd}/data/imserver.db`)).isFile,
      "data/imserver.db in the working directory",
    );
    const recipients = ["r0", "r1", "r2", "r3"];
    const acked = new Map<string, { to: string; seq: number }>();
    let stop = false;
    // 8 senders stream messages until the process dies under them.
    const senders = Array.from({ length: 8 }, async (_, s) => {
      for (let n = 0; !stop && n < 100_000; n++) {
        const to = recipients[(s + n) % recipients.length];
        const msg = `s${s}-${n}`;
        try {
          const r = await send(proc, { to, msg });
          if (r.json.code === 200) acked.set(msg, { to, seq: r.json.data.seq });
        } catch {
          return; // connection refused or reset: the server is gone
        }
      }
    });
    const epochs = new Map<string, string>();
    for (const r of recipients) epochs.set(r, (await inbox(proc, r)).epoch);
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
    proc.child.kill("SIGKILL");
    const status = await proc.child.status;
    await proc.drained;
    assert.equal(status.signal, "SIGKILL");
    stop = true;
    await Promise.all(senders);
    assert.ok(acked.size > 50, `only ${acked.size} messages were acknowledged before the kill`);

    const again = await start(cwd, { IM_INBOX_MAXENTRIES: "1000000" });
    try {
      let recovered = 0;
      for (const r of recipients) {
        const { epoch, entries } = await inbox(again, r);
        assert.equal(epoch, epochs.get(r), `${r}: the epoch survives a kill`);
        const seen = new Set<string>();
        entries.forEach((e, i) => {
          assert.equal(e.seq, i + 1, `${r}: seqs are gap-free`);
          assert.ok(!seen.has(e.msg), `${r}: ${e.msg} twice`);
          seen.add(e.msg);
        });
        const bySeq = new Map(entries.map((e) => [e.seq, e.msg]));
        for (const [msg, a] of acked) {
          if (a.to !== r) continue;
          assert.equal(bySeq.get(a.seq), msg, `acknowledged ${msg} is at seq ${a.seq} of ${r}`);
          recovered++;
        }
      }
      assert.equal(recovered, acked.size);
      console.log(`acknowledged ${acked.size}, recovered ${recovered}, lost 0, duplicated 0`);
      // and the inboxes go on
      assert.equal((await send(again, { to: "r0", msg: "after" })).json.code, 200);
    } finally {
      await stopServer(again);
    }
  });
});

Deno.test("sqlite process: SIGTERM restart keeps seqs, epoch, claims, rooms and marks; resume gets exactly the gap", async () => {
  await inTempDir(async (cwd) => {
    const first = await start(cwd);
    const bob = await TestClient.connect(first.wsPort);
    const login = await bob.login("bob");
    assert.equal((await bob.request("joinRoom", { room: "lobby" })).response.code, 200);
    for (let i = 1; i <= 3; i++) {
      assert.equal((await send(first, { to: "bob", msg: `m${i}`, msgId: `k${i}` })).json.data.seq, i);
      assert.equal((await bob.push("msg")).response.data.seq, i);
    }
    assert.equal((await bob.request("ack", { seq: 3 })).response.code, 200);
    await bob.close();
    // bob is offline; two more arrive, then a rolling restart
    await send(first, { to: "bob", msg: "m4", msgId: "k4" });
    await send(first, { to: "bob", msg: "m5", msgId: "k5" });
    assert.equal(await stopServer(first, "SIGTERM"), 0);

    const second = await start(cwd);
    try {
      const retry = await send(second, { to: "bob", msg: "m5", msgId: "k5" });
      assert.equal(retry.json.data.duplicate, true, "the idempotency claim survived the restart");
      const back = await TestClient.connect(second.wsPort);
      const resumed = await back.login("bob", 101, { lastSeq: 3, epoch: login.inboxEpoch });
      assert.equal(resumed.inboxEpoch, login.inboxEpoch);
      assert.equal(resumed.inboxReset, undefined);
      assert.equal(resumed.inboxSeq, 5);
      assert.equal(resumed.ackedSeq, 3, "the ack mark survived");
      const replayed = [await back.push("msg"), await back.push("msg")].map((
        f,
      ) => [f.response.data.seq, f.response.data.msg]);
      assert.deepEqual(replayed, [[4, "m4"], [5, "m5"]]);
      assert.deepEqual(await back.drain("msg", 200), [], "nothing else, nothing twice");
      const members = await back.request("roomMembers", { room: "lobby" });
      assert.deepEqual(members.response.data.members, ["bob"]);
      assert.equal((await send(second, { to: "bob", msg: "m6" })).json.data.seq, 6, "seqs continue");
      await back.close();
      // deno task backup asks the running server for an online copy (written under its data/backups)
      const task = await new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", "backup", "--url", `http://127.0.0.1:${second.httpPort}`],
        cwd: new URL("../..", import.meta.url).pathname,
        env: childEnv(),
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const printed = new TextDecoder().decode(task.stdout);
      assert.equal(task.code, 0, new TextDecoder().decode(task.stderr));
      const result = JSON.parse(printed);
      assert.match(result.path, /^data\/backups\/imserver-.*\.db$/);
      assert.equal((await Deno.stat(`${cwd}/${result.path}`)).size, result.bytes);
    } finally {
      await stopServer(second);
    }
  });
});

async function runToExit(cwd: string): Promise<{ code: number; stderr: string; stdout: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...START_FLAGS, MAIN],
    cwd,
    env: childEnv({ NO_COLOR: "1", ...ENV }),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stderr: text(out.stderr), stdout: text(out.stdout) };
}

Deno.test("sqlite process: a second server on the same file and a corrupt file exit 5 with one line", async () => {
  await inTempDir(async (cwd) => {
    const running = await start(cwd);
    try {
      const second = await runToExit(cwd);
      assert.equal(second.code, 5, second.stderr);
      assert.match(
        second.stderr,
        /^imserver: store data\/imserver\.db is in use by another imserver process .*cluster mode/,
      );
      assert.equal(second.stderr.trim().split("\n").length, 1, second.stderr);
      assert.doesNotMatch(second.stdout, /listening/);
      assert.equal((await send(running, { to: "bob", msg: "still here" })).json.code, 200);
    } finally {
      await stopServer(running);
    }
    await Deno.writeFile(
      `${cwd}/data/imserver.db`,
      new TextEncoder().encode("this is not a database ".repeat(400)),
    );
    await Deno.remove(`${cwd}/data/imserver.db-wal`).catch(() => {});
    const corrupt = await runToExit(cwd);
    assert.equal(corrupt.code, 5, corrupt.stderr);
    assert.match(corrupt.stderr, /^imserver: store data\/imserver\.db is not a usable SQLite database/);
    assert.equal(corrupt.stderr.trim().split("\n").length, 1, corrupt.stderr);
  });
});
