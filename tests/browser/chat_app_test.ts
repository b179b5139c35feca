/**
 * The chat page on the IM semantics of PROTOCOL.md Part C (issue 14, parts 4 and 5): the
 * conversation list from `conversations` (C.2), delivery states sent → delivered → read and read
 * state across devices (C.3), edit / recall / delete (C.4), typing (C.5), room history for a later
 * member (C.6) and blocking (C.7). Real Chromium, real server; each scenario names the server
 * feature it needs, screenshots in test-artifacts/ are named after the scenario.
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { TestClient } from "../support/helpers.ts";
import {
  chatWith,
  DESKTOP,
  httpSend,
  joinRoom,
  lineOf,
  openConv,
  type PageElement,
  scenario,
  screenshot,
  send,
  showList,
  texts,
  title,
  WAIT,
  waitForText,
  waitOwnStatus,
} from "./support.ts";

declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};

/** The conversation list, top to bottom: [id, preview, unread badge or ""]. */
function list(page: Page): Promise<string[][]> {
  return page.$$eval("#convs li", (els) =>
    els.map((li) => [
      li.dataset.conv ?? "",
      li.querySelector(".preview")?.textContent ?? "",
      li.querySelector(".unread")?.textContent ?? "",
    ]));
}

/** Wait until the list is `expected`. */
async function waitList(page: Page, expected: string[][]): Promise<void> {
  const deadline = Date.now() + WAIT.timeout;
  let got = await list(page);
  while (JSON.stringify(got) !== JSON.stringify(expected) && Date.now() < deadline) {
    await page.waitForTimeout(50);
    got = await list(page);
  }
  assert.deepEqual(got, expected);
}

/** Open the actions of the message showing `text` and click `action` ("Edit", "Recall", "Delete for me"). */
async function messageAction(page: Page, text: string, action: string): Promise<void> {
  const line = lineOf(text);
  await page.hover(line);
  await page.click(`${line} .msg-menu`);
  await page.click(`${line} .msg-actions button:text-is("${action}")`);
}

scenario(
  "browser: conversation-list (C.2): recent first, previews, unread, title, any user id",
  async (s) => {
    // carol is offline while others write to her: directly, in a room, over HTTP.
    const frank = await TestClient.connect(s.server().wsPort);
    const carolWs = await TestClient.connect(s.server().wsPort);
    try {
      await carolWs.login("carol");
      assert.equal((await carolWs.request("joinRoom", { room: "lobby" })).response.code, 200);
      await carolWs.close();
      await frank.login("frank");
      await frank.request("joinRoom", { room: "lobby" });
      await httpSend(s.base, "dave", "carol", "hi carol");
      await httpSend(s.base, "dave", "carol", "are you there?");
      assert.equal((await frank.request("roomMsg", { room: "lobby", msg: "lobby news" })).response.code, 200);
      await httpSend(s.base, "erin", "carol", "newest");
    } finally {
      await frank.close();
    }

    const phone = await s.user("carol");
    const c = phone.page;
    await waitList(c, [
      ["u:erin", "newest", "1"],
      ["r:lobby", "frank: lobby news", "1"],
      ["u:dave", "are you there?", "2"],
    ]);
    assert.equal(await title(c), "(4) imserver chat");
    assert.match(await c.textContent('#convs li[data-conv="u:dave"] .conv-time') ?? "", /\d/);
    await screenshot(c, "conversation-list");

    // Another device of carol: the same list, from the server's conversations; reading on the phone
    // clears the badge there too (readState).
    const laptop = await s.user("carol", DESKTOP);
    const l = laptop.page;
    await waitList(l, [
      ["u:erin", "newest", "1"],
      ["r:lobby", "frank: lobby news", "1"],
      ["u:dave", "are you there?", "2"],
    ]);
    await openConv(c, "u:dave");
    await waitForText(c, "are you there?");
    await l.waitForSelector('#convs li[data-conv="u:dave"]:not(:has(.unread))');
    await l.waitForFunction(() => document.querySelector("title")?.textContent === "(2) imserver chat");
    assert.equal(await title(c), "(2) imserver chat");

    // A chat with any user id, online or not: it goes to the top.
    await chatWith(c, "zoe");
    await send(c, "hello zoe");
    await waitOwnStatus(c, "hello zoe", "sent");
    await showList(c);
    assert.deepEqual((await list(c))[0], ["u:zoe", "You: hello zoe", ""]);
    await waitList(l, [
      ["u:zoe", "You: hello zoe", ""],
      ["u:erin", "newest", "1"],
      ["r:lobby", "frank: lobby news", "1"],
      ["u:dave", "are you there?", ""],
    ]);
    await screenshot(l, "conversation-list-desktop");
    // zoe signs in later and finds it.
    const zoe = await s.user("zoe", DESKTOP);
    await waitList(zoe.page, [["u:carol", "hello zoe", "1"]]);
    assert.equal(await title(zoe.page), "(1) imserver chat");
  },
);

scenario("browser: delivery-states (C.3): sent, then delivered, then read", async (s) => {
  const alice = await s.user("alice");
  const a = alice.page;
  await chatWith(a, "bob"); // bob has never connected
  await send(a, "first");
  await waitOwnStatus(a, "first", "sent");
  await a.waitForTimeout(300);
  await waitOwnStatus(a, "first", "sent");

  // bob's page comes online (no conversation open): it acks, alice sees "delivered".
  const bob = await s.user("bob", DESKTOP);
  await waitOwnStatus(a, "first", "delivered");
  // bob opens the conversation: "read".
  await openConv(bob.page, "u:alice");
  await waitOwnStatus(a, "first", "read");

  // bob looks elsewhere: the next one is delivered, not read.
  await chatWith(bob.page, "someone-else");
  await send(a, "second");
  await waitOwnStatus(a, "second", "delivered");
  await a.waitForTimeout(300);
  await waitOwnStatus(a, "second", "delivered");
  // bob goes offline: the third stays "sent".
  await bob.page.context().close();
  await send(a, "third");
  await waitOwnStatus(a, "third", "sent");
  await waitOwnStatus(a, "first", "read");
  await screenshot(a, "delivery-states");
});

scenario("browser: typing (C.5): shown while the peer types, gone when they stop or send", async (s) => {
  const alice = await s.user("alice");
  const bob = await s.user("bob", DESKTOP);
  const a = alice.page, b = bob.page;
  await chatWith(a, "bob");
  await chatWith(b, "alice");
  const typing = () => b.textContent("#typing");
  await a.click("#composer-text");
  await a.keyboard.type("hello the", { delay: 20 });
  await b.waitForFunction(() => document.querySelector("#typing")?.textContent === "alice is typing…");
  await b.waitForFunction(() =>
    document.querySelector('#convs li[data-conv="u:alice"] .preview')?.textContent === "typing…"
  );
  // Nine keys, one signal (the client sends a start at most every 3 s per conversation).
  const frames = () => alice.sent.filter((f) => f.cmd === "typing").map((f) => f.data.state);
  assert.deepEqual(frames(), ["start"]);
  await screenshot(b, "typing");

  // The text is cleared: a stop (sent 2 s after the start at the earliest), the line goes.
  await a.fill("#composer-text", "");
  await a.press("#composer-text", "Backspace");
  await b.waitForFunction(() => document.querySelector("#typing")?.textContent === "", undefined, WAIT);
  assert.deepEqual(frames(), ["start", "stop"]);

  // Typing again and sending: the message ends the indicator at once.
  await a.waitForTimeout(2100);
  await a.keyboard.type("x");
  await b.waitForFunction(() => document.querySelector("#typing")?.textContent === "alice is typing…");
  await a.fill("#composer-text", "a message");
  await a.press("#composer-text", "Enter");
  await waitForText(b, "a message");
  assert.equal(await typing(), "");

  // In a room: the room's members see it.
  await joinRoom(a, "lobby");
  await joinRoom(b, "lobby");
  await b.click("#composer-text");
  await b.keyboard.type("room", { delay: 20 });
  await a.waitForFunction(() => document.querySelector("#typing")?.textContent === "bob is typing…");
  await screenshot(a, "typing-room");
});

scenario(
  "browser: edit-recall-delete (C.4): own messages edited and recalled, any deleted for me",
  async (s) => {
    const alice = await s.user("alice");
    const bob = await s.user("bob", DESKTOP);
    const a = alice.page, b = bob.page;
    await chatWith(a, "bob");
    await chatWith(b, "alice");
    for (const text of ["helo", "oops", "keep", "mine"]) await send(a, text);
    await waitForText(b, "mine");

    // Edit: the text goes into the composer; Enter saves it, both sides show "edited".
    await messageAction(a, "helo", "Edit");
    await a.waitForSelector("#edit-bar", { state: "visible" });
    assert.equal(await a.inputValue("#composer-text"), "helo");
    await screenshot(a, "edit-mode");
    await a.fill("#composer-text", "hello");
    await a.press("#composer-text", "Enter");
    await a.waitForSelector("#edit-bar", { state: "hidden" });
    await waitForText(b, "hello");
    for (const p of [a, b]) await p.waitForSelector(`${lineOf("hello")} .edited`);
    // Escape leaves edit mode without saving.
    await messageAction(a, "mine", "Edit");
    await a.fill("#composer-text", "mine, changed");
    await a.press("#composer-text", "Escape");
    await a.waitForSelector("#edit-bar", { state: "hidden" });
    assert.ok((await texts(a)).includes("mine"));

    // Recall: a tombstone on both sides.
    await messageAction(a, "oops", "Recall");
    await a.waitForSelector(`${lineOf("You recalled this message")}`);
    await b.waitForSelector(`${lineOf("This message was recalled")}`);
    assert.equal((await texts(b)).includes("oops"), false);

    // Others' messages: only "Delete for me"; it goes on all of bob's devices, not on alice's.
    const other = await s.user("bob", DESKTOP);
    await openConv(other.page, "u:alice");
    await waitForText(other.page, "keep");
    await b.hover(lineOf("keep"));
    await b.click(`${lineOf("keep")} .msg-menu`);
    assert.deepEqual(
      await b.$$eval(`${lineOf("keep")} .msg-actions button`, (els) => els.map((e) => e.textContent)),
      ["Delete for me"],
    );
    await b.click(`${lineOf("keep")} .msg-actions button`);
    await b.waitForSelector(lineOf("keep"), { state: "detached" });
    await other.page.waitForSelector(lineOf("keep"), { state: "detached" });
    assert.ok((await texts(a)).includes("keep"));
    await screenshot(b, "edit-recall-delete");

    // A new browser's history shows the same: the edit, the tombstone, not the deleted one.
    const fresh = await s.user("bob", DESKTOP);
    await openConv(fresh.page, "u:alice");
    await waitForText(fresh.page, "mine");
    assert.deepEqual(await texts(fresh.page), ["hello", "This message was recalled", "mine"]);
    assert.equal(await fresh.page.textContent('#convs li[data-conv="u:alice"] .preview'), "mine");

    // Past the recall window (3 s here, from /web/config.json): the menu no longer offers Recall, and the
    // server would refuse it (1028) anyway.
    await send(a, "too late");
    await waitOwnStatus(a, "too late", "sent", "delivered", "read");
    await a.waitForTimeout(3200);
    await a.hover(lineOf("too late"));
    await a.click(`${lineOf("too late")} .msg-menu`);
    assert.deepEqual(
      await a.$$eval(`${lineOf("too late")} .msg-actions button`, (els) => els.map((e) => e.textContent)),
      ["Edit", "Delete for me"],
    );
    assert.ok((await texts(a)).includes("too late"));
  },
  { im: { recallWindow: 3 } },
);

scenario(
  "browser: block (C.7): block from a conversation, refused sends, hidden room messages",
  async (s) => {
    const alice = await s.user("alice");
    const bob = await s.user("bob", DESKTOP);
    const a = alice.page, b = bob.page;
    for (const p of [a, b]) await joinRoom(p, "lobby");
    await chatWith(a, "bob");
    await send(a, "before");
    await chatWith(b, "alice");
    await waitForText(b, "before");

    await b.click("#block-btn");
    await b.waitForFunction(() => document.querySelector("#block-btn")?.textContent === "Unblock");
    assert.match(await b.textContent("#conv-note") ?? "", /You blocked alice/);
    assert.equal(await b.isDisabled("#composer-text"), true);
    assert.equal(await b.textContent("#chat-sub"), "blocked");
    assert.equal(await b.textContent('#convs li[data-conv="u:alice"] .tag'), "blocked");
    assert.deepEqual(await texts(b), ["before"], "what came before stays readable");

    // alice's direct message is refused (1029): "not sent — retry", not resent by itself.
    await send(a, "let me in");
    await waitOwnStatus(a, "let me in", "failed");
    assert.match(await a.getAttribute(`${lineOf("let me in")} button.status`, "title") ?? "", /1029/);
    // Her room messages reach bob flagged: his page hides them.
    await joinRoom(a, "lobby");
    await send(a, "room hello");
    await waitOwnStatus(a, "room hello", "sent");
    await openConv(b, "r:lobby");
    await b.waitForTimeout(300);
    assert.deepEqual(await texts(b), []);
    await screenshot(b, "block-room-hidden");
    await openConv(b, "u:alice");
    await screenshot(b, "block");

    // Unblock: the room message shows, alice's retry goes through.
    await b.click("#block-btn");
    await b.waitForFunction(() => document.querySelector("#block-btn")?.textContent === "Block");
    assert.equal(await b.isDisabled("#composer-text"), false);
    await openConv(b, "r:lobby");
    await waitForText(b, "room hello");
    await openConv(b, "u:alice");
    await openConv(a, "u:bob");
    await a.click(`${lineOf("let me in")} button.status`);
    await waitOwnStatus(a, "let me in", "sent", "delivered", "read");
    await waitForText(b, "let me in");

    // The block list survives a reload.
    await b.click("#block-btn");
    await b.waitForFunction(() => document.querySelector("#block-btn")?.textContent === "Unblock");
    const again = await s.user("bob", DESKTOP);
    await openConv(again.page, "u:alice");
    await again.page.waitForFunction(() => document.querySelector("#block-btn")?.textContent === "Unblock");
  },
);

scenario("browser: room-history (C.6): a later member reads earlier messages, page by page", async (s) => {
  const alice = await TestClient.connect(s.server().wsPort);
  try {
    await alice.login("alice");
    await alice.request("joinRoom", { room: "lobby" });
    for (let i = 1; i <= 55; i++) {
      const r = await fetch(`${s.base}/api/v1/rooms/lobby/messages`, {
        method: "POST",
        body: new URLSearchParams({ appId: "101", from: "alice", msg: `room ${i}` }),
      });
      assert.equal((await r.json()).code, 200);
    }
  } finally {
    await alice.close();
  }
  const bob = await s.user("bob", DESKTOP);
  const b = bob.page;
  await joinRoom(b, "lobby"); // after all of them
  await waitForText(b, "room 55");
  const shown = await texts(b);
  assert.equal(shown.length, 50);
  assert.deepEqual(shown.slice(0, 2), ["room 6", "room 7"]);
  await b.click("#messages .load-more button");
  await waitForText(b, "room 1");
  assert.deepEqual(await texts(b), Array.from({ length: 55 }, (_, i) => `room ${i + 1}`));
  assert.equal(await b.$("#messages .load-more"), null, "nothing older");
  await screenshot(b, "room-history");
});
