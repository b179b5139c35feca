/**
 * The SQLite store's heap does not grow with what it keeps on disk. Each scenario runs
 * tests/support/sqlite_heap_probe.ts in its own process with `--expose-gc` and reads heap after full
 * collections. Found by a soak on 2026-12-02, each failed before its fix:
 *
 * - kept messages (for edits, recalls, history): a map entry per message of the last `inbox.maxAge` (7 days),
 *   ~125–190 B each, while saving and again after a restart loaded the file;
 * - the writer queue kept the last ~1,024 finished operations with their payloads (16 KiB messages: MBs);
 * - room member lists and counts were cached for every room ever used that still had members (~360 B per room);
 * - room timelines held every position of every room used (~150 B per room message) for 7 days.
 * @module
 */
import assert from "node:assert/strict";

const PROBE = new URL("../support/sqlite_heap_probe.ts", import.meta.url).pathname;

async function probe(scenario: string, count: number): Promise<Record<string, number>> {
  const dir = await Deno.makeTempDir({ prefix: "im-sqlite-heap-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        "--v8-flags=--expose-gc",
        PROBE,
        `${dir}/im.db`,
        scenario,
        String(count),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// Noise after full collections is a few hundred KB at most: under ~10 B per item at these counts.
const B = (n: number) => `${n.toFixed(1)} B`;

Deno.test("sqlite heap: kept messages hold no heap per message (saving, and after reopening the file)", async () => {
  const r = await probe("kept", 40_000);
  assert.equal(r.found, 2, "both probed messages are readable after the reopen");
  assert.ok(r.savedBytesPerMessage < 24, `heap per saved message: ${B(r.savedBytesPerMessage)}`);
  assert.ok(r.openedBytesPerMessage < 24, `heap per message after open: ${B(r.openedBytesPerMessage)}`);
});

Deno.test("sqlite heap: the writer keeps no payload of the operations it has written", async () => {
  // 900 × 16 KiB = 14 MiB written, after 100: under the 1,024 operations at which the queue was compacted
  const r = await probe("burst", 900);
  assert.ok(r.heldBytes < 1024 * 1024, `held after the burst: ${(r.heldBytes / 1048576).toFixed(2)} MiB`);
});

Deno.test("sqlite heap: rooms joined are not cached beyond the bound (member lists, counts)", async () => {
  const r = await probe("rooms", 30_000);
  assert.equal(r.members, 1);
  assert.ok(r.bytesPerRoom < 40, `heap per room joined: ${B(r.bytesPerRoom)}`);
});

Deno.test("sqlite heap: room timelines hold no heap per room message", async () => {
  const r = await probe("timelines", 40_000);
  assert.ok(r.newest > 100, `room-7's newest roomSeq: ${r.newest}`);
  assert.ok(r.bytesPerPosition < 24, `heap per room message: ${B(r.bytesPerPosition)}`);
});
