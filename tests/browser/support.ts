/**
 * Shared pieces of the browser tests: the system Chromium driven by playwright-core, a page
 * signed in as one user (recording its WebSocket frames), a scenario with its own server on fixed
 * ports (so it can be stopped and restarted), DOM queries of the chat page and screenshots under
 * test-artifacts/ (git-ignored). Without /usr/bin/chromium the tests are ignored, unless
 * IM_REQUIRE_BROWSER=1 (CI): then they fail.
 * @module
 */
import assert from "node:assert/strict";
import type { Browser, BrowserContext, BrowserContextOptions, Page } from "playwright-core";
import { type RunningServer, startServer } from "../../src/server.ts";
import { ignoreBrowser, launchChromium } from "../support/chromium.ts";
import { type ConfigOverrides, testConfig } from "../support/helpers.ts";

/** An element as the page functions below use it. */
export interface PageElement {
  textContent: string | null;
  className: string;
  classList: { contains(name: string): boolean };
  dataset: Record<string, string | undefined>;
  querySelector(selector: string): PageElement | null;
  getBoundingClientRect(): { top: number; bottom: number; height: number; width: number };
  scrollTop: number;
  scrollHeight: number;
  clientHeight: number;
}

/** The page's `document`, for functions that playwright runs inside the browser. */
declare const document: {
  querySelectorAll(selector: string): Iterable<PageElement>;
  documentElement: { scrollWidth: number };
  querySelector(selector: string): PageElement | null;
  title: string;
};

export { haveChromium, ignoreBrowser } from "../support/chromium.ts";
export const WAIT = { timeout: 20_000 };
export const PHONE: BrowserContextOptions = { viewport: { width: 375, height: 740 }, timezoneId: "UTC" };
export const DESKTOP: BrowserContextOptions = { viewport: { width: 1000, height: 700 }, timezoneId: "UTC" };

/** Launch the system Chromium headless with a throwaway profile (tests/support/chromium.ts). */
export const launch: () => Promise<Browser> = launchChromium;

/** A frame a page sent on its WebSocket. */
// deno-lint-ignore no-explicit-any
export type SentFrame = { seq: string; cmd: string; data: any };

/** A page as one user, counting the WebSockets it opens (one per (re)connect) and the frames it sends. */
export interface UserPage {
  page: Page;
  sockets: () => number;
  /** Every frame sent so far, over all its sockets, in order. */
  sent: SentFrame[];
}

/** A new page of `context` with the page's WebSocket traffic recorded; not logged in. */
export async function newUserPage(
  context: BrowserContext,
  name: string,
  pageErrors: string[],
): Promise<UserPage> {
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

/** A page signed in as `userId` (app 101), online, the chat shown. */
export async function openAs(
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

/** The conversation list is shown (phones show either it or a conversation): go back if needed. */
export async function showList(page: Page): Promise<void> {
  if (!(await page.isVisible("#convs"))) await page.click("#back");
  await page.waitForSelector("#convs", { state: "visible" });
}

/** Open a conversation of the list: `u:<peer>`, `r:<room>` or `all`. */
export async function openConv(page: Page, id: string): Promise<void> {
  await showList(page);
  await page.click(`#convs li[data-conv="${id}"] button`);
  await page.waitForSelector(`#convs li[data-conv="${id}"] button.active`, { state: "attached" });
}

/** Start (or open) a 1:1 chat with any user id, online or not, from the "Chat with" field. */
export async function chatWith(page: Page, userId: string): Promise<void> {
  await showList(page);
  await page.fill("#new-chat-user", userId);
  await page.press("#new-chat-user", "Enter");
  await page.waitForFunction((u) => document.querySelector("#chat-title")?.textContent === u, userId, WAIT);
}

/** Join a room from the sidebar form; it opens. */
export async function joinRoom(page: Page, room: string): Promise<void> {
  await showList(page);
  await page.fill("#room-name", room);
  await page.press("#room-name", "Enter");
  await page.waitForFunction(
    (r) => document.querySelector("#chat-title")?.textContent === `# ${r}`,
    room,
    WAIT,
  );
}

/** Texts of the message lines (not join/leave events) of the open conversation. */
export function texts(page: Page): Promise<string[]> {
  return page.$$eval("#messages li.message:not(.event) .text", (els) => els.map((e) => e.textContent ?? ""));
}

/** Wait until the open conversation shows `text` (polls the DOM in the page). */
export function waitForText(page: Page, text: string): Promise<unknown> {
  return page.waitForFunction(
    (t) => [...document.querySelectorAll("#messages .text")].some((e) => e.textContent === t),
    text,
    WAIT,
  );
}

/** Type `text` into the composer and press Enter. */
export async function send(page: Page, text: string): Promise<void> {
  await page.fill("#composer-text", text);
  await page.press("#composer-text", "Enter");
}

/** The message line (li) showing `text` in the open conversation, as a selector. */
export function lineOf(text: string): string {
  return `#messages li.message:has(> .text:text-is(${JSON.stringify(text)}))`;
}

/** Wait for a reconnect: more sockets opened than `before`, and online again. */
export async function reconnected(u: UserPage, before: number): Promise<void> {
  const deadline = Date.now() + WAIT.timeout;
  while (u.sockets() <= before && Date.now() < deadline) await u.page.waitForTimeout(50);
  assert.ok(u.sockets() > before, "page did not reconnect");
  await u.page.waitForSelector('#conn-state[data-state="online"]');
}

/** Poll `check` (bounded by WAIT) until it is true. */
export async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT.timeout;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Save a screenshot as test-artifacts/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir("test-artifacts", { recursive: true });
  await page.screenshot({ path: `test-artifacts/${name}.png` });
}

/** Close every server-side connection of `userId` (a network drop as the server sees it). */
export function dropUser(server: RunningServer, userId: string, reason = "test drop"): void {
  for (const c of server.hub.connections()) {
    if (c.identity?.userId === userId) c.close(4001, reason);
  }
}

/** The browser's `online` event: the page reconnects now instead of sitting out its backoff. */
export function networkBack(page: Page): Promise<void> {
  return page.evaluate(() => void globalThis.dispatchEvent(new Event("online")));
}

/** What a scenario gets: the browser, the server on fixed ports (stop/start it), page errors. */
export interface Scenario {
  browser: Browser;
  base: string;
  /** The server running now (throws while stopped). */
  server: () => RunningServer;
  /** Shut the server down (its clients see the connection drop; nothing listens on its ports). */
  stop: () => Promise<void>;
  /** Start a fresh server (memory store: new inbox epoch, no rooms) on the same ports. */
  start: () => Promise<RunningServer>;
  pageErrors: string[];
  /** A page signed in as `userId` in a new browser context (a phone unless `options` say otherwise). */
  user: (userId: string, options?: BrowserContextOptions & { clock?: boolean }) => Promise<UserPage>;
}

/** A browser test with its own server and browser, always cleaned up; page errors fail it. */
export function scenario(
  name: string,
  fn: (s: Scenario, t: Deno.TestContext) => Promise<void>,
  overrides: ConfigOverrides = {},
): void {
  Deno.test({
    name,
    ignore: ignoreBrowser,
    async fn(t) {
      let server: RunningServer | undefined = await startServer(testConfig(overrides));
      const { httpPort, wsPort } = server;
      const pageErrors: string[] = [];
      const browser = await launch();
      const base = `http://127.0.0.1:${httpPort}`;
      const s: Scenario = {
        browser,
        base,
        server: () => {
          if (!server) throw new Error("server is stopped");
          return server;
        },
        stop: async () => {
          await server?.shutdown();
          server = undefined;
        },
        start: async () => {
          server = await startServer(testConfig({ ...overrides, app: { httpPort, webSocketPort: wsPort } }));
          return server;
        },
        pageErrors,
        user: async (userId, options = {}) => {
          const { clock, ...context } = options;
          return await openAs(await browser.newContext({ ...PHONE, ...context }), base, userId, pageErrors, {
            clock,
          });
        },
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

/** Send a direct message over the HTTP API (from `from` to `to`), as a backend would. */
export async function httpSend(base: string, from: string, to: string, message: string): Promise<void> {
  const r = await fetch(`${base}/user/sendMessage`, {
    method: "POST",
    body: new URLSearchParams({ appId: "101", userId: to, from, message }),
  });
  assert.equal((await r.json()).code, 200);
}

/** The page's tab title. */
export function title(page: Page): Promise<string> {
  return page.evaluate(() => document.title);
}

/** Status classes of the own lines showing `text` in the open conversation, e.g. ["status sent"]. */
export function ownStatuses(page: Page, text: string): Promise<string[]> {
  return page.evaluate(
    (t) =>
      [...document.querySelectorAll("#messages li.mine")]
        .filter((li) => li.querySelector(".text")?.textContent === t)
        .map((li) => li.querySelector(".status")?.className ?? ""),
    text,
  );
}

/** Wait until exactly one own line shows `text`, with one of the `statuses` (e.g. "sent", "read"). */
export async function waitOwnStatus(page: Page, text: string, ...statuses: string[]): Promise<void> {
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
export function attempts(u: UserPage, text: string): string[] {
  return u.sent.filter((f) => (f.cmd === "sendMsg" || f.cmd === "roomMsg") && f.data?.msg === text)
    .map((f) => String(f.data.clientMsgId));
}

/** How many message lines of the open conversation show `text`. */
export async function countText(page: Page, text: string): Promise<number> {
  return (await texts(page)).filter((x) => x === text).length;
}

/** Texts of the join/leave event lines of the open conversation. */
export function events(page: Page): Promise<string[]> {
  return page.$$eval("#messages li.event .text", (els) => els.map((e) => e.textContent ?? ""));
}
