/**
 * The request-head tracker of the relay (proxy mode of the connection guard).
 * @module
 */
import assert from "node:assert/strict";
import { RequestHeads } from "../../src/transport/guard/http_heads.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("http heads: a head split over chunks completes once, at its blank line", () => {
  const h = new RequestHeads();
  assert.deepEqual(h.feed(bytes("GET / HTTP/1.1\r\nHo")), { started: true, completed: 0 });
  assert.ok(h.inHead);
  assert.deepEqual(h.feed(bytes("st: x\r\n\r")), { started: false, completed: 0 });
  assert.deepEqual(h.feed(bytes("\n")), { started: false, completed: 1 });
  assert.equal(h.state, "head");
  assert.ok(!h.inHead);
});

Deno.test("http heads: a content-length body is skipped; the next head starts after it", () => {
  const h = new RequestHeads();
  const r = h.feed(bytes("POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"));
  assert.deepEqual(r, { started: false, completed: 1 });
  assert.equal(h.state, "body");
  assert.deepEqual(h.feed(bytes("cdeGET /b HTTP/1.1\r\n")), { started: true, completed: 0 });
  assert.equal(h.state, "head");
  assert.deepEqual(h.feed(bytes("\r\nGET /c HTTP/1.1\n\n")), { started: false, completed: 2 });
});

Deno.test("http heads: chunked bodies make the connection opaque; upgrades wait for the answer", () => {
  const chunked = new RequestHeads();
  chunked.feed(bytes("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  assert.equal(chunked.state, "opaque");

  const ws = new RequestHeads();
  ws.feed(bytes("GET /im HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x85"));
  assert.equal(ws.state, "upgrade");
  ws.answer(bytes("HTTP/1.1 101 Switching Protocols\r\n"));
  assert.equal(ws.state, "tunnel");

  const refused = new RequestHeads();
  refused.feed(bytes("GET /im HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"));
  refused.answer(bytes("HTTP/1.1 503 Service Unavailable\r\n"));
  assert.equal(refused.state, "opaque");
});

Deno.test("http heads: a head over the limit is refused", () => {
  const h = new RequestHeads(1024);
  h.feed(bytes("GET / HTTP/1.1\r\n"));
  h.feed(bytes(`X-Big: ${"a".repeat(1100)}\r\n`));
  assert.equal(h.state, "too_large");
});
