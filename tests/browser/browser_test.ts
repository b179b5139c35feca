/**
 * End-to-end tests of the web client (src/web) in a real headless Chromium driven by
 * playwright-core: two pages as two users against a real server on loopback, plus one test per
 * page defect fixed (issue 11, item 20): failed sends and retry, leaving a room, connecting while
 * the server is down, join lines on reconnect. Screenshots go to test-artifacts/ (git-ignored).
 * Without /usr/bin/chromium the tests are ignored, unless IM_REQUIRE_BROWSER=1 (CI): then they fail.
 * @module
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { SignJWT } from "jose";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { StorageError } from "../../src/protocol/errors.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { TestClient, testConfig } from "../support/helpers.ts";

/** An element as the page functions below use it. */
interface PageElement {
  textContent: string | null;
  className: string;
  querySelector(selector: string): PageElement | null;
}

/** The page's `document`, for functions that playwright runs inside the browser. */
declare const document: {
  querySelectorAll(selector: string): Iterable<PageElement>;
  documentElement: { scrollWidth: number };
  querySelector(selector: string): PageElement | null;
};
/** The page's localStorage. */
declare const localStorage: { getItem(key: string): string | null };

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
const required = Deno.env.get("IM_REQUIRE_BROWSER") === "1";
const WAIT = { timeout: 20_000 };

/**
 * Import playwright-core. Its WSL probe calls `fs.existsSync("/proc/sys/fs/binfmt_misc/...")`
 * at load time, which Deno refuses without --allow-all (it throws instead of returning false):
 * answer false for /proc paths while the module loads, so the test task's flags suffice.
 */
async function loadPlaywright(): Promise<typeof import("playwright-core")> {
  const existsSync = fs.existsSync;
  fs.existsSync = (path: fs.PathLike) => String(path).startsWith("/proc/") ? false : existsSync(path);
  try {
    return await import("playwright-core");
  } finally {
    fs.existsSync = existsSync;
  }
}

/** Launch the system Chromium headless with a throwaway profile. */
async function launch(): Promise<Browser> {
  if (!haveChromium) throw new Error(`IM_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing`);
  const { chromium } = await loadPlaywright();
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A frame a page sent on its WebSocket. */
// deno-lint-ignore no-explicit-any
type SentFrame = { seq: string; cmd: string; data: any };

/** A page as one user, counting the WebSockets it opens (one per (re)connect) and the frames it sends. */
interface UserPage {
  page: Page;
  sockets: () => number;
  /** Every frame sent so far, over all its sockets, in order. */
  sent: SentFrame[];
}

/** A new page of `context` with the page's WebSocket traffic recorded; not logged in. */
async function newUserPage(context: BrowserContext, name: string, pageErrors: string[]): Promise<UserPage> {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  let sockets = 0;
  const sent: SentFrame[] = [];
  page.on("websocket", (ws) => {
    sockets++;
    ws.on("framesent", (f) => {
      try {
        sent.push(JSON.parse(String(f.payload)));
      } catch {
        // not JSON: not ours
      }
    });
  });
  page.on("pageerror", (e) => pageErrors.push(`${name}: ${e.message}`));
  return { page, sockets: () => sockets, sent };
}

async function openAs(
  context: BrowserContext,
  base: string,
  userId: string,
  pageErrors: string[],
  options: { token?: string; clock?: boolean } = {},
): Promise<UserPage> {
  const u = await newUserPage(context, userId, pageErrors);
  const page = u.page;
  // A fake clock that runs in real time until the test jumps it forward (clock.fastForward).
  if (options.clock) await page.clock.install();
  await page.goto(`${base}/home/index?appId=101`);
  await page.fill("#login-user", userId);
  if (options.token !== undefined) await page.fill("#login-token", options.token);
  await page.click("#login-submit");
  await page.waitForSelector('#conn-state[data-state="online"]');
  await page.waitForSelector("#chat-view:not([hidden])");
  return u;
}

/** Texts of the message lines (not join/leave events) of the open conversation. */
function texts(page: Page): Promise<string[]> {
  return page.$$eval("#messages li.message:not(.event) .text", (els) => els.map((e) => e.textContent ?? ""));
}

/** Wait until the open conversation shows `text` (polls the DOM in the page). */
function waitForText(page: Page, text: string): Promise<unknown> {
  return page.waitForFunction(
    (t) => [...document.querySelectorAll("#messages .text")].some((e) => e.textContent === t),
    text,
    WAIT,
  );
}

async function send(page: Page, text: string): Promise<void> {
  await page.fill("#composer-text", text);
  await page.press("#composer-text", "Enter");
}

/** Wait for a reconnect: more sockets opened than `before`, and online again. */
async function reconnected(u: UserPage, before: number): Promise<void> {
  const deadline = Date.now() + WAIT.timeout;
  while (u.sockets() <= before && Date.now() < deadline) await u.page.waitForTimeout(50);
  assert.ok(u.sockets() > before, "page did not reconnect");
  await u.page.waitForSelector('#conn-state[data-state="online"]');
}

Deno.test({
  name: "browser: two users chat 1:1 and in rooms, XSS-safe, resume after drop and restart, jwt login",
  ignore: !haveChromium && !required,
  async fn(t) {
    let server: RunningServer | undefined = await startServer(testConfig());
    const { httpPort, wsPort } = server;
    const base = `http://127.0.0.1:${httpPort}`;
    const pageErrors: string[] = [];
    const browser = await launch();
    try {
      const phone = await browser.newContext({ viewport: { width: 375, height: 740 } });
      const desktop = await browser.newContext({ viewport: { width: 1000, height: 700 } });
      const alice = await openAs(phone, base, "alice", pageErrors);
      const bob = await openAs(desktop, base, "bob", pageErrors);
      const a = alice.page, b = bob.page;

      await t.step("config endpoint and presence", async () => {
        const config = await (await fetch(`${base}/web/config.json`)).json();
        assert.equal(config.wsPort, wsPort);
        assert.equal(config.wsUrl, null);
        await a.waitForSelector('#users li[data-peer="bob"] button:not(.offline)'); // enter push
        await b.waitForSelector('#users li[data-peer="alice"] button:not(.offline)'); // users list
      });

      await t.step("1:1 chat with unread count and read receipt", async () => {
        await a.click('#users li[data-peer="bob"] button');
        await send(a, "hello bob");
        await b.waitForSelector('#users li[data-peer="alice"] .unread');
        assert.equal(await b.textContent('#users li[data-peer="alice"] .unread'), "1");
        await b.click('#users li[data-peer="alice"] button');
        await waitForText(b, "hello bob");
        assert.equal(await b.$('#users li[data-peer="alice"] .unread'), null);
        await a.waitForSelector("#messages li.mine .status.read"); // bob read it
        await send(b, "hi alice");
        await waitForText(a, "hi alice");
        assert.deepEqual(await texts(a), ["hello bob", "hi alice"]);
        assert.deepEqual(await texts(b), ["hello bob", "hi alice"]);
      });

      await t.step("rooms: join, chat, members, leave", async () => {
        await b.fill("#room-name", "lobby");
        await b.press("#room-name", "Enter");
        await b.waitForSelector('#rooms li[data-room="lobby"]');
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
        await b.waitForSelector("#room-members:not([hidden])");
        const members = await b.textContent("#room-members");
        assert.match(members ?? "", /alice/);
        assert.match(members ?? "", /bob/);
        await a.click('#users li[data-peer="bob"] button');
        assert.deepEqual(await texts(a), ["hello bob", "hi alice"]);
      });

      await t.step("message text is never parsed as HTML", async () => {
        const payload = `<img src=x onerror="window.__xss=1"><b>bold</b>`;
        await b.click('#users li[data-peer="alice"] button');
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
          await a.waitForSelector('#users li[data-peer="<b>eve</b>"] .unread');
          assert.equal(await a.textContent('#users li[data-peer="<b>eve</b>"] span'), "<b>eve</b>");
          assert.equal(await a.$("#users b"), null);
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
        for (let i = 1; i <= 3; i++) {
          const r = await fetch(`${base}/user/sendMessage`, {
            method: "POST",
            body: new URLSearchParams({ appId: "101", userId: "alice", from: "bob", message: `away ${i}` }),
          });
          assert.equal((await r.json()).code, 200);
        }
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
          const r = await fetch(`${base}/user/sendMessage`, {
            method: "POST",
            body: new URLSearchParams({ appId: "101", userId: "carol", from: "dave", message }),
          });
          assert.equal((await r.json()).code, 200);
        }
        const first = await openAs(await browser.newContext(), base, "carol", pageErrors);
        const badge = '#users li[data-peer="dave"] .unread';
        await first.page.waitForSelector(badge);
        assert.equal(await first.page.textContent(badge), "2");
        await first.page.click('#users li[data-peer="dave"] button');
        assert.deepEqual(await texts(first.page), ["while you were out", "second"]);
        // The first page acked them: a second new browser lists them but not as unread.
        const deadline = Date.now() + WAIT.timeout;
        while (await server!.store.mark(101, "carol", "ack") < 2 && Date.now() < deadline) {
          await first.page.waitForTimeout(50);
        }
        const second = await openAs(await browser.newContext(), base, "carol", pageErrors);
        await second.page.waitForSelector('#users li[data-peer="dave"]');
        assert.equal(await second.page.$(badge), null);
        await second.page.click('#users li[data-peer="dave"] button');
        assert.deepEqual(await texts(second.page), ["while you were out", "second"]);
      });

      await t.step("app-wide messages (HTTP sendMessageAll) appear under Everyone", async () => {
        const r = await fetch(`${base}/user/sendMessageAll`, {
          method: "POST",
          body: new URLSearchParams({ appId: "101", userId: "bob", message: "to everyone" }),
        });
        assert.equal((await r.json()).code, 200);
        const everyone = '#rooms li[data-room=""] button';
        await a.waitForSelector(`${everyone} .unread`);
        assert.equal(await a.textContent(`${everyone} span`), "Everyone");
        await a.click(everyone);
        await waitForText(a, "to everyone");
        assert.equal(await a.isDisabled("#composer-text"), true); // no WebSocket command sends app-wide
        await a.click('#users li[data-peer="bob"] button');
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

/** What a scenario gets: the browser, the server on fixed ports (stop/start it), page errors. */
interface Scenario {
  browser: Browser;
  base: string;
  /** The server running now (throws while stopped). */
  server: () => RunningServer;
  /** Shut the server down (its clients see the connection drop; nothing listens on its ports). */
  stop: () => Promise<void>;
  /** Start a fresh server (memory store: new inbox epoch, no rooms) on the same ports. */
  start: () => Promise<RunningServer>;
  pageErrors: string[];
}

/** A browser test with its own server and browser, always cleaned up; page errors fail it. */
function scenario(name: string, fn: (s: Scenario, t: Deno.TestContext) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !haveChromium && !required,
    async fn(t) {
      let server: RunningServer | undefined = await startServer(testConfig());
      const { httpPort, wsPort } = server;
      const pageErrors: string[] = [];
      const browser = await launch();
      const s: Scenario = {
        browser,
        base: `http://127.0.0.1:${httpPort}`,
        server: () => {
          if (!server) throw new Error("server is stopped");
          return server;
        },
        stop: async () => {
          await server?.shutdown();
          server = undefined;
        },
        start: async () => {
          server = await startServer(testConfig({ app: { httpPort, webSocketPort: wsPort } }));
          return server;
        },
        pageErrors,
      };
      try {
        await fn(s, t);
        assert.deepEqual(pageErrors, []);
      } finally {
        await browser.close();
        await server?.shutdown();
      }
    },
  });
}

/** Save a screenshot as test-artifacts/<name>.png. */
async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir("test-artifacts", { recursive: true });
  await page.screenshot({ path: `test-artifacts/${name}.png` });
}

/** Status classes of the own lines showing `text` in the open conversation, e.g. ["status sent"]. */
function ownStatuses(page: Page, text: string): Promise<string[]> {
  return page.evaluate(
    (t) =>
      [...document.querySelectorAll("#messages li.mine")]
        .filter((li) => li.querySelector(".text")?.textContent === t)
        .map((li) => li.querySelector(".status")?.className ?? ""),
    text,
  );
}

/** Wait until exactly one own line shows `text`, with one of the `statuses` (e.g. "sent", "read"). */
async function waitOwnStatus(page: Page, text: string, ...statuses: string[]): Promise<void> {
  try {
    await page.waitForFunction(
      ([t, wanted]) => {
        const found = [...document.querySelectorAll("#messages li.mine")]
          .filter((li) => li.querySelector(".text")?.textContent === t);
        const classes = (found[0]?.querySelector(".status")?.className ?? "").split(" ");
        return found.length === 1 && wanted.some((s) => classes.includes(s));
      },
      [text, statuses] as const,
      WAIT,
    );
  } catch {
    assert.fail(
      `"${text}": wanted one line with status ${statuses}, got ${
        JSON.stringify(await ownStatuses(page, text))
      }`,
    );
  }
}

/** The clientMsgIds of the sendMsg/roomMsg frames a page sent for `text` (one per attempt). */
function attempts(u: UserPage, text: string): string[] {
  return u.sent.filter((f) => (f.cmd === "sendMsg" || f.cmd === "roomMsg") && f.data?.msg === text)
    .map((f) => String(f.data.clientMsgId));
}

/** How many message lines of the open conversation show `text`. */
async function countText(page: Page, text: string): Promise<number> {
  return (await texts(page)).filter((x) => x === text).length;
}

/** Texts of the join/leave event lines of the open conversation. */
function events(page: Page): Promise<string[]> {
  return page.$$eval("#messages li.event .text", (els) => els.map((e) => e.textContent ?? ""));
}

/** Poll `check` (bounded by WAIT) until it is true. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT.timeout;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The browser's `online` event: the page reconnects now instead of sitting out its backoff. */
function networkBack(page: Page): Promise<void> {
  return page.evaluate(() => void globalThis.dispatchEvent(new Event("online")));
}

/** Close every server-side connection of `userId` (a network drop as the server sees it). */
function dropUser(server: RunningServer, userId: string, reason = "test drop"): void {
  for (const c of server.hub.connections()) {
    if (c.identity?.userId === userId) c.close(4001, reason);
  }
}

scenario(
  "browser: send-retry: failed sends offer retry, resend with the same clientMsgId and arrive once",
  async (s, t) => {
    const alice = await openAs(
      await s.browser.newContext({ viewport: { width: 375, height: 740 } }),
      s.base,
      "alice",
      s.pageErrors,
      { clock: true },
    );
    const bob = await openAs(await s.browser.newContext(), s.base, "bob", s.pageErrors);
    const a = alice.page, b = bob.page;
    await a.click('#users li[data-peer="bob"] button');
    await b.click('#users li[data-peer="alice"] button');

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
        const head = store.head;
        let away = false;
        // While away, alice's logins fail as during a store outage (1024): she cannot come back for now.
        store.head = function (...args: Parameters<typeof head>) {
          if (away && args[1] === "alice") return Promise.reject(new StorageError("head", new Error("down")));
          return head.apply(this, args);
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
          store.head = head;
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
  const alice = await openAs(
    await s.browser.newContext({ viewport: { width: 375, height: 740 } }),
    s.base,
    "alice",
    s.pageErrors,
  );
  const bob = await openAs(await s.browser.newContext(), s.base, "bob", s.pageErrors);
  const a = alice.page, b = bob.page;
  for (const p of [b, a]) {
    await p.fill("#room-name", "lobby");
    await p.press("#room-name", "Enter");
    await p.waitForSelector("#chat-title:has-text('# lobby')");
  }
  await send(a, "bye all");
  await waitForText(b, "bye all");

  await a.click("#room-leave");
  await a.waitForSelector("#conv-note:not([hidden])");
  assert.match(await a.textContent("#conv-note") ?? "", /You left this room/);
  assert.equal(await a.isDisabled("#composer-text"), true);
  assert.equal(await a.isDisabled("#composer-send"), true);
  assert.equal(await a.isVisible("#room-leave"), false);
  assert.equal(await a.$('#rooms li[data-room="lobby"]'), null);
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
  assert.equal(await a.$('#rooms li[data-room="lobby"]'), null);

  // Joining again reopens it for sending.
  await a.fill("#room-name", "lobby");
  await a.press("#room-name", "Enter");
  await a.waitForSelector("#conv-note", { state: "hidden" });
  assert.equal(await a.isDisabled("#composer-text"), false);

  // Membership is per user: a leave on another device of alice closes the room here too.
  const other = await openAs(await s.browser.newContext(), s.base, "alice", s.pageErrors);
  await other.page.fill("#room-name", "lobby"); // already a member: joined false, nothing pushed
  await other.page.press("#room-name", "Enter");
  await other.page.waitForSelector("#chat-title:has-text('# lobby')");
  await other.page.click("#room-leave");
  await a.waitForSelector("#conv-note:not([hidden])");
  assert.equal(await a.$('#rooms li[data-room="lobby"]'), null);
  assert.equal(await a.isDisabled("#composer-text"), true);
});

scenario(
  "browser: connect-offline: connecting while the server is down shows retrying, can be cancelled",
  async (s) => {
    const u = await newUserPage(
      await s.browser.newContext({ viewport: { width: 375, height: 740 } }),
      "frank",
      s.pageErrors,
    );
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
    const refused = await newUserPage(await s.browser.newContext(), "gina", s.pageErrors);
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
    const alice = await openAs(
      await s.browser.newContext({ viewport: { width: 375, height: 740 } }),
      s.base,
      "alice",
      s.pageErrors,
    );
    const bob = await openAs(await s.browser.newContext(), s.base, "bob", s.pageErrors);
    const a = alice.page, b = bob.page;
    for (const p of [b, a]) {
      await p.fill("#room-name", "lobby");
      await p.press("#room-name", "Enter");
      await p.waitForSelector("#chat-title:has-text('# lobby')");
    }
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
