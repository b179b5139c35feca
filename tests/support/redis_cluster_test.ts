/**
 * Tests of the Redis Cluster test helper itself: that the cluster it starts really serves every
 * slot, and that killing a master really fails over to its replica without losing a key that
 * had reached the replica.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type RedisClusterServer, redisClusterTest } from "./redis_cluster.ts";

/** Slot of `key` as the cluster computes it. */
async function keySlot(cluster: RedisClusterServer, key: string): Promise<number> {
  return Number(await cluster.command(cluster.ports[0], "CLUSTER", "KEYSLOT", key));
}

/** Field `name` of a CLUSTER INFO / INFO reply. */
function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, "m").exec(info)?.[1]?.trim();
}

redisClusterTest("a 3-master cluster serves every slot", async (cluster) => {
  assert.equal(cluster.ports.length, 3);
  assert.equal(cluster.seeds, cluster.ports.toSorted((a, b) => a - b).map((p) => `127.0.0.1:${p}`).join(","));
  for (const port of cluster.ports) {
    const info = await cluster.command(port, "CLUSTER", "INFO");
    assert.equal(field(info, "cluster_state"), "ok", info);
    assert.equal(field(info, "cluster_known_nodes"), "3", info);
    assert.equal(field(info, "cluster_slots_ok"), "16384", info);
  }
  assert.deepEqual(await cluster.masters(), cluster.ports.toSorted((a, b) => a - b));

  // Keys on different slots, written through any member: -c follows the MOVED redirect.
  const owners = new Set<number>();
  for (const key of ["im:a", "im:b", "im:c", "im:d", "im:e", "im:f"]) {
    const slot = await keySlot(cluster, key);
    const master = await cluster.masterOf(slot);
    owners.add(master);
    assert.equal(await cluster.command(cluster.ports[0], "-c", "SET", key, `v-${key}`), "OK");
    // The master of the slot has it locally, without a redirect...
    assert.equal(await cluster.command(master, "GET", key), `v-${key}`);
    // ...and any other member redirects there (an error reply without -c, hence a throw).
    const other = cluster.ports.find((p) => p !== master)!;
    await assert.rejects(cluster.command(other, "GET", key), /MOVED \d+ 127\.0\.0\.1:(\d+)/);
    assert.equal(await cluster.command(other, "-c", "GET", key), `v-${key}`);
  }
  assert.ok(owners.size >= 2, "keys spread over several masters");

  // masterOf agrees with the slot ranges at the edges too.
  assert.ok(cluster.ports.includes(await cluster.masterOf(0)));
  assert.ok(cluster.ports.includes(await cluster.masterOf(16383)));
  await assert.rejects(cluster.masterOf(16384), RangeError);
});

redisClusterTest("killing a master fails over to its replica, keeping a replicated key", async (cluster) => {
  assert.equal(cluster.ports.length, 6);
  const before = await cluster.masters();
  assert.equal(before.length, 3);
  assert.equal(cluster.seeds, before.map((p) => `127.0.0.1:${p}`).join(","));

  const key = "im:failover";
  const slot = await keySlot(cluster, key);
  const oldMaster = await cluster.masterOf(slot);
  // SET and WAIT on one connection (WAIT counts the acks of this client's writes), so the key is
  // known to have reached the replica before the master dies.
  const session = new Deno.Command("redis-cli", {
    args: ["-p", String(oldMaster)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = session.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`SET ${key} kept\nWAIT 1 1000\n`));
  await writer.close();
  const out = await session.output();
  assert.deepEqual(new TextDecoder().decode(out.stdout).trim().split("\n"), ["OK", "1"]);

  await cluster.kill(oldMaster);
  await cluster.waitHealthy();
  const newMaster = await cluster.masterOf(slot);
  assert.notEqual(newMaster, oldMaster);
  assert.ok(!before.includes(newMaster), "a replica was promoted");
  const survivor = cluster.ports.find((p) => p !== oldMaster)!;
  assert.equal(await cluster.command(survivor, "-c", "GET", key), "kept");
  assert.deepEqual(
    await cluster.masters(),
    before.map((p) => p === oldMaster ? newMaster : p).toSorted((a, b) => a - b),
  );

  // The old master comes back (same node id from its config file) as a replica of the new one.
  await cluster.restart(oldMaster);
  await cluster.waitHealthy();
  let role = "";
  for (let i = 0; i < 100 && !role.startsWith("slave"); i++) {
    role = await cluster.command(oldMaster, "ROLE");
    if (!role.startsWith("slave")) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(role, new RegExp(`^slave\\n127\\.0\\.0\\.1\\n${newMaster}\\n`));
  assert.equal(await cluster.masterOf(slot), newMaster);
  assert.equal(await cluster.command(oldMaster, "-c", "GET", key), "kept");
}, { masters: 3, replicas: 1 });
