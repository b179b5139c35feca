/**
 * The conversation-list rules shared by the memory and SQLite engines (src/store/conversations.ts): which
 * conversations a new one pushes out of the list (`inbox.maxConversations`).
 * @module
 */
import assert from "node:assert/strict";
import { overCap } from "../../src/store/conversations.ts";
import type { Conversation } from "../../src/store/store.ts";

function list(seqs: number[]): Map<string, Conversation> {
  return new Map(seqs.map((seq) => {
    const id = `u:p${seq}`;
    return [id, { id, kind: "direct", peer: `p${seq}`, time: seq, seq, readSeq: 0, unread: 0 }];
  }));
}

Deno.test("overCap: nothing while at most max, the least recent one at max + 1", () => {
  assert.deepEqual(overCap(list([3, 1, 2]), 3), []);
  assert.deepEqual(overCap(list([3, 1, 2]), 5), []);
  assert.deepEqual(overCap(list([7, 4, 9, 5]), 3), ["u:p4"]);
});

Deno.test("overCap: after the cap was lowered, every conversation over it in one call, least recent first", () => {
  // the callers drop what one call returns: a list lowered from 1,000 to 10 is one sort, not 990 scans
  const seqs = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000 + 1);
  const dropped = overCap(list(seqs), 10);
  assert.equal(dropped.length, 990);
  assert.deepEqual(dropped.slice(0, 3), ["u:p1", "u:p2", "u:p3"]);
  assert.equal(dropped.at(-1), "u:p990");
  assert.equal(new Set(dropped).size, 990);
});
