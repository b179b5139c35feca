/**
 * HTTP parameter reading: the body deadline (`http.bodyTimeout`).
 * @module
 */
import assert from "node:assert/strict";
import { BodyTimeoutError, readParams } from "../../src/http/params.ts";

/** A body that yields one byte every `everyMs` until cancelled (bounded: 50 bytes). */
function tricklingBody(everyMs: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let cancelled = false;
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      return new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (sent++ >= 50) controller.close();
          else controller.enqueue(new TextEncoder().encode("a"));
          resolve();
        }, everyMs);
      });
    },
    cancel() {
      cancelled = true;
      clearTimeout(timer);
    },
  });
  return { stream, cancelled: () => cancelled };
}

Deno.test("params: a body that does not arrive within the deadline throws BodyTimeoutError and is cancelled", async () => {
  const body = tricklingBody(50);
  const req = new Request("http://x/api/v1/messages", { method: "POST", body: body.stream });
  const start = performance.now();
  const error = await readParams(req, 1024, 300).then(() => undefined, (e) => e);
  assert.ok(error instanceof BodyTimeoutError, String(error));
  assert.equal(error.code, 1001);
  const ms = performance.now() - start;
  assert.ok(ms >= 280 && ms < 2000, `${ms} ms`);
  assert.ok(body.cancelled(), "the body stream was not cancelled");
  const res = error.response({ "access-control-allow-origin": "*" });
  assert.equal(res.status, 408);
  assert.equal(res.headers.get("connection"), "close");
  assert.equal((await res.json()).code, 1001);
});

Deno.test("params: a body within the deadline is read as before", async () => {
  const req = new Request("http://x/user/sendMessage", {
    method: "POST",
    body: "appId=101&userID=bob&message=hi",
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  const { data, spellings } = await readParams(req, 1024, 300);
  assert.deepEqual(data, { appId: "101", userId: "bob", message: "hi" });
  assert.deepEqual([...spellings ?? []], ["userID"]);
});
