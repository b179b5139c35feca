/**
 * The store contract for the IM semantics (PROTOCOL.md C): conversation summaries kept up to date by
 * appends of messages and events, read positions, messages kept once per app (edits, recalls), room
 * timelines and blocks. Every engine registers it next to `storeSuite` with the same factory.
 *
 * @example
 * ```ts
 * storeImSuite("memory store", (policy) => Promise.resolve({ store: new MemoryStore({ policy }), cleanup }));
 * ```
 * @module
 */
import assert from "node:assert/strict";
import type { EntryFields } from "../../src/protocol/pushes.ts";
import type { StorePolicy } from "../../src/store/store.ts";
import { SUITE_POLICY, type SuiteOptions, type SuiteStore } from "./store_suite.ts";

const APP = 101;

/** A message entry alice → bob (or as given). */
const msg = (id: string, time: number, from = "alice", to = "bob", target = ""): EntryFields => ({
  msgId: id,
  from,
  to,
  target,
  type: "text",
  msg: `text of ${id}`,
  time,
});

/** An event entry about `ref` (a message alice → bob unless given). */
const event = (
  kind: "edit" | "recall" | "delete" | "read" | "delivered",
  id: string,
  ref: string,
  time: number,
  extra: Partial<EntryFields> = {},
): EntryFields => ({
  msgId: id,
  from: "alice",
  to: "bob",
  target: "",
  type: kind,
  msg: kind === "edit" ? "edited text" : "",
  time,
  kind,
  ref,
  by: "alice",
  ...extra,
});

/** Register the IM store contract tests as `${name}: im: ...`. */
export function storeImSuite(
  name: string,
  make: (policy: StorePolicy) => Promise<SuiteStore>,
  opts: SuiteOptions = {},
): void {
  const ignore = opts.ignore === undefined ? false : Boolean(opts.ignore);
  const reason = typeof opts.ignore === "string" ? ` (skipped: ${opts.ignore})` : "";
  const test = (
    title: string,
    fn: (s: SuiteStore, now: () => number) => Promise<void>,
    policy: Partial<StorePolicy> = {},
  ) =>
    Deno.test({
      name: `${name}: im: ${title}${reason}`,
      ignore,
      fn: async () => {
        const s = await make({ ...SUITE_POLICY, ...policy });
        const now = () => s.clock?.now() ?? Date.now();
        try {
          await fn(s, now);
        } finally {
          await s.cleanup();
        }
      },
    });

  test(
    "messages make conversations: last, time, unread from others, newest first",
    async ({ store }, now) => {
      const t = now();
      await store.append(APP, "bob", msg("m1", t - 3000));
      await store.append(APP, "bob", msg("m2", t - 2000));
      await store.append(APP, "bob", msg("own", t - 1500, "bob", "carol")); // bob's copy of his own message
      await store.append(APP, "bob", msg("r1", t - 1000, "dave", "lobby", "lobby"));
      await store.append(APP, "bob", msg("sys", t - 500, "", "bob")); // a backend message without from
      const { items, more } = await store.conversations(APP, "bob", 10);
      assert.equal(more, false);
      assert.deepEqual(items.map((c) => [c.id, c.kind, c.unread, c.last?.msgId]), [
        ["r:lobby", "room", 1, "r1"],
        ["u:carol", "direct", 0, "own"],
        ["u:alice", "direct", 2, "m2"],
      ]);
      const alice = items[2];
      assert.equal(alice.peer, "alice");
      assert.equal(alice.readSeq, 0);
      assert.equal(alice.time, t - 2000);
      assert.equal(alice.seq, 2);
      assert.deepEqual(alice.last, {
        msgId: "m2",
        seq: 2,
        from: "alice",
        type: "text",
        time: t - 2000,
        msg: "text of m2",
      });
      assert.equal(items[0].room, "lobby");
      assert.equal(await store.unreadTotal(APP, "bob"), 3);
      // paging by seq: unique within the inbox, so equal times neither repeat nor skip a conversation
      const first = await store.conversations(APP, "bob", 2);
      assert.equal(first.more, true);
      const next = await store.conversations(APP, "bob", 2, first.items[1].seq);
      assert.deepEqual(next.items.map((c) => c.id), ["u:alice"]);
      await store.append(APP, "bob", msg("tie1", t, "erin"));
      await store.append(APP, "bob", msg("tie2", t, "frank"));
      const tied = await store.conversations(APP, "bob", 1);
      assert.deepEqual(tied.items.map((c) => c.id), ["u:frank"]);
      const afterTie = await store.conversations(APP, "bob", 1, tied.items[0].seq);
      assert.deepEqual(afterTie.items.map((c) => c.id), ["u:erin"]);
      assert.deepEqual(await store.conversations(APP, "nobody", 10), { items: [], more: false });
      assert.equal(await store.unreadTotal(APP, "nobody"), 0);
    },
  );

  test(
    "a new conversation past maxConversations drops the least recent from the list (and its unread)",
    async ({ store }, now) => {
      const t = now();
      await store.append(APP, "bob", msg("a1", t + 1, "alice"));
      await store.append(APP, "bob", msg("c1", t + 2, "carol"));
      await store.append(APP, "bob", msg("a2", t + 3, "alice")); // alice is now more recent than carol
      await store.append(APP, "bob", msg("d1", t + 4, "dave")); // a third conversation: carol goes
      const ids = async () => (await store.conversations(APP, "bob", 10)).items.map((c) => c.id);
      assert.deepEqual(await ids(), ["u:dave", "u:alice"]);
      assert.equal(await store.unreadTotal(APP, "bob"), 3);
      await store.append(APP, "bob", msg("c2", t + 5, "carol")); // carol comes back fresh; alice goes
      assert.deepEqual(await ids(), ["u:carol", "u:dave"]);
      const [carol] = (await store.conversations(APP, "bob", 1)).items;
      assert.deepEqual([carol.unread, carol.last?.msgId], [1, "c2"]);
      await store.append(APP, "bob", msg("d2", t + 6, "dave")); // no new conversation: nothing goes
      assert.deepEqual(await ids(), ["u:dave", "u:carol"]);
      assert.equal(await store.unreadTotal(APP, "bob"), 3);
    },
    { maxConversations: 2 },
  );

  test("markRead moves one conversation (or all), recounts, never goes back", async ({ store }, now) => {
    const t = now();
    for (let i = 1; i <= 4; i++) await store.append(APP, "bob", msg(`a${i}`, t + i)); // seqs 1..4 from alice
    await store.append(APP, "bob", msg("c1", t + 5, "carol")); // seq 5
    const read = await store.markRead(APP, "bob", "u:alice", 2);
    assert.deepEqual(read, [{ id: "u:alice", previous: 0, readSeq: 2, unread: 2 }]);
    assert.deepEqual(await store.markRead(APP, "bob", "u:alice", 1), [], "never backwards");
    assert.deepEqual(await store.markRead(APP, "bob", "u:nobody", 3), [], "unknown conversation");
    const capped = await store.markRead(APP, "bob", "u:alice", 99);
    assert.deepEqual(capped, [{ id: "u:alice", previous: 2, readSeq: 5, unread: 0 }], "capped at the head");
    assert.equal(await store.unreadTotal(APP, "bob"), 1);
    // the old form: every conversation
    await store.append(APP, "bob", msg("a5", t + 6)); // seq 6
    const all = await store.markRead(APP, "bob", undefined, 6);
    assert.deepEqual(all.map((c) => [c.id, c.readSeq, c.unread]).sort(), [["u:alice", 6, 0], [
      "u:carol",
      6,
      0,
    ]]);
    assert.equal(await store.unreadTotal(APP, "bob"), 0);
  });

  test(
    "loginState answers what head, the marks and unreadTotal answer, in one call",
    async ({ store }, now) => {
      const t = now();
      for (let i = 1; i <= 4; i++) await store.append(APP, "bob", msg(`a${i}`, t + i)); // seqs 1..4 from alice
      await store.append(APP, "bob", msg("c1", t + 5, "carol")); // seq 5
      await store.markRead(APP, "bob", "u:alice", 3);
      await store.advanceMark(APP, "bob", "delivered", 4);
      await store.advanceMark(APP, "bob", "ack", 2);
      const state = await store.loginState(APP, "bob");
      assert.deepEqual(state, {
        head: await store.head(APP, "bob"),
        delivered: 4,
        acked: 2,
        unreadTotal: 2,
      });
      assert.equal(state.head.lastSeq, 5);
      assert.equal(state.unreadTotal, await store.unreadTotal(APP, "bob"));
      // a never-used inbox: its first look creates it, so its epoch holds from then on
      const fresh = await store.loginState(APP, "nobody");
      assert.deepEqual(fresh, {
        head: await store.head(APP, "nobody"),
        delivered: 0,
        acked: 0,
        unreadTotal: 0,
      });
      assert.equal(fresh.head.lastSeq, 0);
      assert.equal(fresh.head.firstSeq, 1);
    },
  );

  test("edits, recalls and deletions change the summary; receipts do not", async ({ store }, now) => {
    const t = now();
    await store.append(APP, "bob", msg("m1", t)); // 1
    await store.append(APP, "bob", msg("m2", t + 1)); // 2
    await store.append(APP, "bob", event("edit", "e1", "m1", t + 2)); // an edit of a message that is not last
    let [c] = (await store.conversations(APP, "bob", 10)).items;
    assert.equal(c.last?.msg, "text of m2");
    await store.append(APP, "bob", event("edit", "e2", "m2", t + 3));
    [c] = (await store.conversations(APP, "bob", 10)).items;
    assert.deepEqual([c.last?.msgId, c.last?.msg, c.last?.editedAt, c.unread], [
      "m2",
      "edited text",
      t + 3,
      2,
    ]);
    // an older version of the edit arriving later does not replace the newer text
    await store.append(APP, "bob", { ...event("edit", "e2b", "m2", t + 2), msg: "older edit" });
    [c] = (await store.conversations(APP, "bob", 10)).items;
    assert.deepEqual([c.last?.msg, c.last?.editedAt], ["edited text", t + 3]);
    await store.append(APP, "bob", event("recall", "e3", "m2", t + 4)); // seq 6
    await store.append(APP, "bob", event("recall", "e4", "m2", t + 5)); // twice: counted once
    [c] = (await store.conversations(APP, "bob", 10)).items;
    assert.deepEqual([c.last?.msgId, c.last?.recalled, "msg" in (c.last ?? {}), c.unread], [
      "m2",
      true,
      false,
      1,
    ]);
    await store.append(APP, "bob", msg("m3", t + 6)); // 8
    await store.append(APP, "bob", event("delete", "e5", "m3", t + 7, { by: "bob" }));
    [c] = (await store.conversations(APP, "bob", 10)).items;
    assert.equal(c.last?.msgId, "m1", "a deleted last message gives way to the previous live one");
    assert.equal(c.unread, 1);
    assert.deepEqual(await store.hiddenAmong(APP, "bob", ["m1", "m2", "m3"]), new Set(["m3"]));
    // a stored receipt about alice's message in bob's inbox (bob sent, carol read) changes nothing
    await store.append(APP, "bob", event("read", "e6", "", t + 8, { by: "carol", msgIds: ["x"], upTo: 4 }));
    const after = (await store.conversations(APP, "bob", 10)).items;
    assert.deepEqual(after.map((x) => x.id), ["u:alice"]);
    // recounting after a read still leaves recalled and deleted messages out
    assert.deepEqual((await store.markRead(APP, "bob", "u:alice", 1)).map((x) => x.unread), [0]);
  });

  test(
    "messages kept once per app: saved, read back, edited, recalled, aged out",
    async ({ store, clock }, now) => {
      const t = now();
      const base = { from: "alice", to: "bob", target: "", type: "text", time: t };
      await store.saveMessage(APP, { msgId: "m1", msg: "one", ...base });
      await store.saveMessage(APP, {
        msgId: "m2",
        msg: "two",
        ...base,
        target: "lobby",
        to: "lobby",
        roomSeq: 4,
      });
      const got = await store.messages(APP, ["m1", "m2", "nope"]);
      assert.deepEqual([...got.keys()].sort(), ["m1", "m2"]);
      assert.equal(got.get("m2")?.roomSeq, 4);
      assert.equal((await store.messages(202, ["m1"])).size, 0, "per app");
      const edited = await store.changeMessage(APP, "m1", { msg: "one!", editedAt: t + 1 });
      assert.deepEqual([edited?.msg, edited?.editedAt], ["one!", t + 1]);
      // versions strictly increase: an edit stamped no later than the last one is raised past it
      const again = await store.changeMessage(APP, "m1", { msg: "one!!", editedAt: t });
      assert.deepEqual([again?.msg, again?.editedAt], ["one!!", t + 2]);
      const recalled = await store.changeMessage(APP, "m1", { recalledAt: t + 3, recalledBy: "alice" });
      assert.deepEqual([recalled?.recalledAt, recalled?.recalledBy], [t + 3, "alice"]);
      // a recall is final: neither an edit nor a second recall changes it
      const late = await store.changeMessage(APP, "m1", { msg: "too late", editedAt: t + 4 });
      assert.deepEqual([late?.msg, late?.recalledAt], ["one!!", t + 3]);
      const twice = await store.changeMessage(APP, "m1", { recalledAt: t + 5, recalledBy: "mod" });
      assert.deepEqual([twice?.recalledAt, twice?.recalledBy], [t + 3, "alice"]);
      assert.equal((await store.messages(APP, ["m1"])).get("m1")?.recalledBy, "alice");
      assert.equal(await store.changeMessage(APP, "nope", { msg: "x", editedAt: t }), undefined);
      // saving again does not overwrite (a retry of a send)
      await store.saveMessage(APP, { msgId: "m1", msg: "again", ...base });
      assert.equal((await store.messages(APP, ["m1"])).get("m1")?.msg, "one!!");
      if (clock) {
        clock.advance(SUITE_POLICY.maxAgeMs + 1);
        assert.equal((await store.messages(APP, ["m1", "m2"])).size, 0, "gone with the inboxes' retention");
      }
    },
  );

  test("room timelines: one roomSeq per msgId, newest first, bounded", async ({ store }, now) => {
    const t = now();
    assert.equal(await store.appendRoomTimeline(APP, "lobby", "m1", t), 1);
    assert.equal(await store.appendRoomTimeline(APP, "lobby", "m2", t + 1), 2);
    assert.equal(await store.appendRoomTimeline(APP, "lobby", "m1", t), 1, "a retry keeps its roomSeq");
    assert.equal(await store.appendRoomTimeline(APP, "other", "m9", t), 1, "per room");
    for (let i = 3; i <= 6; i++) await store.appendRoomTimeline(APP, "lobby", `m${i}`, t + i);
    // maxEntries 3: the oldest went
    assert.deepEqual((await store.roomTimeline(APP, "lobby", 1e9, 10)).map((e) => [e.roomSeq, e.msgId]), [
      [6, "m6"],
      [5, "m5"],
      [4, "m4"],
    ]);
    assert.deepEqual((await store.roomTimeline(APP, "lobby", 6, 1)).map((e) => e.roomSeq), [5]);
    assert.deepEqual(await store.roomTimeline(APP, "nowhere", 10, 10), []);
    assert.equal(await store.appendRoomTimeline(APP, "lobby", "m7", t + 7), 7, "roomSeqs are never reused");
  }, { maxEntries: 3 });

  test("blocks: set, listed, found among candidates, per app", async ({ store }) => {
    assert.equal(await store.setBlocked(APP, "bob", "mallory", true), true);
    assert.equal(await store.setBlocked(APP, "bob", "mallory", true), false);
    assert.equal(await store.setBlocked(APP, "carol", "mallory", true), true);
    assert.deepEqual(await store.blockedUsers(APP, "bob"), ["mallory"]);
    assert.deepEqual(
      await store.blockersOf(APP, "mallory", ["bob", "carol", "dave"]),
      new Set(["bob", "carol"]),
    );
    assert.deepEqual(await store.blockersOf(202, "mallory", ["bob"]), new Set());
    assert.equal(await store.setBlocked(APP, "bob", "mallory", false), true);
    assert.equal(await store.setBlocked(APP, "bob", "mallory", false), false);
    assert.deepEqual(await store.blockedUsers(APP, "bob"), []);
    assert.deepEqual(await store.blockersOf(APP, "mallory", ["bob", "carol"]), new Set(["carol"]));
  });
}
