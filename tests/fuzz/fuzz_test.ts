import assert from "node:assert/strict";
import { runFuzz } from "./fuzz.ts";

Deno.test("fuzz (CI-short): 20,000 hostile frames, no crash, valid replies, login still works", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);
  const report = await runFuzz({ frames: 20_000, seconds: 120, seed, sockets: 3 });
  const summary = `seed ${seed} (rerun with FUZZ_SEED=${seed}): ${JSON.stringify(report.violations)}`;
  assert.deepEqual(report.violations, [], summary);
  assert.ok(report.framesSent >= 20_000, `only ${report.framesSent} frames sent in time; ${summary}`);
  assert.ok(report.replies > 0 && report.replyCodes[200] > 0, "the fuzzer must reach real handlers");
  assert.ok(report.rawProbes > 0, "raw protocol probes must run");
  assert.equal(report.finalLoginOk, true, `a valid login after the storm failed; ${summary}`);
});

Deno.test("fuzz (CI-short, auth.mode jwt): 5,000 frames with signed and forged tokens", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);
  const report = await runFuzz({ frames: 5_000, seconds: 60, seed, sockets: 2, jwt: true });
  assert.deepEqual(report.violations, [], `seed ${seed}: ${JSON.stringify(report.violations)}`);
  assert.ok(report.replyCodes[200] > 0 && report.replyCodes[1003] > 0, "token logins must pass and fail");
  assert.equal(report.finalLoginOk, true, `a valid token login after the storm failed; seed ${seed}`);
});
