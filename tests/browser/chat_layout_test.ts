/**
 * The chat page as a chat app (issue 14, part 4), the parts that need no Part C server feature:
 * date separators and grouping, the unread separator and "jump to new", the tab title, the
 * multi-line composer, the reconnecting / reconnected / history reset notice, the room member
 * list with presence, dark mode and the 375 px layout. Real Chromium, real server; screenshots in
 * test-artifacts/ named after the scenario.
 * @module
 */
import assert from "node:assert/strict";
import { TestClient } from "../support/helpers.ts";
import {
  chatWith,
  DESKTOP,
  dropUser,
  httpSend,
  joinRoom,
  openConv,
  type PageElement,
  reconnected,
  scenario,
  screenshot,
  send,
  showList,
  texts,
  title,
  WAIT,
  waitForText,
} from "./support.ts";

declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
  documentElement: { scrollWidth: number };
  body: PageElement;
};
declare function getComputedStyle(e: PageElement): { backgroundColor: string; color: string };

const DAY = 86_400_000;

/** Classes and visible sender names of the message lines, in order. */
function bubbles(page: import("playwright-core").Page) {
  return page.$$eval(
    "#messages li.message:not(.event)",
    (els) =>
      els.map((li) => ({
        text: li.querySelector(".text")?.textContent ?? "",
        from: li.querySelector(".from")?.textContent ?? null,
        first: li.classList.contains("first"),
        last: li.classList.contains("last"),
      })),
  );
}

scenario("browser: grouping-dates: date separators, one sender name per group", async (s) => {
  // Messages from three days: stored in carol's inbox (as a backend or an earlier session would have).
  const store = s.server().store;
  const now = Date.now();
  const old = [
    { msg: "three days ago", time: now - 3 * DAY },
    { msg: "yesterday 1", time: now - DAY },
    { msg: "yesterday 2", time: now - DAY + 60_000 },
  ];
  for (const [i, m] of old.entries()) {
    const message = { msgId: `old-${i}-${now}`, from: "dave", to: "carol", target: "", type: "text", ...m };
    await store.append(101, "carol", message);
    await store.append(101, "dave", message);
  }
  await httpSend(s.base, "dave", "carol", "today");
  const carol = await s.user("carol");
  const c = carol.page;
  await openConv(c, "u:dave");
  await waitForText(c, "today");
  const days = await c.$$eval("#messages li.day", (els) => els.map((e) => e.textContent));
  const threeDaysAgo = await c.evaluate(
    (t) => new Date(t).toLocaleDateString([], { weekday: "long", day: "numeric", month: "long" }),
    now - 3 * DAY,
  );
  assert.deepEqual(days, [threeDaysAgo, "Yesterday", "Today"]);
  // Direct chats name nobody; the two of yesterday, a minute apart, are one group.
  const direct = await bubbles(c);
  assert.deepEqual(direct.map((b) => b.from), [null, null, null, null]);
  assert.deepEqual(direct.map((b) => [b.first, b.last]), [[true, true], [true, false], [false, true], [
    true,
    true,
  ]]);
  await screenshot(c, "grouping-dates");

  // A room: consecutive messages of one sender show the name once.
  const bob = await s.user("bob", DESKTOP);
  const b = bob.page;
  await joinRoom(b, "lobby");
  await joinRoom(c, "lobby");
  for (const text of ["one", "two", "three"]) await send(c, text);
  await waitForText(b, "three");
  await send(b, "mine");
  await waitForText(c, "mine");
  await send(c, "four");
  await waitForText(b, "four");
  const room = await bubbles(b);
  assert.deepEqual(room.map((x) => [x.text, x.from]), [
    ["one", "carol"],
    ["two", null],
    ["three", null],
    ["mine", null], // own messages carry no name
    ["four", "carol"],
  ]);
  await screenshot(b, "grouping-room");
});

scenario(
  "browser: unread-jump: unread badge and tab title, new-messages separator, jump to new",
  async (s) => {
    const bob = await s.user("bob", DESKTOP);
    const b = bob.page;
    const alice = await TestClient.connect(s.server().wsPort);
    try {
      await alice.login("alice");
      await alice.request("sendMsg", { to: "bob", msg: "read before" });
      await openConv(b, "u:alice");
      await waitForText(b, "read before");
      await chatWith(b, "carol"); // another conversation is open while alice writes
      for (let i = 1; i <= 30; i++) await alice.request("sendMsg", { to: "bob", msg: `news ${i}` });
      const badge = '#convs li[data-conv="u:alice"] .unread';
      await b.waitForFunction((sel) => document.querySelector(sel)?.textContent === "30", badge, WAIT);
      assert.equal(await title(b), "(30) imserver chat");
      assert.equal(await b.textContent('#convs li[data-conv="u:alice"] .preview'), "news 30");

      await openConv(b, "u:alice");
      await waitForText(b, "news 30");
      assert.equal(await b.textContent("#messages li.unread-sep"), "30 new messages");
      // The separator sits right before the first unread message, and is what the list shows.
      const next = await b.$eval("#messages li.unread-sep + li .text", (e) => e.textContent);
      assert.equal(next, "news 1");
      const sepInView = await b.$eval("#messages li.unread-sep", (sep) => {
        const ol = document.querySelector("#messages")!;
        const r = sep.getBoundingClientRect(), o = ol.getBoundingClientRect();
        return r.top >= o.top - 1 && r.bottom <= o.top + o.height + 1;
      });
      assert.ok(sepInView, "the new-messages separator is scrolled into view");
      await b.waitForFunction(() => document.querySelector("title")?.textContent === "imserver chat");
      assert.equal(await b.$(badge), null);
      assert.equal(await b.isVisible("#jump-new"), true);
      await screenshot(b, "unread-jump-separator");

      await b.click("#jump-new");
      await b.waitForSelector("#jump-new", { state: "hidden" });
      // Scrolled up, new messages show "↓ N new messages"; the jump brings the newest into view.
      await b.$eval("#messages", (ol) => ol.scrollTop = 0);
      await b.waitForSelector("#jump-new", { state: "visible" });
      for (const msg of ["late 1", "late 2"]) await alice.request("sendMsg", { to: "bob", msg });
      await waitForText(b, "late 2");
      await b.waitForFunction(() => document.querySelector("#jump-new")?.textContent === "↓ 2 new messages");
      await screenshot(b, "unread-jump-button");
      await b.click("#jump-new");
      await b.waitForSelector("#jump-new", { state: "hidden" });
      const atEnd = await b.$eval("#messages", (ol) => ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40);
      assert.ok(atEnd);
    } finally {
      await alice.close();
    }
  },
);

scenario("browser: composer-multiline: Enter sends, Shift+Enter is a new line, the box grows", async (s) => {
  const alice = await s.user("alice");
  const bob = await s.user("bob", DESKTOP);
  const a = alice.page, b = bob.page;
  await chatWith(a, "bob");
  await chatWith(b, "alice");
  const box = "#composer-text";
  const height = () => a.$eval(box, (e) => e.getBoundingClientRect().height);
  const one = await height();
  await a.click(box);
  await a.keyboard.type("first line");
  await a.keyboard.press("Shift+Enter");
  await a.keyboard.type("second line");
  await a.keyboard.press("Shift+Enter");
  await a.keyboard.type("third line");
  assert.equal(await a.inputValue(box), "first line\nsecond line\nthird line");
  assert.ok((await height()) > one, "the composer grew with its lines");
  assert.deepEqual(await texts(a), [], "Shift+Enter sent nothing");
  await screenshot(a, "composer-multiline-typing");
  await a.keyboard.press("Enter");
  await waitForText(b, "first line\nsecond line\nthird line");
  assert.equal(await a.inputValue(box), "");
  // Shown on its lines (pre-wrap), not joined into one.
  const lines = await b.$eval("#messages li.message .text", (e) => e.getBoundingClientRect().height);
  const single = await b.$eval("#messages li.message time", (e) => e.getBoundingClientRect().height);
  assert.ok(lines > 2.5 * single, `a three-line message is ${lines}px high`);
  await screenshot(b, "composer-multiline-sent");
  // Blank text is not sent.
  await a.fill(box, "   ");
  await a.press(box, "Enter");
  await a.waitForTimeout(200);
  assert.equal((await texts(a)).length, 1);
});

scenario("browser: notices: reconnecting, reconnected, history reset", async (s) => {
  const alice = await s.user("alice");
  const a = alice.page;
  const notice = "#notice";
  // A dropped connection that comes back at once: "Reconnected", which goes away by itself.
  const before = alice.sockets();
  dropUser(s.server(), "alice");
  await reconnected(alice, before);
  await a.waitForFunction(() => document.querySelector("#notice-text")?.textContent === "Reconnected");
  assert.equal(await a.getAttribute(notice, "data-kind"), "ok");
  await screenshot(a, "notice-reconnected");
  await a.waitForSelector(notice, { state: "hidden", timeout: 8000 });

  // The server goes away: "Reconnecting…" while it is down.
  await s.stop();
  await a.waitForFunction(() => document.querySelector("#notice-text")?.textContent === "Reconnecting…");
  assert.equal(await a.getAttribute(notice, "data-kind"), "warn");
  assert.equal(await a.getAttribute("#conn-state", "data-state") === "online", false);
  await screenshot(a, "notice-reconnecting");

  // It comes back with an empty memory store (a new inbox epoch): "history was reset", until closed.
  const sockets = alice.sockets();
  await s.start();
  await reconnected(alice, sockets);
  await a.waitForFunction(() =>
    /history was reset/.test(document.querySelector("#notice-text")?.textContent ?? "")
  );
  await screenshot(a, "notice-history-reset");
  await a.waitForTimeout(4500);
  assert.equal(await a.isVisible(notice), true, "the reset notice stays");
  await a.click("#notice-close");
  await a.waitForSelector(notice, { state: "hidden" });
});

scenario("browser: room-members: member list with live presence", async (s) => {
  const carol = await TestClient.connect(s.server().wsPort);
  await carol.login("carol");
  assert.equal((await carol.request("joinRoom", { room: "lobby" })).response.code, 200);
  await carol.close(); // a member who is offline
  const alice = await s.user("alice");
  const bob = await s.user("bob", DESKTOP);
  const a = alice.page, b = bob.page;
  await joinRoom(b, "lobby");
  await joinRoom(a, "lobby");
  const presence = (p: typeof a) =>
    p.$$eval(
      "#members li",
      (els) => els.map((li) => [li.dataset.member, li.querySelector(".presence")?.textContent]),
    );
  await b.click("#room-members-btn");
  await b.waitForSelector('#members li[data-member="carol"]');
  await b.waitForFunction(() => [...document.querySelectorAll("#members li.online")].length === 2);
  assert.deepEqual(await presence(b), [["alice", "online"], ["bob", "online"], ["carol", "offline"]]);
  assert.equal(await b.textContent("#chat-sub"), "3 members, 2 online");
  await screenshot(b, "room-members-desktop");

  // carol comes online: the list and the count follow (enter push).
  const back = await TestClient.connect(s.server().wsPort);
  try {
    await back.login("carol");
    await b.waitForSelector('#members li.online[data-member="carol"]');
    assert.equal(await b.textContent("#chat-sub"), "3 members, 3 online");
    // On a phone the list is a sheet over the conversation.
    await a.click("#room-members-btn");
    await a.waitForSelector('#members li.online[data-member="carol"]');
    assert.deepEqual(await presence(a), [["alice", "online"], ["bob", "online"], ["carol", "online"]]);
    await screenshot(a, "room-members");
    await a.click("#members-close");
    await a.waitForSelector("#members-panel", { state: "hidden" });
  } finally {
    await back.close();
  }
  await b.waitForSelector('#members li[data-member="carol"]:not(.online)');
});

scenario("browser: dark-mode: prefers-color-scheme dark", async (s) => {
  const dark = await s.user("alice", { colorScheme: "dark" });
  const light = await s.user("bob", { colorScheme: "light" });
  await chatWith(dark.page, "bob");
  await send(dark.page, "hello in the dark");
  await chatWith(light.page, "alice");
  await waitForText(light.page, "hello in the dark");
  await send(light.page, "hello from the light");
  await waitForText(dark.page, "hello from the light");
  /** Relative luminance (0 black … 1 white) of an element's background and text. */
  const colours = (p: typeof dark.page, sel: string) =>
    p.$eval(sel, (e) => {
      const lum = (c: string) => {
        const [r, g, b] = (c.match(/\d+/g) ?? []).map(Number);
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
      };
      const st = getComputedStyle(e);
      return { bg: lum(st.backgroundColor), fg: lum(st.color) };
    });
  const [darkBody, lightBody] = [await colours(dark.page, "html"), await colours(light.page, "html")];
  assert.ok(darkBody.bg < 0.15 && darkBody.fg > 0.7, `dark page: ${JSON.stringify(darkBody)}`);
  assert.ok(lightBody.bg > 0.85 && lightBody.fg < 0.3, `light page: ${JSON.stringify(lightBody)}`);
  for (
    const sel of [".conv-head", "#messages li.message:not(.mine)", "#messages li.mine", "#composer-text"]
  ) {
    const d = await colours(dark.page, sel);
    assert.ok(d.bg < 0.3 && d.fg > 0.6, `dark ${sel}: ${JSON.stringify(d)}`);
  }
  await screenshot(dark.page, "dark-mode");
  const desktop = await s.user("carol", { ...DESKTOP, colorScheme: "dark" });
  await chatWith(desktop.page, "alice");
  await send(desktop.page, "a dark desktop");
  await screenshot(desktop.page, "dark-mode-desktop");
});

scenario("browser: phone-375: one-line header, list or conversation, no overflow", async (s) => {
  const alice = await s.user("alice-long-user-id");
  const bob = await s.user("bob");
  const a = alice.page;
  await chatWith(bob.page, "alice-long-user-id");
  for (const text of ["one", "two", "a long message that wraps over more than one line on a phone"]) {
    await send(bob.page, text);
  }
  await showList(a);
  await a.waitForSelector('#convs li[data-conv="u:bob"] .unread');
  /** The header is one line: every item on the same row, nothing wider than the screen. */
  const header = () =>
    a.evaluate(() => {
      const items = [...document.querySelectorAll(".topbar > :not([hidden])")].map((e) =>
        e.getBoundingClientRect()
      );
      const bar = document.querySelector(".topbar")!.getBoundingClientRect();
      // One row: every item overlaps every other vertically.
      const oneRow = Math.max(...items.map((r) => r.top)) < Math.min(...items.map((r) => r.bottom));
      return { rows: oneRow ? 1 : 2, height: bar.height };
    });
  const width = () => a.evaluate(() => document.documentElement.scrollWidth);
  assert.deepEqual((await header()).rows, 1);
  assert.ok((await header()).height < 50, `header is ${(await header()).height}px high`);
  assert.ok((await width()) <= 375, `page is ${await width()}px wide`);
  assert.equal(await a.isVisible("#messages"), false, "the list is shown, not a conversation");
  await screenshot(a, "phone-375-list");

  await openConv(a, "u:bob");
  await waitForText(a, "two");
  assert.equal(await a.isVisible("#convs"), false, "the conversation is shown, not the list");
  assert.equal(await a.isVisible("#back"), true);
  assert.deepEqual((await header()).rows, 1);
  assert.ok((await width()) <= 375, `page is ${await width()}px wide`);
  assert.equal(await a.$("#messages .from"), null, "no sender name on the bubbles of a 1:1 chat");
  await send(a, "reply from a phone");
  await screenshot(a, "phone-375-conversation");
  await a.click("#back");
  await a.waitForSelector("#convs", { state: "visible" });
  assert.equal(await a.textContent('#convs li[data-conv="u:bob"] .preview'), "You: reply from a phone");
});
