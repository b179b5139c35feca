/**
 * Online/offline webhooks (src/webhooks.ts) against a real local HTTP receiver: receiver down, then
 * up → the events still arrive (at least once); a 500 is retried; the queue is bounded.
 * @module
 */
import assert from "node:assert/strict";
import type { WebhookEvent } from "../../src/ops/webhooks.ts";
import { Webhooks } from "../../src/ops/webhooks.ts";
import { Metrics } from "../../src/ops/metrics.ts";
import { getLogger } from "../../src/ops/log.ts";
import { TestClient, tick, withServer } from "../support/helpers.ts";

/** A receiver that records every POSTed event; `fail` answers 500 to the first N requests. */
function receiver(port = 0, fail = 0) {
  const events: WebhookEvent[] = [];
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
    requests++;
    const body = await req.json();
    if (requests <= fail) return new Response("try later", { status: 500 });
    events.push(...body.events);
    return new Response(null, { status: 204 });
  });
  return { server, events, port: (server.addr as Deno.NetAddr).port, requests: () => requests };
}

/** Poll until `cond` holds (at most `ms`). */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  for (let waited = 0; !cond(); waited += 50) {
    if (waited > ms) throw new Error(`timed out waiting for ${what}`);
    await tick(50);
  }
}

Deno.test("webhooks: receiver down, then up → online and offline arrive, at least once", async () => {
  // Reserve a port, then leave it closed: the first POSTs get connection refused.
  const probe = receiver();
  const port = probe.port;
  await probe.server.shutdown();
  let up: ReturnType<typeof receiver> | undefined;
  try {
    await withServer(
      { webhooks: { url: `http://127.0.0.1:${port}/hook`, queueSize: 100, maxRetries: 8 } },
      async (server) => {
        const alice = await TestClient.connect(server.wsPort);
        await alice.login("alice");
        await alice.close();
        // The receiver stays down until the first POST has failed and a retry is scheduled.
        await until(
          () => /im_webhook_retries_total [1-9]/.test(server.metrics.render()),
          10_000,
          "a retry",
        );
        up = receiver(port);
        const seen = () => new Map(up!.events.map((e) => [e.id, e]));
        await until(() => seen().size >= 2, 20_000, "both events");
        const events = [...seen().values()];
        assert.deepEqual(events.map((e) => [e.event, e.appId, e.userId]), [
          ["online", 101, "alice"],
          ["offline", 101, "alice"],
        ]);
        assert.equal(events[0].nodeId, server.nodeId);
        assert.ok(events[1].time >= events[0].time);
        // the receiver records a POST's events before it answers; the sender counts them once the answer
        // is back (CI once read the metric in between: 1 of 2)
        await until(
          () => /im_webhook_events_total 2/.test(server.metrics.render()),
          5_000,
          "both events counted as delivered",
        );
        assert.match(server.metrics.render(), /im_webhook_retries_total [1-9]/);
      },
    );
  } finally {
    await up?.server.shutdown();
  }
});

Deno.test("webhooks: a 500 is retried; drain flushes offline events before exit", async () => {
  const rx = receiver(0, 1);
  try {
    await withServer(
      { webhooks: { url: `http://127.0.0.1:${rx.port}/`, queueSize: 100, maxRetries: 3 } },
      async (server) => {
        const bob = await TestClient.connect(server.wsPort);
        await bob.login("bob");
        await until(() => rx.events.length >= 1, 10_000, "online after a 500");
        assert.ok(rx.requests() >= 2);
        const report = await server.drain({ windowMs: 100, deadlineMs: 5000 });
        assert.equal(report.onTime, true);
        await bob.closed; // the node is gone: bob's offline event was flushed before it stopped
        assert.deepEqual(rx.events.map((e) => e.event), ["online", "offline"]);
      },
    );
  } finally {
    await rx.server.shutdown();
  }
});

Deno.test("webhooks: bounded queue drops the oldest and counts drops; enqueue never waits", async () => {
  const probe = receiver();
  await probe.server.shutdown(); // nobody listens: every POST fails
  const metrics = new Metrics();
  const hooks = new Webhooks({
    url: `http://127.0.0.1:${probe.port}/`,
    queueSize: 3,
    maxRetries: 0,
    nodeId: "n1",
    metrics,
    log: getLogger(["test"]),
  });
  for (let i = 0; i < 5; i++) hooks.enqueue("online", 101, `u${i}`);
  assert.equal(hooks.length, 3);
  assert.match(metrics.render(), /im_webhook_drops_total\{reason="queue_full"\} 2/);
  await hooks.close(0); // not started: what is queued is dropped as shutdown
  assert.match(metrics.render(), /im_webhook_drops_total\{reason="shutdown"\} 3/);
  hooks.enqueue("offline", 101, "late");
  assert.match(metrics.render(), /im_webhook_drops_total\{reason="closed"\} 1/);
});
