/**
 * The SQLite store's heap does not grow with the messages it keeps: a kept message (for edits, recalls,
 * history) costs disk, not V8 heap — neither while messages are saved nor after a restart loads the file.
 * Before 2026-12-02 the store held a map entry per message of the last `inbox.maxAge` (~190 B each: at a
 * steady 100 msgs/s, ~11 GB of heap after the 7 days). The probe runs in its own process with
 * `--expose-gc` (tests/support/kept_heap_probe.ts) and reports heap after full collections.
 * @module
 */
import assert from "node:assert/strict";

const PROBE = new URL("../support/kept_heap_probe.ts", import.meta.url).pathname;

Deno.test("sqlite store: kept messages hold no heap per message (saving, and after reopening the file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "im-kept-heap-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        "--v8-flags=--expose-gc",
        PROBE,
        `${dir}/im.db`,
        "40000",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    assert.equal(r.found, 2, "both probed messages are readable after the reopen");
    // 40,000 messages: noise is a few hundred KB at most, i.e. under ~10 B per message
    assert.ok(r.savedBytesPerMessage < 24, `heap per saved message: ${r.savedBytesPerMessage.toFixed(1)} B`);
    assert.ok(
      r.openedBytesPerMessage < 24,
      `heap per message after open: ${r.openedBytesPerMessage.toFixed(1)} B`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
