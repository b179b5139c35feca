/**
 * End-to-end tests of the web client (src/web) in a real headless Chromium driven by
 * playwright-core: two pages as two users against a real server on loopback, plus one test per
 * page defect fixed (issue 11, item 20): failed sends and retry, leaving a room, connecting while
 * the server is down, join lines on reconnect. The chat-app features (issue 14) are in
 * chat_app_test.ts. Screenshots go to test-artifacts/ (git-ignored).
 * @module
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import type { Browser } from "playwright-core";
import { StorageError } from "../../src/protocol/errors.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { TestClient, testConfig } from "../support/helpers.ts";
import {
  attempts,
  chatWith,
  countText,
  DESKTOP,
  dropUser,
  events,
  httpSend,
  ignoreBrowser,
  joinRoom,
  launch,
  networkBack,
  newUserPage,
  openAs,
  openConv,
  ownStatuses,
  PHONE,
  reconnected,
  scenario,
  screenshot,
  send,
  showList,
  texts,
  until,
  type UserPage,
  WAIT,
  waitForText,
  waitOwnStatus,
} from "./support.ts";

/** The page's `document`, for functions that playwright runs inside the browser. */
declare const document: {
  querySelectorAll(selector: string): Iterable<{ textContent: string | null; className: string }>;
  documentElement: { scrollWidth: number };
  querySelector(selector: string): { textContent: string | null; className: string } | null;
};
/** The page's localStorage. */
declare const localStorage: { getItem(key: string): string | null };

Deno.test({
  name: "browser: two users chat 1:1 and in rooms, XSS-safe, resume after drop and restart, jwt login",
  ignore: ignoreBrowser,
  async fn(t) {
    let server: RunningServer | undefined = await startServer(testConfig());
    const { httpPort, wsPort } = server;
    const base = `http://127.0.0.1:${httpPort}`;
    const pageErrors: string[] = [];
    const browser = await launch();
    try {
      const phone = await browser.newContext(PHONE);
      const desktop = await browser.newContext(DESKTOP);
      const alice = await openAs(phone, base, "alice", pageErrors);
      const bob = await openAs(desktop, base, "bob", pageErrors);
      const a = alice.page, b = bob.page;

      await t.step("config endpoint and presence", async () => {
        const config = await (await fetch(`${base}/web/config.json`)).json();
        assert.equal(config.wsPort, wsPort);
        assert.equal(config.wsUrl, null);
        await a.waitForSelector('#online li[data-peer="bob"]'); // enter push
        await b.waitForSelector('#online li[data-peer="alice"]'); // users list
      });

      await t.step("1:1 chat with unread count and read receipt", async () => {
        await a.click('#online li[data-peer="bob"] button');
        await send(a, "hello bob");
        await b.waitForSelector('#convs li[data-conv="u:alice"] .unread');
        assert.equal(await b.textContent('#convs li[data-conv="u:alice"] .unread'), "1");
        await openConv(b, "u:alice");
        await waitForText(b, "hello bob");
        assert.equal(await b.$('#convs li[data-conv="u:alice"] .unread'), null);
        await a.waitForSelector("#messages li.mine .status.read"); // bob read it
        await send(b, "hi alice");
        await waitForText(a, "hi alice");
        assert.deepEqual(await texts(a), ["hello bob", "hi alice"]);
        assert.deepEqual(await texts(b), ["hello bob", "hi alice"]);
      });

      await t.step("rooms: join, chat, members, leave", async () => {
        await joinRoom(b, "lobby");
        await b.waitForSelector('#convs li[data-room="lobby"]');
        await showList(a);
        await a.fill("#room-name", "lobby");
        await a.click("#room-form button");
        await a.waitForSelector("#chat-title:has-text('# lobby')");
        await b.waitForFunction(
          () =>
            [...document.querySelectorAll("#messages .event .text")].some((e) =>
              e.textContent === "alice joined"
            ),
        );
        await send(a, "hello room");
        await waitForText(b, "hello room");
        await b.click("#room-members-btn");
        await b.waitForSelector('#members li[data-member="alice"]');
        await b.waitForSelector('#members li[data-member="bob"]');
        await openConv(a, "u:bob");
        assert.deepEqual(await texts(a), ["hello bob", "hi alice"]);
      });

      await t.step("message text is never parsed as HTML", async () => {
        const payload = `<img src=x onerror="window.__xss=1"><b>bold</b>`;
        await openConv(b, "u:alice");
        await send(b, payload);
        await waitForText(a, payload);
        assert.equal(await a.$("#messages img"), null);
        assert.equal(await a.$("#messages b"), null);
        assert.equal(await a.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined);
        await b.waitForSelector("#messages li.mine:last-child .status:is(.sent, .read)");
        assert.equal(await b.$("#messages img"), null);
        // Names are text too: a user id with markup in the online list and as a sender.
        const eve = await TestClient.connect(server!.wsPort);
        try {
          await eve.login("<b>eve</b>");
          await eve.request("sendMsg", { to: "alice", msg: "hi from eve" });
          await showList(a);
          await a.waitForSelector('#convs li[data-peer="<b>eve</b>"] .unread');
          assert.equal(await a.textContent('#convs li[data-peer="<b>eve</b>"] .conv-name'), "<b>eve</b>");
          assert.equal(await a.textContent('#online li[data-peer="<b>eve</b>"] .name'), "<b>eve</b>");
          assert.equal(await a.$("#convs b"), null);
          assert.equal(await a.$("#online b"), null);
          await openConv(a, "u:bob");
        } finally {
          await eve.close();
        }
      });

      await t.step("socket drop: messages sent meanwhile shown once, in order", async () => {
        const before = alice.sockets();
        const shown = await texts(a);
        for (const c of server!.hub.connections()) {
          if (c.identity?.userId === "alice") c.close(4001, "test drop");
        }
        for (let i = 1; i <= 3; i++) await httpSend(base, "bob", "alice", `away ${i}`);
        await reconnected(alice, before);
        await waitForText(a, "away 3");
        await send(b, "live again");
        await waitForText(a, "live again");
        assert.deepEqual(await texts(a), [...shown, "away 1", "away 2", "away 3", "live again"]);
      });

      await t.step("server restart (memory store, new epoch): resume shows new messages once", async () => {
        const [beforeA, beforeB] = [alice.sockets(), bob.sockets()];
        const shown = await texts(a);
        await server!.shutdown();
        server = undefined;
        await a.waitForSelector('#conn-state:not([data-state="online"])');
        server = await startServer(testConfig({ app: { httpPort, webSocketPort: wsPort } }));
        // In the same turn, before any socket is accepted: alice is certainly not connected yet.
        for (let i = 1; i <= 2; i++) {
          const fields = {
            msgId: `restart-${i}-${Date.now()}`,
            from: "bob",
            to: "alice",
            target: "",
            type: "text",
          };
          const message = { ...fields, msg: `restart ${i}`, time: Date.now() };
          await server.store.append(101, "alice", message);
          await server.store.append(101, "bob", message);
        }
        await reconnected(alice, beforeA);
        await reconnected(bob, beforeB);
        await waitForText(a, "restart 2");
        await send(b, "after restart");
        await waitForText(a, "after restart");
        assert.deepEqual(await texts(a), [...shown, "restart 1", "restart 2", "after restart"]);
        // Room membership was lost with the store; the pages rejoined it on login.
        const members = await server.store.roomMembers(101, "lobby");
        assert.deepEqual([...members].sort(), ["alice", "bob"]);
      });

      await t.step("a new browser shows messages received while offline, unread once", async () => {
        for (const message of ["while you were out", "second"]) {
          await httpSend(base, "dave", "carol", message);
        }
        const first = await openAs(await browser.newContext(DESKTOP), base, "carol", pageErrors);
        const badge = '#convs li[data-conv="u:dave"] .unread';
        await first.page.waitForSelector(badge);
        assert.equal(await first.page.textContent(badge), "2");
        await openConv(first.page, "u:dave");
        assert.deepEqual(await texts(first.page), ["while you were out", "second"]);
        // The first page acked them: a second new browser lists them but not as unread.
        const deadline = Date.now() + WAIT.timeout;
        while (await server!.store.mark(101, "carol", "ack") < 2 && Date.now() < deadline) {
          await first.page.waitForTimeout(50);
        }
        const second = await openAs(await browser.newContext(DESKTOP), base, "carol", pageErrors);
        await second.page.waitForSelector('#convs li[data-conv="u:dave"]');
        assert.equal(await second.page.$(badge), null);
        await openConv(second.page, "u:dave");
        assert.deepEqual(await texts(second.page), ["while you were out", "second"]);
      });

      await t.step("app-wide messages (HTTP sendMessageAll) appear under Everyone", async () => {
        const r = await fetch(`${base}/user/sendMessageAll`, {
          method: "POST",
          body: new URLSearchParams({ appId: "101", userId: "bob", message: "to everyone" }),
        });
        assert.equal((await r.json()).code, 200);
        const everyone = '#convs li[data-conv="all"]';
        await showList(a);
        await a.waitForSelector(`${everyone} .unread`);
        assert.equal(await a.textContent(`${everyone} .conv-name`), "Everyone");
        await openConv(a, "all");
        await waitForText(a, "to everyone");
        assert.equal(await a.isDisabled("#composer-text"), true); // no WebSocket command sends app-wide
        await openConv(a, "u:bob");
      });

      await t.step(
        "jwt mode: token field, login with a token, bad token refused",
        () => jwtPages(browser, pageErrors),
      );

      await t.step("phone width layout and screenshot", async () => {
        const overflow = await a.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(overflow <= 375, `page is ${overflow}px wide at 375px`);
        await Deno.mkdir("test-artifacts", { recursive: true });
        await a.screenshot({ path: "test-artifacts/chat.png", fullPage: true });
        await b.screenshot({ path: "test-artifacts/chat-desktop.png" });
      });
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
      await server?.shutdown();
    }
  },
});

/** The page in auth.mode jwt: token field, login with a token, a bad token refused. */
async function jwtPages(browser: Browser, pageErrors: string[]): Promise<void> {
  const secret = "browser-test-secret-0123456789abcdef";
  const config = testConfig({ auth: { mode: "jwt", secret } });
  const server = await startServer(config);
  const base = `http://127.0.0.1:${server.httpPort}`;
  const contexts = [await browser.newContext(), await browser.newContext()];
  try {
    const token = await new SignJWT({ app: 101 }).setProtectedHeader({ alg: "HS256" }).setSubject("erin")
      .setExpirationTime("1h").sign(new TextEncoder().encode(secret));
    const erin = await openAs(contexts[0], base, "erin", pageErrors, { token });
    assert.equal(await erin.page.isVisible("#login-token"), false); // login view is gone
    assert.equal(await erin.page.textContent("#me"), "erin · app 101");

    const page = await contexts[1].newPage();
    page.setDefaultTimeout(WAIT.timeout);
    await page.goto(`${base}/`);
    await page.waitForSelector("#login-token-row:not([hidden])");
    await page.fill("#login-user", "erin");
    await page.fill("#login-token", token.slice(0, -4) + "AAAA");
    await page.click("#login-submit");
    await page.waitForFunction(() =>
      /Login failed \(1003\)/.test(document.querySelector("#login-error")?.textContent ?? "")
    );
    assert.equal(await page.isVisible("#chat-view"), false);
  } finally {
    for (const c of contexts) await c.close();
    await server.shutdown();
  }
}

// ---- Page defects of issue 11, item 20: one scenario each, with a real server restarted on its ports. ----

scenario(
  "browser: send-retry: failed sends offer retry, resend with the same clientMsgId and arrive once",
  async (s, t) => {
    const alice = await s.user("alice", { clock: true });
    const bob = await s.user("bob", DESKTOP);
    const a = alice.page, b = bob.page;
    await chatWith(a, "bob");
    await chatWith(b, "alice");

    await t.step(
      "store unavailable (1024): the send stays pending, is resent after retryMs, arrives once",
      async () => {
        const store = s.server().store;
        const appendOnce = store.appendOnce;
        // What RedisStore throws while Redis is down: nothing is stored, the reply is 1024 + retryMs.
        // (The page sends with a clientMsgId: its appends are idempotent, appendOnce.)
        store.appendOnce = () => Promise.reject(new StorageError("append", new Error("redis is down")));
        try {
          await send(a, "during outage");
          await until(() => attempts(alice, "during outage").length >= 2, "a second attempt after the 1024");
          assert.deepEqual(await ownStatuses(a, "during outage"), ["status pending"]);
        } finally {
          store.appendOnce = appendOnce;
        }
        await waitOwnStatus(a, "during outage", "sent", "read");
        await waitForText(b, "during outage");
        assert.equal(await countText(b, "during outage"), 1);
        assert.equal(
          new Set(attempts(alice, "during outage")).size,
          1,
          "every attempt has the same clientMsgId",
        );
      },
    );

    await t.step(
      "reply lost: stored, then the connection dropped; retry resends the same id, shown once",
      async () => {
        const server = s.server();
        const store = server.store;
        const appendOnce = store.appendOnce;
        const loginState = store.loginState;
        let away = false;
        // While away, alice's logins fail as during a store outage (1024): she cannot come back for now.
        store.loginState = function (...args: Parameters<typeof loginState>) {
          if (away && args[1] === "alice") {
            return Promise.reject(new StorageError("loginState", new Error("down")));
          }
          return loginState.apply(this, args);
        };
        store.appendOnce = async function (...args: Parameters<typeof appendOnce>) {
          const appended = await appendOnce.apply(this, args);
          if (args[1].includes("alice") && args[2].msg === "reply lost") {
            // Stored in both inboxes (bob has it), but alice never gets the reply.
            away = true;
            dropUser(server, "alice", "test: reply lost");
          }
          return appended;
        };
        try {
          await send(a, "reply lost");
          await waitForText(b, "reply lost");
          await a.waitForSelector('#conn-state:not([data-state="online"])');
          await a.clock.fastForward(31_000); // past the 30 s a send keeps trying
          await waitOwnStatus(a, "reply lost", "failed");
          await a.click("#messages li.mine button.status.failed");
          await waitOwnStatus(a, "reply lost", "pending");
        } finally {
          store.appendOnce = appendOnce;
          store.loginState = loginState;
          away = false;
        }
        await networkBack(a);
        await waitOwnStatus(a, "reply lost", "sent", "read");
        const ids = attempts(alice, "reply lost");
        assert.equal(ids.length, 2, "the first attempt and the retry went out");
        assert.equal(new Set(ids).size, 1, "the retry reused the clientMsgId");
        assert.equal(await countText(a, "reply lost"), 1);
        await b.waitForTimeout(200);
        assert.equal(await countText(b, "reply lost"), 1, "the server de-duplicated the retry");
      },
    );

    await t.step(
      "server down past the send deadline: not sent — retry; resent after the restart, once",
      async () => {
        const [beforeA, beforeB] = [alice.sockets(), bob.sockets()];
        await s.stop();
        await a.waitForSelector('#conn-state:not([data-state="online"])');
        await send(a, "while down");
        await waitOwnStatus(a, "while down", "pending");
        await a.clock.fastForward(31_000);
        await waitOwnStatus(a, "while down", "failed");
        const retry = "#messages li.mine button.status.failed";
        assert.equal(await a.textContent(retry), "not sent — retry");
        assert.match(await a.getAttribute(retry, "title") ?? "", /timed out/);
        await screenshot(a, "send-retry-failed");
        // The button resends (still down: it waits, then fails again).
        await a.click(retry);
        await waitOwnStatus(a, "while down", "pending");
        await a.clock.fastForward(31_000);
        await waitOwnStatus(a, "while down", "failed");
        await s.start();
        await networkBack(a);
        await reconnected(alice, beforeA);
        // Resent by itself after the reconnect, with the id of the earlier attempts.
        await waitOwnStatus(a, "while down", "sent", "read");
        await reconnected(bob, beforeB);
        await waitForText(b, "while down");
        assert.equal(await countText(b, "while down"), 1);
        assert.equal(await countText(a, "while down"), 1);
        const ids = attempts(alice, "while down");
        assert.equal(new Set(ids).size, 1);
        await screenshot(a, "send-retry-sent");
      },
    );
  },
);

scenario("browser: room-leave: leaving closes the room for sending and forgets it", async (s) => {
  const alice = await s.user("alice");
  const bob = await s.user("bob", DESKTOP);
  const a = alice.page, b = bob.page;
  for (const p of [b, a]) await joinRoom(p, "lobby");
  await send(a, "bye all");
  await waitForText(b, "bye all");

  await a.click("#room-leave");
  await a.waitForSelector("#conv-note:not([hidden])");
  assert.match(await a.textContent("#conv-note") ?? "", /You left this room/);
  assert.equal(await a.isDisabled("#composer-text"), true);
  assert.equal(await a.isDisabled("#composer-send"), true);
  assert.equal(await a.isVisible("#room-leave"), false);
  assert.equal(await a.$('#convs li[data-room="lobby"]'), null);
  assert.deepEqual(await texts(a), ["bye all"]); // still readable
  assert.deepEqual(
    await a.evaluate(() => JSON.parse(localStorage.getItem("imserver-rooms:101:alice") ?? "null")),
    [],
  );
  await b.waitForFunction(() =>
    [...document.querySelectorAll("#messages .event .text")].some((e) => e.textContent === "alice left")
  );
  assert.deepEqual(await s.server().store.roomMembers(101, "lobby"), ["bob"]);
  await screenshot(a, "room-leave");

  // Not rejoined behind the user's back on the next login.
  const before = alice.sockets();
  dropUser(s.server(), "alice");
  await reconnected(alice, before);
  await a.waitForTimeout(300);
  assert.deepEqual(await s.server().store.roomMembers(101, "lobby"), ["bob"]);
  assert.equal(await a.$('#convs li[data-room="lobby"]'), null);

  // Joining again reopens it for sending.
  await joinRoom(a, "lobby");
  await a.waitForSelector("#conv-note", { state: "hidden" });
  assert.equal(await a.isDisabled("#composer-text"), false);

  // Membership is per user: a leave on another device of alice closes the room here too.
  const other = await s.user("alice", DESKTOP);
  await joinRoom(other.page, "lobby"); // already a member: joined false, nothing pushed
  await other.page.click("#room-leave");
  await a.waitForSelector("#conv-note:not([hidden])");
  assert.equal(await a.$('#convs li[data-room="lobby"]'), null);
  assert.equal(await a.isDisabled("#composer-text"), true);
});

scenario(
  "browser: connect-offline: connecting while the server is down shows retrying, can be cancelled",
  async (s) => {
    const u = await newUserPage(await s.browser.newContext(PHONE), "frank", s.pageErrors);
    const page = u.page;
    await page.goto(`${s.base}/home/index?appId=101`);
    await page.fill("#login-user", "frank");
    await s.stop();
    const retrying = () =>
      page.waitForFunction(
        () =>
          /Cannot reach the server — retrying… \(attempt \d+, next in \d+ s\)/.test(
            document.querySelector("#login-status")?.textContent ?? "",
          ),
        undefined,
        WAIT,
      );

    await page.click("#login-submit");
    await retrying();
    assert.equal(await page.isVisible("#login-cancel"), true);
    assert.equal(await page.isDisabled("#login-submit"), true);
    assert.equal(await page.isDisabled("#login-user"), true);
    await screenshot(page, "connect-offline-retrying");

    await page.click("#login-cancel");
    assert.equal(await page.textContent("#login-status"), "");
    assert.equal(await page.isVisible("#login-cancel"), false);
    assert.equal(await page.isDisabled("#login-submit"), false);
    const sockets = u.sockets();
    await page.waitForTimeout(1500); // longer than the first backoffs: cancelled means no more attempts
    assert.equal(u.sockets(), sockets, "no connection attempts after Cancel");

    await page.click("#login-submit");
    await retrying();
    await s.start();
    await page.waitForSelector("#chat-view:not([hidden])", WAIT);
    await page.waitForSelector('#conn-state[data-state="online"]');
    assert.equal(await page.isVisible("#login-view"), false);

    // A refused login is shown on the form with its code, and the form is usable again.
    const refused = await newUserPage(await s.browser.newContext(PHONE), "gina", s.pageErrors);
    await refused.page.goto(`${s.base}/home/index?appId=999`);
    await refused.page.fill("#login-user", "gina");
    await refused.page.click("#login-submit");
    await refused.page.waitForFunction(() =>
      /Login failed \(1003\): appId 999 is not allowed/.test(
        document.querySelector("#login-error")?.textContent ?? "",
      )
    );
    assert.equal(await refused.page.isDisabled("#login-submit"), false);
    assert.equal(await refused.page.isVisible("#login-cancel"), false);
    await screenshot(refused.page, "connect-refused");
  },
);

scenario(
  "browser: room-join-lines: reconnects and restarts show no join lines, one per real join",
  async (s, t) => {
    const alice = await s.user("alice");
    const bob = await s.user("bob", DESKTOP);
    const a = alice.page, b = bob.page;
    for (const p of [b, a]) await joinRoom(p, "lobby");
    await b.waitForFunction(() =>
      document.querySelector("#messages .event .text")?.textContent === "alice joined"
    );
    /** Both pages send to the room and see each other's message: everything pushed before has arrived. */
    const exchange = async (tag: string) => {
      await send(a, `a ${tag}`);
      await send(b, `b ${tag}`);
      await waitForText(a, `b ${tag}`);
      await waitForText(b, `a ${tag}`);
    };
    const joins = (u: UserPage) => u.sent.filter((f) => f.cmd === "joinRoom").length;

    await t.step("a dropped connection: no rejoin, no join lines", async () => {
      const [beforeA, beforeB] = [alice.sockets(), bob.sockets()];
      const [joinsA, joinsB] = [joins(alice), joins(bob)];
      dropUser(s.server(), "alice");
      dropUser(s.server(), "bob");
      await reconnected(alice, beforeA);
      await reconnected(bob, beforeB);
      await exchange("after drop");
      assert.equal(joins(alice), joinsA, "alice's page rejoined a room it is still a member of");
      assert.equal(joins(bob), joinsB, "bob's page rejoined a room it is still a member of");
      assert.deepEqual(await events(b), ["alice joined"]);
      assert.deepEqual(await events(a), []);
    });

    await t.step("a server restart (store lost): rooms rejoined, no join lines for it", async () => {
      const [beforeA, beforeB] = [alice.sockets(), bob.sockets()];
      await s.stop();
      const server = await s.start();
      await reconnected(alice, beforeA);
      await reconnected(bob, beforeB);
      await until(
        async () => (await server.store.roomMembers(101, "lobby")).length === 2,
        "both rejoined",
      );
      await exchange("after restart");
      assert.deepEqual(await events(b), ["alice joined"]);
      assert.deepEqual(await events(a), []);
    });

    await t.step("real joins and leaves: one line each", async () => {
      const carol = await TestClient.connect(s.server().wsPort);
      try {
        await carol.login("carol");
        for (const cmd of ["joinRoom", "leaveRoom", "joinRoom"]) {
          assert.equal((await carol.request(cmd, { room: "lobby" })).response.code, 200);
        }
        assert.equal(
          (await carol.request("roomMsg", { room: "lobby", msg: "carol here" })).response.code,
          200,
        );
        await waitForText(a, "carol here");
        await waitForText(b, "carol here");
        assert.deepEqual(await events(b), ["alice joined", "carol joined", "carol left", "carol joined"]);
        assert.deepEqual(await events(a), ["carol joined", "carol left", "carol joined"]);
        await screenshot(b, "room-join-lines");
      } finally {
        await carol.close();
      }
    });
  },
);
