/**
 * The chat page's model (src/web/model.js, no DOM) on its own: what the browser scenarios cannot
 * arrange easily — edits arriving out of order, an edit after a recall, receipts before their
 * message, unread counts joined with the server's.
 * @module
 */
import assert from "node:assert/strict";
import { ChatModel } from "../../src/web/model.js";

// deno-lint-ignore no-explicit-any
type Json = any;

const msg = (over: Json = {}): Json => ({
  msgId: "m1",
  from: "bob",
  to: "alice",
  target: "",
  type: "text",
  msg: "helo",
  time: 1_000,
  seq: 1,
  ...over,
});

Deno.test("model: the edit with the highest editedAt wins, whatever the order; a recall is final", () => {
  const m = new ChatModel("alice");
  m.addMessage(msg());
  const line = () => m.convs.get("u:bob")!.lines[0];
  m.edit({ msgId: "m1", msg: "second", editedAt: 20 });
  m.edit({ msgId: "m1", msg: "first", editedAt: 10 }); // late: older than what is shown
  assert.deepEqual([line().text, line().editedAt], ["second", 20]);
  m.recall({ msgId: "m1" });
  m.edit({ msgId: "m1", msg: "third", editedAt: 30 });
  assert.deepEqual([line().text, line().recalled, line().editedAt], ["", true, undefined]);
});

Deno.test("model: receipts before the message, never downgraded; deletions stay deleted", () => {
  const m = new ChatModel("alice");
  m.receipt(["m2"], "read"); // the receipt overtook the message (another device of alice sent it)
  m.addMessage(msg({ msgId: "m2", from: "alice", to: "bob" }));
  const line = m.convs.get("u:bob")!.lines[0];
  assert.equal(line.status, "read");
  m.receipt(["m2"], "delivered");
  assert.equal(line.status, "read");
  m.remove({ msgId: "m2" });
  assert.equal(m.convs.get("u:bob")!.lines.length, 0);
  assert.equal(
    m.addMessage(msg({ msgId: "m2", from: "alice", to: "bob" })),
    null,
    "a replay does not bring it back",
  );
});

Deno.test("model: the server's unread count plus what arrived after it counted", () => {
  const m = new ChatModel("alice");
  m.serverCounts = true;
  m.addMessage(msg({ msgId: "a", seq: 4 })); // replayed before the conversations reply
  m.addMessage(msg({ msgId: "b", seq: 6 })); // pushed after the server counted
  m.fromServer({
    id: "u:bob",
    kind: "direct",
    peer: "bob",
    time: 1_000,
    seq: 5,
    readSeq: 2,
    unread: 2,
    last: { msgId: "x", seq: 5, from: "bob", msg: "hi", type: "text", time: 1_000 },
  });
  assert.equal(m.convs.get("u:bob")!.unread, 3);
  m.markRead("u:bob", 6, 0);
  m.addMessage(msg({ msgId: "b", seq: 6 }));
  assert.equal(m.unreadTotal(), 0);
  m.addMessage(msg({ msgId: "c", seq: 7 }));
  assert.equal(m.unreadTotal(), 1);
});
