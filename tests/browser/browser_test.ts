/**
 * End-to-end tests of the web client (src/web) in a real headless Chromium driven by
 * playwright-core: two pages as two users against a real server on loopback.
 * Without /usr/bin/chromium the test is ignored, unless IM_REQUIRE_BROWSER=1 (CI): then it fails.
 * @module
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { SignJWT } from "jose";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { type RunningServer, startServer } from "../../src/server.ts";
import { TestClient, testConfig } from "../support/helpers.ts";

/** The page's `document`, for functions that playwright runs inside the browser. */
declare const document: {
  querySelectorAll(selector: string): Iterable<{ textContent: string | null }>;
  documentElement: { scrollWidth: number };
  querySelector(selector: string): { textContent: string | null } | null;
};

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

/** A page as one user, counting the WebSockets it opens (one per (re)connect). */
interface UserPage {
  page: Page;
  sockets: () => number;
}

async function openAs(
  context: BrowserContext,
  base: string,
  userId: string,
  pageErrors: string[],
  token?: string,
): Promise<UserPage> {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  let sockets = 0;
  page.on("websocket", () => sockets++);
  page.on("pageerror", (e) => pageErrors.push(`${userId}: ${e.message}`));
  await page.goto(`${base}/home/index?appId=101`);
  await page.fill("#login-user", userId);
  if (token !== undefined) await page.fill("#login-token", token);
  await page.click("#login-submit");
  await page.waitForSelector('#conn-state[data-state="online"]');
  await page.waitForSelector("#chat-view:not([hidden])");
  return { page, sockets: () => sockets };
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
    const erin = await openAs(contexts[0], base, "erin", pageErrors, token);
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
      /Login failed/.test(document.querySelector("#login-error")?.textContent ?? "")
    );
    assert.equal(await page.isVisible("#chat-view"), false);
  } finally {
    for (const c of contexts) await c.close();
    await server.shutdown();
  }
}
