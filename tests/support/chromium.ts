/**
 * Test helper: the system Chromium (/usr/bin/chromium) driven by playwright-core, headless with a
 * throwaway profile — never a downloaded browser. Tests using it are ignored when Chromium is missing,
 * unless IM_REQUIRE_BROWSER=1 (CI): then they fail. The chat-page tests' helpers (tests/browser/support.ts)
 * launch through it too.
 *
 * @example
 * ```ts
 * browserTest("page loads", async (browser) => {
 *   const page = await browser.newPage();
 * });
 * ```
 * @module
 */
import fs from "node:fs";
import type { Browser, Page } from "playwright-core";

/** Where the tests expect Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** True when Chromium is installed. */
export const haveChromium: boolean = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

const required = Deno.env.get("IM_REQUIRE_BROWSER") === "1";

/** True when browser tests are to be skipped: no Chromium, and CI does not require one. */
export const ignoreBrowser: boolean = !haveChromium && !required;

/**
 * Import playwright-core. Its WSL probe calls `fs.existsSync("/proc/sys/fs/binfmt_misc/...")` at load
 * time, which Deno refuses without --allow-all: answer false for /proc paths while the module loads.
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

/** Launch the system Chromium headless (playwright gives it a fresh temporary profile directory). */
export async function launchChromium(): Promise<Browser> {
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

/** Register a test that gets a browser (closed afterwards). */
export function browserTest(
  name: string,
  fn: (browser: Browser, t: Deno.TestContext) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: ignoreBrowser,
    async fn(t) {
      const browser = await launchChromium();
      try {
        await fn(browser, t);
      } finally {
        await browser.close();
      }
    },
  });
}

/** Save a full-page screenshot as test-artifacts/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir("test-artifacts", { recursive: true });
  const path = `test-artifacts/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}
