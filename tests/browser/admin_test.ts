/**
 * The admin console (/admin, src/web/admin*.js) in a real headless Chromium against a real server and
 * real WebSocket clients: off without admin.keys; a wrong key and an API key refused, the admin key
 * accepted (and kept only in sessionStorage, only ever sent as a header); numbers move as clients
 * connect; the uPlot charts render; kick and disconnect close clients with 4010; send reaches the
 * user; the room and apps views; no CSP violation; usable at 375 px. Screenshots: test-artifacts/admin-*.png.
 * @module
 */
import assert from "node:assert/strict";
import type { Page, Request as PwRequest } from "playwright-core";
import { startServer } from "../../src/server.ts";
import { browserTest, screenshot } from "../support/chromium.ts";
import { TestClient, testConfig } from "../support/helpers.ts";

/** An element as the page functions below use it. */
interface PageElement {
  textContent: string | null;
}
/** The page's `document` and storages, for functions that playwright runs inside the browser. */
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): { length: number };
  documentElement: { scrollWidth: number };
};
declare const sessionStorage: { length: number; getItem(key: string): string | null };
declare const localStorage: { length: number };

const ADMIN_KEY = "browser-admin-key-0000001";
const API_KEY = "browser-api-key-00000001";
const WAIT = { timeout: 20_000 };

/** Page errors and CSP refusals (console messages) of a page. */
function watch(page: Page) {
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`csp: ${m.text()}`);
  });
  const requests: PwRequest[] = [];
  page.on("request", (r) => requests.push(r));
  return { problems, requests };
}

async function login(port: number, userId: string, extra = {}): Promise<TestClient> {
  const c = await TestClient.connect(port);
  await c.login(userId, 101, extra);
  return c;
}

/** The text of the nodes table's connections cell of the first row. */
const connectionsCell = (page: Page) => page.textContent("#nodes-table tbody tr:first-child td.connections");

browserTest(
  "admin page: without admin.keys it says the console is off and how to turn it on",
  async (browser) => {
    const server = await startServer(testConfig());
    try {
      const page = await browser.newPage();
      const res = await page.goto(`http://127.0.0.1:${server.httpPort}/admin`);
      assert.equal(res?.status(), 404);
      const text = await page.textContent("body");
      assert.match(text ?? "", /admin console is disabled/i);
      assert.match(text ?? "", /admin\.keys/);
      await screenshot(page, "admin-disabled");
    } finally {
      await server.shutdown();
    }
  },
);

browserTest(
  "admin page: keys, live numbers, charts, user/room/apps views, kick and disconnect (4010), 375 px",
  async (browser, t) => {
    const server = await startServer(testConfig({ admin: { keys: [ADMIN_KEY] }, api: { keys: [API_KEY] } }));
    const base = `http://127.0.0.1:${server.httpPort}`;
    const clients: TestClient[] = [];
    try {
      const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT.timeout);
      const { problems, requests } = watch(page);
      await page.goto(`${base}/admin`);

      await t.step("a wrong key and an API key are refused with what they are", async () => {
        await page.fill("#key-input", "not-a-key");
        await page.click("#key-submit");
        await page.waitForSelector("#key-error:has-text('refused')");
        assert.equal(await page.isHidden("#console-view"), true);
        await page.fill("#key-input", API_KEY);
        await page.click("#key-submit");
        await page.waitForSelector("#key-error:has-text('API key')");
        assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused key is forgotten");
      });

      await t.step("the admin key opens the console; numbers move when clients connect", async () => {
        await page.fill("#key-input", ADMIN_KEY);
        await page.click("#key-submit");
        await page.waitForSelector("#console-view:not([hidden])");
        await page.waitForFunction(() =>
          document.querySelector("#nodes-table tbody tr td.connections")?.textContent === "0"
        );
        clients.push(await login(server.wsPort, "alice", { deviceId: "laptop" }));
        clients.push(await login(server.wsPort, "bob"), await login(server.wsPort, "bob"));
        for (let i = 0; i < 20; i++) await clients[0].request("sendMsg", { to: "bob", msg: `m${i}` });
        await page.waitForFunction(
          () => document.querySelector("#nodes-table tbody tr td.connections")?.textContent === "3",
          undefined,
          WAIT,
        );
        assert.equal(await connectionsCell(page), "3");
        assert.match(await page.textContent("#overview-summary") ?? "", /3 connections/);
      });

      await t.step("charts render with uPlot (and reload keeps the history)", async () => {
        await page.waitForFunction(
          () => document.querySelectorAll("#charts figure.chart canvas").length >= 5,
          undefined,
          WAIT,
        );
        // wait for a few samples so the lines have length
        await page.waitForFunction(() =>
          /Last/.test(document.querySelector("#charts-title")?.textContent ?? "")
        );
        await page.waitForTimeout(3000);
        const sizes = await page.$$eval(
          "#charts canvas",
          (cs) => cs.map((c) => (c as unknown as { width: number }).width),
        );
        assert.ok(sizes.every((w) => w > 100), `canvas widths ${sizes}`);
        const legends = await page.$$eval("#charts .u-legend", (ls) => ls.map((l) => l.textContent ?? ""));
        assert.ok(legends.some((l) => /in \(accepted\)/.test(l)), legends.join(" | "));
        await screenshot(page, "admin-overview");
        await page.reload();
        await page.waitForSelector("#console-view:not([hidden])"); // the key survives a reload of the tab
        await page.waitForFunction(
          () => document.querySelectorAll("#charts figure.chart canvas").length >= 5,
          undefined,
          WAIT,
        );
      });

      await t.step("the key is kept in sessionStorage only and only sent as a header", async () => {
        assert.equal(await page.evaluate(() => sessionStorage.getItem("imserver.adminKey")), ADMIN_KEY);
        assert.equal(await page.evaluate(() => localStorage.length), 0);
        const api = requests.filter((r) => r.url().includes("/api/v1/admin/"));
        assert.ok(api.length > 3);
        for (const r of requests) assert.ok(!r.url().includes(ADMIN_KEY), r.url());
        for (const r of api) assert.match((await r.allHeaders()).authorization ?? "", /^Bearer \S+$/);
        assert.equal((await api.at(-1)!.allHeaders()).authorization, `Bearer ${ADMIN_KEY}`);
      });

      await t.step(
        "user view: connections with IP and device; send; kick one connection (4010)",
        async () => {
          await page.click("#tabs button[data-view=user]");
          await page.fill("#user-app", "101");
          await page.fill("#user-id", "alice");
          await page.click("#user-form button");
          await page.waitForSelector("#conns-table tbody tr");
          const row = await page.textContent("#conns-table tbody tr");
          assert.match(row ?? "", /127\.0\.0\.1/);
          assert.match(row ?? "", /laptop/);
          assert.match(await page.textContent("#user-recent") ?? "", /m19/);
          await page.fill("#send-msg", "<b>from the console</b>");
          await page.click("#send-form button");
          const push = await clients[0].push("msg");
          assert.equal(push.response.data.msg, "<b>from the console</b>");
          await page.waitForSelector("#notice:has-text('Sent')");
          await page.waitForFunction(() =>
            /from the console/.test(document.querySelector("#user-recent")?.textContent ?? "")
          );
          assert.equal(await page.$("#user-recent b"), null, "message text is text, not HTML");
          await screenshot(page, "admin-user");
          await page.click("#conns-table tbody tr button");
          assert.equal((await clients[0].closed).code, 4010);
          await page.waitForSelector("#user-title:has-text('offline')");
        },
      );

      await t.step("disconnect every device of a user (4010 on each)", async () => {
        await page.fill("#user-id", "bob");
        await page.click("#user-form button");
        await page.waitForFunction(() => document.querySelectorAll("#conns-table tbody tr").length === 2);
        await page.click("#user-disconnect");
        assert.equal((await clients[1].closed).code, 4010);
        assert.equal((await clients[2].closed).code, 4010);
        await page.waitForSelector("#notice:has-text('Disconnected bob')");
        await page.waitForSelector("#user-title:has-text('offline')");
      });

      await t.step("room and apps views", async () => {
        const carol = await login(server.wsPort, "carol");
        const dave = await login(server.wsPort, "dave");
        clients.push(carol, dave);
        for (const c of [carol, dave]) {
          assert.equal((await c.request("joinRoom", { room: "lobby" })).response.code, 200);
        }
        assert.equal(
          (await carol.request("roomMsg", { room: "lobby", msg: "hello lobby" })).response.code,
          200,
        );
        await page.click("#tabs button[data-view=room]");
        await page.fill("#room-app", "101");
        await page.fill("#room-name", "lobby");
        await page.click("#room-form button");
        await page.waitForSelector("#room-members li.online");
        assert.match(await page.textContent("#room-title") ?? "", /2 members, 2 online/);
        assert.match(await page.textContent("#room-timeline") ?? "", /hello lobby/);
        await page.click("#tabs button[data-view=apps]");
        await page.waitForSelector("#apps-table tbody tr");
        const apps = await page.textContent("#apps-table tbody");
        assert.match(apps ?? "", /lobby \(1, 2\)/);
      });

      await t.step("usable at 375 px", async () => {
        await page.setViewportSize({ width: 375, height: 800 });
        await page.click("#tabs button[data-view=overview]");
        await page.waitForFunction(() =>
          document.querySelectorAll("#charts figure.chart canvas").length >= 5
        );
        await page.waitForTimeout(500);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(width <= 375, `page is ${width} px wide at 375`);
        await screenshot(page, "admin-375");
      });

      await t.step("sign out forgets the key", async () => {
        await page.click("#sign-out");
        await page.waitForSelector("#key-view:not([hidden])");
        assert.equal(await page.evaluate(() => sessionStorage.length), 0);
      });
      assert.deepEqual(problems, []);
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      await server.shutdown();
    }
  },
);

Deno.test("admin*.js type-check against the DOM lib", async () => {
  const dir = await Deno.makeTempDir({ prefix: "im-admin-check-" });
  try {
    const config = `${dir}/deno.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({ compilerOptions: { checkJs: true, lib: ["dom", "dom.iterable", "esnext"] } }),
    );
    const web = new URL("../../src/web/", import.meta.url);
    const files = ["admin.js", "admin_api.js", "admin_charts.js", "admin_views.js"].map((f) =>
      new URL(f, web).pathname
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", config, ...files],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
